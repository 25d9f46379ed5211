/**
 * Short names for well-known Hugging Face Hub backbones (`--backbone dinov2-small`), read from `models/hub.json`
 * (data, not code). Each names a transformers.js-compatible repository, a revision and the ONNX file; sha256 and
 * size are filled in where a machine with internet verified them (`scripts/verify-catalog.ts --pull`), and until
 * then the entry says so (`verified: false`).
 */
import { fileURLToPath } from 'node:url';
import { isSha256Hex } from '../util/hash.js';
import { defineCatalog, entryFields } from './catalog-file.js';
import { finetuneHubCacheDir, findCachedHubFile } from './hub-cache.js';
import { formatHubReference, parseHubReference } from './hub-reference.js';

export interface HubAlias {
  /** The short name (`dinov2-small`). */
  readonly alias: string;
  /** More short names (`dinov2`). */
  readonly aliases: readonly string[];
  /** `owner/repo`. */
  readonly repo: string;
  /** A commit, or a branch when none was verified yet. */
  readonly revision: string;
  /** The ONNX file in the repository. */
  readonly path: string;
  /** Hex sha256 of the file, or null until verified. */
  readonly sha256: string | null;
  readonly sizeBytes: number | null;
  /** Size as listed on the Hub, for `models list` before the file is verified. */
  readonly approxSizeMb: number;
  readonly license: string;
  readonly description: string;
  /** True once sha256 and size were checked against a download. */
  readonly verified: boolean;
}

/** Where the data lives in the repository. */
export const hubCatalogPath: string = fileURLToPath(new URL('../../models/hub.json', import.meta.url));

const hub = defineCatalog<HubAlias>({ label: 'hub catalog', path: hubCatalogPath, validate: validateHubAlias, names: (entry) => [entry.alias, ...entry.aliases] });

/** Every Hub alias, in file order. */
export function listHubAliases(): readonly HubAlias[] {
  return hub.list();
}

/** The entry with this short name (case-insensitive), or undefined. */
export function findHubAlias(name: string): HubAlias | undefined {
  return hub.find(name);
}

/** `hf:owner/repo@revision:path` for an entry. */
export function hubAliasReference(entry: HubAlias): string {
  return formatHubReference(entry.repo, entry.revision, entry.path);
}

/** Where `entry`'s file is in finetune's Hub cache, or null when it has not been fetched. */
export async function cachedHubAlias(entry: HubAlias, home?: string): Promise<string | null> {
  return (await findCachedHubFile(finetuneHubCacheDir(home), entry.repo, entry.revision, entry.path))?.file ?? null;
}

/** Checks parsed `models/hub.json` and returns typed entries; a TypeError names the entry and field, or a name used twice. */
export function parseHubCatalog(json: unknown): HubAlias[] {
  return hub.parse(json);
}

function validateHubAlias(value: unknown, where: string): HubAlias {
  const { value: e, fail, string: str, strings } = entryFields('hub catalog', where, value);
  const alias = str('alias');
  const aliases = strings('aliases');
  const repo = str('repo'), revision = str('revision'), path = str('path');
  try {
    parseHubReference(formatHubReference(repo, revision, path));
  } catch (cause) {
    fail('repo/revision/path', `a valid Hub reference (${(cause as Error).message})`);
  }
  const sha256 = e['sha256'] === null ? null : isSha256Hex(e['sha256']) ? e['sha256'] : fail('sha256', '64 hex digits or null');
  const sizeBytes = e['sizeBytes'] === null ? null : Number.isSafeInteger(e['sizeBytes']) && (e['sizeBytes'] as number) > 0 ? e['sizeBytes'] as number : fail('sizeBytes', 'a positive integer or null');
  if (typeof e['approxSizeMb'] !== 'number' || !(e['approxSizeMb'] > 0)) fail('approxSizeMb', 'a positive number');
  if (typeof e['verified'] !== 'boolean') fail('verified', 'a boolean');
  if (e['verified'] === true && (sha256 === null || sizeBytes === null || !/^[0-9a-f]{40}$/.test(revision))) {
    fail('verified', 'false while sha256, sizeBytes or a commit revision is missing');
  }
  return {
    alias, aliases, repo, revision, path, sha256, sizeBytes, approxSizeMb: e['approxSizeMb'] as number,
    license: str('license'), description: str('description'), verified: e['verified'] as boolean,
  };
}
