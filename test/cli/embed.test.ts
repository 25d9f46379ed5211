/** `finetune embed` end to end as a child process (bin/finetune.js once registered; see shard-fixtures.ts). */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, writeTestBackbone, writeTestDataset } from '../workflows/shard-fixtures.js';
import type { TestDataset } from '../workflows/shard-fixtures.js';

let dir: string, backbone: string, data: TestDataset;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'finetune-cli-embed-'));
  backbone = await writeTestBackbone(join(dir, 'backbone.onnx'));
  data = await writeTestDataset(join(dir, 'data'), 8);
});
after(async () => { await rm(dir, { recursive: true, force: true }); });

describe('finetune embed', { concurrency: true }, () => {
  it('--help documents sharding with examples', async () => {
    const run = await runCli(['embed', '--help']);
    assert.equal(run.code, 0, run.stderr);
    for (const text of ['--shard', '--shards', 'JOB_COMPLETION_INDEX', 'SLURM_ARRAY_TASK_ID', '0-based', 'xargs -P', '--cache-dir', '--threads']) {
      assert.ok(run.stdout.includes(text), `help mentions ${text}`);
    }
  });

  it('--json prints the counts; --report writes skipped.txt; progress goes to stderr as JSON lines', async () => {
    const run = await runCli(['embed', '-d', data.root, '-b', backbone, '--cache-dir', join(dir, 'cache'), '--device', 'cpu',
      '--report', join(dir, 'report'), '--json']);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as Record<string, unknown> & { failed: Array<{ path: string }> };
    assert.equal(result['total'], 26);
    assert.equal(result['computed'], 24);
    assert.equal(result['cacheHits'], 1);
    assert.deepEqual(result.failed.map((f) => f.path), [data.corrupt]);
    assert.equal(result['shard'], null);
    assert.equal(result['cachePath'], join(dir, 'cache', 'embeddings.sqlite'));
    const events = run.stderr.trim().split('\n').map((line) => JSON.parse(line) as { stage: string; status: string });
    assert.ok(events.some((event) => event.stage === 'embed' && event.status === 'done'));
    assert.match(await readFile(join(dir, 'report', 'skipped.txt'), 'utf8'), /not-really\.png\t/);
  });

  it('--shard 4/4 is a usage error that explains shards count from 0', async () => {
    const run = await runCli(['embed', '-d', data.root, '-b', backbone, '--cache-dir', join(dir, 'bad'), '--shard', '4/4']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /Invalid --shard "4\/4"/);
    assert.match(run.stderr, /last of 4 shards is 3\/4/);
  });

  it('JOB_COMPLETION_INDEX without a count fails before any work, naming --shards and FINETUNE_SHARD_COUNT', async () => {
    const run = await runCli(['embed', '-d', data.root, '-b', backbone, '--cache-dir', join(dir, 'k8s')], { env: { JOB_COMPLETION_INDEX: '1' } });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /JOB_COMPLETION_INDEX=1/);
    assert.match(run.stderr, /--shards N or set FINETUNE_SHARD_COUNT/);
  });

  it('a Slurm array task writes its own shard file and says where the shard came from', async () => {
    const run = await runCli(['embed', '-d', data.root, '-b', backbone, '--cache-dir', join(dir, 'slurm'), '--device', 'cpu'],
      { env: { SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_COUNT: '3' } });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /Shard 1\/3 \(0-based\) from the Slurm environment/);
    assert.match(run.stdout, /shard 1\/3: \d+ of 26 images/);
    assert.ok(run.stdout.includes(join(dir, 'slurm', 'embeddings.shard-1-of-3.sqlite')));
    assert.match(run.stdout, /finetune cache merge --cache-dir /);
  });
});
