/**
 * Fixtures for the embed / shard tests: a small VGG-like backbone written as an .onnx file (passed like any
 * custom model, `--backbone <path>`), a dataset of generated images in 3 class folders with one byte-identical
 * duplicate and one file that is not an image, and a way to run the CLI as a child process.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { writeModel } from '../../src/onnx/write-model.js';
import { buildVggBackbone } from '../../src/onnx/test-backbones.js';

export const repoRoot = new URL('../..', import.meta.url).pathname;

/** A 16×16-input VGG-like classifier; cut automatically at its 32-d dense layer. */
export async function writeTestBackbone(path: string, options: { seed?: number } = {}): Promise<string> {
  const backbone = buildVggBackbone({ inputSize: 16, width: 4, hiddenDim: 32, seed: options.seed ?? 1 });
  await writeModel(path, backbone.model);
  return path;
}

export interface TestDataset {
  readonly root: string;
  /** Every image file written (including the duplicate, excluding the non-image). */
  readonly images: string[];
  /** The PNG that is really text: scanned as an image, fails to decode. */
  readonly corrupt: string;
}

/** `perClass` images in each of 3 classes, plus a byte-identical copy of the first image and a broken PNG. */
export async function writeTestDataset(root: string, perClass: number): Promise<TestDataset> {
  const images: string[] = [];
  for (const [classIndex, className] of ['ant', 'bee', 'cat'].entries()) {
    await mkdir(join(root, className), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const n = classIndex * perClass + i;
      const width = 18 + (n % 5), height = 18 + ((n >> 2) % 4);
      const pixels = Buffer.alloc(width * height * 3);
      for (let p = 0; p < pixels.length; p++) pixels[p] = (p * (3 + classIndex) + n * 37 + ((p * n) % 17) * 9) & 0xff;
      const format = n % 3 === 0 ? 'jpeg' : 'png';
      const path = join(root, className, `${className}-${String(i).padStart(3, '0')}.${format === 'jpeg' ? 'jpg' : 'png'}`);
      await writeFile(path, await sharp(pixels, { raw: { width, height, channels: 3 } }).toFormat(format).toBuffer());
      images.push(path);
    }
  }
  const duplicate = join(root, 'cat', 'copy-of-ant-000.png');
  await writeFile(duplicate, readFileSync(images[0]!));
  images.push(duplicate);
  const corrupt = join(root, 'bee', 'not-really.png');
  await writeFile(corrupt, 'this is text, not a PNG\n');
  return { root, images, corrupt };
}

export interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Environment without any shard variables inherited from the machine running the tests. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['JOB_COMPLETION_INDEX', 'SLURM_ARRAY_TASK_ID', 'SLURM_ARRAY_TASK_MIN', 'SLURM_ARRAY_TASK_MAX',
    'SLURM_ARRAY_TASK_COUNT', 'SLURM_ARRAY_TASK_STEP', 'FINETUNE_SHARD_COUNT']) delete env[name];
  return { ...env, NO_COLOR: '1', ...extra };
}

/** Runs `finetune <args>` (bin/finetune.js). */
export function runCli(args: readonly string[], options: { env?: Record<string, string>; onStderrLine?: (line: string, kill: () => void) => void } = {}): Promise<CliRun> {
  const entry = [join(repoRoot, 'bin/finetune.js')];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...entry, ...args], { cwd: repoRoot, env: cleanEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '', pending = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      stderr += text;
      if (options.onStderrLine === undefined) return;
      pending += text;
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        options.onStderrLine(line, () => child.kill('SIGKILL'));
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
