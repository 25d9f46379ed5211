/**
 * Fuzz cases for ONNX model files: seeded mutations of small valid backbones (a VGG-like and a ResNet-like graph,
 * and the VGG with its weights in an external data file). Each case gets its own folder under `root`, holding
 * `model.onnx` and whatever the case needs beside it (weights, symlinks, a FIFO); `root/secret.bin` lies outside
 * every case folder, for the external-data escapes.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataLocation } from '../../src/onnx/proto.js';
import type { ModelProto, TensorProto } from '../../src/onnx/proto.js';
import { buildResnetBackbone, buildVggBackbone } from '../../src/onnx/test-backbones.js';
import { decodeModel } from '../../src/onnx/read-model.js';
import { encodeModel } from '../../src/onnx/write-model.js';
import { deriveSeed, Rng } from '../../src/util/rng.js';
import type { FuzzCase } from './harness.js';
import { editLengthField, editTree, flipBits, pick, spliceBytes, truncate } from './mutate.js';
import type { Mutation } from './mutate.js';
import { parseMessage } from './protobuf-wire.js';
import type { ParsedMessage } from './protobuf-wire.js';

interface BaseModel {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly parsed: ParsedMessage;
}

function base(name: string, model: ModelProto): BaseModel {
  const bytes = new Uint8Array(encodeModel(model));   // a plain copy: Buffer#slice would return views, not copies
  return { name, bytes, parsed: parseMessage(bytes) };
}

/** The two small backbones every mutation starts from (a few KB each, so 1,000 cases stay fast). */
export function baseModels(): BaseModel[] {
  return [
    base('vgg', buildVggBackbone({ inputSize: 16, width: 4, hiddenDim: 16, numClasses: 5, seed: 7 }).model),
    base('resnet', buildResnetBackbone({ inputSize: 16, width: 4, numClasses: 5, seed: 8 }).model),
  ];
}

/** The biggest initializers of a model, which the external-data cases move out of the file. */
function largestInitializers(model: ModelProto, count: number): TensorProto[] {
  return [...model.graph!.initializer].filter((tensor) => (tensor.raw_data?.length ?? 0) >= 64)
    .sort((a, b) => b.raw_data!.length - a.raw_data!.length).slice(0, count);
}

type ExternalScenario = {
  readonly name: string;
  /** Entries for the first external tensor; the others keep valid entries. */
  readonly entries: (valid: { location: string; offset: number; length: number }) => Array<[string, string]>;
  /** Prepares the case folder (weights.bin is written before). */
  readonly setup?: (dir: string, root: string) => void;
  readonly mustFail?: string;
};

const ESCAPE = 'external data outside the model folder must never be read';
/** The step that loads external data (`inspect` reads none, so it may work on any of these). */
const LOADS_EXTERNAL_DATA = ['backbone'];

const EXTERNAL_SCENARIOS: readonly ExternalScenario[] = [
  { name: 'valid', entries: (v) => [['location', v.location], ['offset', String(v.offset)], ['length', String(v.length)]] },
  { name: 'no-length', entries: (v) => [['location', v.location], ['offset', String(v.offset)]] },
  { name: 'missing-file', entries: (v) => [['location', 'missing.bin'], ['offset', String(v.offset)], ['length', String(v.length)]] },
  { name: 'no-location', entries: (v) => [['offset', String(v.offset)], ['length', String(v.length)]] },
  { name: 'empty-location', entries: () => [['location', '']] },
  { name: 'nul-in-location', entries: (v) => [['location', `${v.location}\u0000.png`]] },
  { name: 'parent-escape', entries: () => [['location', '../secret.bin'], ['length', '256']], mustFail: ESCAPE },
  { name: 'absolute-escape', entries: (_, ) => [['location', '/etc/hostname']], mustFail: ESCAPE },
  { name: 'dot-dot-inside', entries: (v) => [['location', `sub/../${v.location}`], ['offset', String(v.offset)], ['length', String(v.length)]],
    setup: (dir) => mkdirSync(join(dir, 'sub')) },
  { name: 'symlink-file-escape', entries: () => [['location', 'link.bin'], ['length', '256']],
    setup: (dir) => symlinkSync('../secret.bin', join(dir, 'link.bin')), mustFail: ESCAPE },
  { name: 'symlink-absolute-escape', entries: () => [['location', 'abs.bin'], ['length', '256']],
    setup: (dir, root) => symlinkSync(join(root, 'secret.bin'), join(dir, 'abs.bin')), mustFail: ESCAPE },
  { name: 'symlink-dir-escape', entries: () => [['location', 'up/secret.bin'], ['length', '256']],
    setup: (dir) => symlinkSync('..', join(dir, 'up')), mustFail: ESCAPE },
  { name: 'symlink-inside', entries: (v) => [['location', 'alias.bin'], ['offset', String(v.offset)], ['length', String(v.length)]],
    setup: (dir) => symlinkSync('weights.bin', join(dir, 'alias.bin')) },
  { name: 'symlink-loop', entries: () => [['location', 'loop.bin']], setup: (dir) => symlinkSync('loop.bin', join(dir, 'loop.bin')) },
  { name: 'fifo', entries: () => [['location', 'pipe.bin'], ['length', '256']],
    setup: (dir) => execFileSync('mkfifo', [join(dir, 'pipe.bin')]), mustFail: 'a FIFO is not a regular file (reading it blocks forever)' },
  { name: 'directory', entries: () => [['location', 'sub']], setup: (dir) => mkdirSync(join(dir, 'sub')) },
  { name: 'device', entries: () => [['location', '../../../../../../../dev/zero'], ['length', '1024']], mustFail: ESCAPE },
  { name: 'self', entries: () => [['location', 'model.onnx'], ['length', '64']] },
  { name: 'negative-offset', entries: (v) => [['location', v.location], ['offset', '-4'], ['length', String(v.length)]] },
  { name: 'huge-offset', entries: (v) => [['location', v.location], ['offset', '99999999999999999999'], ['length', String(v.length)]] },
  { name: 'huge-length', entries: (v) => [['location', v.location], ['offset', '0'], ['length', '9007199254740993']] },
  { name: 'length-past-end', entries: (v) => [['location', v.location], ['offset', String(v.offset)], ['length', String(v.length + 1)]] },
  { name: 'short-length', entries: (v) => [['location', v.location], ['offset', String(v.offset)], ['length', String(Math.max(0, v.length - 4))]] },
  { name: 'text-offset', entries: (v) => [['location', v.location], ['offset', pick(new Rng(v.length), ['abc', '0x10', ' 8', '1.5', '1e3', 'NaN', 'Infinity', ''])], ['length', String(v.length)]] },
  { name: 'duplicate-keys', entries: (v) => [['location', v.location], ['location', '../secret.bin'], ['offset', String(v.offset)], ['length', String(v.length)]] },
];

/** Writes a model whose largest initializers live in `weights.bin`, and the scenario's changes to the first one. */
function writeExternalCase(dir: string, root: string, source: BaseModel, scenario: ExternalScenario, rng: Rng): string {
  const model = decodeModel(source.bytes);
  const moved = largestInitializers(model, 1 + rng.nextInt(3));
  const chunks: Uint8Array[] = [];
  let offset = 0;
  moved.forEach((tensor, index) => {
    const data = tensor.raw_data!;
    const valid = { location: 'weights.bin', offset, length: data.length };
    chunks.push(data);
    offset += data.length;
    const entries = index === 0 ? scenario.entries(valid) : [['location', valid.location], ['offset', String(valid.offset)], ['length', String(valid.length)]] as Array<[string, string]>;
    tensor.external_data = entries.map(([key, value]) => ({ key, value }));
    tensor.data_location = DataLocation.EXTERNAL;
    delete tensor.raw_data;
  });
  writeFileSync(join(dir, 'weights.bin'), Buffer.concat(chunks));
  scenario.setup?.(dir, root);
  writeFileSync(join(dir, 'model.onnx'), encodeModel(model));
  return `external data "${scenario.name}" on ${moved.length} tensor(s) of ${source.name}`;
}

const MUTATORS: ReadonlyArray<readonly [weight: number, name: string, mutate: (rng: Rng, source: BaseModel, bytes: Uint8Array) => Mutation]> = [
  [4, 'flip', (rng, source, bytes) => flipBits(rng, bytes, 8, bytes === source.bytes ? source.parsed.blobs : [])],
  [2, 'truncate', (rng, _, bytes) => truncate(rng, bytes)],
  [1, 'splice', (rng, _, bytes) => spliceBytes(rng, bytes)],
  [3, 'length', (rng, source, bytes) => editLengthField(rng, bytes, bytes === source.bytes ? source.parsed : parseMessage(bytes))],
  [4, 'tree', (rng, _, bytes) => editTree(rng, bytes)],
];
const TOTAL_WEIGHT = MUTATORS.reduce((sum, [weight]) => sum + weight, 0);

function mutateOnce(rng: Rng, source: BaseModel, bytes: Uint8Array): Mutation {
  let roll = rng.nextInt(TOTAL_WEIGHT);
  for (const [weight, , mutate] of MUTATORS) {
    if (roll < weight) {
      try {
        return mutate(rng, source, bytes);
      } catch {
        return flipBits(rng, bytes);   // a tree edit of bytes that no longer parse: fall back to a flip
      }
    }
    roll -= weight;
  }
  throw new Error('unreachable');
}

/**
 * `count` cases, deterministic for a seed: 1 in 8 is an external-data scenario (cycling through all of them), the
 * rest are 1–3 stacked byte or tree mutations of a base model.
 */
export function* onnxCases(root: string, count: number, seed: number): Generator<FuzzCase> {
  writeFileSync(join(root, 'secret.bin'), Buffer.alloc(4096, 0x5a));
  const bases = baseModels();
  let scenarioIndex = 0;
  for (let index = 0; index < count; index++) {
    const rng = new Rng(deriveSeed(seed, index));
    const id = `onnx-${String(index).padStart(4, '0')}`;
    const dir = join(root, id);
    mkdirSync(dir);
    const source = pick(rng, bases);
    if (index % 8 === 7) {
      const scenario = EXTERNAL_SCENARIOS[scenarioIndex++ % EXTERNAL_SCENARIOS.length]!;
      const description = writeExternalCase(dir, root, source, scenario, rng);
      yield { id, target: 'onnx', path: join(dir, 'model.onnx'), description, ownFolder: true,
        ...(scenario.mustFail ? { mustFail: scenario.mustFail, mustFailSteps: LOADS_EXTERNAL_DATA } : {}) };
      continue;
    }
    let bytes = source.bytes;
    const steps: string[] = [];
    const stacked = 1 + (rng.nextInt(4) === 0 ? 1 + rng.nextInt(2) : 0);
    for (let i = 0; i < stacked; i++) {
      const mutation = mutateOnce(rng, source, bytes);
      bytes = mutation.bytes;
      steps.push(mutation.description);
    }
    writeFileSync(join(dir, 'model.onnx'), bytes);
    yield { id, target: 'onnx', path: join(dir, 'model.onnx'), description: `${source.name}: ${steps.join(' + ')}`, ownFolder: true };
  }
}

/** Unmutated base models (and the external-data variant), run first: they must work, and warm the worker up. */
export function onnxWarmupCases(root: string): FuzzCase[] {
  const cases: FuzzCase[] = [];
  for (const source of baseModels()) {
    const dir = join(root, `warmup-${source.name}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'model.onnx'), source.bytes);
    cases.push({ id: `warmup-${source.name}`, target: 'onnx', path: join(dir, 'model.onnx'), description: `${source.name} unchanged` });
  }
  const dir = join(root, 'warmup-external');
  mkdirSync(dir, { recursive: true });
  const description = writeExternalCase(dir, root, baseModels()[0]!, EXTERNAL_SCENARIOS[0]!, new Rng(1));
  cases.push({ id: 'warmup-external', target: 'onnx', path: join(dir, 'model.onnx'), description });
  return cases;
}
