import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { FinetuneError } from '../../src/errors.js';
import { compareClassNames, formatSkipped, scanDataset, validateClassCount } from '../../src/image/scan-dataset.js';

let tmp: string;
let png: Buffer;

async function put(path: string, data: Uint8Array | string = png): Promise<string> {
  const full = join(tmp, path);
  await mkdir(join(full, '..'), { recursive: true });
  await writeFile(full, data);
  return full;
}

async function rejectsWith(promise: Promise<unknown>, code: string, pattern: RegExp): Promise<FinetuneError> {
  let caught: unknown;
  try { await promise; } catch (error) { caught = error; }
  assert.ok(caught instanceof FinetuneError, `expected a FinetuneError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  assert.match(caught.message, pattern);
  assert.ok(caught.hint && caught.hint.length > 0, 'error has a hint');
  return caught;
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'finetune-scan-'));
  png = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#808080' } }).png().toBuffer();
});
after(async () => { await rm(tmp, { recursive: true, force: true }); });

describe('scanDataset: folder per class', () => {
  it('sorts classes and items, counts nested folders for their class, skips with reasons, ignores hidden files', async () => {
    const root = 'folder1';
    // Written in a scrambled order on purpose.
    await put(`${root}/zebra/b.png`);
    await put(`${root}/apple/sub/deeper/x.jpg`);
    await put(`${root}/zebra/a.PNG`);
    await put(`${root}/apple/c.webp`);
    await put(`${root}/apple/a.png`);
    await put(`${root}/apple/notes.txt`, 'hello');
    await put(`${root}/apple/old.bmp`, 'BM....');
    await put(`${root}/apple/empty.jpg`, new Uint8Array(0));
    await put(`${root}/apple/.DS_Store`, 'x');
    await put(`${root}/apple/.hidden/secret.png`);
    await put(`${root}/.cache/thing.png`);
    await put(`${root}/README.md`, '# data');
    const dataset = await scanDataset(join(tmp, root));

    assert.equal(dataset.source, 'folder');
    assert.equal(dataset.root, join(tmp, root));
    assert.deepEqual(dataset.classNames, ['apple', 'zebra']);
    assert.deepEqual(dataset.items.map((i) => i.relativePath),
      ['apple/a.png', 'apple/c.webp', 'apple/sub/deeper/x.jpg', 'zebra/a.PNG', 'zebra/b.png']);
    assert.deepEqual(dataset.items.map((i) => i.label), [0, 0, 0, 1, 1]);
    assert.deepEqual(dataset.items.map((i) => i.className), ['apple', 'apple', 'apple', 'zebra', 'zebra']);
    assert.equal(dataset.items[0]!.path, join(tmp, root, 'apple', 'a.png'));

    const reasons = Object.fromEntries(dataset.skipped.map((s) => [s.path.slice(join(tmp, root).length + 1), s.reason]));
    assert.deepEqual(Object.keys(reasons).sort(), ['README.md', 'apple/empty.jpg', 'apple/notes.txt', 'apple/old.bmp']);
    assert.match(reasons['apple/notes.txt']!, /not an image \(extension \.txt\)/);
    assert.match(reasons['apple/old.bmp']!, /BMP is not supported/);
    assert.match(reasons['apple/empty.jpg']!, /empty file \(0 bytes\)/);
    assert.match(reasons['README.md']!, /not inside a class folder/);
    assert.match(formatSkipped(dataset.skipped), /apple\/notes\.txt\tnot an image/);
  });

  it('follows a symlinked class folder', async () => {
    await put('linked/cats/1.png');
    await put('elsewhere/dogs/1.png');
    await symlink(join(tmp, 'elsewhere', 'dogs'), join(tmp, 'linked', 'dogs'));
    const dataset = await scanDataset(join(tmp, 'linked'));
    assert.deepEqual(dataset.classNames, ['cats', 'dogs']);
    assert.deepEqual(dataset.items.map((i) => i.relativePath), ['cats/1.png', 'dogs/1.png']);
  });

  it('sorts whole-number class names numerically', async () => {
    for (const name of ['10', '2', '1']) await put(`numeric/${name}/a.png`);
    const dataset = await scanDataset(join(tmp, 'numeric'));
    assert.deepEqual(dataset.classNames, ['1', '2', '10']);
    assert.deepEqual(['b', 'a10', 'a2'].sort(compareClassNames(['b', 'a10', 'a2'])), ['a10', 'a2', 'b']);
  });

  it('uses given class names and their order, and rejects unknown classes', async () => {
    await put('given/b/1.png');
    await put('given/a/1.png');
    const dataset = await scanDataset(join(tmp, 'given'), { classNames: ['b', 'c', 'a'] });
    assert.deepEqual(dataset.classNames, ['b', 'c', 'a']);
    assert.deepEqual(dataset.items.map((i) => [i.className, i.label]), [['b', 0], ['a', 2]]);
    // A single class is fine when the class list is given (a test folder).
    await put('given-one/a/1.png');
    assert.equal((await scanDataset(join(tmp, 'given-one'), { classNames: ['a', 'b'] })).items.length, 1);
    const error = await rejectsWith(scanDataset(join(tmp, 'given'), { classNames: ['b', 'aa'] }), 'DATASET_INVALID', /not among the 2 expected classes: a\.$/);
    assert.match(error.hint!, /did you mean "aa"/);
  });

  it('fails on a missing folder, no class folders, empty classes (all named) and a single class', async () => {
    await rejectsWith(scanDataset(join(tmp, 'nope')), 'DATASET_INVALID', /does not exist/);
    await put('flat/a.png');
    await rejectsWith(scanDataset(join(tmp, 'flat')), 'DATASET_INVALID', /no class sub-folders.*1 loose file/);
    await put('empties/full/a.png');
    await mkdir(join(tmp, 'empties', 'void'), { recursive: true });
    await put('empties/bmps/a.bmp', 'BM');
    await put('empties/other/.hidden.png');
    const error = await rejectsWith(scanDataset(join(tmp, 'empties')), 'DATASET_INVALID', /3 class folder\(es\) with no usable images/);
    assert.match(error.message, /"bmps" \(1 file\(s\), all skipped\)/);
    assert.match(error.message, /"void"/);
    assert.match(error.message, /"other"/);
    await put('single/only/a.png');
    await rejectsWith(scanDataset(join(tmp, 'single')), 'DATASET_INVALID', /1 class \("only"\).*at least 2/);
    await put('not-a-dataset.txt', 'x');
    await rejectsWith(scanDataset(join(tmp, 'not-a-dataset.txt')), 'DATASET_INVALID', /neither a folder nor a manifest/);
  });

  it('validateClassCount lists the classes found', async () => {
    await put('three/a/1.png'); await put('three/b/1.png'); await put('three/c/1.png');
    const dataset = await scanDataset(join(tmp, 'three'));
    validateClassCount(dataset, 3);
    const error = (() => { try { validateClassCount(dataset, 2); } catch (e) { return e; } return null; })();
    assert.ok(error instanceof FinetuneError);
    assert.equal(error.code, 'CLASS_COUNT_MISMATCH');
    assert.match(error.message, /Expected 2 classes.*has 3: a, b, c/);
  });
});

describe('scanDataset: manifests', () => {
  it('reads a CSV with a header, quoted paths, paths relative to the manifest, missing and duplicate rows', async () => {
    await put('csv/img/one.png');
    await put('csv/img/two, with comma.png');
    await put('csv/img/three.jpg');
    await put('shared-img/four.png');
    await put('csv/labels.csv', [
      'label,path',
      'dog,img/one.png',
      'cat,"img/two, with comma.png"',
      '',
      'cat,img/three.jpg',
      'dog,../shared-img/four.png',
      'dog,img/missing.png',
      'cat,img/three.jpg',
      'dog,img/notes.txt',
    ].join('\r\n'));
    const dataset = await scanDataset(join(tmp, 'csv', 'labels.csv'));
    assert.equal(dataset.source, 'manifest');
    assert.equal(dataset.root, join(tmp, 'csv'));
    assert.deepEqual(dataset.classNames, ['cat', 'dog']);
    assert.deepEqual(dataset.items.map((i) => `${i.label}:${i.relativePath}`),
      ['0:img/three.jpg', '0:img/two, with comma.png', '1:../shared-img/four.png', '1:img/one.png']);
    const reasons = dataset.skipped.map((s) => s.reason).sort();
    assert.equal(reasons.length, 3);
    assert.match(reasons.join('|'), /duplicate manifest entry \(line 8, first on line 5\)/);
    assert.match(reasons.join('|'), /file not found \(line 7\)/);
    assert.match(reasons.join('|'), /not an image/);
  });

  it('reads a CSV without a header', async () => {
    await put('csv2/a.png'); await put('csv2/b.png');
    await put('csv2/list.csv', 'a.png,x\nb.png,y\n');
    const dataset = await scanDataset(join(tmp, 'csv2', 'list.csv'));
    assert.deepEqual(dataset.items.map((i) => [i.relativePath, i.className]), [['a.png', 'x'], ['b.png', 'y']]);
  });

  it('reads JSONL with numeric labels and rejects malformed lines', async () => {
    for (const name of ['a', 'b', 'c']) await put(`jsonl/${name}.png`);
    await put('jsonl/m.jsonl', '{"path":"a.png","label":10}\n\n{"path":"b.png","label":2}\n{"file":"c.png","class":2}\n');
    const dataset = await scanDataset(join(tmp, 'jsonl', 'm.jsonl'));
    assert.deepEqual(dataset.classNames, ['2', '10']);
    assert.deepEqual(dataset.items.map((i) => [i.relativePath, i.label]), [['b.png', 0], ['c.png', 0], ['a.png', 1]]);
    await put('jsonl/bad.jsonl', '{"path":"a.png","label":"x"}\nnot json\n{"path":"b.png"}\n');
    await rejectsWith(scanDataset(join(tmp, 'jsonl', 'bad.jsonl')), 'DATASET_INVALID', /2 entries.*line 2, line 3/);
  });

  it('rejects conflicting labels and a class whose files are all missing', async () => {
    await put('conf/a.png'); await put('conf/b.png');
    await put('conf/m.csv', 'a.png,x\nb.png,y\na.png,y\n');
    await rejectsWith(scanDataset(join(tmp, 'conf', 'm.csv')), 'DATASET_INVALID', /"a\.png" is "x" on line 1 and "y" on line 3/);
    await put('conf/m2.csv', 'a.png,x\nb.png,y\ngone.png,z\n');
    await rejectsWith(scanDataset(join(tmp, 'conf', 'm2.csv')), 'DATASET_INVALID', /1 class\(es\) with no usable images: "z"/);
  });
});
