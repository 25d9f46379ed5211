/** Trainer flags shared by `finetune` (one-shot), `finetune train` and `finetune sweep`, and their mapping to fit(). */
import type { Argv } from 'yargs';
import { FinetuneError } from '../errors.js';
import type { TrainOptions } from '../workflows/run-finetune.js';
import { parseNumberList } from './options.js';

export interface TrainFlags {
  epochs: number;
  trainBatchSize: number;
  learningRate: number;
  optimizer: 'adam' | 'sgd';
  weightDecay: number;
  amsgrad: boolean;
  momentum: number;
  nesterov: boolean;
  hidden: string | undefined;
  dropout: number;
  labelSmoothing: number;
  classWeight: string | undefined;
  standardize: boolean;
  patience: number;
  minDelta: number;
  monitor: 'valLoss' | 'valAccuracy' | 'loss' | 'accuracy' | undefined;
  mode: 'auto' | 'min' | 'max';
  baseline: number | undefined;
  startFromEpoch: number;
  restoreBestWeights: boolean;
  earlyStopping: boolean;
  reduceLrPatience: number | undefined;
  reduceLrFactor: number;
  minLr: number;
}

const MONITORS = ['valLoss', 'valAccuracy', 'loss', 'accuracy'] as const;

export function withTrainOptions<T>(yargs: Argv<T>): Argv<T & TrainFlags> {
  return yargs
    .group(['epochs', 'train-batch-size', 'learning-rate', 'optimizer', 'weight-decay', 'amsgrad', 'momentum', 'nesterov',
      'hidden', 'dropout', 'label-smoothing', 'class-weight', 'standardize'], 'Training:')
    .option('epochs', { type: 'number', default: 50, describe: 'Maximum epochs (early stopping usually ends sooner).' })
    .option('train-batch-size', { type: 'number', default: 32, describe: 'Mini-batch size of the head trainer.' })
    .option('learning-rate', { alias: 'lr', type: 'number', default: 0.001, describe: 'Optimizer step size (Keras Adam default).' })
    .option('optimizer', { choices: ['adam', 'sgd'] as const, default: 'adam' as const, describe: 'Adam (Keras semantics, epsilon 1e-7 added to sqrt(v) before bias correction) or SGD.' })
    .option('weight-decay', { type: 'number', default: 0, describe: 'Decoupled weight decay (AdamW style).' })
    .option('amsgrad', { type: 'boolean', default: false, describe: 'Use the AMSGrad variant of Adam.' })
    .option('momentum', { type: 'number', default: 0, describe: 'SGD momentum.' })
    .option('nesterov', { type: 'boolean', default: false, describe: 'SGD Nesterov momentum.' })
    .option('hidden', { type: 'string', describe: 'Hidden layer sizes of an MLP head, e.g. 256 or 256,128 (default: linear head).' })
    .option('dropout', { type: 'number', default: 0, describe: 'Dropout rate (after each hidden layer; on the features for a linear head).' })
    .option('label-smoothing', { type: 'number', default: 0, describe: 'Keras label smoothing.' })
    .option('class-weight', { type: 'string', describe: '"balanced" or a JSON object {"class": weight} for imbalanced classes.' })
    .option('standardize', { type: 'boolean', default: true, describe: 'Standardize features (folded into the exported weights). --no-standardize to turn off.' })
    .group(['patience', 'min-delta', 'monitor', 'mode', 'baseline', 'start-from-epoch', 'restore-best-weights', 'early-stopping',
      'reduce-lr-patience', 'reduce-lr-factor', 'min-lr'], 'Early stopping (Keras semantics):')
    .option('patience', { type: 'number', default: 5, describe: 'Epochs without improvement before stopping.' })
    .option('min-delta', { type: 'number', default: 0, describe: 'Smallest change that counts as an improvement.' })
    .option('monitor', { choices: MONITORS, describe: 'Metric to watch (default valLoss, or loss without a validation split).' })
    .option('mode', { choices: ['auto', 'min', 'max'] as const, default: 'auto' as const, describe: 'Direction of improvement.' })
    .option('baseline', { type: 'number', describe: 'Stop if the monitored metric does not beat this value.' })
    .option('start-from-epoch', { type: 'number', default: 0, describe: 'Warm-up epochs not monitored.' })
    .option('restore-best-weights', { type: 'boolean', default: true, describe: 'Keep the best epoch\'s weights (--no-restore-best-weights keeps the last).' })
    .option('early-stopping', { type: 'boolean', default: true, describe: '--no-early-stopping trains all --epochs.' })
    .option('reduce-lr-patience', { type: 'number', describe: 'Enable ReduceLROnPlateau with this patience.' })
    .option('reduce-lr-factor', { type: 'number', default: 0.1, describe: 'ReduceLROnPlateau factor.' })
    .option('min-lr', { type: 'number', default: 0, describe: 'ReduceLROnPlateau lower bound.' }) as unknown as Argv<T & TrainFlags>;
}

/** Maps parsed flags to fit() options. */
export function trainOptionsFromFlags(flags: TrainFlags): TrainOptions {
  return {
    epochs: flags.epochs,
    batchSize: flags.trainBatchSize,
    learningRate: flags.learningRate,
    optimizer: flags.optimizer,
    weightDecay: flags.weightDecay,
    amsgrad: flags.amsgrad,
    momentum: flags.momentum,
    nesterov: flags.nesterov,
    hidden: parseNumberList(flags.hidden, 'hidden'),
    dropout: flags.dropout,
    labelSmoothing: flags.labelSmoothing,
    classWeight: parseClassWeight(flags.classWeight),
    standardize: flags.standardize,
    earlyStopping: flags.earlyStopping
      ? {
          patience: flags.patience, minDelta: flags.minDelta, mode: flags.mode, startFromEpoch: flags.startFromEpoch,
          restoreBestWeights: flags.restoreBestWeights,
          ...(flags.monitor !== undefined ? { monitor: flags.monitor } : {}),
          ...(flags.baseline !== undefined ? { baseline: flags.baseline } : {}),
        }
      : null,
    reduceLrOnPlateau: flags.reduceLrPatience !== undefined
      ? { patience: flags.reduceLrPatience, factor: flags.reduceLrFactor, minLearningRate: flags.minLr,
          ...(flags.monitor !== undefined ? { monitor: flags.monitor } : {}) }
      : null,
  };
}

function parseClassWeight(value: string | undefined): TrainOptions['classWeight'] {
  if (value === undefined || value === '') return null;
  if (value === 'balanced') return 'balanced';
  try {
    const parsed = JSON.parse(value) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)
      && Object.values(parsed).every((weight) => typeof weight === 'number' && weight >= 0)) {
      return parsed as Record<string, number>;
    }
  } catch { /* falls through to the error below */ }
  throw new FinetuneError('INVALID_OPTION', `Invalid --class-weight "${value}".`,
    'Pass --class-weight balanced, or a JSON object such as \'{"cat": 2, "dog": 1}\'.');
}
