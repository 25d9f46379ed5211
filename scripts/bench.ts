/**
 * `npm run bench`: every benchmark, each printing a table with ratios against a baseline measured in the same run.
 *   - scripts/bench-embed.ts: end-to-end `finetune embed` images/s vs raw onnxruntime-node throughput; rerun time.
 *   - scripts/bench-train.ts: the head trainer vs PyTorch (3 and 1,000 classes), a 100k × 2048 × 1,000-class run
 *     (ms/epoch, peak RSS) and a 20-config sweep.
 *   - scripts/bench-decode.ts: decode + resize + crop images/s per `--resize-filter`, vs libvips' own kernel.
 *   - scripts/bench-export.ts: export + parity of a generated VGG16 (553 MB) before/after: wall time and peak RSS.
 *   - scripts/bench-cross-fit.ts: 5-fold cross-fitting vs one 80/20 split on the same features (issue 12: ≤ 5×).
 *   - scripts/bench-cli.ts: `finetune --help` and the one-shot start-up, from the sources (tsx) and from dist/.
 * Pass names to run a subset: `npm run bench -- embed`.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const benches = [
  { name: 'embed', script: 'bench-embed.ts' },
  { name: 'train', script: 'bench-train.ts' },
  { name: 'export', script: 'bench-export.ts' },
  { name: 'decode', script: 'bench-decode.ts' },
  { name: 'cross-fit', script: 'bench-cross-fit.ts' },
  { name: 'cli', script: 'bench-cli.ts' },
];
const wanted = process.argv.slice(2);
let failed = 0;
for (const bench of benches.filter((b) => wanted.length === 0 || wanted.includes(b.name))) {
  process.stdout.write(`\n### bench: ${bench.name}\n`);
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'scripts', bench.script)], { stdio: 'inherit', cwd: root });
  const code = await new Promise<number>((resolve) => child.on('close', (status) => resolve(status ?? 1)));
  if (code !== 0) { failed++; process.stderr.write(`bench ${bench.name} failed (exit ${code})\n`); }
}
process.exitCode = failed > 0 ? 1 : 0;
