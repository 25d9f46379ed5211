/** Runs the real `finetune` executable (bin/finetune.js) in a child process. */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

const bin = resolve(new URL('../../bin/finetune.js', import.meta.url).pathname);

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
}

export function runCli(args: readonly string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000, cwd?: string): Promise<CliResult> {
  const started = performance.now();
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      ...(cwd !== undefined ? { cwd } : {}),
      env: { ...process.env, NO_COLOR: '1', CI: 'true', FINETUNE_ZOO_MIRROR: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`finetune ${args.join(' ')} timed out`)); }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code: code ?? 1, stdout, stderr, seconds: (performance.now() - started) / 1000 });
    });
  });
}
