/**
 * Backbones from the Hugging Face Hub: `hf:owner/repo[@revision][:path/in/repo.onnx]` → a local, verified ONNX file
 * plus the repository's `config.json` and `preprocessor_config.json`, all at one commit.
 *
 * Where a file comes from, in order, with no request for the first two:
 * 1. finetune's Hub cache (`<home>/models/hub`, huggingface_hub's layout, each file with a `.sha256` sidecar);
 * 2. the user's Hugging Face cache (`$HF_HUB_CACHE`, `$HF_HOME/hub`, `~/.cache/huggingface/hub`), read only, so
 *    what Python already downloaded is used offline for free;
 * 3. the Hub (or the mirror in `HF_ENDPOINT`): a HEAD of the resolve URL gives the commit (`X-Repo-Commit`) and the
 *    file's sha256 (`X-Linked-Etag`, for files in LFS) or git blob hash (`ETag`), then transfer.ts downloads it with
 *    resume, retries, verification and an atomic rename into finetune's cache. `HF_TOKEN` is sent to the endpoint
 *    only, never to the CDN a download is redirected to.
 *
 * A branch name is resolved once and then pinned: a cached `refs/<branch>` is used as is (as huggingface_hub does
 * offline), so runs are reproducible; pass `@<commit>` to move on. What was used (commit, path, sha256) is returned
 * for run.json and the exported model's metadata.
 */
import { readFile, stat } from 'node:fs/promises';
import { FinetuneError } from '../errors.js';
import { isSha256Hex, sha256File } from '../util/hash.js';
import { writeFileAtomic } from '../util/fs.js';
import { DownloadError } from './download-error.js';
import type { DownloadFailure } from './download-error.js';
import { classify, discardBody, headerValue, httpGet, RequestFailure } from './http-get.js';
import type { Env, ResponseHeaders } from './http-get.js';
import {
  finetuneHubCacheDir, findCachedHubFile, huggingFaceCacheDir, hubSnapshotPath, isCommitHash, isKnownMissing,
  missingMarkerPath, writeHubRef,
} from './hub-cache.js';
import {
  DEFAULT_HUB_ENDPOINT, formatHubReference, onnxPathFor, ONNX_VARIANTS, parseHubReference, resolveUrl,
} from './hub-reference.js';
import type { HubReference, OnnxVariant } from './hub-reference.js';
import { readSidecar } from './model-cache.js';
import { fetchToCache, openTransfer } from './transfer.js';
import type { FetchedFile, Transfer, TransferOptions } from './transfer.js';

/** The repository files read besides the model. */
export const HUB_CONFIG_FILES = { config: 'config.json', preprocessor: 'preprocessor_config.json' } as const;

export interface HubOptions extends TransferOptions {
  /** finetune's cache home; Hub files go to `<home>/models/hub`. @defaultValue `$FINETUNE_HOME`, else `~/.cache/finetune` */
  home?: string;
  /** Never touch the network. @defaultValue `false`, or true when `env.HF_HUB_OFFLINE` is `1`/`true` */
  offline?: boolean;
  /** The Hub or a mirror with its resolve URLs. @defaultValue `env.HF_ENDPOINT`, else `https://huggingface.co` */
  endpoint?: string;
  /** Access token for gated or private repositories, or `false` to send none. @defaultValue `env.HF_TOKEN` (or `HUGGING_FACE_HUB_TOKEN`) */
  token?: string | false;
  /** Which `onnx/model*.onnx` to use when the reference names no path. @defaultValue `'fp32'` (`onnx/model.onnx`) */
  variant?: OnnxVariant;
  /** The Hugging Face cache to read, or `false` to ignore it. @defaultValue as huggingface_hub finds it from `env` */
  huggingFaceCache?: string | false;
  /** Hash a file from finetune's cache again even when its `.sha256` sidecar is there. @defaultValue `false` */
  rehash?: boolean;
}

/** A Hub backbone, resolved to files on disk and pinned. Plain JSON apart from the configs' contents. */
export interface HubModel {
  /** `hf:owner/repo@<commit>:<path>`: what to pass to reproduce the run. */
  readonly reference: string;
  readonly repoId: string;
  /** The revision asked for (`main`, a tag, a commit). */
  readonly revision: string;
  /** The commit it resolved to; null when the server did not say (a plain static mirror). */
  readonly commit: string | null;
  /** The ONNX file's path inside the repository. */
  readonly path: string;
  /** The ONNX file on disk. */
  readonly file: string;
  readonly sha256: string;
  readonly sizeBytes: number;
  /** `finetune-cache`/`huggingface-cache`: no byte was downloaded. */
  readonly source: 'finetune-cache' | 'huggingface-cache' | 'download';
  readonly endpoint: string;
  /** `config.json` (its `model_type` picks the default feature tensor), or null when the repository has none. */
  readonly config: Readonly<Record<string, unknown>> | null;
  /** `preprocessor_config.json`, or null when the repository has none. */
  readonly preprocessorConfig: Readonly<Record<string, unknown>> | null;
}

interface Context {
  readonly reference: HubReference;
  readonly path: string;
  readonly options: HubOptions;
  readonly env: Env;
  readonly endpoint: string;
  readonly ownCache: string;
  readonly hfCache: string | null;
  readonly authorization: Readonly<Record<string, string>>;
}

/** Resolves `hf:…` (or a parsed reference) to local, verified files; downloads only what no cache has. */
export async function resolveHubModel(referenceOrText: HubReference | string, options: HubOptions = {}): Promise<HubModel> {
  const reference = typeof referenceOrText === 'string' ? parseHubReference(referenceOrText) : referenceOrText;
  const env = options.env ?? process.env;
  const variant = options.variant ?? 'fp32';
  if (!Object.hasOwn(ONNX_VARIANTS, variant)) {
    throw new FinetuneError('INVALID_OPTION', `ONNX variant "${String(variant)}" is not one of ${Object.keys(ONNX_VARIANTS).join(', ')}.`,
      'Pass --onnx-variant fp32 (onnx/model.onnx), quantized (onnx/model_quantized.onnx) or fp16, or name the file: hf:owner/repo:onnx/file.onnx.');
  }
  const endpoint = endpointFrom(options.endpoint ?? env['HF_ENDPOINT']);
  const token = options.token === false ? undefined : (options.token ?? env['HF_TOKEN'] ?? env['HUGGING_FACE_HUB_TOKEN'])?.trim();
  const context: Context = {
    reference,
    path: onnxPathFor(reference, variant),
    options,
    env,
    endpoint,
    ownCache: finetuneHubCacheDir(options.home),
    hfCache: options.huggingFaceCache === false ? null : (options.huggingFaceCache ?? huggingFaceCacheDir(env)),
    authorization: token ? { authorization: `Bearer ${token}` } : {},
  };
  const local = await fromCaches(context);
  if (local) return local;
  if (options.offline ?? isTruthy(env['HF_HUB_OFFLINE'])) throw offlineError(context);
  const transfer = openTransfer(options, 'resolveHubModel');
  try {
    return await download(context, transfer);
  } finally {
    await transfer.close();
  }
}

function endpointFrom(value: string | undefined): string {
  const text = value?.trim() || DEFAULT_HUB_ENDPOINT;
  let url: URL | null = null;
  try {
    url = new URL(text);
  } catch {
    url = null;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new FinetuneError('INVALID_OPTION', `Hub endpoint "${text}" is not an http(s) URL.`,
      'Set HF_ENDPOINT to the base URL of the Hub or a mirror, e.g. https://huggingface.co or http://127.0.0.1:8080.');
  }
  return text.replace(/\/+$/, '');
}

const isTruthy = (value: string | undefined): boolean => ['1', 'true', 'yes', 'on'].includes(value?.trim().toLowerCase() ?? '');

/** The model from finetune's cache, else the Hugging Face cache, with its configs from the same commit; no request. */
async function fromCaches(context: Context): Promise<HubModel | null> {
  const { reference, path } = context;
  const caches = [{ dir: context.ownCache, source: 'finetune-cache' as const },
    ...(context.hfCache ? [{ dir: context.hfCache, source: 'huggingface-cache' as const }] : [])];
  for (const { dir, source } of caches) {
    const found = await findCachedHubFile(dir, reference.repoId, reference.revision, path);
    if (!found) continue;
    const configs = await cachedConfigs(context, found.commit);
    if (!configs) continue; // a config is neither cached nor known to be missing: the network must say
    const sidecar = source === 'finetune-cache' && !(context.options.rehash ?? false) ? await readSidecar(found.file) : null;
    const sha256 = sidecar ?? await sha256File(found.file);
    const { size } = await stat(found.file);
    return pinned(context, found.commit, found.file, sha256, size, source, configs);
  }
  return null;
}

type Configs = { config: Record<string, unknown> | null; preprocessorConfig: Record<string, unknown> | null };

/** Both config files at `commit` from any cache (null for one known to be missing), or null if one is unknown. */
async function cachedConfigs(context: Context, commit: string): Promise<Configs | null> {
  const result: Configs = { config: null, preprocessorConfig: null };
  for (const [key, name] of [['config', HUB_CONFIG_FILES.config], ['preprocessorConfig', HUB_CONFIG_FILES.preprocessor]] as const) {
    let settled = false;
    for (const dir of [context.ownCache, ...(context.hfCache ? [context.hfCache] : [])]) {
      const found = await findCachedHubFile(dir, context.reference.repoId, commit, name);
      if (found) {
        result[key] = await readJsonObject(found.file, `${formatHubReference(context.reference.repoId, commit, name)}`);
        settled = true;
        break;
      }
      if (await isKnownMissing(dir, context.reference.repoId, commit, name)) {
        settled = true;
        break;
      }
    }
    if (!settled) return null;
  }
  return result;
}

async function readJsonObject(file: string, name: string): Promise<Record<string, unknown>> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, 'utf8'));
  } catch (cause) {
    throw new FinetuneError('MODEL_INVALID', `${name} is not valid JSON (${(cause as Error).message}).`,
      `Delete "${file}" so it is downloaded again, or fix the repository's file.`, { cause });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FinetuneError('MODEL_INVALID', `${name} is not a JSON object.`, `Delete "${file}" so it is downloaded again, or fix the repository's file.`);
  }
  return value as Record<string, unknown>;
}

function pinned(
  context: Context, commit: string | null, file: string, sha256: string, sizeBytes: number, source: HubModel['source'], configs: Configs,
): HubModel {
  const { repoId, revision } = context.reference;
  return {
    reference: formatHubReference(repoId, commit ?? revision, context.path),
    repoId,
    revision,
    commit: commit !== null && isCommitHash(commit) ? commit : null,
    path: context.path,
    file,
    sha256,
    sizeBytes,
    source,
    endpoint: context.endpoint,
    config: configs.config,
    preprocessorConfig: configs.preprocessorConfig,
  };
}

/** What the Hub says about a file before it is downloaded (a HEAD of its resolve URL, redirects not followed). */
interface FileMetadata {
  readonly commit: string | null;
  readonly sha256: string | null;
  readonly gitBlobSha1: string | null;
  readonly sizeBytes: number | null;
}

async function download(context: Context, transfer: Transfer): Promise<HubModel> {
  const { reference, path } = context;
  const metadata = await headFile(context, transfer, reference.revision, path);
  if (metadata === 'missing') throw missingFileError(context);
  const folder = metadata.commit ?? reference.revision;
  const target = hubSnapshotPath(context.ownCache, reference.repoId, folder, path);
  const name = formatHubReference(reference.repoId, folder, path);
  const existing = await findCachedHubFile(context.ownCache, reference.repoId, folder, path); // fetched before under another revision name
  const fetched: FetchedFile = existing
    ? { path: existing.file, sha256: (await readSidecar(existing.file)) ?? await sha256File(existing.file), sizeBytes: metadata.sizeBytes ?? 0, fromCache: true }
    : await fetchToCache(transfer, {
      name, path: target, sizeBytes: metadata.sizeBytes, sha256: metadata.sha256, gitBlobSha1: metadata.gitBlobSha1, headers: context.authorization,
    }, [resolveUrl(context.endpoint, reference.repoId, folder, path)], (failures) => downloadHint(context, failures));
  if (metadata.commit !== null) await writeHubRef(context.ownCache, reference.repoId, reference.revision, metadata.commit);
  const configs: Configs = {
    config: await fetchConfig(context, transfer, folder, HUB_CONFIG_FILES.config),
    preprocessorConfig: await fetchConfig(context, transfer, folder, HUB_CONFIG_FILES.preprocessor),
  };
  const { size } = await stat(fetched.path);
  return pinned(context, metadata.commit, fetched.path, fetched.sha256, size, fetched.fromCache ? 'finetune-cache' : 'download', configs);
}

/** A config file at `folder` (a commit): from a cache, else downloaded into finetune's cache; null when the repository has none. */
async function fetchConfig(context: Context, transfer: Transfer, folder: string, name: string): Promise<Record<string, unknown> | null> {
  const { repoId } = context.reference;
  const label = formatHubReference(repoId, folder, name);
  for (const dir of [context.ownCache, ...(context.hfCache ? [context.hfCache] : [])]) {
    const found = await findCachedHubFile(dir, repoId, folder, name);
    if (found) return readJsonObject(found.file, label);
  }
  const metadata = await headFile(context, transfer, folder, name);
  if (metadata === 'missing') {
    await writeFileAtomic(missingMarkerPath(context.ownCache, repoId, folder, name), '');
    return null;
  }
  const fetched = await fetchToCache(transfer, {
    name: label, path: hubSnapshotPath(context.ownCache, repoId, folder, name), sizeBytes: metadata.sizeBytes,
    sha256: metadata.sha256, gitBlobSha1: metadata.gitBlobSha1, headers: context.authorization,
  }, [resolveUrl(context.endpoint, repoId, folder, name)], (failures) => downloadHint(context, failures));
  return readJsonObject(fetched.path, label);
}

/** HEAD of a resolve URL: the file's commit, hashes and size, or `'missing'` on 404; throws on anything else. */
async function headFile(context: Context, transfer: Transfer, revision: string, path: string): Promise<FileMetadata | 'missing'> {
  const url = resolveUrl(context.endpoint, context.reference.repoId, revision, path);
  let response;
  try {
    response = await httpGet(transfer.client, url, {
      method: 'HEAD', maxRedirects: 0, headers: context.authorization, ...(transfer.signal ? { signal: transfer.signal } : {}),
    });
  } catch (error) {
    if (transfer.signal?.aborted) throw error;
    const failure = classify(error, new URL(url), transfer.client);
    const message = (failure as Error).message;
    const reason: DownloadFailure['reason'] = failure instanceof RequestFailure ? failure.kind : 'unreachable';
    throw new DownloadError(reason === 'timeout' ? 'DOWNLOAD_TIMEOUT' : 'DOWNLOAD_FAILED',
      `Could not reach the Hub for "${formatHubReference(context.reference.repoId, revision, path)}": ${message}.`,
      downloadHint(context, [{ url, reason, message }]), [{ url, reason, message }], { cause: error });
  }
  discardBody(response.body);
  const status = response.statusCode;
  const headers = response.headers;
  if (status === 404) return 'missing';
  if (status === 401 || status === 403) throw accessError(context, status, headers);
  if (status >= 400) {
    const message = `HTTP ${status}${headerValue(headers, 'x-error-message') ? ` (${headerValue(headers, 'x-error-message')})` : ''}`;
    throw new DownloadError('DOWNLOAD_FAILED', `The Hub answered ${message} for "${url}".`,
      downloadHint(context, [{ url, reason: 'http', message, status }]), [{ url, reason: 'http', message, status }]);
  }
  const commit = headerValue(headers, 'x-repo-commit')?.trim().toLowerCase() ?? null;
  const etag = unquoteEtag(headerValue(headers, 'x-linked-etag') ?? headerValue(headers, 'etag'));
  const size = Number(headerValue(headers, 'x-linked-size') ?? (status === 200 ? headerValue(headers, 'content-length') : undefined));
  return {
    commit: commit !== null && isCommitHash(commit) ? commit : null,
    sha256: isSha256Hex(etag) ? etag : null,
    gitBlobSha1: etag !== null && /^[0-9a-f]{40}$/.test(etag) ? etag : null,
    sizeBytes: Number.isSafeInteger(size) && size > 0 ? size : null,
  };
}

/** `W/"abc"` / `"abc"` → `abc` (lowercase). */
function unquoteEtag(value: string | undefined): string | null {
  if (value === undefined) return null;
  return value.trim().replace(/^W\//, '').replace(/^"|"$/g, '').toLowerCase() || null;
}

function accessError(context: Context, status: number, headers: ResponseHeaders): FinetuneError {
  const { repoId } = context.reference;
  const hasToken = 'authorization' in context.authorization;
  const serverSays = headerValue(headers, 'x-error-message');
  return new FinetuneError('MODEL_NOT_FOUND',
    `The Hub refused "${repoId}" (HTTP ${status}${serverSays ? `: ${serverSays}` : ''}): it does not exist, or it is private or gated.`,
    hasToken
      ? `Check the name at ${context.endpoint}/${repoId}, and that the token in HF_TOKEN has access (accept the license on the model page for a gated model).`
      : `Check the name at ${context.endpoint}/${repoId}; for a gated or private model, set HF_TOKEN to an access token (https://huggingface.co/settings/tokens).`);
}

function missingFileError(context: Context): FinetuneError {
  const { repoId, revision, path: explicit } = context.reference;
  return new FinetuneError('MODEL_NOT_FOUND',
    `"${context.path}" is not in ${repoId} at revision "${revision}" (HTTP 404 from ${context.endpoint}).`,
    explicit !== null
      ? `Check the path and the revision at ${context.endpoint}/${repoId}/tree/${revision}.`
      : `Pick another file with --onnx-variant (${Object.entries(ONNX_VARIANTS).map(([key, file]) => `${key}: onnx/${file}`).join(', ')}) ` +
        `or name it: hf:${repoId}@${revision}:path/to/model.onnx (see ${context.endpoint}/${repoId}/tree/${revision}).`);
}

function offlineError(context: Context): FinetuneError {
  const { repoId, revision } = context.reference;
  const name = formatHubReference(repoId, revision, context.path);
  const places = [context.ownCache, ...(context.hfCache ? [context.hfCache] : [])].join(' and ');
  return new FinetuneError('OFFLINE',
    `"${name}" (with its config.json and preprocessor_config.json) is not in the caches (${places}), and offline mode forbids downloading it.`,
    `Run once online (or with HF_ENDPOINT=<mirror>), or download it with huggingface_hub (huggingface-cli download ${repoId}), or pass a local file with --backbone ./model.onnx.`);
}

function downloadHint(context: Context, failures: readonly DownloadFailure[]): string {
  const waysOut = `set HF_ENDPOINT to a mirror with the Hub's resolve URLs, put the files in the Hugging Face cache ` +
    `(huggingface-cli download ${context.reference.repoId}), or pass a local file with --backbone ./model.onnx`;
  if (failures.every((f) => f.reason === 'unreachable')) return `${context.endpoint} is not reachable: ${waysOut}.`;
  return `Retry later, or ${waysOut}.`;
}
