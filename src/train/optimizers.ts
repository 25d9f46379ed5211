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

export interface Optimizer {
  readonly name: 'adam' | 'sgd';
  /** Read and written by ReduceLROnPlateau between epochs. */
  learningRate: number;
  /** Number of `step` calls so far (Keras `optimizer.iterations`). */
  readonly iterations: number;
  step(params: Float32Array, grads: Float32Array): void;
  getConfig(): Readonly<Record<string, number | boolean | string>>;
}

function checkNonNegative(owner: string, name: string, value: number): void {
  if (!(Number.isFinite(value) && value >= 0)) throw new RangeError(`${owner}: '${name}' must be a finite number ≥ 0, got ${value}.`);
}

function checkLengths(owner: string, expected: number, params: Float32Array, grads: Float32Array): void {
  if (params.length !== expected || grads.length !== expected)
    throw new RangeError(`${owner}.step: expected ${expected} params and grads, got ${params.length} and ${grads.length}.`);
}

/** Decoupled decay, Keras `_apply_weight_decay`: runs before the update, which still uses the gradient as given. */
function applyWeightDecay(params: Float32Array, factor: number): void {
  if (factor === 0) return;
  for (let i = 0; i < params.length; i++) params[i] = params[i]! - params[i]! * factor;
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
  readonly firstMoment: Float32Array;
  readonly secondMoment: Float32Array;
  /** Running max of the second moment; empty unless `amsgrad`. */
  readonly maxSecondMoment: Float32Array;
  private iterationCount = 0;
  private beta1Power = 1;
  private beta2Power = 1;

  constructor(numParams: number, options: AdamOptions = {}) {
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
    this.firstMoment = new Float32Array(numParams);
    this.secondMoment = new Float32Array(numParams);
    this.maxSecondMoment = new Float32Array(this.amsgrad ? numParams : 0);
  }

  get iterations(): number {
    return this.iterationCount;
  }

  step(params: Float32Array, grads: Float32Array): void {
    const m = this.firstMoment, v = this.secondMoment, vMax = this.maxSecondMoment;
    checkLengths('Adam', m.length, params, grads);
    const { learningRate, beta1, beta2, epsilon } = this;
    applyWeightDecay(params, this.weightDecay * learningRate);
    // Bias-correction powers as running products (tfjs accBeta1), t = iterations + 1.
    this.beta1Power *= beta1;
    this.beta2Power *= beta2;
    const alpha = (learningRate * Math.sqrt(1 - this.beta2Power)) / (1 - this.beta1Power);
    const oneMinusBeta1 = 1 - beta1, oneMinusBeta2 = 1 - beta2;
    for (let i = 0; i < params.length; i++) {
      const g = grads[i]!;
      const mi = (m[i] = m[i]! + (g - m[i]!) * oneMinusBeta1);
      let vi = (v[i] = v[i]! + (g * g - v[i]!) * oneMinusBeta2);
      if (this.amsgrad) vi = vMax[i] = Math.max(vMax[i]!, vi);
      params[i] = params[i]! - (mi * alpha) / (Math.sqrt(vi) + epsilon);
    }
    this.iterationCount++;
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
  /** Velocity; empty when `momentum` is 0. */
  readonly velocity: Float32Array;
  private iterationCount = 0;

  constructor(numParams: number, options: SgdOptions = {}) {
    this.learningRate = options.learningRate ?? 0.001;
    this.momentum = options.momentum ?? 0;
    this.nesterov = options.nesterov ?? false;
    this.weightDecay = options.weightDecay ?? 0;
    checkNonNegative('Sgd', 'learningRate', this.learningRate);
    checkNonNegative('Sgd', 'weightDecay', this.weightDecay);
    if (!(this.momentum >= 0 && this.momentum < 1)) throw new RangeError(`Sgd: 'momentum' must be in [0, 1), got ${this.momentum}.`);
    this.velocity = new Float32Array(this.momentum > 0 ? numParams : 0);
  }

  get iterations(): number {
    return this.iterationCount;
  }

  step(params: Float32Array, grads: Float32Array): void {
    if (params.length !== grads.length || (this.momentum > 0 && params.length !== this.velocity.length))
      throw new RangeError(`Sgd.step: expected ${this.velocity.length || params.length} params and grads, got ${params.length} and ${grads.length}.`);
    const { learningRate, momentum, nesterov } = this;
    applyWeightDecay(params, this.weightDecay * learningRate);
    if (momentum === 0) {
      for (let i = 0; i < params.length; i++) params[i] = params[i]! - learningRate * grads[i]!;
    } else {
      const m = this.velocity;
      for (let i = 0; i < params.length; i++) {
        const g = grads[i]!;
        const mi = (m[i] = m[i]! * momentum - g * learningRate);
        params[i] = params[i]! + (nesterov ? mi * momentum - g * learningRate : mi);
      }
    }
    this.iterationCount++;
  }

  getConfig(): Readonly<Record<string, number | boolean | string>> {
    const { name, learningRate, momentum, nesterov, weightDecay } = this;
    return { name, learningRate, momentum, nesterov, weightDecay };
  }
}
