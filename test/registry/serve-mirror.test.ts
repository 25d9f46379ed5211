import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { serveMirror } from '../../src/registry/serve-mirror.js';
import { tempHome } from './http-fixtures.js';

let home = '';
let cleanup: () => Promise<void> = async () => undefined;
before(async () => ({ home, cleanup } = await tempHome()));
after(() => cleanup());

/** GET `url` with a deadline, so a server that blocks fails the test instead of hanging it. */
async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  return { status: res.status, body: await res.text() };
}

describe('serveMirror confinement (issue 14, defect 1)', () => {
  test('symlinks out of the folder, to a directory outside, and FIFOs are 404; links inside the folder are served', { timeout: 20_000 }, async () => {
    const outside = join(home, 'outside');
    const root = join(home, 'mirror');
    await mkdir(join(root, 'models'), { recursive: true });
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, 'secret.bin'), 'SECRET');
    await writeFile(join(root, 'models', 'ok.onnx'), 'MODEL');
    await symlink(join(outside, 'secret.bin'), join(root, 'models', 'leak.onnx'));
    await symlink(outside, join(root, 'elsewhere'));
    await symlink('ok.onnx', join(root, 'models', 'alias.onnx')); // a link that stays inside: fine (HF caches are made of these)
    execFileSync('mkfifo', [join(root, 'models', 'pipe.onnx')]);
    await symlink(root, join(home, 'mirror-link')); // the root itself may be a link

    const mirror = await serveMirror(join(home, 'mirror-link'));
    try {
      assert.deepEqual(await get(`${mirror.url}models/ok.onnx`), { status: 200, body: 'MODEL' });
      assert.deepEqual(await get(`${mirror.url}models/alias.onnx`), { status: 200, body: 'MODEL' });
      for (const path of ['models/leak.onnx', 'elsewhere/secret.bin', 'models/pipe.onnx', 'models', '..%2Foutside%2Fsecret.bin']) {
        const { status, body } = await get(`${mirror.url}${path}`);
        assert.equal(status, 404, `${path} must not be served`);
        assert.doesNotMatch(body, /SECRET/);
      }
    } finally {
      await mirror.close();
    }
  });
});
