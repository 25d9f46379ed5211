/** `finetune --help` is fast because it loads no native addon (ORT, sharp, SQLite load lazily in handlers). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';

const root = resolve(new URL('../..', import.meta.url).pathname);
// Preloaded into the CLI process: reports every native addon it opens.
const SPY = `data:text/javascript,${encodeURIComponent(
  "const open = process.dlopen; process.dlopen = function (module, file, ...rest) { process.stderr.write('DLOPEN ' + file + '\\n'); return open.call(this, module, file, ...rest); };",
)}`;

function helpOf(args: string[]) {
  return spawnSync(process.execPath, ['--import', SPY, resolve(root, 'bin/finetune.js'), ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
}

describe('--help', () => {
  for (const args of [['--help'], ['predict', '--help'], ['embed', '--help'], ['models', 'list', '--help']]) {
    it(`finetune ${args.join(' ')} shows examples and loads no native addon`, () => {
      const result = helpOf(args);
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout, /Examples:/);
      assert.doesNotMatch(result.stderr, /DLOPEN/, 'a native addon was loaded');
    });
  }

  it('the spy does see addons when a command really runs', () => {
    const result = helpOf(['inspect', resolve(root, 'package.json')]);
    assert.notEqual(result.status, 0);
    // inspect reads the model with protobufjs only: still no addon, and a clean error
    assert.match(result.stderr, /^error: /m);
    const withSharp = spawnSync(process.execPath, ['--import', SPY, '-e', "import('sharp')"], { encoding: 'utf8' });
    assert.match(withSharp.stderr, /DLOPEN .*sharp/);
  });
});
