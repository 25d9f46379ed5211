/** finetune's own version: package.json's `version` is the one definition; everything else reads it here. */
import { readFileSync } from 'node:fs';

let cachedToolVersion: string | undefined;

/** The `version` field of finetune's package.json, read once; `'unknown'` when it cannot be read. */
export function toolVersion(): string {
  if (cachedToolVersion === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
      cachedToolVersion = typeof pkg.version === 'string' ? pkg.version : 'unknown';
    } catch {
      cachedToolVersion = 'unknown';
    }
  }
  return cachedToolVersion;
}
