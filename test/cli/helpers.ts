/**
 * Runs `finetune`: the real executable (bin/finetune.js) in a child process, or main() in this process (faster: no
 * Node + tsx start-up, for checks that fail early or print a little).
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { mock } from 'node:test';
import { main } from '../../src/cli/main.js';

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

/** The environment every run gets: no colours, CI-style progress, no zoo mirror inherited from the machine. */
const TEST_ENV: NodeJS.ProcessEnv = { NO_COLOR: '1', CI: 'true', FINETUNE_ZOO_MIRROR: '' };

/**
 * `finetune <args>` through main() in this process, with `env` set for the call and output captured. The CLI writes
 * strings; the test runner's own reports (binary, on stdout, possibly while main awaits) pass through untouched.
 * Tests in a file run one at a time, so the temporary process.env and stdout/stderr hooks do not overlap.
 */
export async function runCliInProcess(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const started = performance.now();
  const saved = new Map(Object.keys({ ...TEST_ENV, ...env }).map((name) => [name, process.env[name]]));
  for (const [name, value] of Object.entries({ ...TEST_ENV, ...env })) {
    if (value === undefined) delete process.env[name]; else process.env[name] = value;
  }
  let stdout = '', stderr = '';
  const capture = (stream: NodeJS.WriteStream, sink: (text: string) => void) => {
    const write = stream.write.bind(stream) as (chunk: string | Uint8Array, ...rest: unknown[]) => boolean;
    return (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
      if (typeof chunk !== 'string') return write(chunk, ...rest);
      sink(chunk);
      const callback = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
      callback?.();
      return true;
    };
  };
  const out = mock.method(process.stdout, 'write', capture(process.stdout, (text) => { stdout += text; }));
  const err = mock.method(process.stderr, 'write', capture(process.stderr, (text) => { stderr += text; }));
  try {
    const code = await main(args);
    return { code, stdout, stderr, seconds: (performance.now() - started) / 1000 };
  } finally {
    out.mock.restore();
    err.mock.restore();
    process.exitCode = 0;
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name]; else process.env[name] = value;
    }
  }
}
