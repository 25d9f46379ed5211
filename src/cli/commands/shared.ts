/** Small helpers shared by command implementations. */
import type { PreprocessFlags } from '../../image/preprocess-spec.js';
import type { PreprocessOptions } from '../options.js';

/** The preprocessing flags that were actually given, or undefined when none were. */
export function preprocessFlags(args: PreprocessOptions): PreprocessFlags | undefined {
  const flags: PreprocessFlags = {
    ...(args.inputSize !== undefined ? { inputSize: args.inputSize } : {}),
    ...(args.resize !== undefined ? { resize: args.resize } : {}),
    ...(args.resizeMode !== undefined ? { resizeMode: args.resizeMode } : {}),
    ...(args.mean !== undefined ? { mean: args.mean } : {}),
    ...(args.std !== undefined ? { std: args.std } : {}),
    ...(args.scale !== undefined ? { scale: args.scale } : {}),
    ...(args.layout !== undefined ? { layout: args.layout } : {}),
    ...(args.channelOrder !== undefined ? { channelOrder: args.channelOrder } : {}),
    ...(args.preprocess !== undefined ? { specFile: args.preprocess } : {}),
  };
  return Object.keys(flags).length > 0 ? flags : undefined;
}
