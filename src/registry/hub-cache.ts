/**
 * Files of Hub repositories on disk, in huggingface_hub's cache layout:
 *
 *   <cache>/models--<owner>--<repo>/refs/<revision>            the commit a branch or tag pointed to
 *   <cache>/models--<owner>--<repo>/snapshots/<commit>/<path>  the file (in huggingface_hub's own cache, a link to blobs/)
 *
 * Two caches use it: the user's Hugging Face cache (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
 * `~/.cache/huggingface/hub`), which finetune only reads, so a model Python already downloaded costs no request; and
 * finetune's own (`<home>/models/hub`), where downloads go, each file with a `.sha256` sidecar.
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, sep } from 'node:path';
import { writeFileAtomic } from '../util/fs.js';
import { modelsDir } from '../util/paths.js';
import type { Env } from './http-get.js';

const COMMIT = /^[0-9a-f]{40}$/;

/** The user's Hugging Face hub cache, as huggingface_hub finds it. */
export function huggingFaceCacheDir(env: Env = process.env): string {
  const hubCache = env['HF_HUB_CACHE']?.trim();
  if (hubCache) return hubCache;
  const hfHome = env['HF_HOME']?.trim();
  if (hfHome) return join(hfHome, 'hub');
  const xdg = env['XDG_CACHE_HOME']?.trim();
  return join(xdg || join(homedir(), '.cache'), 'huggingface', 'hub');
}

/** finetune's own cache of Hub files, in the same layout. */
export function finetuneHubCacheDir(home?: string): string {
  return join(modelsDir(home), 'hub');
}

/** `owner/repo` → `models--owner--repo`. */
export function repoFolderName(repoId: string): string {
  return `models--${repoId.split('/').join('--')}`;
}

/** True when `revision` is a full commit hash (then no ref needs reading). */
export function isCommitHash(revision: string): boolean {
  return COMMIT.test(revision);
}

export interface CachedHubFile {
  /** The commit folder the file was found in (a commit hash, or the revision itself when the server gave none). */
  readonly commit: string;
  /** The file, links resolved. */
  readonly file: string;
}

/**
 * The snapshot folder name for `revision` in `cacheDir`: the revision itself when it is a commit, else what
 * `refs/<revision>` holds; null when the ref is missing.
 */
export async function cachedCommit(cacheDir: string, repoId: string, revision: string): Promise<string | null> {
  if (isCommitHash(revision)) return revision;
  try {
    const ref = (await readFile(join(cacheDir, repoFolderName(repoId), 'refs', ...revision.split('/')), 'utf8')).trim();
    return ref === '' || ref.includes('/') || ref.includes('\\') || ref === '.' || ref === '..' ? null : ref;
  } catch {
    return null;
  }
}

/**
 * Where `path` of `repoId` at `revision` is in `cacheDir`, or null. The file must be a regular file whose real path
 * stays inside the repository's folder (huggingface_hub's snapshot links point into `../../blobs`).
 */
export async function findCachedHubFile(cacheDir: string, repoId: string, revision: string, path: string): Promise<CachedHubFile | null> {
  const commit = await cachedCommit(cacheDir, repoId, revision);
  if (commit === null) return null;
  const repoDir = join(cacheDir, repoFolderName(repoId));
  try {
    const realRepo = await realpath(repoDir);
    const file = await realpath(join(repoDir, 'snapshots', commit, ...path.split('/')));
    if (!file.startsWith(realRepo + sep) || !(await stat(file)).isFile()) return null;
    return { commit, file };
  } catch {
    return null;
  }
}

/** The path a downloaded file gets in finetune's Hub cache. */
export function hubSnapshotPath(cacheDir: string, repoId: string, commit: string, path: string): string {
  return join(cacheDir, repoFolderName(repoId), 'snapshots', commit, ...path.split('/'));
}

/** Records that `revision` resolved to `commit` (a no-op when the revision is the commit). */
export async function writeHubRef(cacheDir: string, repoId: string, revision: string, commit: string): Promise<void> {
  if (revision === commit) return;
  await writeFileAtomic(join(cacheDir, repoFolderName(repoId), 'refs', ...revision.split('/')), commit);
}

/** `.no_exist`-style marker: the file is known to be absent at that commit (optional files such as preprocessor_config.json). */
export function missingMarkerPath(cacheDir: string, repoId: string, commit: string, path: string): string {
  return join(cacheDir, repoFolderName(repoId), '.no_exist', commit, ...path.split('/'));
}

/** True when a marker (ours, or huggingface_hub's `.no_exist`) says `path` is absent at `commit`. */
export async function isKnownMissing(cacheDir: string, repoId: string, commit: string, path: string): Promise<boolean> {
  try {
    await stat(missingMarkerPath(cacheDir, repoId, commit, path));
    return true;
  } catch {
    return false;
  }
}
