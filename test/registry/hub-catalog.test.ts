import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FinetuneError } from '../../src/errors.js';
import { getModel, listModels } from '../../src/registry/catalog.js';
import { findHubAlias, hubAliasReference, listHubAliases, parseHubCatalog } from '../../src/registry/hub-catalog.js';
import { resolveBackbone } from '../../src/registry/resolve-backbone.js';
import type { ProgressEvent } from '../../src/types.js';
import { sha256 } from '../../src/util/hash.js';
import { filesOf, startHubServer } from '../helpers/hub-server.js';
import type { HubServer } from '../helpers/hub-server.js';
import { tempHome } from './http-fixtures.js';

const DINOV2_COMMIT = 'bd222e886723524568931e43031f6d9327896fac';

let home = '';
let cleanup: () => Promise<void> = async () => undefined;
let hub: HubServer;
let files: Record<string, Uint8Array> = {};
before(async () => {
  ({ home, cleanup } = await tempHome());
  files = await filesOf(join(import.meta.dirname, '..', 'fixtures', 'hub', 'tiny-vit'));
  // The tiny ViT stands in for Xenova/dinov2-small at the catalog's commit.
  hub = await startHubServer({ repos: { 'Xenova/dinov2-small': { refs: {}, commits: { [DINOV2_COMMIT]: files } } } });
});
after(async () => {
  await hub.close();
  await cleanup();
});

describe('models/hub.json', () => {
  test('names dinov2-small, clip-vit-b32 and convnext-tiny; unverified entries say so; no name clashes with the zoo', () => {
    const entries = listHubAliases();
    assert.deepEqual(entries.map((e) => e.alias), ['dinov2-small', 'clip-vit-b32', 'convnext-tiny']);
    for (const entry of entries) {
      assert.equal(entry.verified, entry.sha256 !== null && entry.sizeBytes !== null, `${entry.alias}: verified iff sha256 and size are known`);
      for (const name of [entry.alias, ...entry.aliases]) assert.equal(listModels().some((zoo) => [zoo.id, ...zoo.aliases].includes(name)), false, name);
    }
    assert.equal(hubAliasReference(findHubAlias('DINOv2')!), `hf:Xenova/dinov2-small@${DINOV2_COMMIT}:onnx/model.onnx`);
    assert.throws(() => getModel('dinov2-smal'), (e: unknown) => e instanceof FinetuneError && /Nearest ids: dinov2, dinov2-small/.test(e.message) && /hf:owner\/repo/.test(e.hint ?? ''));
  });

  test('malformed entries are TypeErrors naming the field', () => {
    const good = { alias: 'x', aliases: [], repo: 'a/b', revision: 'main', path: 'onnx/model.onnx', sha256: null, sizeBytes: null,
      approxSizeMb: 1, license: 'MIT', description: 'd', verified: false };
    assert.equal(parseHubCatalog({ models: [good] }).length, 1);
    assert.throws(() => parseHubCatalog({ models: [{ ...good, path: '../x.onnx' }] }), /models\[0\]\.repo\/revision\/path/);
    assert.throws(() => parseHubCatalog({ models: [{ ...good, verified: true }] }), /models\[0\]\.verified must be false while sha256/);
    assert.throws(() => parseHubCatalog({ models: [good, { ...good, alias: 'y', aliases: ['X'] }] }), /hub catalog: name "X" of "y" is already used by "x"/);
    assert.throws(() => parseHubCatalog({ models: [{ ...good, sha256: 'abc' }] }), /sha256 must be 64 hex digits or null/);
  });
});

describe('--backbone <hub alias>', () => {
  test('resolves to the catalog\'s repository, commit and file, and says the sha256 is not in the catalog yet', async () => {
    const events: ProgressEvent[] = [];
    const resolved = await resolveBackbone('dinov2-small', {
      home: join(home, 'alias'), hubEndpoint: hub.url, huggingFaceCache: false, proxy: false, env: {}, onProgress: (e) => events.push(e),
    });
    assert.equal(resolved.id, `hf:Xenova/dinov2-small@${DINOV2_COMMIT}:onnx/model.onnx`);
    assert.equal(resolved.sha256, sha256(files['onnx/model.onnx']!));
    assert.equal(resolved.hub?.commit, DINOV2_COMMIT);
    const info = events.find((e) => e.stage === 'info');
    assert.ok(info?.stage === 'info' && /^dinov2-small is hf:Xenova\/dinov2-small@bd222e8.*its sha256 is not in the catalog yet/.test(info.message), JSON.stringify(info));
    assert.deepEqual(hub.requests.filter((r) => r.path.includes('/resolve/')).map((r) => r.path.split('/resolve/')[1]!.split('/')[0]),
      Array(hub.requests.filter((r) => r.path.includes('/resolve/')).length).fill(DINOV2_COMMIT), 'only the pinned commit is asked for');
  });
});
