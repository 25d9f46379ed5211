/** The training history as console text: the live epoch line and the end-of-training summary. */
import type { EpochLogs } from './callbacks.js';
import type { FitResult } from './fit.js';

const metric = (value: number | null): string => (value === null ? '–' : Number.isNaN(value) ? 'nan' : value.toFixed(4));

function formatSeconds(seconds: number): string {
  return seconds < 1 ? `${Math.round(seconds * 1000)}ms` : seconds < 60 ? `${seconds.toFixed(1)}s` : `${Math.floor(seconds / 60)}m${Math.round(seconds % 60)}s`;
}

function formatRate(rate: number): string {
  return rate >= 1e-3 && rate < 1e3 ? String(Number(rate.toPrecision(4))) : rate.toExponential(2);
}

/** One Keras-like live line: `Epoch 3/50 - 41ms - loss: 0.3456 - accuracy: 0.8900 - valLoss: … - valAccuracy: … - learningRate: 0.001`. */
export function formatEpochLine(logs: EpochLogs, epochs: number): string {
  const width = String(epochs).length;
  const parts = [
    `Epoch ${String(logs.epoch).padStart(width)}/${epochs}`,
    formatSeconds(logs.seconds),
    `loss: ${metric(logs.loss)}`,
    `accuracy: ${metric(logs.accuracy)}`,
  ];
  if (logs.valLoss !== null) parts.push(`valLoss: ${metric(logs.valLoss)}`);
  if (logs.valAccuracy !== null) parts.push(`valAccuracy: ${metric(logs.valAccuracy)}`);
  parts.push(`learningRate: ${formatRate(logs.learningRate)}`);
  return parts.join(' - ');
}

/**
 * The end-of-training summary, always three lines: the best epoch, the epoch whose weights were kept, and why
 * training stopped.
 */
export function formatTrainingSummary(result: FitResult): string {
  const { history, monitor, bestEpoch, restoredEpoch, keptEpoch, stoppedEpoch, epochs, stopReason } = result;
  const rowOf = (epoch: number | null): EpochLogs | undefined => history.find((logs) => logs.epoch === epoch);
  const best = rowOf(bestEpoch);
  const bestLine = bestEpoch === null || best === undefined
    ? `Best epoch: none (no epoch was monitored on ${monitor})`
    : `Best epoch: ${bestEpoch} (${monitor} ${metric(best[monitor])})`;
  const kept = rowOf(keptEpoch);
  const keptMetrics = kept === undefined ? '' : `; ${monitor} ${metric(kept[monitor])}`
    + (kept.valAccuracy !== null && monitor !== 'valAccuracy' ? `, valAccuracy ${metric(kept.valAccuracy)}` : '');
  let why: string;
  if (result.diverged) why = 'the last epoch before the loss diverged';
  else if (restoredEpoch !== null) why = restoredEpoch === bestEpoch ? `restored the best ${monitor}` : 'restored';
  else why = 'the last epoch; best weights were not restored';
  const keptLine = keptEpoch === 0 ? 'Kept weights: none (no epoch completed)' : `Kept weights: epoch ${keptEpoch} (${why}${keptMetrics})`;
  const stoppedLine = `Stopped after epoch ${stoppedEpoch} of ${epochs}: ${stopReason}`;
  return [bestLine, keptLine, stoppedLine].join('\n');
}
