import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EpochLogs } from '../../src/train/callbacks.js';
import type { FitResult } from '../../src/train/fit.js';
import { formatEpochLine, formatTrainingSummary } from '../../src/train/history.js';

const history: EpochLogs[] = [
  { epoch: 1, loss: 0.9, accuracy: 0.5, valLoss: 0.8, valAccuracy: 0.6, learningRate: 0.001, seconds: 0.0421 },
  { epoch: 2, loss: 0.5, accuracy: 0.8, valLoss: 0.4, valAccuracy: 0.9, learningRate: 0.001, seconds: 1.25 },
  { epoch: 3, loss: 0.3, accuracy: 0.9, valLoss: 0.45, valAccuracy: 0.85, learningRate: 0.0001, seconds: 0.5 },
];

test('formatEpochLine is a Keras-like line', () => {
  assert.equal(formatEpochLine(history[0]!, 50),
    'Epoch  1/50 - 42ms - loss: 0.9000 - accuracy: 0.5000 - valLoss: 0.8000 - valAccuracy: 0.6000 - learningRate: 0.001');
  assert.equal(formatEpochLine({ ...history[2]!, valLoss: null, valAccuracy: null }, 3),
    'Epoch 3/3 - 500ms - loss: 0.3000 - accuracy: 0.9000 - learningRate: 1.00e-4');
});

test('formatTrainingSummary always names the best epoch, the kept epoch and the reason', () => {
  const result = {
    history, monitor: 'valLoss', bestEpoch: 2, restoredEpoch: 2, keptEpoch: 2, stoppedEpoch: 3, epochs: 50,
    stopReason: 'early stopping: valLoss did not improve for 1 epoch', diverged: false,
  } as unknown as FitResult;
  assert.equal(formatTrainingSummary(result), [
    'Best epoch: 2 (valLoss 0.4000)',
    'Kept weights: epoch 2 (restored the best valLoss; valLoss 0.4000, valAccuracy 0.9000)',
    'Stopped after epoch 3 of 50: early stopping: valLoss did not improve for 1 epoch',
  ].join('\n'));
  const noRestore = { ...result, restoredEpoch: null, keptEpoch: 3, stopReason: 'completed all 3 epochs', epochs: 3 } as FitResult;
  assert.match(formatTrainingSummary(noRestore), /^Best epoch: 2 .*\nKept weights: epoch 3 \(the last epoch; best weights were not restored; valLoss 0\.4500, .*\nStopped after epoch 3 of 3: completed all 3 epochs$/);
});
