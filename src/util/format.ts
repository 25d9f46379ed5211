/**
 * Sizes and rates for people: SI units (1 kB = 1000 B), as download sizes, npm and the zoo's own listings quote them,
 * with two or three significant digits. The one formatter of byte counts, shared by the CLI, library messages and
 * the serve page (formatBytes is plain JavaScript in format-bytes.js so that the page loads the same file).
 */
import { formatBytes } from './format-bytes.js';

export { formatBytes };

/** Bytes per second: 0.9986 → `1 B/s`; 10000 → `10 kB/s`; 2.5e6 → `2.5 MB/s`. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}
