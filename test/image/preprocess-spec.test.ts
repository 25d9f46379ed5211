import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FinetuneError } from '../../src/errors.js';
import {
  DEFAULT_RESIZE_FILTER, EFFICIENTNET_LITE_SPEC, IMAGENET_SPEC, describePreprocessSpec, parsePreprocessSpec, validatePreprocessSpec,
} from '../../src/image/preprocess-spec.js';
import { extractorKey } from '../../src/embed/embedding-cache.js';
import type { FeatureExtractorSpec } from '../../src/types.js';

let tmp: string;
before(async () => { tmp = await mkdtemp(join(tmpdir(), 'finetune-spec-')); });
after(async () => { await rm(tmp, { recursive: true, force: true }); });

/** An extractor spec with the default preprocessing, for cache-key comparisons. */
const EXTRACTOR: FeatureExtractorSpec = { backboneSha256: 'a'.repeat(64), layer: 'features', pooling: 'avg', preprocess: IMAGENET_SPEC };

const invalidOption = (pattern: RegExp) => (error: unknown): boolean =>
  error instanceof FinetuneError && error.code === 'INVALID_OPTION' && pattern.test(error.message) && Boolean(error.hint);

describe('preprocessing specs', () => {
  it('has the zoo ImageNet recipe as the default', () => {
    assert.deepEqual({ ...IMAGENET_SPEC, mean: [...IMAGENET_SPEC.mean], std: [...IMAGENET_SPEC.std] }, {
      resizeMode: 'shorter-side', resizeSize: 256, resizeFilter: DEFAULT_RESIZE_FILTER, cropSize: 224, scale: 1 / 255,
      mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelOrder: 'RGB', layout: 'NCHW',
    });
    assert.equal(parsePreprocessSpec({}).cropSize, 224);
    assert.ok(Object.isFrozen(IMAGENET_SPEC) && Object.isFrozen(IMAGENET_SPEC.mean));
  });

  it('parses CLI flags: sizes, fractions, comma lists, a single number for all channels, case-insensitive choices', () => {
    const spec = parsePreprocessSpec({
      inputSize: '299', mean: '0.5, 0.5,0.5', std: 0.5, scale: '1/255', layout: 'nhwc', channelOrder: 'bgr', resizeMode: 'Direct',
    });
    assert.equal(spec.cropSize, 299);
    assert.equal(spec.resizeSize, 342);   // 299 × 256/224 = 341.7: the base recipe's ratio is kept
    assert.equal(spec.scale, 1 / 255);
    assert.deepEqual([...spec.mean], [0.5, 0.5, 0.5]);
    assert.deepEqual([...spec.std], [0.5, 0.5, 0.5]);
    assert.equal(spec.layout, 'NHWC');
    assert.equal(spec.channelOrder, 'BGR');
    assert.equal(spec.resizeMode, 'direct');
    const explicit = parsePreprocessSpec({ inputSize: 224, resize: 224, mean: [1, 2, 3] });
    assert.deepEqual([explicit.resizeSize, explicit.cropSize, ...explicit.mean], [224, 224, 1, 2, 3]);
    assert.equal(parsePreprocessSpec({ preset: 'efficientnet-lite' }).layout, 'NHWC');
    assert.equal(parsePreprocessSpec({ scale: 2 }, EFFICIENTNET_LITE_SPEC).mean[0], 127);
    assert.equal(parsePreprocessSpec({ resizeFilter: 'PIL-Bicubic' }).resizeFilter, 'pil-bicubic');
    assert.equal(parsePreprocessSpec({ resizeFilter: 'nearest' }, EFFICIENTNET_LITE_SPEC).resizeFilter, 'nearest');
    assert.equal(parsePreprocessSpec({ inputSize: 128 }, { ...EFFICIENTNET_LITE_SPEC, resizeFilter: 'torch-bilinear' }).resizeFilter, 'torch-bilinear');
  });

  it('quotes the bad value', () => {
    assert.throws(() => parsePreprocessSpec({ inputSize: '22.5' }), invalidOption(/--input-size "22\.5"/));
    assert.throws(() => parsePreprocessSpec({ mean: '0.1,0.2' }), invalidOption(/--mean "0\.1,0\.2".*three numbers/));
    assert.throws(() => parsePreprocessSpec({ std: '1,0,1' }), invalidOption(/--std "1,0,1".*greater than 0/));
    assert.throws(() => parsePreprocessSpec({ scale: '1/0' }), invalidOption(/--scale "1\/0"/));
    assert.throws(() => parsePreprocessSpec({ layout: 'CHW' }), invalidOption(/--layout "CHW".*NCHW, NHWC/));
    assert.throws(() => parsePreprocessSpec({ resizeMode: 'cover' }), invalidOption(/--resize-mode "cover"/));
    assert.throws(() => parsePreprocessSpec({ resizeFilter: 'lanczos' }),
      invalidOption(/--resize-filter "lanczos": expected one of pil-bilinear, pil-bicubic, torch-bilinear, nearest, sharp-linear/));
    assert.throws(() => parsePreprocessSpec({ inputSize: 300, resize: 256 }), invalidOption(/cropSize 300 is larger than resizeSize 256/));
    assert.throws(() => parsePreprocessSpec({ preset: 'vgg' }), invalidOption(/preset "vgg"/));
  });

  it('reads a JSON spec file, then lets flags override it', async () => {
    const path = join(tmp, 'spec.json');
    await writeFile(path, JSON.stringify({ resizeSize: 160, cropSize: 128, mean: [0, 0, 0], std: [1, 1, 1], scale: 1, layout: 'NHWC', resizeFilter: 'torch-bilinear' }));
    const spec = parsePreprocessSpec({ specFile: path, channelOrder: 'BGR' });
    assert.deepEqual([spec.resizeSize, spec.cropSize, spec.scale, spec.layout, spec.channelOrder, spec.resizeFilter],
      [160, 128, 1, 'NHWC', 'BGR', 'torch-bilinear']);
    assert.equal(parsePreprocessSpec({ specFile: path, resizeFilter: 'nearest' }).resizeFilter, 'nearest');   // flags win
    const typo = join(tmp, 'typo.json');
    await writeFile(typo, JSON.stringify({ cropsize: 128 }));
    assert.throws(() => parsePreprocessSpec({ specFile: typo }), (error: unknown) =>
      invalidOption(/unknown key\(s\) "cropsize"/)(error) && /did you mean "cropSize"/.test((error as FinetuneError).hint!));
    const broken = join(tmp, 'broken.json');
    await writeFile(broken, '{ "cropSize": ');
    assert.throws(() => parsePreprocessSpec({ specFile: broken }), invalidOption(/not valid JSON/));
    assert.throws(() => parsePreprocessSpec({ specFile: join(tmp, 'absent.json') }), invalidOption(/Cannot read/));
  });

  it('validates specs read from elsewhere, reporting every problem at once', () => {
    const bad = { ...IMAGENET_SPEC, cropSize: 0, std: [1, -1, 1] as const, layout: 'HWC' as 'NHWC' };
    assert.throws(() => validatePreprocessSpec(bad), invalidOption(/cropSize 0.*std \[1,-1,1\].*layout "HWC"/));
    assert.throws(() => validatePreprocessSpec({ ...IMAGENET_SPEC, resizeFilter: 'area' }, { where: 'run.json' }),
      invalidOption(/^Invalid run\.json: resizeFilter "area" is not one of/));
    assert.throws(() => validatePreprocessSpec(null), invalidOption(/expected an object, got null/));
    assert.throws(() => validatePreprocessSpec({ ...IMAGENET_SPEC, resizeSize: '256' }), invalidOption(/resizeSize "256" is not an integer/));
  });

  it('returns a frozen copy with exactly the spec keys; a stored spec without resizeFilter means the old sharp-linear', () => {
    const { resizeFilter: _, ...withoutFilter } = IMAGENET_SPEC;
    const legacy = validatePreprocessSpec({ ...withoutFilter, extra: 1 });
    assert.equal(legacy.resizeFilter, 'sharp-linear');
    assert.deepEqual(Object.keys(legacy).sort(), Object.keys(IMAGENET_SPEC).sort());
    assert.ok(Object.isFrozen(legacy) && Object.isFrozen(legacy.mean));
    assert.equal(validatePreprocessSpec(withoutFilter, { missingResizeFilter: 'pil-bilinear' }).resizeFilter, 'pil-bilinear');
    assert.equal(validatePreprocessSpec({ ...IMAGENET_SPEC, resizeFilter: 'pil-bicubic' }).resizeFilter, 'pil-bicubic');
  });

  it('geometry: torchvision and transformers are kept, zoo (what an absent field means) is dropped, so the cache key stays', () => {
    assert.equal(parsePreprocessSpec({ geometry: 'TorchVision' }).geometry, 'torchvision');
    assert.equal(validatePreprocessSpec({ ...IMAGENET_SPEC, geometry: 'transformers' }).geometry, 'transformers');
    const zoo = validatePreprocessSpec({ ...IMAGENET_SPEC, geometry: 'zoo' });
    assert.ok(!('geometry' in zoo));
    assert.equal(extractorKey({ ...EXTRACTOR, preprocess: zoo }), extractorKey(EXTRACTOR));
    assert.notEqual(extractorKey({ ...EXTRACTOR, preprocess: parsePreprocessSpec({ geometry: 'torchvision' }) }), extractorKey(EXTRACTOR));
    assert.throws(() => validatePreprocessSpec({ ...IMAGENET_SPEC, geometry: 'keras' }, { where: 'run.json' }),
      invalidOption(/^Invalid run\.json: geometry "keras" is not one of zoo, torchvision, transformers/));
    assert.throws(() => parsePreprocessSpec({ geometry: 'floor' }), invalidOption(/--geometry "floor".*zoo, torchvision, transformers/));
    assert.equal(describePreprocessSpec({ ...IMAGENET_SPEC, geometry: 'torchvision' }),
      'resize shorter side to 256 (pil-bilinear, torchvision rounding), center crop 224×224, x*1/255, mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225], RGB, NCHW');
  });

  it('describes a spec in one line', () => {
    assert.equal(describePreprocessSpec(IMAGENET_SPEC),
      'resize shorter side to 256 (pil-bilinear), center crop 224×224, x*1/255, mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225], RGB, NCHW');
    assert.equal(describePreprocessSpec({ ...EFFICIENTNET_LITE_SPEC, resizeMode: 'direct', resizeSize: 224, resizeFilter: 'torch-bilinear' }),
      'resize to 224×224 (torch-bilinear), x*1, mean [127, 127, 127], std [128, 128, 128], RGB, NHWC');
  });
});
