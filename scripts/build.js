#!/usr/bin/env node
// Builds the package into dist/: tsc (JavaScript, declarations, source maps) from src/, plus the files tsc does not
// emit: the serve page's assets. `npm pack` / `npm publish` run it (prepack); development runs the sources with tsx.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });   // no stale modules from renamed sources

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const compiled = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (compiled.status !== 0) {
  console.error('build: tsc failed (see above); dist/ is incomplete.');
  process.exit(compiled.status ?? 1);
}

// The browser demo's page is served as files (see src/serve/start-server.ts); its .d.ts is for our type checks only.
const pageFrom = join(root, 'src/serve/page'), pageTo = join(dist, 'serve/page');
mkdirSync(pageTo, { recursive: true });
for (const name of readdirSync(pageFrom)) {
  if (/\.(html|js|css)$/.test(name)) copyFileSync(join(pageFrom, name), join(pageTo, name));
}
console.error('build: dist/ written (tsc output and the serve page assets).');
