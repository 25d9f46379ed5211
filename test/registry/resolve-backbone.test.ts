import assert from 'node:assert/strict';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FinetuneError } from '../../src/errors.js';
import { getModel } from '../../src/registry/catalog.js';
import { downloadModel } from '../../src/registry/download.js';
import { looksLikePath, resolveBackbone } from '../../src/registry/resolve-backbone.js';
import { sha256 } from '../../src/util/hash.js';
import { mobilenetInt8Path, skipWithoutShared } from '../helpers/shared.js';
import { startZooServer } from '../helpers/zoo-server.js';
import { tempHome } from './http-fixtures.js';

const MOBILENET_INT8_SHA256 = 'cc028fe6cae7bc11a4ff53cfc9b79c920e8be65ce33a904ec3e2a8f66d77f95f';

let home = '';
let cleanup: () => Promise<void> = async () => undefined;
before(async () => ({ home, cleanup } = await tempHome()));
after(() => cleanup());

describe('resolveBackbone', () => {
  test('an existing .onnx file is used as is and hashed; unknown files have no entry', async () => {
    const path = join(home, 'custom.onnx');
    const bytes = new TextEncoder().encode('not really onnx, but a file');
    await writeFile(path, bytes);
    const resolved = await resolveBackbone(relative(process.cwd(), path), { home, offline: true });
    assert.deepEqual(resolved, { id: 'custom.onnx', path, sha256: sha256(bytes), entry: null, hub: null });
  });

  test('a path that does not exist fails with FILE_NOT_FOUND; a directory too; an unknown id with MODEL_NOT_FOUND', async () => {
    for (const value of ['./missing.onnx', 'models/missing', 'missing.onnx']) {
      await assert.rejects(resolveBackbone(value, { home, offline: true }), (e: unknown) => {
        assert.ok(e instanceof FinetuneError, String(e));
        assert.equal(e.code, 'FILE_NOT_FOUND');
        assert.ok(e.message.includes(value));
        assert.match(e.hint ?? '', /zoo id/);
        return true;
      });
    }
    await assert.rejects(resolveBackbone(home, { home }), (e: unknown) => e instanceof FinetuneError && e.code === 'FILE_NOT_FOUND');
    await assert.rejects(resolveBackbone('vgg61', { home }), (e: unknown) => e instanceof FinetuneError && e.code === 'MODEL_NOT_FOUND');
    assert.equal(looksLikePath('squeezenet1.1'), false);
    assert.equal(looksLikePath('C:\\models\\a.onnx'), true);
  });

  test('a zoo id offline and not cached fails with OFFLINE', async () => {
    await assert.rejects(resolveBackbone('resnet50', { home: join(home, 'empty'), offline: true, env: {} }),
      (e: unknown) => e instanceof FinetuneError && e.code === 'OFFLINE');
  });
});

describe('the real zoo file through a mirror', { skip: skipWithoutShared }, () => {
  test('pull mobilenetv2-int8 from ../shared/zoo served on 127.0.0.1, verifying the real sha256', async () => {
    const zoo = await startZooServer();
    try {
      const h = join(home, 'mirror');
      const entry = getModel('mobilenetv2-int8');
      const pulled = await downloadModel('mobilenetv2-int8', { home: h, mirror: zoo.url, env: {} });
      assert.equal(pulled.sha256, MOBILENET_INT8_SHA256);
      assert.equal(pulled.fromCache, false);
      assert.equal(pulled.url, `${zoo.url}${entry.path}`);
      assert.deepEqual(zoo.requests.map((r) => [r.method, r.path, r.status]), [['GET', `/${entry.path}`, 200]]);

      // resolveBackbone by id: served from the cache, offline, with the registry entry
      const byId = await resolveBackbone('mobilenetv2-int8', { home: h, offline: true });
      assert.deepEqual([byId.id, byId.path, byId.sha256, byId.entry], ['mobilenetv2-12-int8', pulled.path, MOBILENET_INT8_SHA256, entry]);
      assert.equal(zoo.requests.length, 1);

      // FINETUNE_ZOO_MIRROR through env, into another home
      const viaEnv = await resolveBackbone('mobilenetv2-12-int8', { home: join(home, 'mirror-env'), env: { FINETUNE_ZOO_MIRROR: zoo.url } });
      assert.equal(viaEnv.sha256, MOBILENET_INT8_SHA256);
      assert.equal(zoo.requests.length, 2);
    } finally {
      await zoo.close();
    }
  });

  test('the mirror honours Range requests and refuses paths outside its folder', async () => {
    const zoo = await startZooServer();
    try {
      const entry = getModel('mobilenetv2-int8');
      const res = await fetch(`${zoo.url}${entry.path}`, { headers: { range: 'bytes=100-199' } });
      assert.equal(res.status, 206);
      assert.equal(res.headers.get('content-range'), `bytes 100-199/${entry.sizeBytes}`);
      assert.equal((await res.arrayBuffer()).byteLength, 100);
      const beyond = await fetch(`${zoo.url}${entry.path}`, { headers: { range: `bytes=${entry.sizeBytes}-` } });
      assert.equal(beyond.status, 416);
      await beyond.arrayBuffer();
      const escape = await fetch(`${zoo.url}..%2F..%2Fetc%2Fpasswd`);
      assert.equal(escape.status, 404);
      await escape.arrayBuffer();
    } finally {
      await zoo.close();
    }
  });

  test('a zoo file passed by path is recognised by its sha256 and gets its registry entry', async () => {
    const copy = join(home, 'copies', 'renamed.onnx');
    await mkdir(join(home, 'copies'), { recursive: true });
    await copyFile(mobilenetInt8Path, copy);
    const resolved = await resolveBackbone(copy, { home, offline: true });
    assert.equal(resolved.id, 'mobilenetv2-12-int8');
    assert.equal(resolved.entry?.feature.tensor, '464_quantized');
    assert.equal(resolved.path, copy);
  });
});
