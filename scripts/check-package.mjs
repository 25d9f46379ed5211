#!/usr/bin/env node
// Installs finetune as a user would and checks that it works (issue 15). Offline: only the npm cache that `npm ci`
// filled is used. Plain Node, no tsx: the installed package must run without it.
//   1. npm pack (prepack builds dist/); the tarball lists no tests, sources or scripts
//   2. npm ci of a consumer that depends on the tarball, in an empty folder (ONNXRUNTIME_NODE_INSTALL=skip: no CUDA
//      download; a lockfile pins the versions our package-lock.json resolved, see writeConsumer)
//   3. npx finetune --help; the one-shot run on a small generated dataset through the ../shared zoo mirror,
//      predict, and serve (the page's assets and onnxruntime-web's files from the installed package)
//   4. plain Node ESM imports fit and listModels (and finetune/train) and no native addon loads
//   5. a consumer .ts file type-checks against the installed declarations (strict, no skipLibCheck)
// Usage: npm run check:package [-- --compile-addons]  (exit 0 = all passed; keeps the work folder on failure and says
// where). --compile-addons runs the dependencies' install scripts (better-sqlite3 compiles: +100-140 s).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'finetune-package-'));
const app = join(work, 'app');
const sharedZoo = resolve(root, '..', 'shared', 'zoo');
const probe = join(root, 'test/package/addon-probe.mjs');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', NO_COLOR: '1', FINETUNE_HOME: join(work, 'home'), npm_config_audit: 'false', npm_config_fund: 'false' };
let failed = false;
const compileAddons = process.argv.includes('--compile-addons');

async function step(title, fn) {
  const started = performance.now();
  try {
    const note = await fn();
    console.log(`ok   ${title} (${((performance.now() - started) / 1000).toFixed(1)} s)${note ? ` — ${note}` : ''}`);
  } catch (error) {
    failed = true;
    console.log(`FAIL ${title}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: app, env, encoding: 'utf8', timeout: 600_000, ...options });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.status ?? result.signal}\n${result.stdout}\n${result.stderr}`.trim());
  }
  return result;
}

/**
 * A consumer project that depends on the tarball (plus typescript and @types/node for the type check), with a
 * lockfile pinning every dependency to the version our own package-lock.json resolved. The npm cache that `npm ci`
 * filled holds those tarballs but no registry metadata, so only a lockfile install can work offline: `npm i
 * finetune` as a user would run it, minus the version resolution.
 */
function writeConsumer() {
  const ours = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')).packages;
  const packed = readFileSync(tarball);
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const tools = ['typescript', '@types/node'];
  const dependencies = { finetune: `file:${tarball}`, ...Object.fromEntries(tools.map((name) => [name, ours[`node_modules/${name}`].version])) };
  const packages = { '': { name: 'finetune-consumer', dependencies } };
  const keep = (key) => { packages[key] = Object.fromEntries(Object.entries(ours[key]).filter(([field]) => field !== 'dev' && field !== 'devOptional')); };
  for (const [key, entry] of Object.entries(ours)) if (key !== '' && !entry.dev) keep(key);   // finetune's own dependency tree
  const withDependencies = (name) => {   // the type checker's, from the same lockfile
    keep(`node_modules/${name}`);
    for (const dependency of Object.keys(ours[`node_modules/${name}`].dependencies ?? {})) withDependencies(dependency);
  };
  tools.forEach(withDependencies);
  packages['node_modules/finetune'] = {
    version: manifest.version, resolved: `file:${tarball}`,
    integrity: `sha512-${createHash('sha512').update(packed).digest('base64')}`,
    license: manifest.license, dependencies: manifest.dependencies, bin: manifest.bin, engines: manifest.engines,
  };
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'finetune-consumer', private: true, type: 'module', dependencies }, null, 2));
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify({ name: 'finetune-consumer', lockfileVersion: 3, requires: true, packages }, null, 2));
}

let tarball = '';
await step('npm pack: builds dist/ and lists only what users need', () => {
  const packed = JSON.parse(execFileSync(npm, ['pack', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8', env }))[0];
  tarball = join(work, packed.filename);
  const files = packed.files.map((file) => file.path);
  const unexpected = files.filter((path) => !/^(dist\/|models\/[\w-]+\.json$|package\.json$|README\.md$|LICENSE$)/.test(path));
  const tests = files.filter((path) => /(^|\/)test\/|\.test\.|test-backbones\.ts$|\.ts$/.test(path) && !path.endsWith('.d.ts'));
  for (const needed of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/finetune.js', 'dist/train/sweep-worker.js', 'dist/train/cross-fit-worker.js',
    'dist/serve/page/index.html',
    'dist/serve/page/app.js', 'dist/image/resample-kernels.js', 'dist/image/resample-kernels.d.ts', 'models/zoo.json', 'LICENSE']) {
    if (!files.includes(needed)) throw new Error(`the tarball lacks ${needed}`);
  }
  if (unexpected.length > 0 || tests.length > 0) throw new Error(`unexpected files in the tarball: ${[...unexpected, ...tests].join(', ')}`);
  return `${files.length} files, ${(packed.size / 1e6).toFixed(2)} MB packed, ${(packed.unpackedSize / 1e6).toFixed(2)} MB unpacked`;
});

await step('npm ci <tarball> into an empty folder, offline', () => {
  mkdirSync(app, { recursive: true });
  writeConsumer();
  if (compileAddons) {
    run(npm, ['ci', '--offline', '--no-audit', '--no-fund']);
  } else {
    // Install scripts off: better-sqlite3's would compile SQLite with node-gyp (offline, prebuild-install cannot
    // download), 100-140 s on 2 cores, which our own `npm ci` already did. Its addon is copied from our node_modules
    // (the same version: both come from package-lock.json). Our package has no install script of its own;
    // onnxruntime-node's is skipped anyway (ONNXRUNTIME_NODE_INSTALL=skip). --compile-addons runs them all.
    run(npm, ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund']);
    const addon = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node';
    const version = (dir) => JSON.parse(readFileSync(join(dir, 'node_modules/better-sqlite3/package.json'), 'utf8')).version;
    if (version(root) !== version(app)) throw new Error(`better-sqlite3 ${version(app)} installed, ours is ${version(root)}: run with --compile-addons`);
    mkdirSync(dirname(join(app, addon)), { recursive: true });
    copyFileSync(join(root, addon), join(app, addon));
  }
  if (!existsSync(join(app, 'node_modules/finetune/dist/index.js'))) throw new Error('node_modules/finetune/dist/index.js is missing');
  if (existsSync(join(app, 'node_modules/tsx'))) throw new Error('tsx was installed: it must be a devDependency only');
  const importsTsx = listFiles(join(app, 'node_modules/finetune/dist')).filter((path) => /\.m?js$/.test(path) &&
    /\bfrom ['"]tsx[/'"]|import\(['"]tsx[/'"]/.test(readFileSync(path, 'utf8')));
  if (importsTsx.length > 0) throw new Error(`shipped modules import tsx (a devDependency): ${importsTsx.join(', ')}`);
  return compileAddons ? 'install scripts run' : 'install scripts off, better-sqlite3\'s addon copied from our node_modules';
});

await step('npx finetune --help', () => {
  const result = run('npx', ['--no-install', 'finetune', '--help']);
  if (!/Examples:/.test(result.stdout) || !/finetune predict/.test(result.stdout)) throw new Error(`unexpected help:\n${result.stdout}`);
  const version = run('npx', ['--no-install', 'finetune', '--version']).stdout.trim();
  const expected = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
  if (version !== expected) throw new Error(`--version says ${version}, package.json ${expected}`);
});

await step('plain Node ESM: import fit and listModels, train a head; no native addon loads', () => {
  const script = `
    import { fit, listModels } from 'finetune';
    import { Adam } from 'finetune/train';
    const numSamples = 40, embeddingDim = 4;
    const features = Float32Array.from({ length: numSamples * embeddingDim }, (_, i) => ((i * 7919) % 13) / 13 + (i % 2));
    const labels = Int32Array.from({ length: numSamples }, (_, i) => i % 2);
    const result = await fit({ features, labels, numSamples, embeddingDim }, { epochs: 3, numClasses: 2 });
    console.log(JSON.stringify({ models: listModels().length, epochs: result.history.length, adam: typeof Adam }));`;
  const result = run(process.execPath, ['--import', probe, '--input-type=module', '-e', script]);
  const addons = result.stderr.split('\n').filter((line) => line.startsWith('ADDON '));
  if (addons.length > 0) throw new Error(`native addons were loaded:\n${addons.join('\n')}`);
  const summary = JSON.parse(result.stdout.trim());
  if (!(summary.models > 0 && summary.epochs === 3 && summary.adam === 'function')) throw new Error(result.stdout);
  return result.stdout.trim();
});

await step('sweep worker threads start from dist/ (no tsx)', () => {
  const script = `
    import { sweep } from 'finetune';
    const rows = (n, seed) => {
      const features = Float32Array.from({ length: n * 4 }, (_, i) => ((i * 7919 + seed) % 13) / 13 + (Math.floor(i / 4) % 2));
      return { features, labels: Int32Array.from({ length: n }, (_, i) => i % 2), numSamples: n, embeddingDim: 4 };
    };
    const results = await sweep(rows(40, 1), rows(20, 2), { learningRate: [1e-2, 1e-3], seed: [1, 2] },
      { epochs: 3, numClasses: 2, workers: 2 });
    console.log(results.length);`;
  writeFileSync(join(app, 'sweep.mjs'), script);   // a file: workers inherit the parent's flags, and --input-type is for -e only
  const result = run(process.execPath, ['sweep.mjs']);
  if (result.stdout.trim() !== '4') throw new Error(`expected 4 results, got ${result.stdout}`);
});

await step('a consumer .ts type-checks against the installed declarations (strict, no skipLibCheck)', () => {
  writeFileSync(join(app, 'consumer.ts'), `
import { fit, listModels, runFinetune, type FitOptions, type RunFinetuneOptions, type ZooEntry } from 'finetune';
import { EarlyStopping } from 'finetune/train';
import { buildVggBackbone } from 'finetune/testing';
const models: readonly ZooEntry[] = listModels();
const options: FitOptions = { epochs: 3, numClasses: 2, callbacks: [new EarlyStopping({ patience: 2 })] };
const run: RunFinetuneOptions = { backbone: models[0]!.id, data: './photos', onProgress: (event) => void event.stage };
const backbone = buildVggBackbone({ seed: 1 });
export async function train(features: Float32Array, labels: Int32Array): Promise<number> {
  const result = await fit({ features, labels, numSamples: labels.length, embeddingDim: features.length / labels.length }, options);
  void runFinetune; void run; void backbone.model;
  return result.history.length;
}
`);
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true,
      exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true, skipLibCheck: false, types: ['node'] },
    files: ['consumer.ts'],
  }));
  run(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), '-p', '.']);
});

if (existsSync(sharedZoo)) {
  await step('npx finetune: the one-shot run on a generated dataset through the ../shared zoo mirror', async () => {
    const data = join(work, 'photos');
    // 3 classes × 6 images, told apart by colour: written with the sharp the package installed.
    run(process.execPath, ['--input-type=module', '-e', `
      import sharp from 'sharp';
      import { mkdirSync } from 'node:fs';
      const colours = { red: [220, 40, 40], green: [40, 200, 60], blue: [40, 60, 220] };
      for (const [name, [r, g, b]] of Object.entries(colours)) {
        mkdirSync('${data}/' + name, { recursive: true });
        for (let i = 0; i < 6; i++) {
          const pixels = Buffer.alloc(48 * 48 * 3);
          for (let p = 0; p < 48 * 48; p++) { const n = (p * 37 + i * 101) % 41 - 20; pixels[p * 3] = r + n; pixels[p * 3 + 1] = g + n; pixels[p * 3 + 2] = b + n; }
          await sharp(pixels, { raw: { width: 48, height: 48, channels: 3 } }).png().toFile('${data}/' + name + '/' + i + '.png');
        }
      }`]);
    const out = join(work, 'run');
    const mirror = spawn(process.execPath, ['--input-type=module', '-e', `
      import { serveMirror } from 'finetune';
      const server = await serveMirror(${JSON.stringify(sharedZoo)});
      console.log(server.url);`], { cwd: app, env, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const url = await firstLine(mirror, 'mirror');
      run('npx', ['--no-install', 'finetune', '--backbone', 'mobilenetv2-int8', '--classes', '3', '--data', data, '--out', out,
        '--epochs', '5', '--mirror', url, '--quiet']);
      for (const file of ['model.onnx', 'run.json', 'report.html']) {
        if (!existsSync(join(out, file))) throw new Error(`the run folder lacks ${file}`);
      }
      const prediction = run('npx', ['--no-install', 'finetune', 'predict', join(out, 'model.onnx'), join(data, 'blue/0.png'), '--top', '1', '--json']);
      if (!/"className": "blue"/.test(prediction.stdout)) throw new Error(`blue/0.png was not predicted blue: ${prediction.stdout}`);
      // serve: the page's assets and onnxruntime-web's files come from the installed package
      // node_modules/.bin/finetune directly (not through npx), so that kill() reaches the server process itself
      const serve = spawn(join(app, 'node_modules/.bin/finetune'), ['serve', out, '--port', '0', '--json'], { cwd: app, env, stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        const servedAt = JSON.parse(await firstLine(serve, 'serve')).url;
        for (const [path, pattern] of [['/', /<script type="module" src="\/app.js">/], ['/app.js', /ort\.wasm\.min\.mjs/],
          ['/preprocess.js', /export function resizeToCrop/], ['/image/resample-kernels.js', /export function resampleBytes/],
          ['/util/format-bytes.js', /export function formatBytes/],
          ['/model-info.json', /"classNames":\["blue","green","red"\]/], ['/ort/ort.wasm.min.mjs', /InferenceSession/]]) {
          const response = await fetch(new URL(path, servedAt));
          const text = await response.text();
          if (response.status !== 200 || !pattern.test(text)) throw new Error(`serve ${path}: ${response.status} ${text.slice(0, 200)}`);
        }
      } finally {
        serve.kill();
      }
      return 'blue/0.png predicted blue; served the page, model info and onnxruntime-web';
    } finally {
      mirror.kill();
    }
  });
} else {
  console.log(`skip the one-shot run: ${sharedZoo} is missing (no zoo mirror to train from offline)`);
}

/** Every file under `dir`, recursively. */
function listFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listFiles(join(dir, entry.name)) : [join(dir, entry.name)]);
}

/** The first stdout line of a server child (its URL), within 60 s. */
function firstLine(child, what) {
  return new Promise((resolveLine, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`the ${what} did not start within 60 s`)), 60_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      text += chunk;
      if (text.includes('\n')) { clearTimeout(timer); resolveLine(text.split('\n')[0].trim()); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`the ${what} exited (${code}) before starting: ${text}`)); });
  });
}

if (failed) {
  console.log(`check-package: FAILED; the work folder is kept for a look: ${work}`);
  process.exit(1);
}
rmSync(work, { recursive: true, force: true });
console.log('check-package: all checks passed');
