/** Small helpers shared by command implementations. */
import { FinetuneError } from '../../errors.js';
import type { PreprocessFlags } from '../../image/preprocess-spec.js';
import type { ModelLimits } from '../../onnx/read-model.js';
import type { ArgsOf, modelLimitOptions, preprocessOptions } from '../options.js';

/** The preprocessing flags that were actually given, or undefined when none were. */
export function preprocessFlags(args: Partial<ArgsOf<typeof preprocessOptions>>): PreprocessFlags | undefined {
  const flags: PreprocessFlags = {
    inputSize: args.inputSize, resize: args.resize, resizeMode: args.resizeMode, resizeFilter: args.resizeFilter,
    geometry: args.geometry, mean: args.mean, std: args.std,
    scale: args.scale, layout: args.layout, channelOrder: args.channelOrder, specFile: args.preprocess,
  };
  return Object.values(flags).some((value) => value !== undefined) ? flags : undefined;
}

/** --max-model-size and --max-nodes as the library's ModelLimits (unset flags keep the defaults). */
export function modelLimitsFromFlags(args: Partial<ArgsOf<typeof modelLimitOptions>>): ModelLimits {
  const maxNodes = args.maxNodes;
  if (maxNodes !== undefined && (!Number.isSafeInteger(maxNodes) || maxNodes < 1)) {
    throw new FinetuneError('INVALID_OPTION', `--max-nodes must be a positive whole number, got "${maxNodes}".`, 'Pass e.g. --max-nodes 1000000.');
  }
  return {
    ...(args.maxModelSize !== undefined ? { maxModelBytes: parseByteSize(args.maxModelSize, 'max-model-size') } : {}),
    ...(maxNodes !== undefined ? { maxNodes } : {}),
  };
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1, b: 1, k: 2 ** 10, kib: 2 ** 10, kb: 1e3, m: 2 ** 20, mib: 2 ** 20, mb: 1e6, g: 2 ** 30, gib: 2 ** 30, gb: 1e9,
  t: 2 ** 40, tib: 2 ** 40, tb: 1e12,
};

/** "4GiB" → 4294967296, "600MB" → 600000000, "1.5G" → 1610612736 (K/M/G alone are binary), "1024" → 1024 bytes. */
export function parseByteSize(text: string, flag: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  const bytes = match && unit !== undefined ? Math.floor(Number(match[1]) * unit) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new FinetuneError('INVALID_OPTION', `--${flag} "${text}" is not a size.`, `Pass a size such as 8GiB, 600MB or 1073741824 (bytes).`);
  }
  return bytes;
}
