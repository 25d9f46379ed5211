/**
 * Device → execution provider. onnxruntime-node 1.30 ships the CPU provider in the npm package; the CUDA 12
 * provider's shared libraries are fetched separately (`npm run setup:cuda`) into the same folder as the binding.
 * `listSupportedBackends()` reports cuda with `bundled: false` either way, so we look for the files themselves.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { FinetuneError } from '../errors.js';
import type { Device } from '../types.js';

/** Execution providers this project drives. `cuda` exists only on linux/x64 builds of onnxruntime-node. */
export type ExecutionProvider = 'cuda' | 'cpu';

export const DEVICES: readonly Device[] = ['auto', 'cpu', 'cuda'];

/** Files `npm run setup:cuda` installs next to onnxruntime_binding.node; the CUDA EP loads the first two. */
export const CUDA_PROVIDER_FILES = ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so'] as const;

export interface CudaAvailability {
  /** True when this platform has a CUDA build and every provider library is present. */
  readonly installed: boolean;
  /** The onnxruntime-node folder holding the native binding (where the CUDA libraries must be). */
  readonly binDir: string | null;
  /** Provider libraries that are missing (all of them on platforms without a CUDA build). */
  readonly missing: readonly string[];
  /** Why CUDA cannot be used, when it cannot. */
  readonly reason: string | null;
}

let cachedAvailability: CudaAvailability | undefined;

/** Where onnxruntime-node keeps its native binding for this platform, or null when the package is missing. */
export function onnxruntimeBinDir(): string | null {
  try {
    const require = createRequire(import.meta.url);
    const packageDir = dirname(require.resolve('onnxruntime-node/package.json'));
    return join(packageDir, 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return null;
  }
}

/** Whether onnxruntime-node's CUDA execution provider libraries are installed (checked once per process). */
export function cudaAvailability(): CudaAvailability {
  if (cachedAvailability) return cachedAvailability;
  const binDir = onnxruntimeBinDir();
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    cachedAvailability = { installed: false, binDir, missing: [...CUDA_PROVIDER_FILES],
      reason: `onnxruntime-node has no CUDA build for ${process.platform}/${process.arch}` };
  } else if (binDir === null) {
    cachedAvailability = { installed: false, binDir, missing: [...CUDA_PROVIDER_FILES],
      reason: 'onnxruntime-node is not installed' };
  } else {
    const missing = CUDA_PROVIDER_FILES.filter((file) => !existsSync(join(binDir, file)));
    cachedAvailability = { installed: missing.length === 0, binDir, missing,
      reason: missing.length === 0 ? null : `${missing.join(', ')} not found in ${binDir}` };
  }
  return cachedAvailability;
}

/**
 * The providers to try, in order, for a device. `auto` → CUDA when its libraries are installed, else CPU;
 * `cuda` without the libraries throws RUNTIME_UNAVAILABLE before any work starts.
 */
export function executionProvidersFor(device: Device): ExecutionProvider[] {
  switch (device) {
    case 'cpu':
      return ['cpu'];
    case 'auto':
      return cudaAvailability().installed ? ['cuda', 'cpu'] : ['cpu'];
    case 'cuda': {
      const cuda = cudaAvailability();
      if (!cuda.installed) throw cudaUnavailableError(cuda.reason ?? 'unknown reason');
      return ['cuda'];
    }
    default:
      throw new FinetuneError('INVALID_OPTION', `Unknown device "${String(device)}".`,
        `Use one of: ${DEVICES.join(', ')}.`);
  }
}

/** The error for `--device cuda` when CUDA cannot run; `cause` carries ORT's own error when it tried. */
export function cudaUnavailableError(reason: string, cause?: unknown): FinetuneError {
  return new FinetuneError('RUNTIME_UNAVAILABLE', `The CUDA execution provider is not available: ${reason}.`,
    'Run `npm run setup:cuda` (needs internet, CUDA 12 and cuDNN 9 drivers), or use --device cpu or --device auto.',
    cause === undefined ? undefined : { cause });
}
