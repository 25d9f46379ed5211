/**
 * Importing finetune loads no native addon package (onnxruntime-node, onnxruntime-web, sharp, better-sqlite3):
 * they load when a function that needs them runs (issue 15). Checked in a fresh process with addon-probe.mjs,
 * which reports every dlopen and every module of those packages loaded by import or require.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const probe = new URL('./addon-probe.mjs', import.meta.url).href;

function runWithProbe(script: string) {
  const result = spawnSync(process.execPath, ['--import', probe, '--import', 'tsx', '--input-type=module', '-e', script],
    { cwd: root, encoding: 'utf8', timeout: 120_000 });
  const addons = result.stderr.split('\n').filter((line) => line.startsWith('ADDON '));
  return { ...result, addons };
}

describe('native addons load lazily', () => {
  it('importing the package and calling fit, listModels and readModel loads none', () => {
    const result = runWithProbe(`
      import { mkdtempSync, writeFileSync } from 'node:fs';
      import { tmpdir } from 'node:os';
      import { join } from 'node:path';
      import * as finetune from './src/index.ts';
      import { buildVggBackbone } from './src/testing.ts';
      const models = finetune.listModels();
      const path = join(mkdtempSync(join(tmpdir(), 'finetune-lazy-')), 'backbone.onnx');
      writeFileSync(path, finetune.encodeModel(buildVggBackbone().model));
      const model = await finetune.readModel(path);
      const numSamples = 40, embeddingDim = 4;
      const features = Float32Array.from({ length: numSamples * embeddingDim }, (_, i) => ((i * 7919) % 13) / 13 + (i % 2));
      const labels = Int32Array.from({ length: numSamples }, (_, i) => i % 2);
      const fitted = await finetune.fit({ features, labels, numSamples, embeddingDim }, { epochs: 3, numClasses: 2 });
      console.log(JSON.stringify({ models: models.length, nodes: model.graph.node.length, epochs: fitted.history.length }));
    `);
    assert.equal(result.status, 0, result.stderr);
    const summary = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, number>;
    assert.ok(summary['models']! > 0 && summary['nodes']! > 0 && summary['epochs'] === 3, result.stdout);
    assert.deepEqual(result.addons, [], 'native addon packages were loaded');
  });

  it('the probe does see them when a function needs them (sharp, SQLite, ONNX Runtime)', () => {
    const result = runWithProbe(`
      import { mkdtempSync } from 'node:fs';
      import { tmpdir } from 'node:os';
      import { join } from 'node:path';
      import * as finetune from './src/index.ts';
      import { buildVggBackbone } from './src/testing.ts';
      const dir = mkdtempSync(join(tmpdir(), 'finetune-lazy-'));
      finetune.EmbeddingCache.open({ path: join(dir, 'embeddings.sqlite') }).close();
      await finetune.decodeToRgb(new Uint8Array([0x89, 0x50]), finetune.IMAGENET_SPEC).catch(() => undefined);
      const session = await finetune.createSession(finetune.encodeModel(buildVggBackbone().model), { device: 'cpu' });
      await session.release?.();
    `);
    assert.equal(result.status, 0, result.stderr);
    for (const name of ['better-sqlite3', 'sharp', 'onnxruntime-node']) {
      assert.ok(result.addons.some((line) => line.includes(name)), `${name} not seen: ${result.addons.join('\n')}`);
    }
    assert.ok(result.addons.some((line) => line.startsWith('ADDON dlopen')), 'no dlopen seen');
  });
});
