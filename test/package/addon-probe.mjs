// Preload (`node --import <this file> …`) that reports, on stderr, each native addon the process opens
// ("ADDON dlopen <file>") and each module of an addon package it loads, through ESM import
// ("ADDON import <url>") or CommonJS require ("ADDON require <path>", listed at exit). Plain JavaScript, so it
// runs against the sources (with tsx) and against the installed package alike.
import { createRequire, register } from 'node:module';

const ADDON_PACKAGES = /node_modules[\\/](onnxruntime-node|onnxruntime-web|sharp|better-sqlite3|@img)[\\/]/;

const open = process.dlopen;
process.dlopen = function dlopen(module, file, ...rest) {
  process.stderr.write(`ADDON dlopen ${file}\n`);
  return open.call(this, module, file, ...rest);
};

const hooks = `export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  if (${ADDON_PACKAGES}.test(result.url)) process.stderr.write('ADDON import ' + result.url + '\\n');
  return result;
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);

const requireCache = createRequire(import.meta.url).cache;
process.on('exit', () => {
  for (const path of Object.keys(requireCache)) if (ADDON_PACKAGES.test(path)) process.stderr.write(`ADDON require ${path}\n`);
});
