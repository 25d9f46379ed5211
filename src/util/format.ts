/**
 * Sizes and rates for people: SI units (1 kB = 1000 B), as download sizes, npm and the zoo's own listings quote them,
 * with two or three significant digits. The one formatter of byte counts, shared by the CLI and library messages.
 */

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'] as const;

/** 0 → `0 B`; 999.4 → `999 B`; 1234 → `1.2 kB`; 553436134 → `553 MB`; NaN or negative → `? B`. */
export function formatBytes(sizeBytes: number): string {
  if (!Number.isFinite(sizeBytes) || sizeBytes < 0) return '? B';
  let value = sizeBytes;
  let unit = 0;
  // 999.6 kB would round to "1000 kB": step up before rounding to the shown precision.
  while (unit < UNITS.length - 1 && value >= 999.5) { value /= 1000; unit++; }
  if (unit === 0) return `${Math.round(value)} B`;
  return `${value < 9.95 ? value.toFixed(1) : Math.round(value).toString()} ${UNITS[unit]}`;
}

/** Bytes per second: 0.9986 → `1 B/s`; 10000 → `10 kB/s`; 2.5e6 → `2.5 MB/s`. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}
