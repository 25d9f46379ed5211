/** Small helpers shared by command implementations. */
import type { PreprocessFlags } from '../../image/preprocess-spec.js';
import type { ArgsOf, preprocessOptions } from '../options.js';

/** The preprocessing flags that were actually given, or undefined when none were. */
export function preprocessFlags(args: Partial<ArgsOf<typeof preprocessOptions>>): PreprocessFlags | undefined {
  const flags: PreprocessFlags = {
    inputSize: args.inputSize, resize: args.resize, resizeMode: args.resizeMode, mean: args.mean, std: args.std,
    scale: args.scale, layout: args.layout, channelOrder: args.channelOrder, specFile: args.preprocess,
  };
  return Object.values(flags).some((value) => value !== undefined) ? flags : undefined;
}
