/**
 * Thumbnails in the report come from dataset images, which are untrusted bytes (issue 14). An "image" that is
 * really an SVG must not pull other files of the machine into report.html: librsvg resolves <image href> against the
 * file's path when sharp is given a path, but loads nothing when given bytes. A FIFO must not hang the report.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { makeThumbnail } from '../../src/report/read-run-data.js';

describe('report thumbnails of untrusted images', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'finetune-thumbnail-')); });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  it('an SVG posing as a PNG does not embed another file of the machine', async () => {
    const secret = join(dir, 'private-photo.png');   // stands for any image the user can read
    await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 255, g: 0, b: 0 } } }).png().toFile(secret);
    const svg = join(dir, 'cat.png');
    for (const href of [`file://${secret}`, secret, 'private-photo.png']) {
      await writeFile(svg, `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="16" height="16">` +
        `<rect width="16" height="16" fill="white"/><image xlink:href="${href}" width="16" height="16"/></svg>`);
      const thumbnail = await makeThumbnail(svg, 16);
      if (!thumbnail.ok) continue;   // refusing the file is fine too
      const jpeg = Buffer.from(thumbnail.dataUri.slice(thumbnail.dataUri.indexOf(',') + 1), 'base64');
      const { data } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
      const center = (8 * 16 + 8) * 3;
      assert.ok(data[center + 1]! > 200 && data[center + 2]! > 200,
        `href "${href}": the thumbnail shows the other file (pixel ${[...data.subarray(center, center + 3)]}), not the SVG's white`);
    }
  });

  it('a FIFO named as an image gives a failed thumbnail at once instead of hanging', { timeout: 10_000 }, async () => {
    const fifo = join(dir, 'pipe.jpg');
    execFileSync('mkfifo', [fifo]);
    const thumbnail = await makeThumbnail(fifo, 16);
    assert.equal(thumbnail.ok, false);
    assert.match(!thumbnail.ok ? thumbnail.reason : '', /not a regular file/);
  });
});
