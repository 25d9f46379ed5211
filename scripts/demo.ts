/**
 * The main job: `npm run demo`. Makes a small example dataset (three classes of synthetic shapes), then runs the
 * one-shot `finetune` with a zoo backbone, evaluates the exported model on held-out images and classifies one.
 *
 * The zoo is read through FINETUNE_ZOO_MIRROR when set. Otherwise, when ../shared/zoo exists (offline machines and
 * CI), it is served on 127.0.0.1 as a mirror; else the real zoo is used (needs internet).
 *
 *   DEMO_BACKBONE=resnet50 npm run demo     # another zoo backbone (downloads ~100 MB)
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { serveMirror } from '../src/registry/serve-mirror.js';
import type { MirrorServer } from '../src/registry/serve-mirror.js';
import { makeShapesDataset } from './lib/make-shapes.js';

const root = resolve(new URL('..', import.meta.url).pathname);
const backbone = process.env['DEMO_BACKBONE'] ?? 'mobilenetv2-int8';
const dataDir = join(root, 'example-data', 'shapes');
const holdoutDir = join(root, 'example-data', 'shapes-holdout');
const runDir = join(root, 'runs', 'demo');
const finetune = join(root, 'bin', 'finetune.js');

/** Runs one CLI step as a child process (asynchronously: this process serves the zoo mirror meanwhile). */
async function step(title: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  process.stderr.write(`\n=== ${title}\n$ finetune ${args.join(' ')}\n`);
  const child = spawn(process.execPath, [finetune, ...args], { stdio: 'inherit', env, cwd: root });
  const code = await new Promise<number>((resolveExit) => child.on('close', (status, signal) => resolveExit(status ?? (signal ? 1 : 0))));
  if (code !== 0) throw new Error(`demo: step "${title}" failed (exit ${code}).`);
}

if (!existsSync(dataDir)) {
  process.stderr.write(`Making the example dataset in ${dataDir} (3 classes × 30 shapes)...\n`);
  await makeShapesDataset(dataDir, { perClass: 30, seed: 7 });
}
if (!existsSync(holdoutDir)) await makeShapesDataset(holdoutDir, { perClass: 10, seed: 1234 });

const env: NodeJS.ProcessEnv = { ...process.env };
let mirror: MirrorServer | null = null;
const sharedZoo = resolve(root, '..', 'shared', 'zoo');
if (!env['FINETUNE_ZOO_MIRROR'] && existsSync(sharedZoo)) {
  mirror = await serveMirror(sharedZoo);
  env['FINETUNE_ZOO_MIRROR'] = mirror.url;
  process.stderr.write(`Serving ${sharedZoo} as a zoo mirror at ${mirror.url}\n`);
}

try {
  await step('train and export', ['--backbone', backbone, '--classes', '3', '--data', dataDir, '--test', holdoutDir, '--out', runDir], env);
  await step('evaluate on held-out images', ['evaluate', join(runDir, 'model.onnx'), '--data', holdoutDir], env);
  await step('predict', ['predict', join(runDir, 'model.onnx'), join(holdoutDir, 'triangle', 'triangle-000.jpg'), join(holdoutDir, 'circle', 'circle-000.jpg')], env);
  process.stderr.write(`\nDemo done. The run folder is ${runDir} (model.onnx, report.html, metrics.json, run.json, …).\n`);
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
} finally {
  await mirror?.close();
}
