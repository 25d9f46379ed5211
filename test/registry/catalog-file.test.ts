/** defineCatalog: the loader models/zoo.json and models/hub.json share (catalog.ts, hub-catalog.ts). */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { defineCatalog, entryFields } from '../../src/registry/catalog-file.js';

interface Pet { readonly name: string; readonly aliases: readonly string[] }
const validate = (value: unknown, where: string): Pet => {
  const fields = entryFields('pet catalog', where, value);
  return { name: fields.string('name'), aliases: fields.strings('aliases') };
};

test('reads the file once, on first use, and finds entries by name or alias (case-insensitive, trimmed)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'finetune-catalog-file-'));
  try {
    const path = join(dir, 'pets.json');
    await writeFile(path, JSON.stringify({ models: [{ name: 'cat', aliases: ['Kitty'] }, { name: 'dog', aliases: [] }] }));
    const pets = defineCatalog<Pet>({ label: 'pet catalog', path, validate, names: (pet) => [pet.name, ...pet.aliases] });
    assert.deepEqual(pets.list().map((pet) => pet.name), ['cat', 'dog']);
    await writeFile(path, JSON.stringify({ models: [] }));
    assert.equal(pets.list().length, 2, 'the file was read again');
    assert.equal(pets.find(' kitty ')?.name, 'cat');
    assert.equal(pets.find('DOG')?.name, 'dog');
    assert.equal(pets.find('cow'), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a malformed file is a TypeError naming the catalog, the entry and the field; a name may be used once', () => {
  const pets = defineCatalog<Pet>({ label: 'pet catalog', path: '/nonexistent', validate, names: (pet) => [pet.name, ...pet.aliases] });
  assert.deepEqual(pets.parse([{ name: 'cat', aliases: [] }]).map((pet) => pet.name), ['cat'], 'a bare array is a catalog too');
  assert.throws(() => pets.parse({ entries: [] }), /^TypeError: pet catalog: expected \{ "models": \[\.\.\.\] \}\.$/);
  assert.throws(() => pets.parse({ models: [{ name: 'cat', aliases: [] }, { name: '', aliases: [] }] }),
    /^TypeError: pet catalog: models\[1\]\.name must be a non-empty string\.$/);
  assert.throws(() => pets.parse({ models: [{ name: 'cat', aliases: [3] }] }), /models\[0\]\.aliases must be an array of strings/);
  assert.throws(() => pets.parse({ models: ['cat'] }), /^TypeError: pet catalog: models\[0\] must be an object\.$/);
  assert.throws(() => pets.parse({ models: [{ name: 'cat', aliases: [] }, { name: 'dog', aliases: ['CAT'] }] }),
    /^TypeError: pet catalog: name "CAT" of "dog" is already used by "cat"\.$/);
});
