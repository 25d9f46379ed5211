/**
 * Small composable checks for JSON read back from disk: each `Check<T>` validates an `unknown` and returns it typed,
 * or throws a {@link JsonShapeError} naming where (`training.bestEpoch`) and what was wrong. The run folder's reader
 * declares its schemas with these, typed against the writer's interfaces (`const check: Check<RunManifest> = …`), so
 * a field added to a writer type without a reader check is a compile error.
 */

/** What a value at `at` should have been. Callers turn it into a FinetuneError naming the file. */
export class JsonShapeError extends Error {
  constructor(readonly at: string, readonly problem: string) {
    super(`${at === '' ? 'the top level' : at}: ${problem}`);
    this.name = 'JsonShapeError';
  }
}

export type Check<T> = (value: unknown, at: string) => T;
export type Checked<C> = C extends Check<infer T> ? T : never;

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    return text.length > 40 ? `${text.slice(0, 40)}…` : text;
  }
  return 'an object';
}

function fail(at: string, expected: string, value: unknown): never {
  throw new JsonShapeError(at, `expected ${expected}, found ${describe(value)}`);
}

const join = (at: string, key: string | number): string =>
  typeof key === 'number' ? `${at}[${key}]` : at === '' ? key : `${at}.${key}`;

export const finiteNumber: Check<number> = (value, at) =>
  typeof value === 'number' && Number.isFinite(value) ? value : fail(at, 'a finite number', value);

/** A number that JSON.stringify may have written as `null` because it was NaN or ±Infinity; `null` reads as NaN. */
export const numberOrNaN: Check<number> = (value, at) =>
  value === null ? Number.NaN : typeof value === 'number' ? value : fail(at, 'a number (or null for NaN)', value);

export const integer: Check<number> = (value, at) =>
  Number.isSafeInteger(value) ? (value as number) : fail(at, 'an integer', value);

export const string: Check<string> = (value, at) => (typeof value === 'string' ? value : fail(at, 'a string', value));

export const boolean: Check<boolean> = (value, at) => (typeof value === 'boolean' ? value : fail(at, 'true or false', value));

export function literal<const T extends string>(...values: readonly T[]): Check<T> {
  return (value, at) => ((values as readonly unknown[]).includes(value) ? value as T : fail(at, `one of ${values.join(', ')}`, value));
}

export function nullable<T>(check: Check<T>): Check<T | null> {
  return (value, at) => (value === null ? null : check(value, at));
}

/** For a field that older format versions (or partial runs) lack: absent reads as `fallback`. */
export function optional<T, F>(check: Check<T>, fallback: F): Check<T | F> {
  return (value, at) => (value === undefined ? fallback : check(value, at));
}

export function arrayOf<T>(check: Check<T>): Check<T[]> {
  return (value, at) => (Array.isArray(value) ? value.map((item, index) => check(item, join(at, index))) : fail(at, 'an array', value));
}

/** Any JSON object, not looked into (command-line arguments, free-form records). */
export const anyObject: Check<Readonly<Record<string, unknown>>> = (value, at) =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Record<string, unknown> : fail(at, 'an object', value);

/** Passes anything through. */
export const anything: Check<unknown> = (value) => value;

type Shape = Readonly<Record<string, Check<unknown>>>;

/**
 * An object with (at least) the keys of `shape`, each checked. Keys the shape does not name are kept as they are,
 * so a reader passes through fields written by a newer minor version.
 */
export function object<const S extends Shape>(shape: S): Check<{ -readonly [K in keyof S]: Checked<S[K]> }> {
  return (value, at) => {
    const input = anyObject(value, at);
    const output: Record<string, unknown> = { ...input };
    for (const [key, check] of Object.entries(shape)) {
      const checked = check(input[key], join(at, key));
      if (checked === undefined) delete output[key];
      else output[key] = checked;
    }
    return output as { -readonly [K in keyof S]: Checked<S[K]> };
  };
}

/** Runs `check` and converts its failure with `wrap` (e.g. into a FinetuneError naming the file). */
export function validated<T>(check: Check<T>, value: unknown, wrap: (error: JsonShapeError) => Error): T {
  try {
    return check(value, '');
  } catch (error) {
    if (error instanceof JsonShapeError) throw wrap(error);
    throw error;
  }
}

/** Adapts a validator that throws its own error (e.g. validatePreprocessSpec) into a Check. */
export function via<T>(expected: string, validate: (value: T) => T): Check<T> {
  return (value, at) => {
    if (value === null || typeof value !== 'object') fail(at, expected, value);
    try {
      return validate(value as T);
    } catch (error) {
      throw new JsonShapeError(at, error instanceof Error ? error.message : String(error));
    }
  };
}
