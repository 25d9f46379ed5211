// Sizes for people: SI units (1 kB = 1000 B), as download sizes, npm and the zoo's own listings quote them, with
// two or three significant digits. Plain JavaScript so that the serve page loads this very file (`finetune serve`
// serves it at /util/format-bytes.js); the library and the CLI import it through util/format.ts.

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];

/** 0 → `0 B`; 999.4 → `999 B`; 1234 → `1.2 kB`; 553436134 → `553 MB`; NaN or negative → `? B`. */
export function formatBytes(sizeBytes) {
  if (!Number.isFinite(sizeBytes) || sizeBytes < 0) return '? B';
  let value = sizeBytes;
  let unit = 0;
  // 999.6 kB would round to "1000 kB": step up before rounding to the shown precision.
  while (unit < UNITS.length - 1 && value >= 999.5) { value /= 1000; unit++; }
  if (unit === 0) return `${Math.round(value)} B`;
  return `${value < 9.95 ? value.toFixed(1) : Math.round(value).toString()} ${UNITS[unit]}`;
}
