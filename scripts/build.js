#!/usr/bin/env node
// Builds the package into dist/; `npm pack` / `npm publish` run it (prepack), development runs the sources with tsx.
//   1. tsc: JavaScript, declarations and source maps (sources inlined: src/ is not shipped) for every module.
//   2. What tsc does not emit: plain .js/.mjs modules (serve page, resample kernels, ORT worker), their .d.ts, html/css.
//   3. dist/cli/finetune.js, the package's bin: the CLI's start-up graph (main, the command objects, yargs and its
//      helpers) bundled by esbuild into one file, so `finetune --help` reads one module instead of about a hundred.
//      Each command's implementation is imported lazily (`await import(...)`); those imports, and every import of a
//      library module (outside cli/), stay external and point at the tsc output, so the library modules exist once
//      (one FinetuneError class) and keep their paths (zoo catalog, serve page, sweep worker). yargs measures every
//      help line with string-width; printable-ASCII lines get a fast path that returns their length (what
//      string-width returns for them), the rest go to string-width itself, which is only loaded then (its set-up
//      costs 40-100 ms; a start that lays out no help, such as --version, skips it). The build fails if the bundle's
//      help or error text differs from the unbundled CLI's.
//      `npm run bench -- cli` measures the bundle against dist/cli/bin.js (unbundled) and the sources.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const require = createRequire(import.meta.url);
const fail = (message) => { console.error(`build: ${message}`); process.exit(1); };
rmSync(dist, { recursive: true, force: true });   // no stale modules from renamed sources

const compiled = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (compiled.status !== 0) fail('tsc failed (see above); dist/ is incomplete.');

// Files tsc does not emit, copied to the same place under dist/: plain JavaScript modules (the serve page's scripts,
// src/image/resample-kernels.js which the library and the page share, worker files such as runtime/ort-worker.mjs)
// with their hand-written .d.ts, and the page's .html/.css.
// The training workers' tsx bootstrap is for running the sources: compiled, the sweep and cross-fitting start their
// workers on sweep-worker.js and cross-fit-worker.js.
const DEV_ONLY = new Set(['train/train-worker-bootstrap.mjs']);
(function copyAssets(from) {
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const path = join(from, entry.name);
    if (entry.isDirectory()) copyAssets(path);
    else if (/\.(m?js|d\.ts|html|css)$/.test(entry.name) && !DEV_ONLY.has(relative(join(root, 'src'), path).split(sep).join('/'))) {
      const target = join(dist, relative(join(root, 'src'), path));
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(path, target);
    }
  }
})(join(root, 'src'));

const cliDir = join(dist, 'cli');
const binEntry = join(cliDir, 'bin.js');
const { build } = await import('esbuild');
await build({
  entryPoints: [binEntry],
  outfile: join(cliDir, 'finetune.js'),   // same depth as src/util/: version.ts's '../../package.json' still resolves
  bundle: true, format: 'esm', platform: 'node', target: 'node20', sourcemap: true, logLevel: 'warning',
  // yargs' CommonJS helpers call require(); an ESM bundle has none of its own.
  banner: { js: 'import { createRequire as __finetuneCreateRequire } from "node:module"; const require = __finetuneCreateRequire(import.meta.url);' },
  plugins: [
    {
      name: 'lazy-imports-stay-external',
      setup(bundler) {
        bundler.onResolve({ filter: /^\.\.?\// }, (args) => {
          if (!args.importer.startsWith(dist + sep)) return undefined;   // a dependency's own modules are bundled
          const resolved = resolve(args.resolveDir, args.path);
          // bin.ts imports main.js dynamically (after deciding whether to relaunch): that one is the bundle's content.
          const lazy = args.kind === 'dynamic-import' && args.importer !== binEntry;
          // Library modules (outside cli/) stay external too, imported statically or not: the lazily imported command
          // implementations load them from dist/, and a second copy inside the bundle would be a second FinetuneError
          // class (`instanceof` failed: the CLI reported every FinetuneError from a command as an internal error).
          if (!lazy && resolved.startsWith(cliDir + sep)) return undefined;
          const target = relative(cliDir, resolved).split(sep).join('/');
          return { path: target.startsWith('.') ? target : `./${target}`, external: true };
        });
      },
    },
    {
      // yargs lays out a command's whole help text after starting its handler, on every run, and keeps it in case
      // the handler calls showHelp() later (it lays the text out again otherwise, from the state after the run).
      // finetune's handlers never show help (usage errors print a hint), so that text is never read: the bundle's
      // cacheHelpMessage does nothing. It was 30-60 ms of each `finetune embed` rerun, string-width's set-up included.
      name: 'yargs-no-help-cache',
      setup(bundler) {
        bundler.onLoad({ filter: /[\\/]yargs[\\/]build[\\/]lib[\\/]usage\.js$/ }, (args) => {
          const source = readFileSync(args.path, 'utf8');
          const cache = 'self.cacheHelpMessage = function () {\n        cachedHelpMessage = this.help();\n    };';
          if (!source.includes(cache)) fail(`${args.path} no longer has the cacheHelpMessage this build replaces: check yargs' command.js.`);
          return { contents: source.replace(cache, 'self.cacheHelpMessage = function () { };'), loader: 'js' };
        });
      },
    },
    {
      name: 'string-width-ascii-fast-path',
      setup(bundler) {
        bundler.onResolve({ filter: /^string-width$/ }, async (args) => {
          if (args.namespace === 'string-width-fast') return undefined;
          const real = await bundler.resolve('string-width', { resolveDir: args.resolveDir, kind: args.kind, namespace: 'string-width-fast' });
          return { path: real.path, namespace: 'string-width-fast' };
        });
        bundler.onLoad({ filter: /.*/, namespace: 'string-width-fast' }, (args) => ({
          resolveDir: dirname(args.path),
          // string-width's module sets up an Intl.Segmenter and Unicode-property regular expressions (\\p{RGI_Emoji})
          // when it is evaluated: 40-100 ms, on every start, though yargs only measures text when it lays out help,
          // usage or an error. require() (bundled by esbuild as a lazy module init) defers that to the first
          // string that is not printable ASCII.
          contents: `const PRINTABLE_ASCII = /^[\\x20-\\x7e]*$/;
let stringWidth;
export default function fastStringWidth(text, options) {
  if (typeof text === 'string' && PRINTABLE_ASCII.test(text)) return text.length;
  stringWidth ??= require(${JSON.stringify(args.path)}).default;
  return stringWidth(text, options);
}`,
        }));
      },
    },
  ],
});

// The bundle must run: --version reads package.json relative to it, --help renders every command.
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
const printed = spawnSync(process.execPath, [join(cliDir, 'finetune.js'), '--version'], { encoding: 'utf8' });
if (printed.status !== 0 || printed.stdout.trim() !== version) fail(`dist/cli/finetune.js --version printed "${printed.stdout.trim()}" ${printed.stderr}`);
const help = spawnSync(process.execPath, [join(cliDir, 'finetune.js'), '--help'], { encoding: 'utf8' });
if (help.status !== 0 || !help.stdout.includes('Examples:')) fail(`dist/cli/finetune.js --help failed: ${help.stderr}`);
// The bundle lays out help, usage and errors exactly as the unbundled CLI (yargs with the real string-width): the
// root help and embed's have lines with non-ASCII text (→, ±, …) that go to string-width, an error only ASCII ones;
// inspect's and train's errors come from inside a command's handler (a FinetuneError; train's is a usage error, exit 2).
for (const args of [['--help'], ['embed', '--help'], ['embed', '--no-such-option'], ['inspect', join(root, 'no-such-model.onnx')],
  ['train', '--backbone', 'x', '--data', 'y', '--max-memory', 'lots']]) {
  const [bundled, unbundled] = [join(cliDir, 'finetune.js'), binEntry].map((entry) =>
    spawnSync(process.execPath, [entry, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } }));
  if (bundled.status !== unbundled.status || bundled.stdout !== unbundled.stdout || bundled.stderr !== unbundled.stderr) {
    fail(`dist/cli/finetune.js ${args.join(' ')} prints other text than dist/cli/bin.js (exit ${bundled.status} vs ${unbundled.status}):\n${bundled.stdout}${bundled.stderr}`);
  }
}
console.error('build: dist/ written (tsc output, the plain .js modules and page assets, the bundled CLI dist/cli/finetune.js).');
