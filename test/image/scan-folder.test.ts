/**
 * Issue 14, defect 5: symbolic links in a folder-per-class dataset never change a label silently. Links that
 * would move images into another class, or out of the dataset, are not followed; they are listed in `skipped`
 * with the reason and reported as warnings.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { FinetuneError } from '../../src/errors.js';
import { scanDataset } from '../../src/image/scan-dataset.js';
import type { ProgressEvent } from '../../src/types.js';

let tmp: string;
let png: Buffer;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'finetune-scan-links-'));
  png = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#808080' } }).png().toBuffer();
});
after(async () => { await rm(tmp, { recursive: true, force: true }); });

async function put(path: string): Promise<string> {
  const full = join(tmp, path);
  await mkdir(join(full, '..'), { recursive: true });
  await writeFile(full, png);
  return full;
}

const labelled = (dataset: Awaited<ReturnType<typeof scanDataset>>): string[] =>
  dataset.items.map((item) => `${item.className}:${item.relativePath}`);

describe('scanDataset: symbolic links never change a label (issue 14, defect 5)', () => {
  it('does not follow a link from one class folder into another (a/shared -> ../b/sub)', async () => {
    await put('into/a/1.png');
    await put('into/b/sub/2.png');
    await put('into/b/sub/3.png');
    await symlink(join('..', 'b', 'sub'), join(tmp, 'into', 'a', 'shared'));
    const warnings: string[] = [];
    const onProgress = (event: ProgressEvent): void => { if (event.stage === 'warn') warnings.push(event.message); };
    const dataset = await scanDataset(join(tmp, 'into'), { onProgress });
    assert.deepEqual(labelled(dataset), ['a:a/1.png', 'b:b/sub/2.png', 'b:b/sub/3.png'], 'b\'s images keep label b only');
    const skip = dataset.skipped.find((file) => file.path === join(tmp, 'into', 'a', 'shared'));
    assert.ok(skip, `the link is listed as skipped: ${JSON.stringify(dataset.skipped)}`);
    assert.match(skip.reason, /symbolic link .*outside class folder "a".*not followed/);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /a\/shared: symbolic link/);
  });

  it('does not follow a link out of the dataset (b/outside -> a folder elsewhere, b/root -> /)', { timeout: 30_000 }, async () => {
    await put('out/a/1.png');
    await put('out/b/2.png');
    await put('elsewhere/9.png');
    await symlink(join(tmp, 'elsewhere'), join(tmp, 'out', 'b', 'outside'));
    await symlink('/', join(tmp, 'out', 'b', 'root'));
    const dataset = await scanDataset(join(tmp, 'out'));
    assert.deepEqual(labelled(dataset), ['a:a/1.png', 'b:b/2.png']);
    const reasons = new Map(dataset.skipped.map((file) => [file.path, file.reason]));
    assert.match(reasons.get(join(tmp, 'out', 'b', 'outside')) ?? '', /outside class folder "b"/);
    assert.match(reasons.get(join(tmp, 'out', 'b', 'root')) ?? '', /outside class folder "b" \(\/\)/);
  });

  it('does not give an image a second label through a file link into another class', async () => {
    await put('files/a/1.png');
    await put('files/b/2.png');
    await put('store/central.png');
    await symlink(join('..', 'b', '2.png'), join(tmp, 'files', 'a', 'borrowed.png'));
    await symlink(join(tmp, 'store', 'central.png'), join(tmp, 'files', 'a', 'from-store.png'));
    const dataset = await scanDataset(join(tmp, 'files'));
    assert.deepEqual(labelled(dataset), ['a:a/1.png', 'a:a/from-store.png', 'b:b/2.png'],
      'a link to an image outside every class folder is followed; one into class b is not');
    assert.match(dataset.skipped.find((file) => file.path.endsWith('borrowed.png'))?.reason ?? '',
      /symbolic link into class folder "b".*not followed/);
  });

  it('follows links that stay inside their class folder, each folder once', async () => {
    await put('inside/a/sub/1.png');
    await put('inside/b/2.png');
    await symlink('sub', join(tmp, 'inside', 'a', 'alias'));
    await symlink('.', join(tmp, 'inside', 'a', 'loop'));
    const dataset = await scanDataset(join(tmp, 'inside'));
    assert.equal(dataset.items.filter((item) => item.className === 'a').length, 1);
    assert.deepEqual(dataset.skipped, []);
  });

  it('refuses class folders that are, or contain, the dataset or another class', async () => {
    await put('overlap/a/1.png');
    await put('overlap/b/2.png');
    await symlink('.', join(tmp, 'overlap', 'all'));
    await assert.rejects(scanDataset(join(tmp, 'overlap')), (error: unknown) => {
      assert.ok(error instanceof FinetuneError);
      assert.equal(error.code, 'DATASET_INVALID');
      assert.match(error.message, /"all" links to .*which contains the dataset itself/);
      assert.match(error.hint ?? '', /its own folder/);
      return true;
    });
    await put('twice/a/1.png');
    await put('twice/b/sub/2.png');
    await symlink('a', join(tmp, 'twice', 'c'));
    await symlink(join('b', 'sub'), join(tmp, 'twice', 'd'));
    await assert.rejects(scanDataset(join(tmp, 'twice')), (error: unknown) => {
      assert.ok(error instanceof FinetuneError);
      assert.match(error.message, /"a" and "c" are the same folder/);
      assert.match(error.message, /"d" \(.*\) lies inside "b"/);
      return true;
    });
  });
});
