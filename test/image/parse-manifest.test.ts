/**
 * Manifests are streamed with limits (issue 14, defect 6): a huge CSV with long cells fails with a DATASET_INVALID
 * naming the line, in bounded memory, instead of a V8 heap out-of-memory abort.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FinetuneError } from '../../src/errors.js';
import { CsvRecordReader, type CsvRecord } from '../../src/image/csv-records.js';
import { readManifestRows } from '../../src/image/parse-manifest.js';
import { Rng } from '../../src/util/rng.js';

let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'finetune-manifest-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

function parse(text: string, chunkSize: number, limits = { maxCellChars: 1e9, maxRecordChars: 1e9 }): CsvRecord[] {
  const records: CsvRecord[] = [];
  const reader = new CsvRecordReader(limits, (record) => records.push(record));
  for (let start = 0; start < text.length; start += chunkSize) reader.push(text.slice(start, start + chunkSize));
  reader.end();
  return records;
}

const isDatasetInvalid = (pattern: RegExp) => (error: unknown): boolean => {
  assert.ok(error instanceof FinetuneError, `expected a FinetuneError, got ${String(error)}`);
  assert.equal(error.code, 'DATASET_INVALID');
  assert.match(error.message, pattern);
  assert.ok((error.hint ?? '').length > 0);
  return true;
};

describe('CsvRecordReader', () => {
  it('parses RFC 4180 records with their starting line (checked by hand)', () => {
    const text = 'label,path\r\ndog,img/one.png\r\ncat,"img/two, with comma.png"\r\n\r\ncat,"a ""q"" b"\n' +
      'x,"multi\nline"\ry, "z" \n"abc"def,g';
    assert.deepEqual(parse(text, 1e9), [
      { line: 1, cells: ['label', 'path'] },
      { line: 2, cells: ['dog', 'img/one.png'] },
      { line: 3, cells: ['cat', 'img/two, with comma.png'] },
      { line: 5, cells: ['cat', 'a "q" b'] },
      { line: 6, cells: ['x', 'multi\nline'] },
      { line: 8, cells: ['y', 'z '] },
      { line: 9, cells: ['abcdef', 'g'] },
    ]);
  });

  it('gives the same records whatever the chunk boundaries (2,000 seeded random texts)', () => {
    const rng = new Rng(7);
    const alphabet = ['a', 'b', ' ', ',', '"', '\n', '\r', '\r\n', '""'];
    for (let sample = 0; sample < 2000; sample++) {
      let text = '';
      const length = rng.nextInt(30);
      for (let i = 0; i < length; i++) text += alphabet[rng.nextInt(alphabet.length)];
      const whole = parse(text, 1e9);
      for (const chunkSize of [1, 2, 3, 5]) assert.deepEqual(parse(text, chunkSize), whole, JSON.stringify(text));
    }
  });

  it('stops at a cell or a record over the limit, naming its first line', () => {
    assert.throws(() => parse('a,b\nc,' + 'x'.repeat(50), 7, { maxCellChars: 40, maxRecordChars: 1000 }),
      { limit: 'cell', line: 2, inQuotes: false });
    assert.throws(() => parse('a,b\n"open quote,never closed\n' + 'y\n'.repeat(30), 4, { maxCellChars: 40, maxRecordChars: 1000 }),
      { limit: 'cell', line: 2, inQuotes: true });
    assert.throws(() => parse(`${'ab,'.repeat(20)}\n`, 3, { maxCellChars: 40, maxRecordChars: 30 }), { limit: 'record', line: 1 });
  });
});

describe('manifest limits', () => {
  it('fails a 40 MB CSV of long cells with DATASET_INVALID in a 96 MB heap (was a V8 out-of-memory abort)', { timeout: 60_000 }, async () => {
    const path = join(dir, 'huge.csv');
    const handle = await open(path, 'w');
    const row = `${'p'.repeat(2 << 20)},${'l'.repeat(2 << 20)}\n`;   // 4 MiB per row
    for (let i = 0; i < 10; i++) await handle.write(row);
    await handle.close();
    const script = [
      `import { scanDataset } from ${JSON.stringify(new URL('../../src/image/scan-dataset.ts', import.meta.url).pathname)};`,
      `try { await scanDataset(${JSON.stringify(path)}); console.log('no error'); }`,
      `catch (error) { console.log(JSON.stringify({ code: error.code, message: error.message })); }`,
    ].join('\n');
    const run = spawnSync(process.execPath, ['--max-old-space-size=96', '--import', 'tsx', '--input-type=module', '-e', script],
      { encoding: 'utf8', timeout: 50_000 });
    assert.equal(run.status, 0, `exit ${run.status} ${run.signal ?? ''}: ${run.stderr.slice(-500)}`);
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { code: string; message: string };
    assert.equal(result.code, 'DATASET_INVALID');
    assert.match(result.message, /huge\.csv" has a cell longer than 4096 characters on line 1\./);
  });

  it('names an unclosed quote, a JSONL line and a .json file over their limits', async () => {
    const csv = join(dir, 'quote.csv');
    await writeFile(csv, `path,label\na.png,cat\n"b.png,dog\n${'c.png,cat\n'.repeat(1000)}`);
    await assert.rejects(readManifestRows(csv, 'quote.csv'), isDatasetInvalid(/longer than 4096 characters on line 3, inside a quoted field/));
    const jsonl = join(dir, 'long.jsonl');
    await writeFile(jsonl, `{"path":"a.png","label":"x"}\n{"path":"${'b'.repeat(3000)}.png","label":"y"}\n`);
    await assert.rejects(readManifestRows(jsonl, 'long.jsonl', { maxCellChars: 4096, maxLineChars: 1000, maxJsonBytes: 1 << 20 }),
      isDatasetInvalid(/line longer than 1000 characters \(line 2\)/));
    const json = join(dir, 'big.json');
    await writeFile(json, JSON.stringify(Array.from({ length: 100 }, (_, i) => ({ path: `${i}.png`, label: 'x' }))));
    await assert.rejects(readManifestRows(json, 'big.json', { maxCellChars: 4096, maxLineChars: 1 << 20, maxJsonBytes: 1000 }),
      isDatasetInvalid(/is \d+ bytes; a \.json manifest is read whole and may be at most 1000 bytes/));
    assert.equal((await readManifestRows(json, 'big.json')).length, 100);
  });

  it('streams a large valid CSV (200,000 rows) into rows with their line numbers', async () => {
    const path = join(dir, 'many.csv');
    await writeFile(path, `\uFEFFlabel,path\n${Array.from({ length: 200_000 }, (_, i) => `c${i % 3},img/${i}.png`).join('\n')}\n`);
    const rows = await readManifestRows(path, 'many.csv');
    assert.equal(rows.length, 200_000);
    assert.deepEqual(rows[123_456], { line: 123_458, path: 'img/123456.png', label: 'c0' });
  });
});
