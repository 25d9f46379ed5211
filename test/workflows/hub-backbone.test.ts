/**
 * A Hugging Face Hub backbone end to end (issue 20): the tiny DINOv2-style ViT served by a loopback Hub becomes a
 * feature extractor cut at the CLS token its model_type calls for, preprocessed as its preprocessor_config.json says,
 * whose CLS (and mean-token) features equal PyTorch's for the same images (golden values from
 * scripts/fixtures/make-tiny-vit.py, which preprocesses as transformers' BitImageProcessor does, with PIL).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { preprocessImage } from '../../src/image/preprocess-image.js';
import { METADATA_KEYS, readExportedModelInfo } from '../../src/export/exported-model-format.js';
import { readRun } from '../../src/run/read-run.js';
import type { ProgressEvent } from '../../src/types.js';
import { runCli } from '../cli/helpers.js';
import { prepareBackbone } from '../../src/workflows/prepare-backbone.js';
import type { PrepareBackboneOptions, PreparedBackbone } from '../../src/workflows/prepare-backbone.js';
import { fakeCommit, filesOf, startHubServer } from '../helpers/hub-server.js';
import type { HubServer } from '../helpers/hub-server.js';
import { tempHome } from '../registry/http-fixtures.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'hub');
const MAIN = fakeCommit('main');
interface Golden { images: Record<string, { cls: number[]; meanTokens: number[] }> }
const golden = JSON.parse(readFileSync(join(FIXTURES, 'golden.json'), 'utf8')) as Golden;

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

async function features(prepared: PreparedBackbone, image: string): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(prepared.extractor.modelBytes);
  try {
    const { cropSize } = prepared.preprocess;
    const input = await preprocessImage(join(FIXTURES, 'images', image), prepared.preprocess);
    const out = await session.run({ [prepared.extractor.inputName]: new ort.Tensor('float32', input, [1, 3, cropSize, cropSize]) });
    return out['features']!.data as Float32Array;
  } finally {
    await session.release();
  }
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

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
    assert.ok(messages.some((m) => m.startsWith('Preprocessing from preprocessor_config.json: BitImageProcessor: shorter side to 40 (pil-bicubic, transformers rounding), center crop 32')), messages.join('\n'));
  });

  test('CLS and mean-token features equal PyTorch\'s for the same images (cosine ≥ 0.999)', async () => {
    const cls = await prepareBackbone('hf:test/tiny-vit', options());
    const meanTokens = await prepareBackbone('hf:test/tiny-vit', options({ pooling: 'mean-tokens' }));
    assert.equal(meanTokens.cut.pooling, 'mean-tokens');
    const report: string[] = [];
    for (const [image, expected] of Object.entries(golden.images)) {
      const ours = await features(cls, image), oursMean = await features(meanTokens, image);
      const c = cosine(ours, expected.cls);
      const m = cosine(oursMean, expected.meanTokens);
      const worst = Math.max(...Array.from(ours, (v, i) => Math.abs(v - expected.cls[i]!)));
      report.push(`${image}: cls ${c.toFixed(5)}, mean-tokens ${m.toFixed(5)} (cls max |diff| ${worst.toExponential(1)})`);
    }
    console.log(report.join('\n'));
    for (const line of report) {
      for (const value of line.match(/\d\.\d{5}(?=,| \()/g)!) assert.ok(Number(value) >= 0.999, report.join('\n'));
    }
  });

  test('the one-shot CLI run on hf:… trains, exports and passes parity; run.json and the model pin the commit and sha256', { timeout: 180_000 }, async () => {
    const data = join(home, 'photos');
    for (const [label, base] of [['red', [140, 110, 110]], ['blue', [110, 110, 140]]] as const) {
      await mkdir(join(data, label), { recursive: true });
      for (let i = 0; i < 8; i++) {
        const width = 40 + i * 3, height = 48 - i;
        const pixels = Buffer.alloc(width * height * 3);
        for (let p = 0; p < pixels.length; p++) pixels[p] = Math.max(0, Math.min(255, base[p % 3]! + ((p * 7919 + i * 104729 + (p >> 3) * 31) % 160) - 80));
        await writeFile(join(data, label, `${label}-${i}.png`), await sharp(pixels, { raw: { width, height, channels: 3 } }).png().toBuffer());
      }
    }
    const out = join(home, 'run');
    const run = await runCli(['--backbone', 'hf:test/tiny-vit', '--classes', '2', '--data', data, '--out', out, '--home', join(home, 'cli-home'),
      '--cache-dir', join(home, 'cli-cache'), '--device', 'cpu', '--epochs', '30', '--json'],
    { HF_ENDPOINT: hub.url, HF_HUB_CACHE: join(home, 'no-hf-cache'), HTTP_PROXY: '', HTTPS_PROXY: '' }, 170_000);
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout) as { parity: { nodeOk: boolean; webStatus: string; maxAbsDiff: number } };
    assert.equal(summary.parity.nodeOk, true, JSON.stringify(summary.parity));
    assert.ok(summary.parity.webStatus === 'ok', `onnxruntime-web: ${summary.parity.webStatus}`);
    assert.match(run.stderr, /Feature: model_type \\?"dinov2\\?": the CLS token of last_hidden_state/);
    const record = (await readRun(out)).manifest!;
    assert.equal(record.backbone.id, `hf:test/tiny-vit@${MAIN}:onnx/model.onnx`);
    assert.equal(record.backbone.pooling, 'cls');
    assert.equal(record.backbone.featureTensor, 'last_hidden_state');
    const info = await readExportedModelInfo(join(out, 'model.onnx'));
    assert.equal(info.metadata[METADATA_KEYS.backboneId], record.backbone.id, 'the exported model names the repository, commit and file');
    assert.equal(info.metadata[METADATA_KEYS.backboneSha256], record.backbone.sha256);
  });
});
