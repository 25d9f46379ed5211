import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** The per-user home of finetune's caches: `$FINETUNE_HOME`, default `~/.cache/finetune`. */
export function finetuneHome(override?: string): string {
  if (override) return resolve(override);
  const fromEnv = process.env['FINETUNE_HOME'];
  if (fromEnv) return resolve(fromEnv);
  return join(homedir(), '.cache', 'finetune');
}

/** Where downloaded zoo models live: `<home>/models`. */
export const modelsDir = (home?: string): string => join(finetuneHome(home), 'models');

/** Where the embedding store lives: `<home>/embeddings`. */
export const embeddingsDir = (home?: string): string => join(finetuneHome(home), 'embeddings');
