/**
 * The folder-per-class layout (Keras `image_dataset_from_directory`): `<root>/<class>/**\/<image>`. Lists files
 * only; nothing is opened.
 *
 * Symbolic links. A label comes from the top-level folder an image is found under, so a link must never move
 * images into another class silently:
 * - a class folder may itself be a link (datasets assembled with `ln -s` are common), but two class folders may
 *   not be, or contain, the same folder, and none may contain the dataset (`b -> /` or `b -> ..`): DATASET_INVALID;
 * - inside a class folder, a link to a folder is followed only when it stays inside that class folder
 *   (`a/shared -> ../b/sub` would relabel b's images as a; `b/root -> /` would walk the whole filesystem);
 * - a link to a file is followed, unless it points into another class folder (the image would get two labels).
 * Links that are not followed are listed in `skipped` with the reason, and reported as warnings.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { join, relative, isAbsolute } from 'node:path';
import { FinetuneError } from '../errors.js';
import type { ProgressCallback } from '../types.js';
import { listNames, type Candidate, type SkippedFile } from './dataset.js';

export interface FolderListing {
  /** Class folder names, in the order the filesystem listed them. */
  readonly classNames: string[];
  readonly candidates: Candidate[];
  readonly skipped: SkippedFile[];
}

interface ClassFolder {
  readonly name: string;
  readonly path: string;
  /** The folder's real path (links resolved). */
  readonly real: string;
}

/** True when `path` is `folder` or lies inside it (both real paths). */
function isWithin(path: string, folder: string): boolean {
  const rel = relative(folder, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

type EntryKind = 'directory' | 'file' | 'other' | 'dangling';

/** What a directory entry is, following a link; `real` is the link's target. */
async function entryKind(entry: Dirent, path: string): Promise<{ kind: EntryKind; real: string | null }> {
  if (entry.isDirectory()) return { kind: 'directory', real: null };
  if (entry.isFile()) return { kind: 'file', real: null };
  if (!entry.isSymbolicLink()) return { kind: 'other', real: null };
  try {
    const real = await realpath(path);
    const target = await stat(real);
    return { kind: target.isDirectory() ? 'directory' : target.isFile() ? 'file' : 'other', real };
  } catch {
    return { kind: 'dangling', real: null };   // listed as skipped ("file not found") by the usable-file check
  }
}

/** The class folders under `root` and the loose files beside them. */
async function listClassFolders(root: string, source: string, skipped: SkippedFile[]): Promise<ClassFolder[]> {
  const rootReal = await realpath(root);
  const folders: ClassFolder[] = [];
  for (const entry of await readdir(root, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const path = join(root, entry.name);
    const { kind, real } = await entryKind(entry, path);
    if (kind === 'directory') folders.push({ name: entry.name, path, real: real ?? await realpath(path) });
    else if (kind === 'file' || kind === 'dangling') skipped.push({ path, reason: 'not inside a class folder' });
  }
  if (folders.length === 0)
    throw new FinetuneError('DATASET_INVALID',
      `Dataset folder "${source}" has no class sub-folders${skipped.length > 0 ? ` (it holds ${skipped.length} loose file(s))` : ''}.`,
      'Arrange the images as <folder>/<class name>/<image>.jpg, one sub-folder per class (the Keras layout).');
  const problems: string[] = [];
  for (const folder of folders) {
    if (isWithin(rootReal, folder.real)) problems.push(`"${folder.name}" links to "${folder.real}", which contains the dataset itself`);
    for (const other of folders) {
      if (other === folder || folder.name > other.name) continue;
      if (folder.real === other.real) problems.push(`"${folder.name}" and "${other.name}" are the same folder ("${folder.real}")`);
      else if (isWithin(folder.real, other.real) || isWithin(other.real, folder.real)) {
        const [inner, outer] = isWithin(folder.real, other.real) ? [folder, other] : [other, folder];
        problems.push(`"${inner.name}" ("${inner.real}") lies inside "${outer.name}" ("${outer.real}")`);
      }
    }
  }
  if (problems.length > 0)
    throw new FinetuneError('DATASET_INVALID',
      `Dataset "${source}" has class folders that overlap through symbolic links, so their images would get ambiguous labels: ${listNames(problems)}.`,
      'Make each class folder (or the link standing for it) point at its own folder, not at the dataset or another class.');
  return folders;
}

/**
 * Every class folder of `root` and the files under them (nested sub-folders count for their top-level class;
 * hidden files and folders are ignored). Links are handled as the file comment says.
 */
export async function scanFolder(root: string, source: string, onProgress?: ProgressCallback): Promise<FolderListing> {
  const skipped: SkippedFile[] = [];
  const folders = await listClassFolders(root, source, skipped);
  const classOf = (real: string): ClassFolder | undefined => folders.find((folder) => isWithin(real, folder.real));
  const candidates: Candidate[] = [];
  const notFollowed: SkippedFile[] = [];
  const visited = new Set<string>();
  for (const folder of folders) {
    const pending = [folder.path];
    while (pending.length > 0) {
      const current = pending.pop()!;
      let real: string;
      let entries: Dirent[];
      try {
        real = await realpath(current);
        if (visited.has(real)) continue;
        visited.add(real);
        entries = await readdir(current, { withFileTypes: true });
      } catch (cause) {
        skipped.push({ path: current, reason: `cannot read folder: ${(cause as Error).message}` });
        continue;
      }
      for (const entry of entries) {
        if (entry.name.startsWith('.')) continue;
        const path = join(current, entry.name);
        const { kind, real: target } = await entryKind(entry, path);
        if (target !== null && (kind === 'directory' || kind === 'file')) {
          const owner = classOf(target);
          if (kind === 'directory' && owner !== folder) {
            notFollowed.push({ path, reason: `symbolic link to a folder outside class folder "${folder.name}" (${target}): ` +
              `not followed, so its images do not get label "${folder.name}"` });
            continue;
          }
          if (kind === 'file' && owner !== undefined && owner !== folder) {
            notFollowed.push({ path, reason: `symbolic link into class folder "${owner.name}" (${target}): ` +
              `not followed, so the image does not also get label "${folder.name}"` });
            continue;
          }
        }
        if (kind === 'directory') pending.push(path);
        else if (kind === 'file' || kind === 'dangling') candidates.push({ path, className: folder.name });
      }
    }
  }
  for (const link of notFollowed) onProgress?.({ stage: 'warn', status: 'message', message: `${link.path}: ${link.reason}` });
  return { classNames: folders.map((folder) => folder.name), candidates, skipped: [...skipped, ...notFollowed] };
}
