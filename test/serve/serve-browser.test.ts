/**
 * The browser demo end to end: `startServer` on an exported model, headless chromium uploads an image, and the
 * top-1 class and probability shown on the page must match the Node prediction (onnxruntime-node, sharp decode)
 * to 1e-4. The first two test images are at the model's resize size (only center-cropped), where the page's canvas
 * and sharp produce the same pixels; the third needs resizing and uses the page's exact mode (sharp on the server).
 * See src/serve/page/index.html on resized images in the default (canvas) mode.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { startServer } from '../../src/serve/start-server.js';
import type { RunningServer } from '../../src/serve/start-server.js';
import type { PreprocessSpec } from '../../src/types.js';
import { predict } from '../../src/workflows/predict.js';
import { launchChromium, skipWithoutChromium } from '../report/chromium.js';
import type { Chromium } from '../report/chromium.js';
import { writeTestImage, writeTinyClassifier } from './tiny-classifier.js';

const CLASSES = ['cat', 'dog', 'bird', 'fish'];

interface NodePrediction {
  className: string;
  probability: number;
}

/** `finetune predict` on the same image: the project's predict workflow (sharp decode, onnxruntime-node). */
async function predictInNode(modelPath: string, imagePath: string): Promise<NodePrediction> {
  const [prediction] = await predict(modelPath, [imagePath], { top: 1, device: 'cpu' });
  assert.equal(prediction?.error, undefined);
  const top = prediction!.top[0]!;
  return { className: top.className, probability: top.probability };
}

interface PageResult {
  className: string;
  /** Parsed from the text shown, e.g. "60.3172%". */
  shownProbability: number;
  /** Full precision, from the row's data-probability. */
  probability: number;
  rows: number;
  label: string | undefined;
  /** Top-1 after dropping the same file on the drop zone instead of picking it. */
  dropped: { className: string; probability: number; status: string };
  requests: string[];
  failedRequests: string[];
  consoleErrors: string[];
  screenshot: Buffer;
}

async function classifyInPage(browser: Chromium, server: RunningServer, imagePath: string, exact: boolean): Promise<PageResult> {
  const page = await browser.context.newPage();
  const requests: string[] = [], failedRequests: string[] = [], consoleErrors: string[] = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('requestfailed', (request) => failedRequests.push(`${request.url()}: ${request.failure()?.errorText}`));
  page.on('response', (response) => { if (response.status() >= 400) failedRequests.push(`${response.url()}: HTTP ${response.status()}`); });
  page.on('console', (message) => { if (message.type() === 'error') consoleErrors.push(message.text()); });
  page.on('pageerror', (error) => consoleErrors.push(error.message));
  try {
    await page.goto(server.url);
    await page.waitForSelector('#status[data-state="ready"], #status[data-state="error"]', { timeout: 30_000 });
    assert.equal(await page.getAttribute('#status', 'data-state'), 'ready', await page.textContent('#status') ?? '');
    if (exact) await page.check('#exact');
    await page.setInputFiles('#file', imagePath);
    await page.waitForSelector('#status[data-state="done"], #status[data-state="error"]', { timeout: 30_000 });
    assert.equal(await page.getAttribute('#status', 'data-state'), 'done', await page.textContent('#status') ?? '');
    const top = page.locator('#results li.result').first();
    const shownText = (await top.locator('.probability').textContent()) ?? '';
    const picked = {
      className: (await top.locator('.class-name').textContent()) ?? '',
      shownProbability: Number(shownText.replace('%', '')) / 100,
      probability: Number(await top.getAttribute('data-probability')),
      rows: await page.locator('#results li.result').count(),
      label: await page.getAttribute('#results', 'data-label') ?? undefined,
    };
    const screenshot = await page.screenshot({ fullPage: true });

    // Drop the same image, as a user dragging a file onto the page would.
    // Browser-side code as strings: the project's TypeScript has no DOM lib.
    await page.evaluate("document.getElementById('results').replaceChildren()");
    const base64 = (await readFile(imagePath)).toString('base64');
    const dataTransfer = await page.evaluateHandle(`(() => {
      const bytes = Uint8Array.from(atob('${base64}'), (char) => char.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
      return transfer;
    })()`);
    await page.dispatchEvent('#drop', 'dragover', { dataTransfer });
    await page.dispatchEvent('#drop', 'drop', { dataTransfer });
    await page.waitForSelector('#results li.result', { timeout: 30_000 });
    const droppedTop = page.locator('#results li.result').first();
    const dropped = {
      className: (await droppedTop.locator('.class-name').textContent()) ?? '',
      probability: Number(await droppedTop.getAttribute('data-probability')),
      status: (await page.textContent('#status')) ?? '',
    };
    return { ...picked, dropped, requests, failedRequests, consoleErrors, screenshot };
  } finally {
    await page.close();
  }
}

/** Not blank: the PNG decodes and has many distinct colours and real contrast. */
async function assertNotBlank(png: Buffer): Promise<void> {
  const image = sharp(png);
  const { width, height } = await image.metadata();
  assert.ok((width ?? 0) >= 400 && (height ?? 0) >= 300, `screenshot is ${width}×${height}`);
  const stats = await image.stats();
  for (const channel of stats.channels.slice(0, 3)) assert.ok(channel.stdev > 10, `channel stdev ${channel.stdev}: the screenshot looks blank`);
  const { data } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const colours = new Set<number>();
  for (let i = 0; i < data.length; i += 3) colours.add((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!);
  assert.ok(colours.size > 100, `only ${colours.size} distinct colours`);
}

const cases: Array<{
  name: string; spec: PreprocessSpec; withPreprocessing: boolean; width: number; height: number; weightScale: number; exact: boolean;
  externalData?: boolean;
}> = [
  {
    name: 'uint8 image input (preprocessing baked in), portrait image center-cropped',
    spec: { resizeMode: 'shorter-side', resizeSize: 32, resizeFilter: 'pil-bilinear', cropSize: 32, scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelOrder: 'RGB', layout: 'NCHW' },
    withPreprocessing: true, width: 32, height: 47, weightScale: 2, exact: false,
  },
  {
    name: 'float input (--no-preprocessing), BGR, normalised in the page, landscape image center-cropped',
    spec: { resizeMode: 'shorter-side', resizeSize: 32, resizeFilter: 'pil-bilinear', cropSize: 32, scale: 1, mean: [103.9, 116.8, 123.7], std: [57.4, 57.1, 58.4], channelOrder: 'BGR', layout: 'NCHW' },
    withPreprocessing: false, width: 45, height: 32, weightScale: 0.1, exact: false,
  },
  {
    name: 'exact mode: an image that needs resizing, decoded with sharp by the server, model run in the page',
    spec: { resizeMode: 'shorter-side', resizeSize: 36, resizeFilter: 'pil-bilinear', cropSize: 32, scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], channelOrder: 'RGB', layout: 'NCHW' },
    withPreprocessing: true, width: 61, height: 50, weightScale: 1, exact: true,
  },
  {
    name: 'in-page mode: an image that needs resizing, resized by the page with the library\'s pil-bicubic code',
    spec: { resizeMode: 'shorter-side', resizeSize: 36, resizeFilter: 'pil-bicubic', cropSize: 32, scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], channelOrder: 'RGB', layout: 'NCHW' },
    withPreprocessing: true, width: 61, height: 50, weightScale: 1, exact: false,
  },
  {
    name: 'in-page mode: an upscaled image, torch-bilinear, float input normalised in the page',
    spec: { resizeMode: 'direct', resizeSize: 32, resizeFilter: 'torch-bilinear', cropSize: 32, scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], channelOrder: 'RGB', layout: 'NCHW' },
    withPreprocessing: false, width: 20, height: 13, weightScale: 0.5, exact: false,
  },
  {
    name: 'a model exported with external data: the page loads model.onnx.data beside it',
    spec: { resizeMode: 'shorter-side', resizeSize: 32, resizeFilter: 'pil-bilinear', cropSize: 32, scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelOrder: 'RGB', layout: 'NCHW' },
    withPreprocessing: true, width: 40, height: 32, weightScale: 2, exact: false, externalData: true,
  },
];

describe('finetune serve in headless chromium', { skip: skipWithoutChromium }, () => {
  let root: string;
  let browser: Chromium;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'finetune-serve-'));
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await rm(root, { recursive: true, force: true });
  });

  cases.forEach((testCase, index) => {
    it(`shows the same top-1 class and probability as Node, to 1e-4: ${testCase.name}`, async () => {
      const dir = join(root, `case-${index}`);
      const modelPath = join(dir, 'model.onnx');
      await writeTinyClassifier(modelPath, { classNames: CLASSES, preprocess: testCase.spec, withPreprocessing: testCase.withPreprocessing, seed: index + 1,
        weightScale: testCase.weightScale, externalData: testCase.externalData ?? false });
      const imagePath = join(dir, 'test-image.png');
      await writeTestImage(imagePath, testCase.width, testCase.height, 11 + index);
      const expected = await predictInNode(modelPath, imagePath);
      assert.ok(expected.probability < 0.999 && expected.probability > 1 / CLASSES.length + 0.05,
        `the test model should give a clear but not saturated top-1, got ${expected.probability}`);

      const server = await startServer(modelPath, { port: 0 });
      let result: PageResult;
      try {
        result = await classifyInPage(browser, server, imagePath, testCase.exact);
      } finally {
        await server.close();
      }
      assert.equal(result.className, expected.className);
      assert.equal(result.label, expected.className, "the model's own `label` output agrees");
      assert.ok(Math.abs(result.shownProbability - expected.probability) <= 1e-4,
        `shown ${result.shownProbability}, Node ${expected.probability}`);
      assert.ok(Math.abs(result.probability - expected.probability) <= 1e-4, `page ${result.probability}, Node ${expected.probability}`);
      assert.equal(result.rows, CLASSES.length, 'top-k (5) capped at the number of classes');
      assert.deepEqual(result.dropped, { className: result.className, probability: result.probability, status: 'dropped.png: done.' });

      const origin = new URL(server.url).origin;
      assert.ok(origin.startsWith('http://127.0.0.1:'));
      const outside = result.requests.filter((url) => !url.startsWith(`${origin}/`));
      assert.deepEqual(outside, [], 'the page requested something outside 127.0.0.1');
      assert.ok(result.requests.some((url) => url.endsWith('.wasm')), 'onnxruntime-web loaded its wasm from the server');
      assert.equal(result.requests.some((url) => url.endsWith('/model.onnx.data')), testCase.externalData ?? false,
        'the page fetches model.onnx.data exactly when the model has external data');
      assert.deepEqual(result.failedRequests, []);
      assert.deepEqual(result.consoleErrors, []);

      await assertNotBlank(result.screenshot);
      const screenshotDir = process.env.FINETUNE_SCREENSHOT_DIR ?? dir;
      await mkdir(screenshotDir, { recursive: true });
      await writeFile(join(screenshotDir, `serve-${index}.png`), result.screenshot);
    });
  });
});
