/** `finetune report <run dir>`: reads a run folder and writes its self-contained report.html. */
import { join } from 'node:path';
import { writeFileAtomic } from '../util/fs.js';
import { readRunData } from './read-run-data.js';
import type { ReadRunDataOptions } from './read-run-data.js';
import { renderReport } from './render-report.js';

export interface WriteReportOptions extends ReadRunDataOptions {
  /** Where to write the page. @defaultValue `<runDir>/report.html` */
  outPath?: string;
  /** Time shown in the footer. @defaultValue now */
  generatedAt?: Date;
}

/**
 * Writes `report.html` for a run folder (atomically, replacing an older report) and returns its path.
 * @throws FinetuneError FILE_NOT_FOUND / INVALID_OPTION from {@link readRunData}.
 */
export async function writeReport(runDir: string, options: WriteReportOptions = {}): Promise<string> {
  const data = await readRunData(runDir, options);
  const outPath = options.outPath ?? join(runDir, 'report.html');
  const html = renderReport({ ...data, generatedAt: (options.generatedAt ?? new Date()).toISOString() });
  await writeFileAtomic(outPath, html);
  return outPath;
}
