import type { ProgressCallback, ProgressEvent } from '../types.js';
import { formatBytes, formatRate } from '../util/format.js';
import { bold, cyan, dim, formatDuration, yellow } from './style.js';

export interface ProgressRenderOptions {
  /** Machine-readable: one JSON object per event, on stderr. @defaultValue `false` */
  json?: boolean;
  /** Print nothing but warnings. @defaultValue `false` */
  quiet?: boolean;
  /** Where to draw (a live bar when it is a TTY). @defaultValue `process.stderr` */
  stream?: Pick<NodeJS.WriteStream, 'write' | 'isTTY'>;
}

/**
 * Renders library progress events. On a TTY, long work gets a live bar with rate and ETA;
 * elsewhere (CI logs, pipes) it prints a plain line at most every 5 seconds and at the end.
 */
export function createProgressRenderer(options: ProgressRenderOptions = {}): ProgressCallback {
  const stream = options.stream ?? process.stderr;
  const isTty = Boolean(stream.isTTY) && process.env['CI'] !== 'true';
  let lastPlainAt = 0;
  let barVisible = false;

  const clearBar = () => {
    if (barVisible) { stream.write('\r\u001b[2K'); barVisible = false; }
  };
  const line = (text: string) => { clearBar(); stream.write(`${text}\n`); };
  const live = (text: string, final: boolean) => {
    if (isTty) {
      stream.write(`\r\u001b[2K${text}`);
      barVisible = true;
      if (final) { stream.write('\n'); barVisible = false; }
      return;
    }
    const now = Date.now();
    if (final || now - lastPlainAt >= 5000) { lastPlainAt = now; stream.write(`${text}\n`); }
  };

  return (event: ProgressEvent) => {
    if (options.json) { stream.write(`${JSON.stringify(event)}\n`); return; }
    if (event.stage === 'warn') { line(`${yellow('warning')}: ${event.message}`); return; }
    if (options.quiet) return;
    switch (event.stage) {
      case 'download': {
        if (event.status === 'retry') { line(`${yellow('retry')}: ${event.message ?? event.url}`); return; }
        if (event.status === 'start') { lastPlainAt = 0; setStart(event.url); line(`Downloading ${bold(event.name)} from ${event.url}`); return; }
        const total = event.totalBytes;
        const elapsed = (Date.now() - (downloadStarted.get(event.url) ?? setStart(event.url))) / 1000;
        const rate = elapsed > 0 ? event.loadedBytes / elapsed : 0;
        const eta = total && rate > 0 ? (total - event.loadedBytes) / rate : null;
        const fraction = total ? event.loadedBytes / total : 0;
        live(`  ${bar(fraction)} ${formatBytes(event.loadedBytes)}${total ? ` / ${formatBytes(total)}` : ''}` +
          `  ${formatRate(rate)}  ETA ${formatDuration(eta)}`, event.status === 'done');
        return;
      }
      case 'embed': {
        if (event.status === 'start') lastPlainAt = 0;
        const fraction = event.total > 0 ? event.done / event.total : 1;
        live(`  embed ${bar(fraction)} ${event.done}/${event.total} images  ${event.imagesPerSecond.toFixed(1)} img/s` +
          `  ETA ${formatDuration(event.etaSeconds)}  cache hits ${event.cacheHits}` +
          (event.failed > 0 ? `  skipped ${event.failed}` : '') + (event.provider ? dim(`  [${event.provider}]`) : ''),
          event.status === 'done');
        return;
      }
      case 'train':
        if (event.status === 'batch') {
          live(`  epoch ${event.epoch}/${event.epochs} ${bar(event.step / event.steps)} ${event.step}/${event.steps} batches` +
            `  loss ${event.loss.toFixed(4)}  ETA ${formatDuration(event.etaSeconds)}`, false);
          return;
        }
        if (event.status === 'epoch') line(formatEpochEvent(event.epoch, event.epochs, event.logs));
        else if (event.message) line(`Training stopped: ${event.message}`);
        return;
      case 'export':
      case 'parity':
      case 'info':
        line(event.stage === 'info' ? event.message : `${cyan(event.stage)}: ${event.message}`);
        return;
    }
  };
}

/** A Keras-like epoch line: `Epoch 3/50 - 0.04s - loss: 0.3456 - accuracy: 0.8900 - val_loss: … - lr: 0.001`. */
function formatEpochEvent(epoch: number, epochs: number, logs: Readonly<Record<string, number>>): string {
  const value = (key: string) => (typeof logs[key] === 'number' && Number.isFinite(logs[key]) ? logs[key]!.toFixed(4) : null);
  const parts = [`Epoch ${String(epoch).padStart(String(epochs).length)}/${epochs}`];
  if (typeof logs['seconds'] === 'number') parts.push(`${logs['seconds'].toFixed(2)}s`);
  for (const [key, label] of [['loss', 'loss'], ['accuracy', 'accuracy'], ['valLoss', 'val_loss'], ['valAccuracy', 'val_accuracy']] as const) {
    const formatted = value(key);
    if (formatted !== null) parts.push(`${label}: ${formatted}`);
  }
  if (typeof logs['learningRate'] === 'number') parts.push(`lr: ${Number(logs['learningRate'].toPrecision(4))}`);
  return dim(parts.join(' - '));
}

const downloadStarted = new Map<string, number>();
function setStart(url: string): number {
  const now = Date.now();
  downloadStarted.set(url, now);
  return now;
}

function bar(fraction: number, width = 24): string {
  const clamped = Math.min(1, Math.max(0, fraction));
  const filled = Math.round(clamped * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.floor(clamped * 100)).padStart(3)}%`;
}
