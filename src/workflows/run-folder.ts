/** The files of a run folder, written atomically, and the default folder name. */
import { readlink, rm, symlink, rename } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../util/fs.js';

/** Names of the files in a run folder; report and serve read the same names. */
export const RUN_FILES = {
  model: 'model.onnx',
  head: 'head.onnx',
  labels: 'labels.json',
  historyJson: 'history.json',
  historyCsv: 'history.csv',
  metrics: 'metrics.json',
  skipped: 'skipped.txt',
  manifest: 'run.json',
  report: 'report.html',
} as const;

/** `runs/<UTC timestamp>` under `baseDir`, e.g. `runs/2026-11-25T22-30-05`. */
export function defaultRunDir(baseDir = 'runs', now = new Date()): string {
  return resolve(baseDir, now.toISOString().slice(0, 19).replace(/:/g, '-'));
}

export async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** `path<TAB>reason` per line, with a header comment; an empty list writes just the header. */
export async function writeSkipped(path: string, skipped: ReadonlyArray<{ path: string; reason: string }>): Promise<void> {
  const lines = ['# files left out of this run: path<TAB>reason', ...skipped.map((s) => `${s.path}\t${s.reason}`)];
  await writeFileAtomic(path, `${lines.join('\n')}\n`);
}

/** Points `<parent>/latest` at the run folder (best effort: a filesystem without symlinks just has no `latest`). */
export async function linkLatest(runDir: string): Promise<void> {
  const link = join(dirname(runDir), 'latest');
  const current = await readlink(link).catch(() => null);
  if (current === basename(runDir)) return;
  const tmp = `${link}.tmp-${process.pid}`;
  try {
    await rm(tmp, { force: true });
    await symlink(basename(runDir), tmp);
    await rename(tmp, link);
  } catch {
    await rm(tmp, { force: true }).catch(() => undefined);
  }
}
