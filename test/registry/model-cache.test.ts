import assert from 'node:assert/strict';
import { mkdir, open, readdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FinetuneError } from '../../src/errors.js';
import { getModel } from '../../src/registry/catalog.js';
import { cachedModelPath, listCachedModels, modelInfo, partialPath, removeModel, sidecarPath } from '../../src/registry/model-cache.js';
import { tempHome } from './http-fixtures.js';

let home = '';
let cleanup: () => Promise<void> = async () => undefined;
before(async () => ({ home, cleanup } = await tempHome()));
after(() => cleanup());

/** A sparse file of `size` bytes (cheap even for multi-MB models). */
async function sparseFile(path: string, size: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const handle = await open(path, 'w');
  await handle.truncate(size);
  await handle.close();
}

describe('model cache: info, list, rm', () => {
  test('reports missing, unverified, verified and size-mismatch files, then removes them', async () => {
    const squeezenet = getModel('squeezenet');
    const resnet = getModel('resnet18');
    const path = cachedModelPath(squeezenet, home);
    assert.ok(path.startsWith(home) && path.endsWith('validated/vision/classification/squeezenet/model/squeezenet1.1-7.onnx'));

    const missing = await modelInfo('squeezenet', home);
    assert.deepEqual([missing.id, missing.cached, missing.status, missing.sizeBytes, missing.partialBytes], ['squeezenet1.1-7', false, 'missing', null, null]);
    assert.deepEqual(await listCachedModels(home), []);

    await sparseFile(path, squeezenet.sizeBytes);
    assert.equal((await modelInfo('squeezenet1.1-7', home)).status, 'unverified');
    await writeFile(sidecarPath(path), `${squeezenet.sha256}  squeezenet1.1-7.onnx\n`);
    const verified = await modelInfo('squeezenet', home);
    assert.deepEqual([verified.cached, verified.status, verified.sizeBytes], [true, 'verified', squeezenet.sizeBytes]);
    assert.equal(verified.entry, squeezenet);
    assert.doesNotThrow(() => JSON.stringify(verified), 'results are JSON-friendly');

    await sparseFile(cachedModelPath(resnet, home), 1000);
    await writeFile(partialPath(cachedModelPath(resnet, home)), 'partial');
    const listed = await listCachedModels(home);
    assert.deepEqual(listed.map((m) => [m.id, m.status, m.sizeBytes]), [
      ['resnet18-v1-7', 'size-mismatch', 1000],
      ['squeezenet1.1-7', 'verified', squeezenet.sizeBytes],
    ]);
    assert.equal((await modelInfo('resnet18', home)).partialBytes, 7);

    const removed = await removeModel('squeezenet', home);
    assert.deepEqual(removed, { id: 'squeezenet1.1-7', path, removed: true, freedBytes: squeezenet.sizeBytes + 87 });
    assert.deepEqual(await readdir(dirname(path)), []);
    assert.deepEqual(await removeModel('squeezenet', home), { id: 'squeezenet1.1-7', path, removed: false, freedBytes: 0 });
    assert.equal((await removeModel('resnet18', home)).freedBytes, 1007);
    assert.deepEqual(await listCachedModels(home), []);
  });

  test('unknown ids fail with MODEL_NOT_FOUND', async () => {
    await assert.rejects(modelInfo('vgg99', home), (e: unknown) => e instanceof FinetuneError && e.code === 'MODEL_NOT_FOUND');
    await assert.rejects(removeModel('vgg99', home), (e: unknown) => e instanceof FinetuneError && e.code === 'MODEL_NOT_FOUND');
  });
});
