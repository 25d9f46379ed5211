/**
 * Inline SVG charts for the training report: a line chart over epochs (series + epoch markers) and a
 * confusion-matrix heatmap. Output is a plain SVG string with no scripts, fonts or external references,
 * so the report stays one self-contained file. Every label is escaped.
 *
 * Data points are marked for tests and tools: each drawn value is a `<circle class="point">` carrying
 * `data-series`, `data-x` and `data-y`; each heatmap cell is a `<rect class="cell">` with `data-row`,
 * `data-col` and `data-value`; the root `<svg>` carries `data-points` (the number of points or cells).
 */
import { escapeHtml } from './escape-html.js';

// #region line chart

export interface LineSeries {
  /** Legend name, also written to each point's `data-series`. */
  readonly name: string;
  /** One value per x; `null`, `undefined` or a non-finite number leaves a gap (no point, broken line). */
  readonly values: ReadonlyArray<number | null | undefined>;
  /** Stroke and fill colour (any CSS colour). @defaultValue a colour from a fixed palette */
  readonly color?: string;
  /** Draw the line dashed. @defaultValue `false` */
  readonly dashed?: boolean;
}

/** A vertical line at an x value, such as the best or the restored epoch. */
export interface ChartMarker {
  readonly x: number;
  readonly label: string;
  /** @defaultValue `'#6b7280'` */
  readonly color?: string;
}

export interface LineChartOptions {
  /** Accessible title (the SVG `<title>` and `aria-label`). */
  readonly title: string;
  /** The x values (epochs), in increasing order; every series has one value per x. */
  readonly x: readonly number[];
  readonly series: readonly LineSeries[];
  /** Vertical markers. Markers at the same x share one line and join their labels. @defaultValue none */
  readonly markers?: readonly ChartMarker[];
  /** @defaultValue `'epoch'` */
  readonly xLabel?: string;
  /** @defaultValue `''` */
  readonly yLabel?: string;
  /** Fixed y range; values outside it are clamped to the plot. @defaultValue from the data, rounded to nice ticks */
  readonly yDomain?: readonly [number, number];
  /** Formats y tick labels and point tooltips. @defaultValue 4 significant digits */
  readonly formatY?: (value: number) => string;
  /** @defaultValue `560` */
  readonly width?: number;
  /** @defaultValue `300` */
  readonly height?: number;
}

const PALETTE = ['#2563eb', '#ea580c', '#16a34a', '#9333ea', '#dc2626', '#0891b2'] as const;
const MARGIN = { top: 34, right: 20, bottom: 46, left: 58 } as const;
/** A generous average glyph width of 11 px system-ui text, to keep marker labels inside the chart. */
const MARKER_CHAR_WIDTH = 7;

/** A line chart with one polyline and one point per value for each series, a legend and vertical markers. */
export function lineChart(options: LineChartOptions): string {
  const width = options.width ?? 560;
  const height = options.height ?? 300;
  const xLabel = options.xLabel ?? 'epoch';
  const yLabel = options.yLabel ?? '';
  const formatY = options.formatY ?? formatNumber;
  const markers = options.markers ?? [];
  const xs = options.x;
  for (const series of options.series) {
    if (series.values.length !== xs.length)
      throw new RangeError(`lineChart: series "${series.name}" has ${series.values.length} values for ${xs.length} x values.`);
  }

  const plotLeft = MARGIN.left, plotRight = width - MARGIN.right;
  const plotTop = MARGIN.top, plotBottom = height - MARGIN.bottom;

  // x scale: the x values plus the markers, padded half a step when there is a single x.
  let xMin = Infinity, xMax = -Infinity;
  for (const x of xs) { xMin = Math.min(xMin, x); xMax = Math.max(xMax, x); }
  for (const marker of markers) { xMin = Math.min(xMin, marker.x); xMax = Math.max(xMax, marker.x); }
  if (!Number.isFinite(xMin)) { xMin = 0; xMax = 1; }
  if (xMin === xMax) { xMin -= 0.5; xMax += 0.5; }
  const scaleX = (x: number): number => plotLeft + ((x - xMin) / (xMax - xMin)) * (plotRight - plotLeft);

  // y scale: fixed, or the data range widened to nice ticks.
  let yMin: number, yMax: number;
  let ticks: number[];
  if (options.yDomain) {
    [yMin, yMax] = options.yDomain;
    if (!(yMax > yMin)) throw new RangeError(`lineChart: yDomain [${yMin}, ${yMax}] is empty.`);
    ticks = niceTicks(yMin, yMax, 5).filter((tick) => tick >= yMin - 1e-12 && tick <= yMax + 1e-12);
  } else {
    let low = Infinity, high = -Infinity;
    for (const series of options.series) {
      for (const value of series.values) {
        if (isValue(value)) { low = Math.min(low, value); high = Math.max(high, value); }
      }
    }
    if (!Number.isFinite(low)) { low = 0; high = 1; }
    if (low === high) { low -= Math.abs(low) * 0.1 || 0.5; high += Math.abs(high) * 0.1 || 0.5; }
    ticks = niceTicks(low, high, 5);
    yMin = Math.min(low, ticks[0] ?? low);
    yMax = Math.max(high, ticks[ticks.length - 1] ?? high);
  }
  const scaleY = (y: number): number => {
    const clamped = Math.min(yMax, Math.max(yMin, y));
    return plotBottom - ((clamped - yMin) / (yMax - yMin)) * (plotBottom - plotTop);
  };

  const parts: string[] = [];
  let pointCount = 0;
  const title = escapeHtml(options.title);
  parts.push(`<title>${title}</title>`);

  // Grid and y ticks.
  for (const tick of ticks) {
    const y = round(scaleY(tick));
    parts.push(`<line class="grid" x1="${plotLeft}" x2="${plotRight}" y1="${y}" y2="${y}" stroke="#e5e7eb"/>`);
    parts.push(`<text x="${plotLeft - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11" fill="#4b5563">${escapeHtml(formatY(tick))}</text>`);
  }
  // x ticks: integers, at most about ten labels.
  const xTickStep = Math.max(1, Math.ceil((Math.floor(xMax) - Math.ceil(xMin) + 1) / 10));
  for (let tick = Math.ceil(xMin); tick <= xMax; tick += xTickStep) {
    const x = round(scaleX(tick));
    parts.push(`<line x1="${x}" x2="${x}" y1="${plotBottom}" y2="${plotBottom + 4}" stroke="#9ca3af"/>`);
    parts.push(`<text x="${x}" y="${plotBottom + 16}" text-anchor="middle" font-size="11" fill="#4b5563">${tick}</text>`);
  }
  parts.push(`<line x1="${plotLeft}" x2="${plotRight}" y1="${plotBottom}" y2="${plotBottom}" stroke="#9ca3af"/>`);
  parts.push(`<line x1="${plotLeft}" x2="${plotLeft}" y1="${plotTop}" y2="${plotBottom}" stroke="#9ca3af"/>`);
  parts.push(`<text x="${round((plotLeft + plotRight) / 2)}" y="${height - 8}" text-anchor="middle" font-size="12" fill="#374151">${escapeHtml(xLabel)}</text>`);
  if (yLabel) {
    const cy = round((plotTop + plotBottom) / 2);
    parts.push(`<text x="14" y="${cy}" text-anchor="middle" font-size="12" fill="#374151" transform="rotate(-90 14 ${cy})">${escapeHtml(yLabel)}</text>`);
  }

  // Markers, grouped by x.
  const markerGroups = new Map<number, ChartMarker[]>();
  for (const marker of markers) markerGroups.set(marker.x, [...(markerGroups.get(marker.x) ?? []), marker]);
  for (const [x, group] of markerGroups) {
    const px = round(scaleX(x));
    const color = group[0]?.color ?? '#6b7280';
    const label = group.map((marker) => marker.label).join(' = ');
    const text = `${label} (${x})`;
    // Centred on the line unless that would run past an edge of the chart: then it ends (or starts) at the line.
    const halfWidth = (text.length * MARKER_CHAR_WIDTH) / 2;
    const anchor = px + halfWidth > width - 2 ? 'end' : px - halfWidth < 2 ? 'start' : 'middle';
    parts.push(`<g class="marker" data-x="${x}" data-label="${escapeHtml(label)}">` +
      `<line x1="${px}" x2="${px}" y1="${plotTop}" y2="${plotBottom}" stroke="${escapeHtml(color)}" stroke-dasharray="4 3"/>` +
      `<text x="${px}" y="${plotTop - 4}" text-anchor="${anchor}" font-size="11" fill="${escapeHtml(color)}">${escapeHtml(text)}</text></g>`);
  }

  // Series: a polyline per unbroken run of values, then the points on top.
  options.series.forEach((series, seriesIndex) => {
    const color = escapeHtml(series.color ?? PALETTE[seriesIndex % PALETTE.length]!);
    const name = escapeHtml(series.name);
    const runs: string[][] = [];
    let current: string[] = [];
    const points: string[] = [];
    for (let i = 0; i < xs.length; i++) {
      const value = series.values[i];
      if (!isValue(value)) {
        if (current.length > 0) runs.push(current);
        current = [];
        continue;
      }
      const px = round(scaleX(xs[i]!)), py = round(scaleY(value));
      current.push(`${px},${py}`);
      points.push(`<circle class="point" data-series="${name}" data-x="${xs[i]}" data-y="${value}" cx="${px}" cy="${py}" r="3" fill="${color}">` +
        `<title>${name}, ${escapeHtml(xLabel)} ${xs[i]}: ${escapeHtml(formatY(value))}</title></circle>`);
      pointCount++;
    }
    if (current.length > 0) runs.push(current);
    const dash = series.dashed ? ' stroke-dasharray="6 4"' : '';
    parts.push(`<g class="series" data-series="${name}">`);
    for (const run of runs) {
      parts.push(`<polyline points="${run.join(' ')}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
    }
    parts.push(...points, '</g>');
  });

  // Legend, top right.
  let legendX = plotRight;
  const legend: string[] = [];
  for (let s = options.series.length - 1; s >= 0; s--) {
    const series = options.series[s]!;
    const color = escapeHtml(series.color ?? PALETTE[s % PALETTE.length]!);
    const textWidth = 7 * series.name.length;
    legendX -= textWidth + 24;
    legend.push(`<line x1="${legendX}" x2="${legendX + 14}" y1="12" y2="12" stroke="${color}" stroke-width="2"${series.dashed ? ' stroke-dasharray="6 4"' : ''}/>` +
      `<text x="${legendX + 18}" y="12" dominant-baseline="middle" font-size="11" fill="#374151">${escapeHtml(series.name)}</text>`);
  }
  parts.push(`<g class="legend">${legend.join('')}</g>`);

  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart line-chart" role="img" aria-label="${title}" ` +
    `width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" data-points="${pointCount}" font-family="system-ui, sans-serif">` +
    `${parts.join('')}</svg>`;
}

// #endregion

// #region reliability diagram

/** One confidence bin: predictions whose top probability fell in [lower, upper). */
export interface ReliabilityBinData {
  readonly lower: number;
  readonly upper: number;
  readonly count: number;
  /** Fraction right; null for an empty bin. */
  readonly accuracy: number | null;
  readonly confidence: number | null;
}

export interface ReliabilityDiagramOptions {
  readonly title: string;
  /** Series of bins, e.g. before and after temperature scaling; the last one is drawn as bars. */
  readonly series: ReadonlyArray<{ readonly name: string; readonly bins: readonly ReliabilityBinData[]; readonly color?: string }>;
  /** @defaultValue `360` */
  readonly width?: number;
  /** @defaultValue `320` */
  readonly height?: number;
}

/**
 * A reliability diagram: accuracy against confidence per bin, with the diagonal a perfectly calibrated model follows.
 * The last series is drawn as bars over its bins (with the bin's count in the tooltip), every series as points at
 * (mean confidence, accuracy) joined by a line. Empty bins are left out.
 */
export function reliabilityDiagram(options: ReliabilityDiagramOptions): string {
  const width = options.width ?? 360, height = options.height ?? 320;
  const left = 52, right = width - 16, top = 30, bottom = height - 44;
  const scaleX = (value: number): number => round(left + value * (right - left));
  const scaleY = (value: number): number => round(bottom - value * (bottom - top));
  const parts: string[] = [`<title>${escapeHtml(options.title)}</title>`];
  for (const tick of [0, 0.2, 0.4, 0.6, 0.8, 1]) {
    parts.push(`<line class="grid" x1="${left}" x2="${right}" y1="${scaleY(tick)}" y2="${scaleY(tick)}" stroke="#e5e7eb"/>`,
      `<text x="${left - 6}" y="${scaleY(tick)}" text-anchor="end" dominant-baseline="middle" font-size="11" fill="#4b5563">${tick}</text>`,
      `<text x="${scaleX(tick)}" y="${bottom + 16}" text-anchor="middle" font-size="11" fill="#4b5563">${tick}</text>`);
  }
  parts.push(`<line class="diagonal" x1="${scaleX(0)}" y1="${scaleY(0)}" x2="${scaleX(1)}" y2="${scaleY(1)}" stroke="#9ca3af" stroke-dasharray="4 3"/>`,
    `<text x="${round((left + right) / 2)}" y="${height - 8}" text-anchor="middle" font-size="12" fill="#374151">confidence (top probability)</text>`,
    `<text x="14" y="${round((top + bottom) / 2)}" text-anchor="middle" font-size="12" fill="#374151" transform="rotate(-90 14 ${round((top + bottom) / 2)})">accuracy</text>`);
  const barSeries = options.series[options.series.length - 1];
  let bars = 0;
  if (barSeries) {
    const color = escapeHtml(barSeries.color ?? PALETTE[(options.series.length - 1) % PALETTE.length]!);
    for (const bin of barSeries.bins) {
      if (bin.accuracy === null || bin.count === 0) continue;
      const x = scaleX(bin.lower) + 1, barWidth = Math.max(1, scaleX(bin.upper) - scaleX(bin.lower) - 2);
      parts.push(`<rect class="bar" data-lower="${bin.lower}" data-count="${bin.count}" data-accuracy="${bin.accuracy}" x="${x}" ` +
        `y="${scaleY(bin.accuracy)}" width="${round(barWidth)}" height="${round(bottom - scaleY(bin.accuracy))}" fill="${color}" fill-opacity="0.25">` +
        `<title>${escapeHtml(barSeries.name)}: confidence ${bin.lower.toFixed(2)}–${bin.upper.toFixed(2)}, ${bin.count} predictions, ` +
        `${(bin.accuracy * 100).toFixed(1)}% right</title></rect>`);
      bars++;
    }
  }
  options.series.forEach((series, index) => {
    const color = escapeHtml(series.color ?? PALETTE[index % PALETTE.length]!);
    const points = series.bins.filter((bin) => bin.accuracy !== null && bin.confidence !== null && bin.count > 0)
      .map((bin) => [scaleX(bin.confidence!), scaleY(bin.accuracy!)] as const);
    if (points.length > 1) parts.push(`<polyline points="${points.map(([x, y]) => `${x},${y}`).join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const [x, y] of points) parts.push(`<circle class="point" data-series="${escapeHtml(series.name)}" cx="${x}" cy="${y}" r="3" fill="${color}"/>`);
    parts.push(`<line x1="${left + 8 + index * 120}" x2="${left + 22 + index * 120}" y1="12" y2="12" stroke="${color}" stroke-width="2"/>` +
      `<text x="${left + 26 + index * 120}" y="12" dominant-baseline="middle" font-size="11" fill="#374151">${escapeHtml(series.name)}</text>`);
  });
  parts.push(`<line x1="${left}" x2="${right}" y1="${bottom}" y2="${bottom}" stroke="#9ca3af"/>`,
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${bottom}" stroke="#9ca3af"/>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart reliability" role="img" aria-label="${escapeHtml(options.title)}" ` +
    `width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" data-bars="${bars}" font-family="system-ui, sans-serif">` +
    `${parts.join('')}</svg>`;
}

// #endregion

// #region heatmap

export interface HeatmapOptions {
  /** Accessible title. */
  readonly title: string;
  /** Row names (true classes), one per row of `values`. */
  readonly rowLabels: readonly string[];
  /** Column names (predicted classes), one per column of `values`. */
  readonly colLabels: readonly string[];
  /** Counts, `values[row][col]`. */
  readonly values: ReadonlyArray<readonly number[]>;
  /** @defaultValue `'true class'` */
  readonly rowTitle?: string;
  /** @defaultValue `'predicted class'` */
  readonly colTitle?: string;
  /** Largest side of the cell grid in pixels. @defaultValue `480` */
  readonly maxGridSize?: number;
}

/**
 * A confusion-matrix heatmap. Colour intensity is the cell's share of its row (so rows with few samples
 * are as readable as large ones): diagonal cells in blue, off-diagonal cells (errors) in red. Counts are
 * printed inside cells when they are large enough to hold them.
 */
export function confusionHeatmap(options: HeatmapOptions): string {
  const rows = options.values.length;
  const cols = options.colLabels.length;
  if (options.rowLabels.length !== rows)
    throw new RangeError(`confusionHeatmap: ${options.rowLabels.length} row labels for ${rows} rows.`);
  options.values.forEach((row, index) => {
    if (row.length !== cols)
      throw new RangeError(`confusionHeatmap: row ${index} has ${row.length} values for ${cols} column labels.`);
  });
  const maxGridSize = options.maxGridSize ?? 480;
  const cell = Math.max(6, Math.min(44, Math.floor(maxGridSize / Math.max(rows, cols, 1))));
  const labelChars = 16;
  const showLabels = cell >= 10;
  const labelSpace = showLabels ? Math.min(labelChars, Math.max(4, ...options.rowLabels.map((l) => l.length),
    ...options.colLabels.map((l) => l.length))) * 6.5 + 10 : 10;
  const left = 22 + labelSpace, top = 22 + labelSpace;
  const width = left + cols * cell + 10, height = top + rows * cell + 10;
  const fontSize = Math.min(12, Math.max(8, Math.floor(cell / 3)));

  const parts: string[] = [`<title>${escapeHtml(options.title)}</title>`];
  let cellCount = 0;
  for (let row = 0; row < rows; row++) {
    const values = options.values[row]!;
    let rowTotal = 0;
    for (let col = 0; col < cols; col++) rowTotal += values[col]!;
    for (let col = 0; col < cols; col++) {
      const value = values[col]!;
      const share = rowTotal > 0 ? value / rowTotal : 0;
      const fill = cellColor(share, row === col);
      const x = left + col * cell, y = top + row * cell;
      const trueName = escapeHtml(options.rowLabels[row]!), predictedName = escapeHtml(options.colLabels[col]!);
      const text = cell >= 22 && value !== 0
        ? `<text x="${x + cell / 2}" y="${y + cell / 2}" text-anchor="middle" dominant-baseline="central" font-size="${fontSize}" fill="${share > 0.55 ? '#ffffff' : '#111827'}">${formatCount(value)}</text>`
        : '';
      parts.push(`<g><rect class="cell" data-row="${row}" data-col="${col}" data-value="${value}" x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${fill}" stroke="#ffffff" stroke-width="1">` +
        `<title>true ${trueName}, predicted ${predictedName}: ${formatCount(value)} (${(share * 100).toFixed(1)}% of the row)</title></rect>${text}</g>`);
      cellCount++;
    }
  }
  if (showLabels) {
    for (let row = 0; row < rows; row++) {
      const y = top + row * cell + cell / 2;
      parts.push(`<text x="${left - 5}" y="${y}" text-anchor="end" dominant-baseline="central" font-size="11" fill="#374151">${escapeHtml(truncate(options.rowLabels[row]!, labelChars))}</text>`);
    }
    for (let col = 0; col < cols; col++) {
      const x = left + col * cell + cell / 2;
      parts.push(`<text x="${x}" y="${top - 5}" text-anchor="start" font-size="11" fill="#374151" transform="rotate(-60 ${x} ${top - 5})">${escapeHtml(truncate(options.colLabels[col]!, labelChars))}</text>`);
    }
  }
  const gridMid = (side: number, start: number) => round(start + (side * cell) / 2);
  parts.push(`<text x="${gridMid(cols, left)}" y="12" text-anchor="middle" font-size="12" fill="#374151">${escapeHtml(options.colTitle ?? 'predicted class')}</text>`);
  const cy = gridMid(rows, top);
  parts.push(`<text x="12" y="${cy}" text-anchor="middle" font-size="12" fill="#374151" transform="rotate(-90 12 ${cy})">${escapeHtml(options.rowTitle ?? 'true class')}</text>`);

  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart heatmap" role="img" aria-label="${escapeHtml(options.title)}" ` +
    `width="${round(width)}" height="${round(height)}" viewBox="0 0 ${round(width)} ${round(height)}" data-points="${cellCount}" font-family="system-ui, sans-serif">` +
    `${parts.join('')}</svg>`;
}

/** White → blue (correct) or white → red (errors), by the share of the row in [0, 1]. */
function cellColor(share: number, diagonal: boolean): string {
  const t = Math.min(1, Math.max(0, share));
  const [r, g, b] = diagonal ? [29, 78, 216] : [220, 38, 38];
  const mix = (channel: number) => Math.round(255 + (channel - 255) * t);
  return `rgb(${mix(r)},${mix(g)},${mix(b)})`;
}

// #endregion

// #region helpers

/**
 * About `count` evenly spaced round tick values (steps of 1, 2 or 5 × 10^k) covering [min, max].
 * The first tick is ≤ min and the last ≥ max.
 */
export function niceTicks(min: number, max: number, count: number): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || max < min)
    throw new RangeError(`niceTicks: bad range [${min}, ${max}].`);
  if (min === max) return [min];
  const rawStep = (max - min) / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(rawStep));
  const residual = rawStep / magnitude;
  const step = (residual > 5 ? 10 : residual > 2 ? 5 : residual > 1 ? 2 : 1) * magnitude;
  const first = Math.floor(min / step) * step;
  const ticks: number[] = [];
  for (let tick = first; tick < max + step * 0.999; tick += step) ticks.push(Number(tick.toPrecision(12)));
  return ticks;
}

function isValue(value: number | null | undefined): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function formatNumber(value: number): string {
  if (value === 0) return '0';
  return Number(value.toPrecision(4)).toString();
}

function formatCount(value: number): string {
  return Number.isInteger(value) ? String(value) : formatNumber(value);
}

function truncate(text: string, maxChars: number): string {
  return text.length > maxChars ? `${text.slice(0, maxChars - 1)}…` : text;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

// #endregion
