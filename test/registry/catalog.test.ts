import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { FinetuneError } from '../../src/errors.js';
import { cutBackbone } from '../../src/onnx/cut-backbone.js';
import { readModel } from '../../src/onnx/read-model.js';
import { findModel, getModel, listModels, parseCatalog, validateEntry } from '../../src/registry/catalog.js';
import type { ZooEntry } from '../../src/registry/catalog.js';
import { DEFAULT_RESIZE_FILTER } from '../../src/image/preprocess-spec.js';
import { manifestPath, mobilenetInt8Path, skipWithoutShared } from '../helpers/shared.js';

const REQUIRED_IDS = [
  'vgg16-7', 'vgg16-bn-7', 'vgg19-7', 'vgg19-bn-7',
  'resnet18-v1-7', 'resnet34-v1-7', 'resnet50-v1-7', 'resnet101-v1-7', 'resnet152-v1-7',
  'resnet18-v2-7', 'resnet50-v2-7', 'resnet101-v2-7', 'resnet50-v1-12',
  'vgg16-12-int8', 'resnet50-v1-12-int8', 'mobilenetv2-12-int8', 'mobilenetv2-12', 'squeezenet1.1-7', 'efficientnet-lite4-11',
];

interface ManifestEntry {
  model_path: string;
  opset_version: number;
  metadata: {
    model_sha: string;
    model_bytes: number;
    io_ports?: { inputs: Array<{ name: string; shape: Array<number | string> }>; outputs: Array<{ name: string; shape: Array<number | string> }> };
    extra_ports?: { features?: Array<{ name: string; shape: number[] }> };
  };
}

describe('catalog', () => {
  test('holds every required backbone, with HF primary and GitHub LFS fallback URLs built from the zoo path', () => {
    const ids = listModels().map((e) => e.id);
    for (const id of REQUIRED_IDS) assert.ok(ids.includes(id), `missing ${id}`);
    for (const entry of listModels()) {
      assert.deepEqual(entry.urls, [
        `https://huggingface.co/onnxmodelzoo/legacy_models/resolve/main/${entry.path}`,
        `https://media.githubusercontent.com/media/onnx/models/main/${entry.path}`,
      ]);
      assert.ok(entry.path.endsWith(`/${entry.id}.onnx`), `${entry.id}: path ${entry.path}`);
    }
  });

  test('short aliases resolve case-insensitively, and every name is unique', () => {
    assert.equal(getModel('vgg16').id, 'vgg16-7');
    assert.equal(getModel('ResNet50').id, 'resnet50-v1-7');
    assert.equal(getModel('mobilenetv2').id, 'mobilenetv2-12');
    assert.equal(getModel('mobilenetv2-int8').id, 'mobilenetv2-12-int8');
    assert.equal(getModel('squeezenet').id, 'squeezenet1.1-7');
    assert.equal(getModel('efficientnet-lite4').id, 'efficientnet-lite4-11');
    assert.equal(getModel(' vgg19-bn-7 ').id, 'vgg19-bn-7');
    assert.equal(findModel('nope'), undefined);
    const names = listModels().flatMap((e) => [e.id, ...e.aliases].map((n) => n.toLowerCase()));
    assert.equal(new Set(names).size, names.length);
  });

  test('an unknown id throws MODEL_NOT_FOUND listing the nearest ids and the two ways on', () => {
    assert.throws(() => getModel('vgg61'), (e: unknown) => {
      assert.ok(e instanceof FinetuneError);
      assert.equal(e.code, 'MODEL_NOT_FOUND');
      assert.match(e.message, /Unknown model "vgg61"\. Nearest ids: .*vgg16/);
      assert.match(e.hint ?? '', /finetune models list/);
      assert.match(e.hint ?? '', /--backbone \.\/file\.onnx/);
      return true;
    });
    assert.throws(() => getModel('resnet51'), /Nearest ids: .*resnet50/);
  });

  test('preprocessing follows the family READMEs', () => {
    for (const entry of listModels()) {
      const p = entry.preprocess;
      assert.equal(p.resizeMode, 'shorter-side');
      assert.deepEqual([p.resizeSize, p.cropSize, p.channelOrder], [256, 224, 'RGB'], entry.id);
      assert.equal(p.layout, entry.input.layout, `${entry.id}: preprocess layout matches the input`);
      if (entry.family === 'efficientnet-lite4') {
        assert.deepEqual([p.scale, p.mean, p.std, p.layout, p.resizeFilter], [1, [127, 127, 127], [128, 128, 128], 'NHWC', DEFAULT_RESIZE_FILTER]);
        assert.deepEqual(entry.input.dims, [1, 224, 224, 3]);
      } else {
        assert.equal(p.scale, 1 / 255);
        assert.deepEqual([p.mean, p.std, p.layout, p.resizeFilter], [[0.485, 0.456, 0.406], [0.229, 0.224, 0.225], 'NCHW', DEFAULT_RESIZE_FILTER]);
        assert.deepEqual(entry.input.dims.slice(1), [3, 224, 224]);
      }
      assert.equal(entry.license, entry.family === 'efficientnet-lite4' ? 'MIT' : 'Apache-2.0');
    }
  });

  test('feature width agrees with the feature dims and pooling; batch notes agree with the input', () => {
    for (const entry of listModels()) {
      const { dims, pooling, embeddingDim } = entry.feature;
      const rest = dims.slice(1) as number[];
      const expected = pooling === 'avg' || pooling === 'max' ? rest[0] : rest.reduce((a, b) => a * b, 1);
      assert.equal(embeddingDim, expected, `${entry.id}: ${JSON.stringify(dims)} with ${pooling}`);
      assert.equal(entry.fixedBatch, entry.input.dims[0] === 1, entry.id);
      assert.equal(entry.quantized, entry.feature.dtype === 'uint8', entry.id);
    }
    const squeezenet = getModel('squeezenet1.1-7').feature;
    assert.deepEqual([squeezenet.tensor, squeezenet.pooling, squeezenet.embeddingDim], ['squeezenet0_concat7', 'avg', 512]);
  });

  test('validateEntry rejects malformed entries, naming the field', () => {
    const good = getModel('resnet18') as ZooEntry;
    assert.deepEqual(validateEntry(good), good);
    assert.throws(() => validateEntry({ ...good, path: '../../etc/passwd' }), /path must be a relative zoo path/);
    assert.throws(() => validateEntry({ ...good, sha256: 'ABC' }), /sha256 must be 64 lowercase hex digits/);
    assert.throws(() => validateEntry({ ...good, sizeBytes: -1 }), /sizeBytes must be a positive integer/);
    assert.throws(() => validateEntry({ ...good, urls: ['ftp://x/y'] }), /urls must be http\(s\) URLs/);
    assert.throws(() => validateEntry({ ...good, preprocess: { ...good.preprocess, std: [1, 0, 1] } }), /entry\.preprocess: std \[1,0,1\] has a value ≤ 0/);
    assert.throws(() => validateEntry({ ...good, preprocess: { ...good.preprocess, resizeFilter: 'lanczos' } }), /resizeFilter "lanczos" is not one of pil-bilinear, /);
    assert.throws(() => validateEntry({ ...good, feature: { ...good.feature, pooling: 'median' } }), /feature\.pooling/);
    assert.throws(() => parseCatalog({ models: [good, { ...good, id: 'other', aliases: ['RESNET18'] }] }), /"RESNET18" of "other" is already used by "resnet18-v1-7"/);
  });

  test('every entry matches ONNX_HUB_MANIFEST.json: path, sha256, size, opset, I/O, manifest feature tensor', { skip: skipWithoutShared }, () => {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as ManifestEntry[];
    const byPath = new Map(manifest.map((m) => [m.model_path, m]));
    for (const entry of listModels()) {
      const m = byPath.get(entry.path);
      assert.ok(m, `${entry.id}: "${entry.path}" is not in the manifest`);
      assert.equal(entry.sha256, m.metadata.model_sha, `${entry.id} sha256`);
      assert.equal(entry.sizeBytes, m.metadata.model_bytes, `${entry.id} size`);
      assert.equal(entry.opset, m.opset_version, `${entry.id} opset`);
      const input = m.metadata.io_ports!.inputs[0]!;
      const output = m.metadata.io_ports!.outputs[0]!;
      assert.deepEqual([entry.input.name, entry.input.dims], [input.name, input.shape], `${entry.id} input`);
      assert.deepEqual([entry.output.name, entry.output.dims], [output.name, output.shape], `${entry.id} output`);
      const feature = m.metadata.extra_ports?.features?.[0];
      if (entry.feature.source === 'manifest') {
        assert.ok(feature, `${entry.id}: source "manifest" but the manifest has no features port`);
        assert.equal(entry.feature.tensor, feature.name, `${entry.id} feature tensor`);
        // the manifest writes a dynamic batch as 0
        assert.deepEqual(entry.feature.dims.slice(1), feature.shape.slice(1), `${entry.id} feature dims`);
      } else if (feature) {
        // we overrode the manifest on purpose: only squeezenet, whose manifest tensor is after the classifier
        assert.equal(entry.id, 'squeezenet1.1-7', `${entry.id} departs from the manifest feature ${feature.name}`);
        assert.equal(feature.name, 'squeezenet0_pool3_fwd');
      }
    }
  });

  test('the real mobilenetv2-12-int8 file contains the catalog input and feature tensor names', { skip: skipWithoutShared }, () => {
    const entry = getModel('mobilenetv2-int8');
    const bytes = readFileSync(mobilenetInt8Path);
    assert.equal(bytes.length, entry.sizeBytes);
    for (const name of [entry.input.name, entry.output.name, entry.feature.tensor, '464_scale', '464_zero_point']) {
      assert.ok(bytes.includes(Buffer.from(name)), `"${name}" not found in the model`);
    }
  });

  test('the cut algorithm finds the catalog feature tensor, width and pooling in the real mobilenetv2-12-int8', { skip: skipWithoutShared }, async () => {
    const entry = getModel('mobilenetv2-int8');
    const model = await readModel(mobilenetInt8Path);
    const auto = cutBackbone(model);
    assert.equal(auto.featureTensor, entry.feature.tensor);
    assert.deepEqual(auto.featureShape, entry.feature.dims);
    assert.equal(auto.embeddingDim, entry.feature.embeddingDim);
    assert.equal(auto.pooling, entry.feature.pooling);
    assert.equal(auto.dequantized, entry.feature.dtype === 'uint8');
    assert.equal(auto.inputName, entry.input.name);
    const explicit = cutBackbone(model, { layer: entry.feature.tensor, pooling: entry.feature.pooling });
    assert.equal(explicit.embeddingDim, entry.feature.embeddingDim);
  });
});
