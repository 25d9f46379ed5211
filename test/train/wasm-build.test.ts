import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { clangVersion, compileKernels, renderModule, WASM_MODULE_TS } from '../../scripts/build-wasm.js';
import { DENSE_KERNELS_WASM_COMPILER } from '../../src/train/wasm/dense-kernels-wasm.js';

// The committed binary must be what its C source compiles to. Only the compiler that built it gives the same
// bytes, so the test runs where that compiler is installed (apt-get install clang-14 lld-14) and skips elsewhere.
const installed = clangVersion('clang-14');
const skip = installed === null ? 'clang-14 is not installed (apt-get install clang-14 lld-14)'
  : installed !== DENSE_KERNELS_WASM_COMPILER ? `clang-14 here is "${installed}", the committed binary was built by "${DENSE_KERNELS_WASM_COMPILER}"`
  : false;

test('src/train/wasm/dense-kernels-wasm.ts is byte for byte a rebuild of dense-kernels.c', { skip }, async () => {
  const rebuilt = renderModule(await compileKernels('clang-14'), installed!);
  assert.equal(await readFile(WASM_MODULE_TS, 'utf8'), rebuilt, 'run `npx tsx scripts/build-wasm.ts` and commit the result');
});
