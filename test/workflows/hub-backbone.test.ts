/**
 * A Hugging Face Hub backbone end to end (issue 20): the tiny DINOv2-style ViT served by a loopback Hub becomes a
 * feature extractor cut at the CLS token its model_type calls for, preprocessed as its preprocessor_config.json says.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ProgressEvent } from '../../src/types.js';
import { prepareBackbone } from '../../src/workflows/prepare-backbone.js';
import type { PrepareBackboneOptions } from '../../src/workflows/prepare-backbone.js';
import { fakeCommit, filesOf, startHubServer } from '../helpers/hub-server.js';
import type { HubServer } from '../helpers/hub-server.js';
import { tempHome } from '../registry/http-fixtures.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'hub');
const MAIN = fakeCommit('main');

let home = '';
let cleanup: () => Promise<void> = async () => undefined;
let hub: HubServer;
before(async () => {
  ({ home, cleanup } = await tempHome());
  hub = await startHubServer({ repos: { 'test/tiny-vit': { refs: { main: MAIN }, commits: { [MAIN]: await filesOf(join(FIXTURES, 'tiny-vit')) } } } });
});
after(async () => {
  await hub.close();
  await cleanup();
});

const options = (extra: PrepareBackboneOptions = {}): PrepareBackboneOptions => ({
  home, hubEndpoint: hub.url, huggingFaceCache: false, proxy: false, env: {}, ...extra,
});

describe('hf: backbone through prepareBackbone', () => {
  test('model_type picks the CLS token, preprocessor_config.json the preprocessing, and both are said', async () => {
    const events: ProgressEvent[] = [];
    const prepared = await prepareBackbone('hf:test/tiny-vit', options({ onProgress: (e) => events.push(e) }));
    assert.equal(prepared.resolved.id, `hf:test/tiny-vit@${MAIN}:onnx/model.onnx`);
    assert.equal(prepared.cut.featureTensor, 'last_hidden_state');
    assert.equal(prepared.cut.pooling, 'cls');
    assert.equal(prepared.cut.embeddingDim, 32);
    assert.deepEqual([prepared.preprocess.resizeMode, prepared.preprocess.resizeSize, prepared.preprocess.cropSize], ['shorter-side', 40, 32]);
    const messages = events.filter((e) => e.stage === 'info').map((e) => (e as { message: string }).message);
    assert.ok(messages.includes('Feature: model_type "dinov2": the CLS token of last_hidden_state (--pooling mean-tokens for the mean of the patch tokens).'), messages.join('\n'));
    assert.ok(messages.some((m) => m.startsWith('Preprocessing from preprocessor_config.json: BitImageProcessor: shorter side to 40 (pil-bicubic), center crop 32')), messages.join('\n'));
  });
});
