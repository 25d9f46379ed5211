import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sha256 } from '../../src/util/hash.js';
import { runCli } from '../cli/helpers.js';
import { fakeCommit, filesOf, startHubServer } from '../helpers/hub-server.js';
import type { HubServer } from '../helpers/hub-server.js';
import { tempHome } from './http-fixtures.js';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'hub', 'tiny-vit');
const MAIN = fakeCommit('main');

let home = '';
let cleanup: () => Promise<void> = async () => undefined;
let hub: HubServer;
let files: Record<string, Uint8Array> = {};
before(async () => {
  ({ home, cleanup } = await tempHome());
  files = await filesOf(FIXTURE);
  hub = await startHubServer({ repos: {
    'test/tiny-vit': { refs: { main: MAIN }, commits: { [MAIN]: files } },
    'Xenova/dinov2-small': { refs: {}, commits: { bd222e886723524568931e43031f6d9327896fac: files } }, // stands in for the real one
  } });
});
after(async () => {
  await hub.close();
  await cleanup();
});

describe('finetune models pull hf:…', () => {
  test('pulls from HF_ENDPOINT, pins the commit, and a second pull is served from the cache', { timeout: 60_000 }, async () => {
    const env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: join(home, 'empty-hf-cache'), HTTP_PROXY: '', HTTPS_PROXY: '' };
    const run = await runCli(['models', 'pull', 'hf:test/tiny-vit', '--home', join(home, 'ft'), '--json', '--min-download-speed', '1000'], env);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { reference: string; commit: string; sha256: string; source: string };
    assert.equal(result.reference, `hf:test/tiny-vit@${MAIN}:onnx/model.onnx`);
    assert.equal(result.sha256, sha256(files['onnx/model.onnx']!));
    assert.equal(result.source, 'download');
    const again = await runCli(['models', 'pull', 'hf:test/tiny-vit', '--home', join(home, 'ft'), '--offline'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /Already cached \(finetune-cache\) hf:test\/tiny-vit@[0-9a-f]{40}:onnx\/model\.onnx/);
  });

  test('models list shows the Hub aliases; pulling one by its short name marks it cached', { timeout: 60_000 }, async () => {
    const env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: join(home, 'empty-hf-cache') };
    const ftHome = join(home, 'ft-list');
    type Row = { id: string; source?: string; cached: boolean; verified?: boolean };
    const list = async (): Promise<Row[]> => {
      const run = await runCli(['models', 'list', '--home', ftHome, '--json'], env);
      assert.equal(run.code, 0, run.stderr);
      return JSON.parse(run.stdout) as Row[];
    };
    const before = (await list()).find((row) => row.id === 'dinov2-small');
    assert.deepEqual([before?.source, before?.cached, before?.verified], ['hf:Xenova/dinov2-small@bd222e886723524568931e43031f6d9327896fac:onnx/model.onnx', false, false]);
    const pull = await runCli(['models', 'pull', 'dinov2-small', '--home', ftHome], env);
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(pull.stdout, /^Downloaded hf:Xenova\/dinov2-small@bd222e8/);
    assert.equal((await list()).find((row) => row.id === 'dinov2-small')?.cached, true);
  });

  test('inspect hf:… shows the token tensors with concrete shapes and their poolings', { timeout: 60_000 }, async () => {
    const env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: join(home, 'empty-hf-cache'), FINETUNE_HOME: join(home, 'ft-inspect') };
    const run = await runCli(['inspect', 'hf:test/tiny-vit'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /\* +last_hidden_state +float32 +\[batch_size, 17, 32\] +Add +cls, mean-tokens, avg, max, flatten/);
    assert.match(run.stdout, /Automatic cut: "last_hidden_state", a token sequence, pooled with cls/);
  });

  test('--min-download-speed must be a non-negative number (usage error, exit 2); --onnx-variant names a missing file', { timeout: 60_000 }, async () => {
    const env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: join(home, 'empty-hf-cache') };
    const bad = await runCli(['models', 'pull', 'hf:test/tiny-vit', '--home', join(home, 'ft2'), '--min-download-speed', '-5'], env);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--min-download-speed -5 is not a speed in bytes per second/);
    const missing = await runCli(['models', 'pull', 'hf:test/tiny-vit', '--home', join(home, 'ft2'), '--onnx-variant', 'fp16'], env);
    assert.equal(missing.code, 1, missing.stderr);
    assert.match(missing.stderr, /"onnx\/model_fp16\.onnx" is not in test\/tiny-vit/);
  });
});
