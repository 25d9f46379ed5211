import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { WASM_TARGETS, clangVersion, compileKernels, renderModule } from '../../scripts/build-wasm.js';
import { type PixelImage, resample } from '../../src/image/resample.js';
import { wasmResampler } from '../../src/image/wasm-resample.js';
import { RESAMPLE_WASM_COMPILER } from '../../src/image/wasm/resample-wasm.js';
import { Rng } from '../../src/util/rng.js';

function randomImage(rng: Rng, width: number, height: number, channels: number): PixelImage {
  const data = new Uint8Array(width * height * channels);
  // Mostly noise and hard 0/255 edges, the values where bicubic's negative lobes clamp.
  for (let i = 0; i < data.length; i++) data[i] = rng.nextInt(3) === 0 ? (rng.nextInt(2) === 0 ? 0 : 255) : rng.nextInt(256);
  return { data, width, height, channels };
}

describe('resample: WebAssembly SIMD passes', () => {
  it('run in this Node', () => assert.ok(wasmResampler() !== null));

  it('give the bytes of the JS reference (Pillow arithmetic) for 1–4 channels, up/down, windows and source boxes', () => {
    const rng = new Rng(17);
    let cases = 0;
    for (let trial = 0; trial < 120; trial++) {
      const channels = 1 + (trial % 4);
      const width = 1 + rng.nextInt(90), height = 1 + rng.nextInt(70);
      const image = randomImage(rng, width, height, channels);
      const outWidth = 1 + rng.nextInt(2 * width + 3), outHeight = 1 + rng.nextInt(2 * height + 3);
      const windowWidth = 1 + rng.nextInt(outWidth), windowHeight = 1 + rng.nextInt(outHeight);
      const window = { left: rng.nextInt(outWidth - windowWidth + 1), top: rng.nextInt(outHeight - windowHeight + 1), width: windowWidth, height: windowHeight };
      const sourceBox = trial % 3 === 0
        ? { left: rng.nextFloat() * width / 4, top: rng.nextFloat() * height / 4, right: width - rng.nextFloat() * width / 4, bottom: height - rng.nextFloat() * height / 4 }
        : undefined;
      for (const filter of ['pil-bilinear', 'pil-bicubic'] as const) {
        const options = sourceBox === undefined ? { window } : { window, sourceBox };
        const fast = resample(image, filter, outWidth, outHeight, options);
        const reference = resample(image, filter, outWidth, outHeight, { ...options, engine: 'js' });
        assert.deepEqual(fast, reference, `${filter} ${width}×${height}×${channels} → ${outWidth}×${outHeight} ${JSON.stringify(options)}`);
        cases++;
      }
    }
    assert.equal(cases, 240);
  });

  it('grow their memory for a large image and still agree', () => {
    const image = randomImage(new Rng(3), 1500, 1100, 3);
    const window = { left: 100, top: 16, width: 224, height: 224 };
    assert.deepEqual(resample(image, 'pil-bilinear', 350, 256, { window }),
      resample(image, 'pil-bilinear', 350, 256, { window, engine: 'js' }));
  });
});

// The committed binary must be what resample.c compiles to; only the compiler that built it gives the same bytes.
const installed = clangVersion('clang-14');
const skip = installed === null ? 'clang-14 is not installed (apt-get install clang-14 lld-14)'
  : installed !== RESAMPLE_WASM_COMPILER ? `clang-14 here is "${installed}", the committed binary was built by "${RESAMPLE_WASM_COMPILER}"`
  : false;

it('src/image/wasm/resample-wasm.ts is byte for byte a rebuild of resample.c', { skip }, async () => {
  const rebuilt = renderModule(await compileKernels('clang-14', WASM_TARGETS.resample), installed!, WASM_TARGETS.resample);
  assert.equal(await readFile(WASM_TARGETS.resample.moduleTs, 'utf8'), rebuilt, 'run `npx tsx scripts/build-wasm.ts` and commit the result');
});
