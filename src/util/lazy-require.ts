/**
 * Loading a package on first use. finetune's native-addon packages load only when a function that needs them runs,
 * never when the library is imported: importing finetune to call fit, listModels or readModel loads none of them.
 * (sharp and onnxruntime-node open their native binding as they are imported, about a second on a 2-core VM.)
 */
import { createRequire } from 'node:module';

const requireFromHere = createRequire(import.meta.url);

/**
 * A getter that `require`s a CommonJS package on its first call and returns the same module afterwards, for code
 * that needs it synchronously (sharp pipelines, SQLite connections). `T` is the type of the package's
 * `module.exports`; async code can use `await import(specifier)` instead.
 */
export function lazyRequire<T>(specifier: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= requireFromHere(specifier) as T);
}
