import assert from 'node:assert/strict';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ChecksumMismatchError, FinetuneError } from '../../src/errors.js';
import { resolveHubModel } from '../../src/registry/hub.js';
import { resolveBackbone } from '../../src/registry/resolve-backbone.js';
import type { HubOptions } from '../../src/registry/hub.js';
import { huggingFaceCacheDir } from '../../src/registry/hub-cache.js';
import { parseHubReference, resolveUrl } from '../../src/registry/hub-reference.js';
import { sha256 } from '../../src/util/hash.js';
import { fakeCommit, filesOf, startHubServer } from '../helpers/hub-server.js';
import type { HubRepo, HubServer } from '../helpers/hub-server.js';
import { closedPort, fakeModelBytes, listFiles, tempHome } from './http-fixtures.js';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'hub', 'tiny-vit');
const MAIN = fakeCommit('main');
const V1 = fakeCommit('v1');

let home = '';
let cleanup: () => Promise<void> = async () => undefined;
let files: Record<string, Uint8Array> = {};
let repo: HubRepo;
let v1Model: Uint8Array;
before(async () => {
  ({ home, cleanup } = await tempHome());
  files = await filesOf(FIXTURE);
  v1Model = fakeModelBytes(3000);
  repo = {
    refs: { main: MAIN, v1: V1 },
    commits: {
      [MAIN]: files,
      [V1]: { 'onnx/model_quantized.onnx': v1Model, 'config.json': files['config.json']! }, // no preprocessor_config.json
    },
  };
});
after(() => cleanup());

let homeCounter = 0;
/** Options every test passes: its own home, no proxy, no Hugging Face cache unless given, small timeouts. */
const fast = (hub: Pick<HubServer, 'url'> | string, extra: HubOptions = {}): HubOptions => ({
  home: join(home, `h${homeCounter++}`), endpoint: typeof hub === 'string' ? hub : hub.url, huggingFaceCache: false,
  proxy: false, env: {}, retryDelayMs: 10, connectTimeoutMs: 2000, idleTimeoutMs: 2000, ...extra,
});

describe('parseHubReference', () => {
  test('owner/repo, @revision and :path; canonical resolve URLs', () => {
    assert.deepEqual(parseHubReference('hf:Xenova/dinov2-small'), { repoId: 'Xenova/dinov2-small', revision: 'main', path: null });
    assert.deepEqual(parseHubReference(' hf:a/b@v1.0:onnx/model_fp16.onnx '), { repoId: 'a/b', revision: 'v1.0', path: 'onnx/model_fp16.onnx' });
    assert.deepEqual(parseHubReference('hf:a/b:vision_model.onnx'), { repoId: 'a/b', revision: 'main', path: 'vision_model.onnx' });
    assert.equal(resolveUrl('http://127.0.0.1:1/', 'a/b', 'refs/pr/1', 'onnx/model.onnx'), 'http://127.0.0.1:1/a/b/resolve/refs%2Fpr%2F1/onnx/model.onnx');
  });

  test('malformed references fail with INVALID_OPTION naming the part', () => {
    for (const [text, part] of [['hf:dinov2', /"dinov2" is not owner\/repo/], ['hf:a/b/c', /not owner\/repo/], ['hf:a/b@', /revision ""/],
      ['hf:a/b@x:../../etc/passwd.onnx', /not a relative path/], ['hf:a/b:config.json', /not an \.onnx file/], ['hf:a--x/b', /not owner\/repo/]] as const) {
      assert.throws(() => parseHubReference(text), (e: unknown) => e instanceof FinetuneError && e.code === 'INVALID_OPTION' && part.test(e.message) && /hf:owner\/repo/.test(e.hint ?? ''), text);
    }
  });
});

describe('resolveHubModel against a loopback Hub', () => {
  test('downloads the model and configs at one commit, pins commit and sha256, then needs no request', async () => {
    const hub = await startHubServer({ repos: { 'test/tiny-vit': repo } });
    try {
      const options = fast(hub);
      const model = await resolveHubModel('hf:test/tiny-vit', options);
      assert.equal(model.commit, MAIN);
      assert.equal(model.reference, `hf:test/tiny-vit@${MAIN}:onnx/model.onnx`);
      assert.equal(model.sha256, sha256(files['onnx/model.onnx']!));
      assert.equal(model.sizeBytes, files['onnx/model.onnx']!.length);
      assert.equal(model.source, 'download');
      assert.deepEqual(new Uint8Array(await readFile(model.file)), files['onnx/model.onnx']);
      assert.equal(model.config?.['model_type'], 'dinov2');
      assert.equal(model.preprocessorConfig?.['image_processor_type'], 'BitImageProcessor');
      // the branch is looked up once; every later request names the commit
      assert.deepEqual(hub.requests.map((r) => `${r.method} ${r.path}`), [
        'HEAD /test/tiny-vit/resolve/main/onnx/model.onnx',
        `GET /test/tiny-vit/resolve/${MAIN}/onnx/model.onnx`,
        `GET /cdn/${model.sha256}`,
        `HEAD /test/tiny-vit/resolve/${MAIN}/config.json`,
        `GET /test/tiny-vit/resolve/${MAIN}/config.json`,
        `HEAD /test/tiny-vit/resolve/${MAIN}/preprocessor_config.json`,
        `GET /test/tiny-vit/resolve/${MAIN}/preprocessor_config.json`,
      ]);
      assert.deepEqual(await listFiles(join(options.home!, 'models', 'hub')), [
        'models--test--tiny-vit/refs/main',
        `models--test--tiny-vit/snapshots/${MAIN}/config.json`,
        `models--test--tiny-vit/snapshots/${MAIN}/config.json.sha256`,
        `models--test--tiny-vit/snapshots/${MAIN}/onnx/model.onnx`,
        `models--test--tiny-vit/snapshots/${MAIN}/onnx/model.onnx.sha256`,
        `models--test--tiny-vit/snapshots/${MAIN}/preprocessor_config.json`,
        `models--test--tiny-vit/snapshots/${MAIN}/preprocessor_config.json.sha256`,
      ]);

      const count = hub.requests.length;
      const again = await resolveHubModel('hf:test/tiny-vit', { ...options, endpoint: `http://127.0.0.1:${await closedPort()}` });
      assert.equal(hub.requests.length, count, 'the second resolution makes no request');
      assert.deepEqual({ ...again, source: 'download', endpoint: model.endpoint }, model);
      assert.equal(again.source, 'finetune-cache');
      const offline = await resolveHubModel(`hf:test/tiny-vit@${MAIN}`, { ...options, offline: true });
      assert.equal(offline.file, model.file, 'a commit reference finds the same files offline');
    } finally {
      await hub.close();
    }
  });

  test('@revision and a path inside the repository; a file missing at that commit is null, not an error', async () => {
    const hub = await startHubServer({ repos: { 'test/tiny-vit': repo } });
    try {
      const model = await resolveHubModel('hf:test/tiny-vit@v1:onnx/model_quantized.onnx', fast(hub));
      assert.equal(model.commit, V1);
      assert.equal(model.path, 'onnx/model_quantized.onnx');
      assert.equal(model.sha256, sha256(v1Model));
      assert.equal(model.preprocessorConfig, null);
      assert.ok(hub.requests.some((r) => r.path === '/test/tiny-vit/resolve/v1/onnx/model_quantized.onnx'));
      const variant = await resolveHubModel('hf:test/tiny-vit@v1', fast(hub, { variant: 'quantized' }));
      assert.equal(variant.sha256, sha256(v1Model), '--onnx-variant quantized picks onnx/model_quantized.onnx');
    } finally {
      await hub.close();
    }
  });

  test('a file already in the Hugging Face cache (huggingface_hub layout, links into blobs/) is used with no request', async () => {
    const hfCache = join(home, 'hf-home', 'hub');
    const repoDir = join(hfCache, 'models--test--tiny-vit');
    await mkdir(join(repoDir, 'refs'), { recursive: true });
    await writeFile(join(repoDir, 'refs', 'main'), MAIN);
    for (const [path, data] of Object.entries(files)) {
      const blob = join(repoDir, 'blobs', sha256(data));
      await mkdir(join(repoDir, 'blobs'), { recursive: true });
      await writeFile(blob, data);
      const link = join(repoDir, 'snapshots', MAIN, ...path.split('/'));
      await mkdir(join(link, '..'), { recursive: true });
      await symlink(blob, link);
    }
    assert.equal(huggingFaceCacheDir({ HF_HOME: join(home, 'hf-home') }), hfCache);
    const hub = await startHubServer({ repos: { 'test/tiny-vit': repo } });
    try {
      const model = await resolveHubModel('hf:test/tiny-vit', fast(hub, { huggingFaceCache: undefined, env: { HF_HOME: join(home, 'hf-home') } }));
      assert.equal(model.source, 'huggingface-cache');
      assert.equal(model.commit, MAIN);
      assert.equal(model.sha256, sha256(files['onnx/model.onnx']!));
      assert.equal(model.file, join(repoDir, 'blobs', model.sha256));
      assert.equal(model.preprocessorConfig?.['resample'], 3);
      assert.deepEqual(hub.requests, [], 'no request at all');
    } finally {
      await hub.close();
    }
  });

  test('a gated repository: 401 without HF_TOKEN names it; with it the download works and the CDN never sees the token', async () => {
    const hub = await startHubServer({ repos: { 'test/tiny-vit': repo }, token: 'hf_secret' });
    try {
      await assert.rejects(resolveHubModel('hf:test/tiny-vit', fast(hub)), (e: unknown) => {
        assert.ok(e instanceof FinetuneError);
        assert.equal(e.code, 'MODEL_NOT_FOUND');
        assert.match(e.message, /HTTP 401.*private or gated/);
        assert.match(e.hint ?? '', /set HF_TOKEN/);
        return true;
      });
      const model = await resolveHubModel('hf:test/tiny-vit', fast(hub, { env: { HF_TOKEN: 'hf_secret' } }));
      assert.equal(model.commit, MAIN);
      const cdn = hub.requests.filter((r) => r.path.startsWith('/cdn/'));
      assert.ok(cdn.length > 0);
      assert.ok(cdn.every((r) => r.authorization === null), 'the token is not sent on to the CDN');
      assert.ok(hub.requests.filter((r) => r.path.includes('/resolve/')).slice(1).every((r) => r.authorization === 'Bearer hf_secret'));
    } finally {
      await hub.close();
    }
  });

  test('missing file, unknown repository, wrong sha256, offline: each a clear error, nothing left in the cache', async () => {
    const hub = await startHubServer({ repos: { 'test/tiny-vit': repo } });
    try {
      const options = fast(hub);
      await assert.rejects(resolveHubModel('hf:test/tiny-vit', { ...options, variant: 'fp16' }), (e: unknown) =>
        e instanceof FinetuneError && e.code === 'MODEL_NOT_FOUND' && /"onnx\/model_fp16\.onnx" is not in test\/tiny-vit at revision "main"/.test(e.message)
        && /--onnx-variant/.test(e.hint ?? ''));
      await assert.rejects(resolveHubModel('hf:test/no-such-repo', options), (e: unknown) =>
        e instanceof FinetuneError && e.code === 'MODEL_NOT_FOUND' && /test\/no-such-repo/.test(e.message));
      await assert.rejects(resolveHubModel('hf:test/tiny-vit', { ...options, offline: true }), (e: unknown) =>
        e instanceof FinetuneError && e.code === 'OFFLINE' && /huggingface-cli download test\/tiny-vit/.test(e.hint ?? ''));
      await assert.rejects(resolveHubModel('hf:test/tiny-vit', { ...options, env: { HF_HUB_OFFLINE: '1' } }), (e: unknown) =>
        e instanceof FinetuneError && e.code === 'OFFLINE');
      assert.deepEqual(await listFiles(join(options.home!, 'models', 'hub')), []);
    } finally {
      await hub.close();
    }
    const lying = await startHubServer({ repos: { 'test/tiny-vit': repo }, wrongSha256: true });
    try {
      const options = fast(lying);
      await assert.rejects(resolveHubModel('hf:test/tiny-vit', options), (e: unknown) => e instanceof ChecksumMismatchError);
      assert.deepEqual(await listFiles(join(options.home!, 'models', 'hub')), [], 'no file, sidecar, temp or lock file may remain');
    } finally {
      await lying.close();
    }
  });

  test('resolveBackbone takes hf: references, with HF_ENDPOINT as the mirror and --onnx-variant', async () => {
    const hub = await startHubServer({ repos: { 'test/tiny-vit': repo } });
    try {
      const h = join(home, `h${homeCounter++}`);
      const resolved = await resolveBackbone('hf:test/tiny-vit@v1', { home: h, proxy: false, env: { HF_ENDPOINT: hub.url }, onnxVariant: 'quantized', huggingFaceCache: false });
      assert.equal(resolved.id, `hf:test/tiny-vit@${V1}:onnx/model_quantized.onnx`);
      assert.equal(resolved.sha256, sha256(v1Model));
      assert.equal(resolved.entry, null);
      assert.equal(resolved.hub?.commit, V1);
      assert.equal(resolved.path, resolved.hub?.file);
    } finally {
      await hub.close();
    }
  });

  test('an unreachable endpoint fails within seconds naming HF_ENDPOINT and the Hugging Face cache', { timeout: 10_000 }, async () => {
    await assert.rejects(resolveHubModel('hf:test/tiny-vit', fast(`http://127.0.0.1:${await closedPort()}`)), (e: unknown) => {
      assert.ok(e instanceof FinetuneError);
      assert.equal(e.code, 'DOWNLOAD_FAILED');
      assert.match(e.hint ?? '', /is not reachable: set HF_ENDPOINT to a mirror/);
      assert.match(e.hint ?? '', /huggingface-cli download test\/tiny-vit/);
      return true;
    });
  });
});
