/** Opens report.html in headless chromium: it must load with no failed requests and no console errors. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { writeReport } from '../../src/report/write-report.js';
import { launchChromium, skipWithoutChromium } from './chromium.js';
import type { Chromium } from './chromium.js';
import { writeRunFixture } from './run-fixture.js';
import type { RunFixture } from './run-fixture.js';

describe('report.html in headless chromium', { skip: skipWithoutChromium }, () => {
  let root: string;
  let fixture: RunFixture;
  let browser: Chromium;
  const requests: string[] = [];
  const failedRequests: string[] = [];
  const consoleErrors: string[] = [];
  let chartPoints: number[] = [];
  let cells = 0;
  let images: Array<{ complete: boolean; width: number }> = [];
  let title = '';
  let header = '';
  let markerOverflow: Array<{ label: string; left: number; right: number; width: number }> = [];
  let screenshot: Buffer;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'finetune-report-browser-'));
    // Best = restored at the last epoch: its marker label sits at the right edge of the charts.
    fixture = await writeRunFixture(join(root, 'run'), { epochs: 7, bestEpoch: 7 });
    const reportPath = await writeReport(fixture.runDir);
    browser = await launchChromium();
    const page = await browser.context.newPage();
    page.on('request', (request) => requests.push(request.url()));
    page.on('requestfailed', (request) => failedRequests.push(`${request.url()}: ${request.failure()?.errorText}`));
    page.on('console', (message) => { if (message.type() === 'error') consoleErrors.push(message.text()); });
    page.on('pageerror', (error) => consoleErrors.push(error.message));
    await page.goto(pathToFileURL(reportPath).href, { waitUntil: 'load' });
    title = await page.title();
    chartPoints = await page.$$eval('svg.line-chart', (svgs) => svgs.map((svg) => svg.querySelectorAll('circle.point').length));
    cells = await page.$$eval('svg.heatmap rect.cell', (rects) => rects.length);
    markerOverflow = await page.$$eval('svg.line-chart', (svgs) => svgs.flatMap((svg) => {
      const width = (svg as unknown as { viewBox: { baseVal: { width: number } } }).viewBox.baseVal.width;
      return [...svg.querySelectorAll('g.marker text')].map((text) => {
        const box = (text as unknown as { getBBox(): { x: number; width: number } }).getBBox();
        return { label: text.textContent ?? '', left: box.x, right: box.x + box.width, width };
      });
    }));
    header = await page.$eval('header', (element) => element.textContent ?? '');
    images = await page.$$eval('figure.wrong img', (imgs) => imgs.map((img) => ({ complete: img.complete, width: img.naturalWidth })));
    screenshot = await page.screenshot({ fullPage: true });
    // FINETUNE_SCREENSHOT_DIR=docs/img npm test -- browser keeps the screenshots (for the README).
    if (process.env.FINETUNE_SCREENSHOT_DIR) {
      await mkdir(process.env.FINETUNE_SCREENSHOT_DIR, { recursive: true });
      await writeFile(join(process.env.FINETUNE_SCREENSHOT_DIR, 'report.png'), screenshot);
    }
  });
  after(async () => {
    await browser?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('loads with no failed requests, no console errors and no request beyond the file itself', () => {
    assert.deepEqual(failedRequests, []);
    assert.deepEqual(consoleErrors, []);
    assert.ok(requests.every((url) => url.startsWith('file://') || url.startsWith('data:')), `unexpected requests: ${requests.join(', ')}`);
    assert.equal(title, 'Training report: run');
  });

  it('renders the charts with a data point per epoch and series, and the heatmap cells', () => {
    assert.deepEqual(chartPoints, [2 * fixture.history.length, 2 * fixture.history.length]);
    assert.equal(cells, fixture.classNames.length ** 2);
  });

  it('draws every marker label inside its chart, and the header names the run, not the machine path (issue 14, defect 10)', () => {
    assert.ok(markerOverflow.length >= 2, 'a marker label per chart');
    for (const marker of markerOverflow) {
      assert.ok(marker.left >= 0 && marker.right <= marker.width, `"${marker.label}" spans ${marker.left}–${marker.right} of ${marker.width}`);
    }
    assert.match(header, /Training report: run/);
    assert.ok(!header.includes(root), `the header shows the absolute path: ${header}`);
  });

  it('decodes the embedded thumbnails', () => {
    assert.equal(images.length, fixture.imagePaths.length);
    for (const image of images) assert.ok(image.complete && image.width > 0, 'thumbnail did not decode');
    assert.ok(screenshot.length > 10_000, 'full-page screenshot is suspiciously small');
  });
});
