import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** Installed versions of the named packages (read from their package.json; nothing is loaded). Missing → null. */
export function packageVersions(names: readonly string[]): Record<string, string | null> {
  const versions: Record<string, string | null> = {};
  for (const name of names) {
    try {
      versions[name] = (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version?: string }).version ?? null;
    } catch {
      versions[name] = null;
    }
  }
  return versions;
}
