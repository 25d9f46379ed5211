#!/usr/bin/env node
// The `finetune` executable: load TypeScript sources through tsx, then hand over to the CLI.
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';

// Image decoding (sharp) runs on libuv's thread pool: 4 threads unless UV_THREADPOOL_SIZE says otherwise, and it
// is sized when node starts (setting it from here is too late). On a machine with more cores, start once more with
// one thread per core, so decoding keeps up with a GPU. With ≤ 4 cores nothing changes.
const cores = availableParallelism();
if (process.env.UV_THREADPOOL_SIZE === undefined && cores > 4) {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit', env: { ...process.env, UV_THREADPOOL_SIZE: String(Math.min(cores, 128)) },
  });
  // Ctrl-C reaches the child from the terminal itself; other signals sent to this process are passed on.
  process.on('SIGINT', () => undefined);
  for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('error', (error) => { process.stderr.write(`finetune: cannot start node: ${error.message}\n`); process.exit(1); });
  child.on('exit', (code, signal) => {
    if (signal !== null) process.kill(process.pid, signal === 'SIGINT' ? 'SIGTERM' : signal);
    else process.exit(code ?? 1);
  });
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
