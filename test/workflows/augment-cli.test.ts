import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { spawn } from 'node:child_process';
import { cleanEnv, repoRoot, writeTestBackbone, writeTestDataset } from './shard-fixtures.js';

/** Runs bin/finetune.js (the real entry point, with the `train` command) as a child process. */
function runCli(args: readonly string[], options: { env: Record<string, string> }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin/finetune.js'), ...args],
      { cwd: repoRoot, env: cleanEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

let dir: string;
let common: string[];
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'finetune-augment-cli-'));
  await writeTestDataset(join(dir, 'data'), 6);
  const backbone = await writeTestBackbone(join(dir, 'backbone.onnx'));
  common = ['train', '-b', backbone, '-d', join(dir, 'data'), '--cache-dir', join(dir, 'cache'), '--device', 'cpu', '--epochs', '3', '--folds', '1'];
});
after(async () => { await rm(dir, { recursive: true, force: true }); });

const env = (): Record<string, string> => ({ FINETUNE_HOME: join(dir, 'home') });

it('--augment/--augment-views/--augment-seed reach the run: views computed once, then all cache hits; run.json records them', async () => {
  const flags = ['--augment', 'flip,crop=0.6', '--augment-views', '2', '--augment-seed', '7', '--json'];
  const first = await runCli([...common, ...flags, '--out', join(dir, 'run-1')], { env: env() });
  assert.equal(first.code, 0, first.stderr);
  const summary = JSON.parse(first.stdout) as { augmentation: { views: number; seed: number; trainImages: number; computed: number; cacheHits: number; description: string } };
  const { trainImages } = summary.augmentation;
  assert.ok(trainImages > 0);
  assert.deepEqual([summary.augmentation.views, summary.augmentation.seed, summary.augmentation.computed, summary.augmentation.cacheHits],
    [2, 7, 2 * trainImages, 0]);
  assert.equal(summary.augmentation.description, 'flip p=0.5, crop scale 0.6–1 ratio 0.75–1.33');

  const second = await runCli([...common, ...flags, '--out', join(dir, 'run-2')], { env: env() });
  assert.equal(second.code, 0, second.stderr);
  const again = JSON.parse(second.stdout) as typeof summary;
  assert.deepEqual([again.augmentation.computed, again.augmentation.cacheHits], [0, 2 * trainImages]);
  const manifest = JSON.parse(await readFile(join(dir, 'run-2', 'run.json'), 'utf8')) as { augmentation: { spec: unknown; views: number; seed: number } };
  assert.deepEqual(manifest.augmentation.spec, { flip: { probability: 0.5 }, crop: { scale: [0.6, 1], ratio: [0.75, 4 / 3] }, rotate: null, color: null });
  assert.deepEqual([manifest.augmentation.views, manifest.augmentation.seed], [2, 7]);

  // Human output names the augmentation; default views are 4.
  const text = await runCli([...common, '--augment', 'flip', '--out', join(dir, 'run-3')], { env: env() });
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /Augmentation: flip p=0\.5; 4 views × \d+ training images \(augment seed 0\)/);
});

it('rejects --augment-views without --augment, and unknown augmentations, before any work', async () => {
  const orphan = await runCli([...common, '--augment-views', '3'], { env: env() });
  assert.equal(orphan.code, 2, 'INVALID_OPTION is a usage error');
  assert.match(orphan.stderr, /without an augmentation spec/);
  const unknown = await runCli([...common, '--augment', 'flip,zoom'], { env: env() });
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /Unknown --augment item "zoom"/);
});
