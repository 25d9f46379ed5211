/** Headless Debian chromium for the report and serve tests, driven by playwright-core (no browser download). */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';

export const CHROMIUM_PATH = process.env.FINETUNE_CHROMIUM ?? '/usr/bin/chromium';
/** Pass as `{ skip: skipWithoutChromium }` to node:test. */
export const skipWithoutChromium: string | false = existsSync(CHROMIUM_PATH)
  ? false
  : `${CHROMIUM_PATH} is absent (apt-get install chromium; .ci/run installs it)`;

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
];

export interface Chromium {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/** A persistent context in a fresh user-data-dir, removed on close. */
export async function launchChromium(): Promise<Chromium> {
  const { chromium } = await import('playwright-core');
  const userDataDir = await mkdtemp(join(tmpdir(), 'finetune-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1100, height: 900 },
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}
