/**
 * Renders a run folder's report.html in headless Chromium (Debian's /usr/bin/chromium) to a PNG, for the README.
 *   npx tsx scripts/screenshot-report.ts runs/demo scripts/assets/report.png
 */
import { resolve } from 'node:path';
import { chromium } from 'playwright-core';

const [runDir = 'runs/demo', out = 'scripts/assets/report.png'] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env['FINETUNE_CHROMIUM'] ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  await page.goto(`file://${resolve(runDir, 'report.html')}`);
  await page.screenshot({ path: out, fullPage: false });
  process.stdout.write(`${out}\n`);
} finally {
  await browser.close();
}
