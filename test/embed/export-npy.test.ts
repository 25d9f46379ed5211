import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EmbeddingCache } from '../../src/embed/embedding-cache.js';
import { exportNpy } from '../../src/embed/export-npy.js';
import { sha256 } from '../../src/util/hash.js';
import { expectedVector, TEST_SPEC } from './fixtures/cache-fixtures.js';

let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'finetune-export-npy-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

const shaOf = (name: string): string => sha256(name);
const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

/** Parses a .npy v1 file: header dict and raw body. */
function parseNpy(bytes: Uint8Array): { descr: string; fortranOrder: boolean; shape: number[]; body: Uint8Array; headerEnd: number } {
  assert.deepEqual([...bytes.subarray(0, 6)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59], 'magic');
  assert.equal(bytes[6], 1, 'major version');
  assert.equal(bytes[7], 0, 'minor version');
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint16(8, true);
  const headerEnd = 10 + headerLength;
  assert.equal(headerEnd % 64, 0, 'data starts 64-byte aligned');
  const header = new TextDecoder('latin1').decode(bytes.subarray(10, headerEnd));
  assert.ok(header.endsWith('\n'));
  const descr = /'descr': '([^']+)'/.exec(header)![1]!;
  const fortranOrder = /'fortran_order': (True|False)/.exec(header)![1] === 'True';
  const shapeText = /'shape': \(([^)]*)\)/.exec(header)![1]!;
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  return { descr, fortranOrder, shape, body: bytes.subarray(headerEnd), headerEnd };
}

describe('exportNpy', () => {
  it('exports features.npy, labels.npy and files.txt that NumPy can read', async () => {
    const cache = EmbeddingCache.open({ path: join(dir, 'export.sqlite') });
    const key = cache.registerExtractor(TEST_SPEC, 8);
    const rows = ['cat/1.png', 'dog/2.png', 'dog/3.png'].map((file, label) => ({ imageSha: shaOf(file), label, file }));
    cache.putMany(key, rows.map((row) => ({ imageSha: row.imageSha, vector: expectedVector(row.imageSha, 8) })));
    const outDir = join(dir, 'export');
    const result = await exportNpy(cache, key, [...rows, { imageSha: shaOf('gone'), label: 1, file: 'gone.png' }], outDir);
    assert.equal(result.count, 3);
    assert.deepEqual(result.missing, ['gone.png']);
    const features = parseNpy(await readFile(result.featuresPath));
    assert.equal(features.descr, '<f4');
    assert.equal(features.fortranOrder, false);
    assert.deepEqual(features.shape, [3, 8]);
    assert.equal(features.body.byteLength, 3 * 8 * 4);
    const values = new Float32Array(new Uint8Array(features.body).buffer);
    for (let row = 0; row < 3; row++) assert.deepEqual(values.subarray(row * 8, row * 8 + 8), expectedVector(rows[row]!.imageSha, 8));
    const labels = parseNpy(await readFile(result.labelsPath));
    assert.equal(labels.descr, '<i4');
    assert.deepEqual(labels.shape, [3]);
    assert.deepEqual([...new Int32Array(new Uint8Array(labels.body).buffer)], [0, 1, 2]);
    assert.equal(await readFile(result.filesPath, 'utf8'), 'cat/1.png\ndog/2.png\ndog/3.png\n');
    if (hasNumpy) {   // the real consumer, when installed
      const check = spawnSync('python3', ['-c', [
        'import numpy as np, sys',
        `f = np.load(sys.argv[1]); l = np.load(sys.argv[2])`,
        'print(f.dtype, f.shape, l.dtype, l.shape, repr(float(f[1, 2])), list(l))',
      ].join('\n'), result.featuresPath, result.labelsPath], { encoding: 'utf8' });
      assert.equal(check.status, 0, check.stderr);
      assert.equal(check.stdout.trim(), `float32 (3, 8) int32 (3,) ${JSON.stringify(expectedVector(rows[1]!.imageSha, 8)[2])} [0, 1, 2]`
        .replace(/\[0, 1, 2\]$/, '[np.int32(0), np.int32(1), np.int32(2)]'));
    }
    // Without rows: everything, named by sha.
    const all = await exportNpy(cache, key, undefined, join(dir, 'export-all'));
    assert.equal(all.count, 3);
    assert.deepEqual(parseNpy(await readFile(all.labelsPath)).shape, [3]);
    cache.close();
  });
});
