/** The training report: a self-contained report.html for a run folder. */
export { writeReport } from './write-report.js';
export type { WriteReportOptions } from './write-report.js';
export { renderReport } from './render-report.js';
export { readRunData, makeThumbnail } from './read-run-data.js';
export type { ReadRunDataOptions } from './read-run-data.js';
export { lineChart, confusionHeatmap, niceTicks } from './svg-charts.js';
export type { LineChartOptions, LineSeries, ChartMarker, HeatmapOptions } from './svg-charts.js';
export type { ReportData, Thumbnail } from './report-data.js';
