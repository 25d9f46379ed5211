/**
 * Image decoding (sharp) runs on libuv's thread pool: 4 threads unless UV_THREADPOOL_SIZE says otherwise, and it is
 * sized when node starts (setting it from inside the program is too late). On a machine with more cores, the
 * executable starts once more with one thread per core, so decoding keeps up with a GPU. With ≤ 4 cores nothing
 * changes.
 */
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';

/**
 * Re-runs this process (same node flags and arguments) with UV_THREADPOOL_SIZE = cores when it is unset and there are
 * more than 4 cores, passing on the exit code and SIGTERM/SIGHUP (Ctrl-C reaches the child from the terminal).
 * Returns true when it did: the caller then does nothing else, and this process exits with the child.
 */
export function relaunchWithThreadPool(): boolean {
  const cores = availableParallelism();
  if (process.env.UV_THREADPOOL_SIZE !== undefined || cores <= 4) return false;
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit', env: { ...process.env, UV_THREADPOOL_SIZE: String(Math.min(cores, 128)) },
  });
  process.on('SIGINT', () => undefined);
  for (const signal of ['SIGTERM', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
  child.on('error', (error) => { process.stderr.write(`finetune: cannot start node: ${error.message}\n`); process.exit(1); });
  child.on('exit', (code, signal) => {
    if (signal !== null) process.kill(process.pid, signal === 'SIGINT' ? 'SIGTERM' : signal);
    else process.exit(code ?? 1);
  });
  return true;
}
