/** Trainer flags shared by `finetune` (one-shot), `finetune train` and `finetune sweep`, and their mapping to fit(). */
import type { Argv, Options } from 'yargs';
import { FinetuneError } from '../errors.js';
import { DEFAULT_KERNEL_INITIALIZER, KERNEL_INITIALIZERS } from '../train/fit-options.js';
import type { TrainOptions } from '../workflows/run-finetune.js';
import { parseNumberList } from './options.js';
import type { ArgsOf } from './options.js';

const MONITORS = ['valLoss', 'valAccuracy', 'loss', 'accuracy'] as const;

/** Trainer flags; {@link withTrainGroups} sorts them into two help sections. */
export const trainOptions = {
  epochs: { type: 'number', default: 50, describe: 'Maximum epochs (early stopping usually ends sooner).' },
  'train-batch-size': { type: 'number', default: 32, describe: 'Mini-batch size of the head trainer.' },
  'learning-rate': { alias: 'lr', type: 'number', default: 0.001, describe: 'Optimizer step size (Keras Adam default).' },
  optimizer: { choices: ['adam', 'sgd'], default: 'adam', describe: 'Adam (Keras semantics, epsilon 1e-7 added to sqrt(v) before bias correction) or SGD.' },
  'weight-decay': { type: 'number', default: 0, describe: 'Decoupled weight decay (AdamW style).' },
  amsgrad: { type: 'boolean', default: false, describe: 'Use the AMSGrad variant of Adam.' },
  momentum: { type: 'number', default: 0, describe: 'SGD momentum.' },
  nesterov: { type: 'boolean', default: false, describe: 'SGD Nesterov momentum.' },
  hidden: { type: 'string', describe: 'Hidden layer sizes of an MLP head, e.g. 256 or 256,128 (default: linear head).' },
  'kernel-initializer': { choices: KERNEL_INITIALIZERS, describe: `Initial weights (default ${DEFAULT_KERNEL_INITIALIZER}; ` +
    'glorot-uniform is Keras\'s, pytorch is torch.nn.Linear\'s, zeros starts the output layer at zero).' },
  dropout: { type: 'number', default: 0, describe: 'Dropout rate (after each hidden layer; on the features for a linear head).' },
  'label-smoothing': { type: 'number', default: 0, describe: 'Keras label smoothing.' },
  'class-weight': { type: 'string', describe: '"balanced" or a JSON object {"class": weight} for imbalanced classes.' },
  standardize: { type: 'boolean', default: true, describe: 'Standardize features (folded into the exported weights). --no-standardize to turn off.' },
  patience: { type: 'number', default: 5, describe: 'Epochs without improvement before stopping.' },
  'min-delta': { type: 'number', default: 0, describe: 'Smallest change that counts as an improvement.' },
  monitor: { choices: MONITORS, describe: 'Metric to watch (default valLoss, or loss without a validation split).' },
  mode: { choices: ['auto', 'min', 'max'], default: 'auto', describe: 'Direction of improvement.' },
  baseline: { type: 'number', describe: 'Stop if the monitored metric does not beat this value.' },
  'start-from-epoch': { type: 'number', default: 0, describe: 'Warm-up epochs not monitored.' },
  'restore-best-weights': { type: 'boolean', describe: 'Keep the best epoch\'s weights instead of the last (default: on with --folds 1; ' +
    'off when cross-fitting: each fold then keeps the epoch the other folds found best (median), since its own held-out fold picking ' +
    'the weights would make the out-of-fold predictions look better than they are).' },
  'early-stopping': { type: 'boolean', default: true, describe: '--no-early-stopping trains all --epochs.' },
  'reduce-lr-patience': { type: 'number', describe: 'Enable ReduceLROnPlateau with this patience.' },
  'reduce-lr-factor': { type: 'number', default: 0.1, describe: 'ReduceLROnPlateau factor.' },
  'min-lr': { type: 'number', default: 0, describe: 'ReduceLROnPlateau lower bound.' },
} as const satisfies Record<string, Options>;

export type TrainArgs = ArgsOf<typeof trainOptions>;

/** The help sections of the trainer flags (yargs lists a group's flags in this order). */
export function withTrainGroups<T>(yargs: Argv<T>): Argv<T> {
  return yargs
    .group(['epochs', 'train-batch-size', 'learning-rate', 'optimizer', 'weight-decay', 'amsgrad', 'momentum', 'nesterov',
      'hidden', 'kernel-initializer', 'dropout', 'label-smoothing', 'class-weight', 'standardize'], 'Training:')
    .group(['patience', 'min-delta', 'monitor', 'mode', 'baseline', 'start-from-epoch', 'restore-best-weights', 'early-stopping',
      'reduce-lr-patience', 'reduce-lr-factor', 'min-lr'], 'Early stopping (Keras semantics):');
}

/** Maps parsed flags to fit() options. */
export function trainOptionsFromFlags(flags: TrainArgs): TrainOptions {
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
    kernelInitializer: flags.kernelInitializer,
    dropout: flags.dropout,
    labelSmoothing: flags.labelSmoothing,
    classWeight: parseClassWeight(flags.classWeight),
    standardize: flags.standardize,
    earlyStopping: flags.earlyStopping
      ? {
          patience: flags.patience, minDelta: flags.minDelta, mode: flags.mode, startFromEpoch: flags.startFromEpoch,
          restoreBestWeights: flags.restoreBestWeights, monitor: flags.monitor, baseline: flags.baseline,
        }
      : null,
    reduceLrOnPlateau: flags.reduceLrPatience !== undefined
      ? { patience: flags.reduceLrPatience, factor: flags.reduceLrFactor, minLearningRate: flags.minLr, monitor: flags.monitor }
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
