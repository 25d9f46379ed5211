// Types of format-bytes.js (plain JavaScript so that the serve page loads the same file). See format.ts.

/** 0 → `0 B`; 999.4 → `999 B`; 1234 → `1.2 kB`; 553436134 → `553 MB`; NaN or negative → `? B`. */
export function formatBytes(sizeBytes: number): string;
