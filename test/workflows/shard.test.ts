import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FinetuneError } from '../../src/errors.js';
import {
  listShardFiles, missingShards, parseShard, parseShardFileName, resolveShard, shardCacheFileName, shardReportPath,
} from '../../src/workflows/shard.js';

/** Asserts an INVALID_OPTION whose message (and hint) match. */
function assertInvalid(fn: () => unknown, message: RegExp, hint?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof FinetuneError, String(error));
    assert.equal(error.code, 'INVALID_OPTION');
    assert.match(error.message, message);
    if (hint) assert.match(error.hint ?? '', hint);
    return true;
  });
}

describe('parseShard', () => {
  it('reads 0-based K/N', () => {
    assert.deepEqual(parseShard('0/4'), { index: 0, count: 4 });
    assert.deepEqual(parseShard(' 3 / 4 '), { index: 3, count: 4 });
    assert.deepEqual(parseShard('0/1'), { index: 0, count: 1 });
  });
  it('rejects K = N with a hint that shards count from 0, and other malformed values', () => {
    assertInvalid(() => parseShard('4/4'), /"4\/4"/, /last of 4 shards is 3\/4/);
    for (const bad of ['5/4', '1/0', '-1/4', '1.5/4', '2', 'a/b', '']) assertInvalid(() => parseShard(bad), /Invalid --shard/);
  });
});

describe('resolveShard', () => {
  it('the flag wins over the environment', () => {
    assert.deepEqual(resolveShard('2/8', { JOB_COMPLETION_INDEX: '5', SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '3' }),
      { index: 2, count: 8, source: 'flag' });
  });
  it('no flag and no job environment: unsharded', () => {
    assert.equal(resolveShard(undefined, {}), null);
    assert.equal(resolveShard('', { JOB_COMPLETION_INDEX: '' }), null, 'empty variables count as unset');
  });
  it('"none" runs unsharded even inside a job array', () => {
    assert.equal(resolveShard('none', { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '4' }), null);
  });
  it('--shard and --shards must agree', () => {
    assert.deepEqual(resolveShard('1/4', {}, { shards: 4 }), { index: 1, count: 4, source: 'flag' });
    assertInvalid(() => resolveShard('1/4', {}, { shards: 5 }), /4 shards but --shards says 5/);
  });

  describe('Kubernetes Indexed Job (JOB_COMPLETION_INDEX)', () => {
    it('takes the index from JOB_COMPLETION_INDEX and the count from FINETUNE_SHARD_COUNT or --shards', () => {
      assert.deepEqual(resolveShard(undefined, { JOB_COMPLETION_INDEX: '0', FINETUNE_SHARD_COUNT: '3' }), { index: 0, count: 3, source: 'kubernetes' });
      assert.deepEqual(resolveShard(undefined, { JOB_COMPLETION_INDEX: '7' }, { shards: 10 }), { index: 7, count: 10, source: 'kubernetes' });
      assert.deepEqual(resolveShard(undefined, { JOB_COMPLETION_INDEX: '1', FINETUNE_SHARD_COUNT: '3' }, { shards: 2 }),
        { index: 1, count: 2, source: 'kubernetes' }, '--shards beats the environment');
    });
    it('without a count it fails naming both ways to give one', () => {
      assertInvalid(() => resolveShard(undefined, { JOB_COMPLETION_INDEX: '2' }), /JOB_COMPLETION_INDEX=2.*no count variable/, /--shards N or set FINETUNE_SHARD_COUNT/);
    });
    it('an index beyond the count, or a malformed one, fails', () => {
      assertInvalid(() => resolveShard(undefined, { JOB_COMPLETION_INDEX: '4', FINETUNE_SHARD_COUNT: '4' }), /out of range for 4 shards/, /completions/);
      assertInvalid(() => resolveShard(undefined, { JOB_COMPLETION_INDEX: 'x', FINETUNE_SHARD_COUNT: '4' }), /JOB_COMPLETION_INDEX="x"/);
      assertInvalid(() => resolveShard(undefined, { JOB_COMPLETION_INDEX: '1', FINETUNE_SHARD_COUNT: '0' }), /FINETUNE_SHARD_COUNT "0"/);
    });
    it('is preferred over Slurm variables when both are set', () => {
      assert.equal(resolveShard(undefined, { JOB_COMPLETION_INDEX: '1', FINETUNE_SHARD_COUNT: '2', SLURM_ARRAY_TASK_ID: '0', SLURM_ARRAY_TASK_COUNT: '2' })?.source, 'kubernetes');
    });
  });

  describe('Slurm job array (SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT)', () => {
    it('--array=0-3: the task id is the shard, the array size the count', () => {
      for (let id = 0; id < 4; id++) {
        assert.deepEqual(resolveShard(undefined, { SLURM_ARRAY_TASK_ID: String(id), SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '3', SLURM_ARRAY_TASK_COUNT: '4' }),
          { index: id, count: 4, source: 'slurm' });
      }
    });
    it('--array=1-4: subtracts SLURM_ARRAY_TASK_MIN so shards are still 0…3', () => {
      const shards = [1, 2, 3, 4].map((id) => resolveShard(undefined, { SLURM_ARRAY_TASK_ID: String(id), SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_COUNT: '4' }));
      assert.deepEqual(shards.map((s) => s?.index), [0, 1, 2, 3]);
    });
    it('--array=0-6:2 (step 2): divides by SLURM_ARRAY_TASK_STEP', () => {
      assert.deepEqual(resolveShard(undefined, { SLURM_ARRAY_TASK_ID: '6', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_STEP: '2', SLURM_ARRAY_TASK_COUNT: '4' }),
        { index: 3, count: 4, source: 'slurm' });
    });
    it('the count can come from --shards or FINETUNE_SHARD_COUNT instead', () => {
      assert.deepEqual(resolveShard(undefined, { SLURM_ARRAY_TASK_ID: '2' }, { shards: 3 }), { index: 2, count: 3, source: 'slurm' });
      assert.deepEqual(resolveShard(undefined, { SLURM_ARRAY_TASK_ID: '2', FINETUNE_SHARD_COUNT: '5', SLURM_ARRAY_TASK_COUNT: '3' }), { index: 2, count: 5, source: 'slurm' });
    });
    it('with the count given (a rerun of some shards, --array=3,7), the task id is the shard number as is', () => {
      const env = { SLURM_ARRAY_TASK_MIN: '3', SLURM_ARRAY_TASK_MAX: '7', SLURM_ARRAY_TASK_COUNT: '2', FINETUNE_SHARD_COUNT: '16' };
      assert.deepEqual(resolveShard(undefined, { ...env, SLURM_ARRAY_TASK_ID: '3' }), { index: 3, count: 16, source: 'slurm' });
      assert.deepEqual(resolveShard(undefined, { ...env, SLURM_ARRAY_TASK_ID: '7' }), { index: 7, count: 16, source: 'slurm' });
      assertInvalid(() => resolveShard(undefined, { SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_COUNT: '4' }, { shards: 4 }),
        /out of range for 4 shards/, /task ids are the shard numbers: submit --array=0-3/);
    });
    it('a task outside 0…N−1 after the offset fails with the sbatch line to use', () => {
      assertInvalid(() => resolveShard(undefined, { SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_COUNT: '4' }), /out of range for 4 shards/, /--array=0-3/);
      assertInvalid(() => resolveShard(undefined, { SLURM_ARRAY_TASK_ID: '9', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_COUNT: '3' }), /SLURM_ARRAY_TASK_ID=9/, /--array=0-2/);
      assertInvalid(() => resolveShard(undefined, { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_STEP: '2', SLURM_ARRAY_TASK_COUNT: '4' }), /Cannot map/);
    });
    it('without any count it fails', () => {
      assertInvalid(() => resolveShard(undefined, { SLURM_ARRAY_TASK_ID: '1' }), /SLURM_ARRAY_TASK_COUNT is not/, /--shards N/);
    });
  });

  it('a count without an index is a mistake, not an unsharded run', () => {
    assertInvalid(() => resolveShard(undefined, {}, { shards: 4 }), /--shards 4 gives the number of shards, but no shard index/);
    assertInvalid(() => resolveShard(undefined, { FINETUNE_SHARD_COUNT: '4' }), /FINETUNE_SHARD_COUNT=4/);
  });
});

describe('shard file names', () => {
  it('round-trip K-of-N, with the report beside the cache file', () => {
    const name = shardCacheFileName({ index: 3, count: 12 });
    assert.equal(name, 'embeddings.shard-3-of-12.sqlite');
    assert.deepEqual(parseShardFileName(`/cache/${name}`), { index: 3, count: 12 });
    assert.equal(shardReportPath(`/cache/${name}`), '/cache/embeddings.shard-3-of-12.json');
    assert.equal(parseShardFileName('/cache/embeddings.sqlite'), null);
    assert.equal(parseShardFileName('embeddings.shard-4-of-4.sqlite'), null);
  });
  it('listShardFiles finds the shard files of a folder in order; missingShards names the absent ones per N', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'finetune-shard-names-'));
    try {
      for (const name of ['embeddings.shard-3-of-4.sqlite', 'embeddings.shard-0-of-4.sqlite', 'embeddings.shard-1-of-2.sqlite',
        'embeddings.shard-0-of-4.json', 'embeddings.sqlite', 'notes.txt']) await writeFile(join(dir, name), '');
      const files = listShardFiles(dir);
      assert.deepEqual(files.map((f) => [f.shard.index, f.shard.count]), [[1, 2], [0, 4], [3, 4]]);
      assert.deepEqual(files[1]!.path, join(dir, 'embeddings.shard-0-of-4.sqlite'));
      assert.deepEqual([...missingShards(files.map((f) => f.shard))], [[2, [0]], [4, [1, 2]]]);
      assert.deepEqual(listShardFiles(join(dir, 'absent')), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
