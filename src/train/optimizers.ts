/**
 * Optimizers with Keras 3 semantics, updating one flat Float32Array of parameters in place.
 *
 * Arithmetic runs in float64 (JS numbers) and each result is rounded to float32 when stored, so values agree
 * with Keras's float32 maths to float32 rounding, not bit for bit.
 */

/** Options shared by every optimizer. */
export interface OptimizerOptions {
  /** Step size. @defaultValue `0.001` */
  learningRate?: number;
  /**
   * Decoupled weight decay (AdamW style, Keras `weight_decay`): before each update every parameter, biases
   * included, is shrunk by `param -= param * weightDecay * learningRate`. It is not added to the loss or the
   * gradient (that would be PyTorch `Adam(weight_decay=…)`, an L2 penalty). `0` disables it. @defaultValue `0`
   */
  weightDecay?: number;
}

export interface AdamOptions extends OptimizerOptions {
  /** Decay of the first-moment estimate. @defaultValue `0.9` */
  beta1?: number;
  /** Decay of the second-moment estimate. @defaultValue `0.999` */
  beta2?: number;
  /**
   * Keras's "epsilon hat", added to √v of the *uncorrected* second moment:
   * `param -= lr · √(1−β2^t)/(1−β1^t) · m / (√v + ε)`. PyTorch adds its ε to √v̂ of the bias-corrected moment
   * instead; Keras(ε) equals PyTorch(ε / √(1−β2^t)), so the two differ only while √v is tiny. @defaultValue `1e-7`
   */
  epsilon?: number;
  /** Use the running maximum of v (AMSGrad, Reddi et al. 2018), as Keras `amsgrad=True`. @defaultValue `false` */
  amsgrad?: boolean;
}

export interface SgdOptions extends OptimizerOptions {
  /** Momentum (Keras SGD `momentum`): `m = momentum·m − lr·g; param += m`. `0` is plain SGD. @defaultValue `0` */
  momentum?: number;
  /** Nesterov momentum: `param += momentum·m − lr·g` after updating m. Needs `momentum > 0`. @defaultValue `false` */
  nesterov?: boolean;
}

/**
 * One optimizer step's scalars, the same for every parameter. `fit` hands it to the dense kernels, which apply
 * it to a layer while that layer's gradient is still in registers (see `DenseWorkspace.backwardWeights`);
 * `applyUpdate` is the reference form over whole arrays.
 */
export interface OptimizerStep {
  readonly kind: 'adam' | 'amsgrad' | 'sgd' | 'momentum' | 'nesterov';
  /** Adam: lr · √(1 − β2^t) / (1 − β1^t) (bias corrections folded in); SGD: lr. */
  readonly alpha: number;
  readonly oneMinusBeta1: number;
  readonly oneMinusBeta2: number;
  readonly epsilon: number;
  /** Decoupled weight decay factor (weightDecay · lr), applied before the update; 0 for none. */
  readonly decay: number;
  /** SGD momentum; 0 for Adam. */
  readonly momentum: number;
}

export interface Optimizer {
  readonly name: 'adam' | 'sgd';
  /** Read and written by ReduceLROnPlateau between epochs. */
  learningRate: number;
  /** Number of steps so far (Keras `optimizer.iterations`). */
  readonly iterations: number;
  /** Per-parameter state, each as long as the parameters: Adam m, v (and v̂max with AMSGrad); SGD velocity (with momentum). */
  readonly state: readonly Float32Array[];
  /** Advances the step counter (and Adam's bias-correction powers) and returns this step's scalars. */
  nextStep(): OptimizerStep;
  /** `nextStep()` applied to every parameter: `applyUpdate` over the whole arrays. */
  step(params: Float32Array, grads: Float32Array): void;
  getConfig(): Readonly<Record<string, number | boolean | string>>;
}

/** How many state arrays `new Adam`/`new Sgd` with these options keep (so a caller can allocate them). */
export function optimizerStateCount(name: 'adam' | 'sgd', options: AdamOptions & SgdOptions): number {
  return name === 'adam' ? (options.amsgrad ? 3 : 2) : (options.momentum ?? 0) > 0 ? 1 : 0;
}

function checkNonNegative(owner: string, name: string, value: number): void {
  if (!(Number.isFinite(value) && value >= 0)) throw new RangeError(`${owner}: '${name}' must be a finite number ≥ 0, got ${value}.`);
}

function checkLengths(owner: string, expected: number, params: Float32Array, grads: Float32Array): void {
  if (params.length !== expected || grads.length !== expected)
    throw new RangeError(`${owner}.step: expected ${expected} params and grads, got ${params.length} and ${grads.length}.`);
}

/** State arrays given by the caller (e.g. in WebAssembly memory) or new ones; `count` of them, `numParams` long each. */
function stateArrays(owner: string, numParams: number, count: number, given: readonly Float32Array[] | undefined): Float32Array[] {
  if (given === undefined) return Array.from({ length: count }, () => new Float32Array(numParams));
  if (given.length !== count || given.some((array) => array.length !== numParams))
    throw new RangeError(`${owner}: expected ${count} state arrays of ${numParams} values, got [${given.map((array) => array.length).join(', ')}].`);
  for (const array of given) array.fill(0);
  return [...given];
}

/**
 * The reference update (Keras 3 semantics) of `params[offset .. offset+length)` in place, given gradients at the
 * same indices. Arithmetic in float64, each stored value rounded to float32. Per parameter: decoupled weight decay
 * (`p -= p·decay`, stored), then the Adam or SGD step.
 */
export function applyUpdate(step: OptimizerStep, params: Float32Array, grads: Float32Array, state: readonly Float32Array[],
  offset = 0, length = params.length - offset): void {
  const { kind, alpha, decay, momentum } = step;
  const end = offset + length;
  if (decay !== 0) for (let i = offset; i < end; i++) params[i] = params[i]! - params[i]! * decay;
  if (kind === 'adam' || kind === 'amsgrad') {
    const [m, v, vMax] = state as [Float32Array, Float32Array, Float32Array | undefined];
    const { oneMinusBeta1, oneMinusBeta2, epsilon } = step;
    const amsgrad = kind === 'amsgrad' && vMax !== undefined;
    for (let i = offset; i < end; i++) {
      const g = grads[i]!;
      const mi = (m[i] = m[i]! + (g - m[i]!) * oneMinusBeta1);
      let vi = (v[i] = v[i]! + (g * g - v[i]!) * oneMinusBeta2);
      if (amsgrad) vi = vMax[i] = Math.max(vMax[i]!, vi);
      params[i] = params[i]! - (mi * alpha) / (Math.sqrt(vi) + epsilon);
    }
  } else if (kind === 'sgd') {
    for (let i = offset; i < end; i++) params[i] = params[i]! - alpha * grads[i]!;
  } else {
    const velocity = state[0]!, nesterov = kind === 'nesterov';
    for (let i = offset; i < end; i++) {
      const g = grads[i]!;
      const mi = (velocity[i] = velocity[i]! * momentum - g * alpha);
      params[i] = params[i]! + (nesterov ? mi * momentum - g * alpha : mi);
    }
  }
}

/** Adam / AdamW / AMSGrad, following keras/src/optimizers/adam.py (Keras 3). */
export class Adam implements Optimizer {
  readonly name = 'adam';
  learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly amsgrad: boolean;
  readonly weightDecay: number;
  readonly state: readonly Float32Array[];
  private iterationCount = 0;
  private beta1Power = 1;
  private beta2Power = 1;

  /** `state`: optional arrays to keep m, v (and v̂max) in, e.g. in the kernels' memory; zeroed here. */
  constructor(readonly numParams: number, options: AdamOptions = {}, state?: readonly Float32Array[]) {
    this.learningRate = options.learningRate ?? 0.001;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-7;
    this.amsgrad = options.amsgrad ?? false;
    this.weightDecay = options.weightDecay ?? 0;
    checkNonNegative('Adam', 'learningRate', this.learningRate);
    checkNonNegative('Adam', 'epsilon', this.epsilon);
    checkNonNegative('Adam', 'weightDecay', this.weightDecay);
    for (const [name, beta] of [['beta1', this.beta1], ['beta2', this.beta2]] as const)
      if (!(beta >= 0 && beta < 1)) throw new RangeError(`Adam: '${name}' must be in [0, 1), got ${beta}.`);
    this.state = stateArrays('Adam', numParams, this.amsgrad ? 3 : 2, state);
  }

  get firstMoment(): Float32Array { return this.state[0]!; }
  get secondMoment(): Float32Array { return this.state[1]!; }
  /** Running max of the second moment; empty unless `amsgrad`. */
  get maxSecondMoment(): Float32Array { return this.state[2] ?? new Float32Array(0); }

  get iterations(): number {
    return this.iterationCount;
  }

  nextStep(): OptimizerStep {
    // Bias-correction powers as running products (tfjs accBeta1), t = iterations + 1.
    this.beta1Power *= this.beta1;
    this.beta2Power *= this.beta2;
    this.iterationCount++;
    return {
      kind: this.amsgrad ? 'amsgrad' : 'adam',
      alpha: (this.learningRate * Math.sqrt(1 - this.beta2Power)) / (1 - this.beta1Power),
      oneMinusBeta1: 1 - this.beta1, oneMinusBeta2: 1 - this.beta2, epsilon: this.epsilon,
      decay: this.weightDecay * this.learningRate, momentum: 0,
    };
  }

  step(params: Float32Array, grads: Float32Array): void {
    checkLengths('Adam', this.numParams, params, grads);
    applyUpdate(this.nextStep(), params, grads, this.state);
  }

  getConfig(): Readonly<Record<string, number | boolean | string>> {
    const { name, learningRate, beta1, beta2, epsilon, amsgrad, weightDecay } = this;
    return { name, learningRate, beta1, beta2, epsilon, amsgrad, weightDecay, epsilonPlacement: 'keras' };
  }
}

/** SGD with optional momentum / Nesterov, following keras/src/optimizers/sgd.py (Keras 3). */
export class Sgd implements Optimizer {
  readonly name = 'sgd';
  learningRate: number;
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  readonly state: readonly Float32Array[];
  private iterationCount = 0;

  /** `state`: an optional array to keep the velocity in (with momentum > 0); zeroed here. */
  constructor(readonly numParams: number, options: SgdOptions = {}, state?: readonly Float32Array[]) {
    this.learningRate = options.learningRate ?? 0.001;
    this.momentum = options.momentum ?? 0;
    this.nesterov = options.nesterov ?? false;
    this.weightDecay = options.weightDecay ?? 0;
    checkNonNegative('Sgd', 'learningRate', this.learningRate);
    checkNonNegative('Sgd', 'weightDecay', this.weightDecay);
    if (!(this.momentum >= 0 && this.momentum < 1)) throw new RangeError(`Sgd: 'momentum' must be in [0, 1), got ${this.momentum}.`);
    this.state = stateArrays('Sgd', numParams, this.momentum > 0 ? 1 : 0, state);
  }

  /** Velocity; empty when `momentum` is 0. */
  get velocity(): Float32Array { return this.state[0] ?? new Float32Array(0); }

  get iterations(): number {
    return this.iterationCount;
  }

  nextStep(): OptimizerStep {
    this.iterationCount++;
    const { momentum, nesterov, learningRate } = this;
    return {
      kind: momentum === 0 ? 'sgd' : nesterov ? 'nesterov' : 'momentum',
      alpha: learningRate, oneMinusBeta1: 0, oneMinusBeta2: 0, epsilon: 0, decay: this.weightDecay * learningRate, momentum,
    };
  }

  step(params: Float32Array, grads: Float32Array): void {
    checkLengths('Sgd', this.numParams, params, grads);
    applyUpdate(this.nextStep(), params, grads, this.state);
  }

  getConfig(): Readonly<Record<string, number | boolean | string>> {
    const { name, learningRate, momentum, nesterov, weightDecay } = this;
    return { name, learningRate, momentum, nesterov, weightDecay };
  }
}
