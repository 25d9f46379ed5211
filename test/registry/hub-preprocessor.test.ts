import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FinetuneError } from '../../src/errors.js';
import { hubFeatureChoice } from '../../src/registry/hub-feature.js';
import { preprocessSpecFromHub } from '../../src/registry/hub-preprocessor.js';

const SOURCE = 'hf:test/repo@main:preprocessor_config.json';
const fixture = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'hub', 'tiny-vit', 'preprocessor_config.json'), 'utf8')) as Record<string, unknown>;

/** The INVALID_OPTION thrown for `config`, checked to name the source and each fragment. */
function rejects(config: unknown, ...fragments: RegExp[]): void {
  assert.throws(() => preprocessSpecFromHub(config, SOURCE), (e: unknown) => {
    assert.ok(e instanceof FinetuneError, String(e));
    assert.equal(e.code, 'INVALID_OPTION');
    assert.ok(e.message.startsWith(`Cannot follow ${SOURCE}: `), e.message);
    for (const fragment of fragments) assert.match(e.message, fragment);
    assert.match(e.hint ?? '', /--preprocess <spec\.json>/);
    return true;
  });
}

describe('preprocessSpecFromHub', () => {
  test('DINOv2 (BitImageProcessor): shortest edge, bicubic, center crop, ImageNet mean/std', () => {
    const { spec, description } = preprocessSpecFromHub(fixture, SOURCE);
    assert.deepEqual({ ...spec }, {
      resizeMode: 'shorter-side', resizeSize: 40, resizeFilter: 'pil-bicubic', geometry: 'transformers', cropSize: 32, scale: 1 / 255,
      mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelOrder: 'RGB', layout: 'NCHW',
    });
    assert.match(description, /^BitImageProcessor: shorter side to 40 \(pil-bicubic, transformers rounding\), center crop 32, x\*1\/255/);
  });

  test('ViT (size {height, width}, no crop), CLIP (bare number = shortest edge), old ViT (bare number = square), ConvNeXt (crop_pct)', () => {
    const vit = preprocessSpecFromHub({ image_processor_type: 'ViTImageProcessor', do_resize: true, size: { height: 224, width: 224 },
      resample: 2, do_rescale: true, rescale_factor: 0.00392156862745098, do_normalize: true, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] }, SOURCE);
    assert.deepEqual([vit.spec.resizeMode, vit.spec.resizeSize, vit.spec.cropSize, vit.spec.resizeFilter, vit.spec.mean], ['direct', 224, 224, 'pil-bilinear', [0.5, 0.5, 0.5]]);
    const clip = preprocessSpecFromHub({ feature_extractor_type: 'CLIPFeatureExtractor', size: 224, crop_size: 224, do_center_crop: true,
      image_mean: [0.48145466, 0.4578275, 0.40821073], image_std: [0.26862954, 0.26130258, 0.27577711] }, SOURCE);
    assert.deepEqual([clip.spec.resizeMode, clip.spec.resizeSize, clip.spec.cropSize, clip.spec.resizeFilter], ['shorter-side', 224, 224, 'pil-bicubic']);
    const oldVit = preprocessSpecFromHub({ feature_extractor_type: 'ViTFeatureExtractor', size: 224, image_mean: 0.5, image_std: 0.5 }, SOURCE);
    assert.deepEqual([oldVit.spec.resizeMode, oldVit.spec.resizeSize, oldVit.spec.std], ['direct', 224, [0.5, 0.5, 0.5]]);
    const convnext = preprocessSpecFromHub({ image_processor_type: 'ConvNextImageProcessor', size: { shortest_edge: 224 }, crop_pct: 0.875,
      resample: 3, image_mean: [0.485, 0.456, 0.406], image_std: [0.229, 0.224, 0.225] }, SOURCE);
    assert.deepEqual([convnext.spec.resizeMode, convnext.spec.resizeSize, convnext.spec.cropSize], ['shorter-side', 256, 224]);
    const noRescale = preprocessSpecFromHub({ ...fixture, do_rescale: false, do_normalize: false, do_flip_channel_order: true }, SOURCE);
    assert.deepEqual([noRescale.spec.scale, noRescale.spec.mean, noRescale.spec.std, noRescale.spec.channelOrder], [1, [0, 0, 0], [1, 1, 1], 'BGR']);
  });

  test('unknown keys and values we cannot honour are one error naming every one of them', () => {
    rejects({ ...fixture, do_magic: true, image_seq_length: 5 }, /unknown keys "do_magic", "image_seq_length"/);
    rejects({ ...fixture, resample: 1 }, /"resample" 1 \(PIL LANCZOS\) is not supported; supported: 0 \(NEAREST\), 2 \(BILINEAR\), 3 \(BICUBIC\)/);
    rejects({ ...fixture, size: { height: 224, width: 256 }, crop_size: { height: 224, width: 224 } }, /"size" 224×256 is not square/);
    rejects({ ...fixture, do_center_crop: false }, /\{shortest_edge\} without a center crop/);
    rejects({ ...fixture, do_pad: true, image_std: [1, 2] }, /"do_pad" is true/, /"image_std" is \[1,2\], not three numbers/);
    rejects({ ...fixture, size: { shortest_edge: 40, longest_edge: 60 } }, /longest_edge: 60\} caps the longer side/);
    rejects({ ...fixture, do_resize: false }, /"do_resize" is false/);
    rejects({ ...fixture, do_normalize: 'yes' }, /"do_normalize" is "yes", not true or false/);
    rejects({ ...fixture, size: 'big' }, /"size" is "big"; expected \{height, width\}/);
    rejects({ do_resize: true, size: { height: 32, width: 32 }, image_mean: [0, 0, 0], image_std: [1, 1, 1] }, /"resample" is missing/);
    rejects([1, 2], /expected a JSON object/);
  });
});

describe('hubFeatureChoice', () => {
  const vitOutputs = [{ name: 'last_hidden_state', rank: 3 }, { name: 'pooler_output', rank: 2 }];
  test('by model_type: CLS of the tokens for ViT/DINOv2, image_embeds or pooler_output for CLIP, pooler_output for ConvNeXt', () => {
    assert.deepEqual(hubFeatureChoice({ model_type: 'dinov2' }, vitOutputs), { layer: 'last_hidden_state', pooling: 'cls',
      reason: 'model_type "dinov2": the CLS token of last_hidden_state (--pooling mean-tokens for the mean of the patch tokens)' });
    assert.deepEqual(hubFeatureChoice({ model_type: 'clip_vision_model' }, [{ name: 'image_embeds', rank: 2 }, { name: 'last_hidden_state', rank: 3 }])?.layer, 'image_embeds');
    assert.deepEqual(hubFeatureChoice({ model_type: 'clip' }, vitOutputs)?.layer, 'pooler_output');
    assert.deepEqual(hubFeatureChoice({ model_type: 'convnext' }, [{ name: 'last_hidden_state', rank: 4 }, { name: 'pooler_output', rank: 2 }]),
      { layer: 'pooler_output', pooling: 'none', reason: 'model_type "convnext": pooler_output' });
    assert.equal(hubFeatureChoice({ model_type: 'convnext' }, [{ name: 'last_hidden_state', rank: 4 }])?.pooling, 'avg');
    assert.equal(hubFeatureChoice({ model_type: 'something-new' }, vitOutputs), null);
    assert.equal(hubFeatureChoice(null, vitOutputs), null);
  });
});
