/**
 * A loopback stand-in for the Hugging Face Hub, for tests that set `HF_ENDPOINT` (or pass `endpoint`): serves
 * `/{owner}/{repo}/resolve/{revision}/{path}` as the Hub does. Files ending in `.onnx` behave as LFS files (a 302 to
 * `/cdn/<sha256>` on a second port, i.e. another origin as the Hub's CDN is, with `X-Repo-Commit`, `X-Linked-Etag`
 * and `X-Linked-Size`), others are answered directly with their
 * git blob sha1 as ETag. Unknown repositories and missing tokens get 401, missing revisions and files 404.
 *
 *   const hub = await startHubServer({ repos: { 'test/tiny-vit': hubRepoFromDir(dir) } });
 *   await resolveHubModel('hf:test/tiny-vit', { endpoint: hub.url, ... }); hub.requests; await hub.close();
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { sha256 } from '../../src/util/hash.js';
import { sendBytes } from '../registry/http-fixtures.js';

export interface HubRepo {
  /** Branch or tag → commit. */
  readonly refs: Readonly<Record<string, string>>;
  /** Commit → (path → bytes). */
  readonly commits: Readonly<Record<string, Readonly<Record<string, Uint8Array>>>>;
}

export interface HubRequest {
  readonly method: string;
  /** Decoded URL path. */
  readonly path: string;
  readonly authorization: string | null;
  readonly range: string | null;
  readonly status: number;
}

export interface HubServerOptions {
  readonly repos: Readonly<Record<string, HubRepo>>;
  /** When set, resolve URLs answer 401 unless `Authorization: Bearer <token>` is sent. */
  readonly token?: string;
  /** Lie about LFS files' sha256 (X-Linked-Etag), to test verification. */
  readonly wrongSha256?: boolean;
}

export interface HubServer {
  /** Base URL without a trailing slash: the value of HF_ENDPOINT. */
  readonly url: string;
  readonly requests: HubRequest[];
  close(): Promise<void>;
}

/** 40 hex digits made from a word, for readable fake commits. */
export const fakeCommit = (word: string): string => createHash('sha1').update(word).digest('hex');

export const gitBlobSha1 = (data: Uint8Array): string =>
  createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');

/** Every file under `dir` as a commit's contents (paths with `/`). */
export async function filesOf(dir: string): Promise<Record<string, Uint8Array>> {
  const files: Record<string, Uint8Array> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    files[relative(dir, full).split('\\').join('/')] = new Uint8Array(await readFile(full));
  }
  return files;
}

export async function startHubServer(options: HubServerOptions): Promise<HubServer> {
  const requests: HubRequest[] = [];
  const blobs = new Map<string, Uint8Array>();
  let cdnBase = '';
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://hub').pathname);
    const log = (status: number): void => {
      requests.push({ method: req.method ?? '', path, authorization: req.headers.authorization ?? null, range: req.headers.range ?? null, status });
    };
    const fail = (status: number, code: string): void => {
      log(status);
      res.writeHead(status, { 'x-error-code': code, 'x-error-message': code }).end(req.method === 'HEAD' ? undefined : code);
    };
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(path);
    if (cdn) {
      const data = blobs.get(cdn[1]!);
      if (!data) return fail(404, 'NoSuchKey');
      log(req.headers.range ? 206 : 200);
      return sendBytes(req, res, data);
    }
    const match = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const repo = match ? options.repos[match[1]!] : undefined;
    if (!match || !repo) return fail(401, 'RepositoryNotFound');
    if (options.token !== undefined && req.headers.authorization !== `Bearer ${options.token}`) return fail(401, 'GatedRepo');
    const revision = match[2]!;
    const commit = repo.commits[revision] ? revision : repo.refs[revision];
    const files = commit ? repo.commits[commit] : undefined;
    if (!commit || !files) return fail(404, 'RevisionNotFound');
    const file = match[3]!;
    const data = files[file];
    if (!data) {
      log(404);
      res.writeHead(404, { 'x-error-code': 'EntryNotFound', 'x-repo-commit': commit }).end();
      return;
    }
    if (file.endsWith('.onnx')) {
      const sha = sha256(data);
      blobs.set(sha, data);
      log(302);
      res.writeHead(302, {
        location: `${cdnBase}/cdn/${sha}`, 'x-repo-commit': commit, 'x-linked-size': data.length, etag: `"${sha}"`,
        'x-linked-etag': `"${options.wrongSha256 ? sha256(new Uint8Array([1, 2, 3])) : sha}"`,
      }).end();
      return;
    }
    log(200);
    res.setHeader('x-repo-commit', commit);
    res.setHeader('etag', `"${gitBlobSha1(data)}"`);
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'content-length': data.length }).end();
      return;
    }
    sendBytes(req, res, data);
  };
  const [server, cdn] = [createServer(handler), createServer(handler)];
  const listen = async (s: Server): Promise<number> => {
    await new Promise<void>((done) => s.listen(0, '127.0.0.1', done));
    return (s.address() as AddressInfo).port;
  };
  const port = await listen(server);
  cdnBase = `http://127.0.0.1:${await listen(cdn)}`;
  const closeOne = (s: Server): Promise<void> => new Promise<void>((done) => {
    s.closeAllConnections();
    s.close(() => done());
  });
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: async () => {
      await closeOne(server);
      await closeOne(cdn);
    },
  };
}
