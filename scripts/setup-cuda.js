#!/usr/bin/env node
// Installs onnxruntime-node's CUDA 12 execution-provider libraries (needs internet: they come from NuGet).
// `npm ci` skips this step on purpose (.npmrc: onnxruntime-node-install=skip) so offline installs work.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const ortDir = dirname(require.resolve('onnxruntime-node/package.json'));
console.error('Installing the CUDA 12 execution provider for onnxruntime-node (downloads about 400 MB)...');
const result = spawnSync(process.execPath, [join(ortDir, 'script', 'install.js'), '--onnxruntime-node-install=cuda12'], {
  cwd: ortDir,
  stdio: 'inherit',
  env: { ...process.env, npm_config_onnxruntime_node_install: 'cuda12' },
});
if (result.status !== 0) {
  console.error('error: the CUDA libraries could not be installed.');
  console.error('hint: this step needs internet access to api.nuget.org; CPU inference works without it (--device cpu).');
  process.exit(1);
}
console.error('Done. `finetune ... --device cuda` (or the default `auto`) now uses the GPU when CUDA 12 drivers are present.');
