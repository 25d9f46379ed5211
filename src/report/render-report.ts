/**
 * Renders {@link ReportData} as one self-contained HTML page: inline CSS, inline SVG charts, images as
 * data URIs, no scripts and a Content-Security-Policy that forbids every external request. Pure: the same
 * data gives the same string.
 */
import { describePreprocessSpec } from '../image/preprocess-spec.js';
import type { CalibrationSummary, NearDuplicateRow, RunHistoryEntry, RunManifest } from '../run/run-format.js';
import { confusionNumClasses, denseConfusion } from '../train/metrics.js';
import type { EvaluationMetrics, WrongPrediction } from '../train/metrics.js';
import { escapeHtml } from './escape-html.js';
import type { ChartMarker } from './svg-charts.js';
import { confusionHeatmap, lineChart, reliabilityDiagram } from './svg-charts.js';
import { MAX_DUPLICATE_CLUSTERS_SHOWN } from './report-data.js';
import type { ReportData, Thumbnail } from './report-data.js';

const CSS = `
:root { color-scheme: light; --fg: #111827; --muted: #6b7280; --line: #e5e7eb; --accent: #2563eb; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: #f9fafb; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 12px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 8px; }
.muted { color: var(--muted); }
code { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; background: #f3f4f6; padding: 1px 4px; border-radius: 3px; overflow-wrap: anywhere; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 16px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; min-width: 150px; }
.card .value { font-size: 22px; font-weight: 600; }
.card .label { color: var(--muted); font-size: 12px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
.chart-box { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 8px; overflow-x: auto; }
.chart-box svg { display: block; max-width: 100%; height: auto; }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f4f6; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.kv th { width: 200px; }
.manifest { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap: 16px; }
.gallery { display: flex; flex-wrap: wrap; gap: 12px; }
figure.wrong { margin: 0; width: 150px; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 8px; }
figure.wrong img { display: block; margin: 0 auto 6px; image-rendering: auto; }
figure.wrong .missing { height: 96px; display: flex; align-items: center; justify-content: center; text-align: center; color: var(--muted); font-size: 12px; background: #f3f4f6; margin-bottom: 6px; }
figure.wrong figcaption { font-size: 12px; overflow-wrap: anywhere; }
.true { color: #15803d; } .pred { color: #b91c1c; }
details { margin-top: 8px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
`;

/** Above this many classes the heatmap (classes² cells) is left out: unreadable, and megabytes of SVG. */
const MAX_HEATMAP_CLASSES = 100;

/** The report page for one run. */
export function renderReport(data: ReportData): string {
  const title = `Training report: ${data.title}`;
  const body = [
    renderHeader(data),
    renderSummary(data),
    renderCurves(data),
    renderCrossValidation(data),
    renderEvaluation('Validation', data.metrics?.validation, data),
    renderEvaluation('Test', data.metrics?.test, data, renderCalibrationNote(data.metrics?.testCalibration ?? null, 'the test images')),
    renderLabelIssues(data),
    renderNearDuplicates(data),
    renderManifest(data.manifest),
    renderSkipped(data),
    `<footer>Written by ${escapeHtml(toolName(data.manifest))}${data.generatedAt ? ` on ${escapeHtml(data.generatedAt)}` : ''}. ` +
      'This file is self-contained: it makes no network requests.</footer>',
  ].filter((part) => part !== '').join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="data:,">
<style>${CSS}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

// #region sections

function renderHeader(data: ReportData): string {
  // The run's name only: the absolute folder is a machine detail that should not travel with a shared report.
  const details = [
    ...(data.manifest ? [`created ${escapeHtml(data.manifest.createdAt)}`, `${escapeHtml(toolName(data.manifest))}`] : []),
  ];
  return `<header><h1>Training report: ${escapeHtml(data.title)}</h1><div class="muted">${details.join(' · ')}</div></header>`;
}

function renderSummary(data: ReportData): string {
  const cards: Array<[string, string]> = [];
  const validation = data.metrics?.validation;
  const test = data.metrics?.test;
  const training = data.metrics?.training;
  const crossValidation = data.metrics?.crossValidation;
  if (crossValidation) {
    const [low, high] = crossValidation.accuracyInterval;
    cards.push([formatPercent(crossValidation.accuracy),
      `cross-validated accuracy (95% CI ${formatPercent(low)}–${formatPercent(high)}, n = ${crossValidation.n})`]);
    cards.push([String(crossValidation.folds), 'folds (exported: the mean of the fold heads)']);
    const { eceBefore, eceAfter, temperature } = crossValidation.calibration;
    cards.push([`${eceBefore.toFixed(3)} → ${eceAfter.toFixed(3)}`, `calibration error (ECE), temperature ${temperature.toPrecision(3)}`]);
  }
  if (validation) cards.push([formatPercent(validation.accuracy), `validation accuracy (n = ${validation.n})`]);
  if (test) cards.push([formatPercent(test.accuracy), `test accuracy (n = ${test.n})`]);
  if (training?.bestEpoch != null) cards.push([String(training.bestEpoch), `best epoch${training.monitor ? ` (${training.monitor})` : ''}`]);
  const exportedEpoch = training?.restoredEpoch ?? training?.keptEpoch;
  if (exportedEpoch != null) {
    cards.push([String(exportedEpoch), training?.restoredEpoch != null ? 'restored epoch (weights exported)' : 'epoch of the exported weights']);
  }
  const epochsRun = training?.stoppedEpoch ?? (crossValidation ? null : data.history[data.history.length - 1]?.epoch);
  if (epochsRun != null) cards.push([`${epochsRun}${training?.epochs != null ? ` / ${training.epochs}` : ''}`, 'epochs run']);
  if (data.classNames.length > 0) cards.push([String(data.classNames.length), 'classes']);
  const backboneId = data.manifest?.backbone?.id;
  if (typeof backboneId === 'string') cards.push([escapeHtml(backboneId), 'backbone']);
  const stop = training?.stopReason ? `<p class="muted">Stopped: ${escapeHtml(training.stopReason)}</p>` : '';
  if (cards.length === 0 && !stop) return '';
  return `<section id="summary"><div class="cards">${cards.map(([value, label]) =>
    `<div class="card"><div class="value">${value}</div><div class="label">${escapeHtml(label)}</div></div>`).join('')}</div>${stop}</section>`;
}

function renderCurves(data: ReportData): string {
  const history = data.history;
  if (history.length === 0) return '<section id="curves"><h2>Training curves</h2><p class="muted">No history.json in this run.</p></section>';
  if (history.some((entry) => entry.fold !== undefined)) return renderFoldCurves(data);
  const epochs = history.map((entry) => entry.epoch);
  const markers = epochMarkers(data);
  const hasValidation = history.some((entry) => entry.valLoss != null || entry.valAccuracy != null);
  const seriesFor = (train: (entry: RunHistoryEntry) => number | null | undefined,
    validation: (entry: RunHistoryEntry) => number | null | undefined) => [
    { name: 'train', values: history.map(train), color: '#2563eb' },
    ...(hasValidation ? [{ name: 'validation', values: history.map(validation), color: '#ea580c', dashed: true }] : []),
  ];
  const loss = lineChart({
    title: 'Loss per epoch (train and validation)', x: epochs, width: 540, markers, yLabel: 'loss',
    series: seriesFor((entry) => entry.loss, (entry) => entry.valLoss),
  });
  const accuracy = lineChart({
    title: 'Accuracy per epoch (train and validation)', x: epochs, width: 540, markers, yLabel: 'accuracy',
    yDomain: [accuracyAxisFloor(history), 1], formatY: (value) => `${Math.round(value * 1000) / 10}%`,
    series: seriesFor((entry) => entry.accuracy, (entry) => entry.valAccuracy),
  });
  const learningRates = history.map((entry) => entry.learningRate);
  const changingRate = new Set(learningRates.filter((rate) => rate != null)).size > 1;
  const rate = changingRate ? lineChart({
    title: 'Learning rate per epoch', x: epochs, width: 540, markers, yLabel: 'learning rate',
    series: [{ name: 'learning rate', values: learningRates, color: '#16a34a' }],
  }) : '';
  const note = markers.length > 0
    ? `<p class="muted">Dashed vertical lines: the best epoch (best ${escapeHtml(data.metrics?.training?.monitor ?? 'monitored value')}) ` +
      'and the epoch whose weights were restored and exported.</p>'
    : '';
  return `<section id="curves"><h2>Training curves</h2><div class="charts">` +
    `<div class="chart-box" id="loss-chart">${loss}</div><div class="chart-box" id="accuracy-chart">${accuracy}</div>` +
    `${rate ? `<div class="chart-box" id="learning-rate-chart">${rate}</div>` : ''}</div>${note}</section>`;
}

/**
 * Lower end of the accuracy axis (the top is 100 %): the lowest accuracy rounded down to a tenth when it is at
 * least 50 %, else 0; never above 90 %, so a run at 100 % in every epoch still has an axis to draw on.
 */
function accuracyAxisFloor(history: readonly RunHistoryEntry[]): number {
  let lowest = Infinity;
  for (const entry of history) {
    for (const value of [entry.accuracy, entry.valAccuracy]) if (value !== null && Number.isFinite(value)) lowest = Math.min(lowest, value);
  }
  if (!Number.isFinite(lowest) || lowest < 0.5) return 0;
  return Math.min(Math.floor(lowest * 10) / 10, 0.9);
}

/** A cross-fitted run: each fold's held-out loss and accuracy per epoch, one line per fold. */
function renderFoldCurves(data: ReportData): string {
  const folds = [...new Set(data.history.map((entry) => entry.fold ?? 0))].sort((a, b) => a - b);
  const lastEpoch = Math.max(...data.history.map((entry) => entry.epoch));
  const epochs = Array.from({ length: lastEpoch }, (_, index) => index + 1);
  const seriesOf = (pick: (entry: RunHistoryEntry) => number | null) => folds.map((fold) => {
    const byEpoch = new Map(data.history.filter((entry) => (entry.fold ?? 0) === fold).map((entry) => [entry.epoch, pick(entry)]));
    return { name: `fold ${fold}`, values: epochs.map((epoch) => byEpoch.get(epoch) ?? null) };
  });
  const loss = lineChart({ title: 'Held-out loss per epoch, one line per fold', x: epochs, width: 540, yLabel: 'held-out loss',
    series: seriesOf((entry) => entry.valLoss) });
  const accuracy = lineChart({ title: 'Held-out accuracy per epoch, one line per fold', x: epochs, width: 540, yLabel: 'held-out accuracy',
    yDomain: [accuracyAxisFloor(data.history), 1], formatY: (value) => `${Math.round(value * 1000) / 10}%`,
    series: seriesOf((entry) => entry.valAccuracy) });
  const kept = data.metrics?.crossFit?.foldResults.map((fold) => `fold ${fold.fold}: epoch ${fold.keptEpoch} of ${fold.stoppedEpoch}`) ?? [];
  return `<section id="curves"><h2>Training curves (cross-fitting)</h2><div class="charts">` +
    `<div class="chart-box" id="loss-chart">${loss}</div><div class="chart-box" id="accuracy-chart">${accuracy}</div></div>` +
    `<p class="muted">Each fold trains on the other folds and early-stops on its own held-out images.` +
    `${kept.length > 0 ? ` Kept weights: ${escapeHtml(kept.join('; '))}.` : ''}</p></section>`;
}

function epochMarkers(data: ReportData): ChartMarker[] {
  const training = data.metrics?.training;
  const markers: ChartMarker[] = [];
  if (training?.bestEpoch != null) markers.push({ x: training.bestEpoch, label: 'best', color: '#16a34a' });
  if (training?.restoredEpoch != null) markers.push({ x: training.restoredEpoch, label: 'restored', color: '#7c3aed' });
  else if (training?.keptEpoch != null && training.keptEpoch !== training.bestEpoch) {
    markers.push({ x: training.keptEpoch, label: 'exported', color: '#7c3aed' });
  }
  return markers;
}

function renderEvaluation(splitName: 'Validation' | 'Test' | 'Cross-validation', split: EvaluationMetrics | null | undefined,
  data: ReportData, extra = '', heading?: string): string {
  if (!split) return '';
  const id = splitName.toLowerCase();
  const numClasses = confusionNumClasses(split.confusionMatrix);
  const classNames = data.classNames.length === numClasses ? data.classNames : split.perClass.map((entry) => entry.className);
  const heatmap = numClasses > MAX_HEATMAP_CLASSES
    ? `<p class="muted">${numClasses} classes are too many for a readable heatmap (the limit is ${MAX_HEATMAP_CLASSES}); ` +
      'the full confusion matrix is in metrics.json.</p>'
    : numClasses > 0 && classNames.length === numClasses
    ? `<div class="chart-box" id="${id}-confusion">${confusionHeatmap({
      title: `${splitName} confusion matrix (rows: true class, columns: predicted class)`,
      rowLabels: classNames, colLabels: classNames, values: denseConfusion(split.confusionMatrix),
    })}</div>`
    : '<p class="muted">No confusion matrix.</p>';
  const rows = split.perClass.map((entry) => `<tr><td>${escapeHtml(entry.className)}</td>` +
    `<td class="num">${formatRatio(entry.precision)}</td><td class="num">${formatRatio(entry.recall)}</td>` +
    `<td class="num">${formatRatio(entry.f1)}</td><td class="num">${entry.support}</td></tr>`).join('');
  const macro = (key: 'precision' | 'recall' | 'f1') => {
    const values = split.perClass.map((entry) => entry[key]).filter(Number.isFinite);
    return values.length > 0 ? values.reduce((sum, value) => sum + value, 0) / values.length : Number.NaN;
  };
  const support = split.perClass.reduce((sum, entry) => sum + entry.support, 0);
  const table = split.perClass.length > 0
    ? `<table class="per-class" id="${id}-per-class"><thead><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr></thead>` +
      `<tbody>${rows}</tbody><tfoot><tr><th>macro average</th><td class="num">${formatRatio(macro('precision'))}</td>` +
      `<td class="num">${formatRatio(macro('recall'))}</td><td class="num">${formatRatio(macro('f1'))}</td><td class="num">${support}</td></tr></tfoot></table>`
    : '';
  return `<section id="${id}"><h2>${heading ?? `${splitName}: accuracy ${formatPercent(split.accuracy)} on ${split.n} images`}</h2>` +
    `<div class="charts">${heatmap}<div>${table}</div></div>${extra}` +
    `${renderWrong(splitName, split.mostConfidentlyWrong, data.thumbnails ?? {})}</section>`;
}

/** Out-of-fold results: the evaluation, per-class accuracy with 95 % intervals and the reliability diagram. */
function renderCrossValidation(data: ReportData): string {
  const metrics = data.metrics?.crossValidation;
  if (!metrics) return '';
  const [low, high] = metrics.accuracyInterval;
  const rows = metrics.perClassAccuracy.map((entry) => `<tr><td>${escapeHtml(entry.className)}</td><td class="num">${formatPercent(entry.accuracy)}</td>` +
    `<td class="num">${formatPercent(entry.interval[0])}–${formatPercent(entry.interval[1])}</td><td class="num">${entry.support}</td></tr>`).join('');
  const perClass = `<div><h3>Accuracy per class (95% Wilson interval)</h3><table class="per-class-accuracy" id="cross-validation-accuracy">` +
    `<thead><tr><th>class</th><th>accuracy</th><th>95% interval</th><th>images</th></tr></thead><tbody>${rows}</tbody></table></div>`;
  const { calibration } = metrics;
  const diagram = `<div class="chart-box" id="reliability-diagram">${reliabilityDiagram({
    title: 'Reliability diagram (out of fold): accuracy against confidence, 15 bins',
    series: [{ name: 'before', bins: calibration.reliabilityBefore, color: '#9ca3af' }, { name: 'calibrated', bins: calibration.reliabilityAfter, color: '#2563eb' }],
  })}</div>`;
  const extra = `<div class="charts">${perClass}${diagram}</div>${renderCalibrationNote(calibration, 'the out-of-fold predictions')}`;
  return renderEvaluation('Cross-validation', metrics, data, extra,
    `Cross-validation: accuracy ${formatPercent(metrics.accuracy)} (95% CI ${formatPercent(low)}–${formatPercent(high)}) on ${metrics.n} images, ` +
    `${metrics.folds} folds`);
}

function renderCalibrationNote(calibration: CalibrationSummary | null, where: string): string {
  if (calibration === null) return '';
  return `<p class="muted calibration">Calibration on ${escapeHtml(where)}: expected calibration error ${calibration.eceBefore.toFixed(3)} → ` +
    `${calibration.eceAfter.toFixed(3)} (15 bins), negative log-likelihood ${calibration.nllBefore.toFixed(3)} → ${calibration.nllAfter.toFixed(3)}, ` +
    `with the temperature ${calibration.temperature.toPrecision(3)} folded into the exported model.</p>`;
}

/** The images whose given label the out-of-fold prediction contradicts, with thumbnails. */
function renderLabelIssues(data: ReportData): string {
  const issues = data.labelIssues;
  if (!issues) return '';
  if (issues.length === 0) return '<section id="label-issues"><h2>Label audit</h2><p class="muted">No likely label issues.</p></section>';
  const thumbnails = data.thumbnails ?? {};
  const shown = issues.slice(0, 24);
  const figures = shown.map((issue) => `<figure class="wrong" title="${escapeHtml(issue.path)}">${thumbnailImage(thumbnails[issue.path], `labelled ${issue.givenClass}`)}` +
    `<figcaption><div class="pred">labelled: ${escapeHtml(issue.givenClass)} (${formatPercent(issue.givenProbability)})</div>` +
    `<div class="true">model says: ${escapeHtml(issue.suggestedClass)} (${formatPercent(issue.suggestedProbability)})</div>` +
    `<div class="muted">${escapeHtml(lastPathPart(issue.path))}</div></figcaption></figure>`).join('');
  const more = issues.length > shown.length ? `<p class="muted">${issues.length - shown.length} more in label-issues.csv.</p>` : '';
  return `<section id="label-issues"><h2>Label audit: ${issues.length} likely label issue${issues.length === 1 ? '' : 's'}</h2>` +
    '<p class="muted">Images whose out-of-fold prediction confidently contradicts their label (confident learning: per-class ' +
    'thresholds from the mean self-confidence), most contradicted first. Check them: fix the label or remove the image.</p>' +
    `<div class="gallery">${figures}</div>${more}</section>`;
}

/** Groups of images the backbone cannot tell apart; groups that mix training and test images first. */
function renderNearDuplicates(data: ReportData): string {
  const rows = data.nearDuplicates;
  const summary = data.metrics?.nearDuplicates;
  if (!rows || !summary) return '';
  if (rows.length === 0) {
    return `<section id="near-duplicates"><h2>Near duplicates</h2><p class="muted">No two images have embeddings with cosine similarity ≥ ${summary.threshold}.</p></section>`;
  }
  const clusters = new Map<number, NearDuplicateRow[]>();
  for (const row of rows) clusters.set(row.cluster, [...(clusters.get(row.cluster) ?? []), row]);
  const thumbnails = data.thumbnails ?? {};
  const shown = [...clusters.entries()].slice(0, MAX_DUPLICATE_CLUSTERS_SHOWN).map(([cluster, members]) => {
    const crossSplit = members.some((member) => member.split === 'test') && members.some((member) => member.split !== 'test');
    const figures = members.slice(0, 6).map((member) => `<figure class="wrong" title="${escapeHtml(member.path)}">` +
      `${thumbnailImage(thumbnails[member.path], member.split)}<figcaption><div>${escapeHtml(member.split)}</div>` +
      `<div class="muted">${escapeHtml(lastPathPart(member.path))}</div></figcaption></figure>`).join('');
    return `<div class="duplicate-cluster${crossSplit ? ' cross-split' : ''}" data-cluster="${cluster}"><h3>Group ${cluster}: ${members.length} images` +
      `${crossSplit ? ' <span class="pred">(training and test: this inflates test accuracy)</span>' : ''}</h3><div class="gallery">${figures}</div></div>`;
  }).join('');
  const more = clusters.size > MAX_DUPLICATE_CLUSTERS_SHOWN ? `<p class="muted">${clusters.size - MAX_DUPLICATE_CLUSTERS_SHOWN} more groups in near-duplicates.csv.</p>` : '';
  return `<section id="near-duplicates"><h2>Near duplicates: ${summary.images} images in ${summary.clusters} group${summary.clusters === 1 ? '' : 's'}` +
    `${summary.crossSplitClusters > 0 ? `, ${summary.crossSplitClusters} across training and test` : ''}</h2>` +
    `<p class="muted">Images whose embeddings have cosine similarity ≥ ${summary.threshold}: the head sees them as the same image.</p>${shown}${more}</section>`;
}

function thumbnailImage(thumbnail: Thumbnail | undefined, alt: string): string {
  return thumbnail?.ok
    ? `<img src="${escapeHtml(thumbnail.dataUri)}" width="${thumbnail.width}" height="${thumbnail.height}" alt="${escapeHtml(alt)}">`
    : `<div class="missing">${escapeHtml(thumbnail ? thumbnail.reason : 'no thumbnail')}</div>`;
}

function renderWrong(splitName: string, wrong: readonly WrongPrediction[], thumbnails: Readonly<Record<string, Thumbnail>>): string {
  if (wrong.length === 0) return `<h3>Most confidently wrong (${escapeHtml(splitName.toLowerCase())})</h3><p class="muted">No misclassified images.</p>`;
  // readRunData makes thumbnails for the first few entries only; show those (or the first 16 when there are none).
  const withThumbnails = wrong.filter((entry) => thumbnails[entry.path] !== undefined);
  const shown = withThumbnails.length > 0 ? withThumbnails : wrong.slice(0, 16);
  const more = wrong.length > shown.length
    ? `<p class="muted">${wrong.length - shown.length} more in metrics.json.</p>` : '';
  const figures = shown.map((entry) => {
    const thumbnail = thumbnails[entry.path];
    const image = thumbnail?.ok
      ? `<img src="${escapeHtml(thumbnail.dataUri)}" width="${thumbnail.width}" height="${thumbnail.height}" alt="${escapeHtml(`true ${entry.trueClass}, predicted ${entry.predictedClass}`)}">`
      : `<div class="missing">${escapeHtml(thumbnail ? thumbnail.reason : 'no thumbnail')}</div>`;
    return `<figure class="wrong" title="${escapeHtml(entry.path)}">${image}<figcaption>` +
      `<div class="true">true: ${escapeHtml(entry.trueClass)}</div>` +
      `<div class="pred">predicted: ${escapeHtml(entry.predictedClass)} (${formatPercent(entry.probability)})</div>` +
      `<div class="muted">${escapeHtml(lastPathPart(entry.path))}</div></figcaption></figure>`;
  });
  return `<h3>Most confidently wrong (${escapeHtml(splitName.toLowerCase())})</h3><div class="gallery">${figures.join('')}</div>${more}`;
}

function renderManifest(manifest: RunManifest | undefined): string {
  if (!manifest) return '<section id="manifest"><h2>Run manifest</h2><p class="muted">No run.json in this run.</p></section>';
  const blocks: string[] = [];
  if (manifest.backbone) {
    const backbone = { ...manifest.backbone };
    blocks.push(keyValueTable('Backbone', backbone));
  }
  if (manifest.preprocess) {
    const description = describePreprocessSpec(manifest.preprocess);   // readRun validated it
    blocks.push(keyValueTable('Preprocessing', manifest.preprocess, `<p class="muted">${escapeHtml(description)}</p>`));
  }
  if (manifest.split) blocks.push(keyValueTable('Split', manifest.split));
  if (manifest.hyperparameters) blocks.push(keyValueTable('Hyper-parameters', manifest.hyperparameters));
  if (manifest.crossFit) blocks.push(keyValueTable('Cross-fitting', manifest.crossFit));
  if (manifest.timings) blocks.push(keyValueTable('Timings', manifest.timings));
  if (manifest.cache) {
    const hits = manifest.cache.hits, computed = manifest.cache.computed;
    const rate = typeof hits === 'number' && typeof computed === 'number' && hits + computed > 0
      ? `<p class="muted">Embedding cache hit rate: ${formatPercent(hits / (hits + computed))}</p>` : '';
    blocks.push(keyValueTable('Embedding cache', manifest.cache, rate));
  }
  if (manifest.augmentation !== null) blocks.push(keyValueTable('Augmentation', manifest.augmentation));
  if (manifest.versions) blocks.push(keyValueTable('Versions', manifest.versions));
  if (manifest.tool) blocks.push(keyValueTable('Tool', manifest.tool));
  blocks.push(keyValueTable('Arguments', manifest.args ?? { args: null }));
  const known = new Set(['tool', 'createdAt', 'args', 'backbone', 'preprocess', 'split', 'hyperparameters', 'timings', 'cache',
    'versions', 'augmentation', 'crossFit']);
  const rest = Object.fromEntries(Object.entries(manifest).filter(([key]) => !known.has(key)));
  if (Object.keys(rest).length > 0) blocks.push(keyValueTable('Other', rest));
  return `<section id="manifest"><h2>Run manifest</h2><div class="manifest">${blocks.join('')}</div></section>`;
}

function renderSkipped(data: ReportData): string {
  const skipped = data.skipped;
  if (!skipped || skipped.length === 0) return '';
  const shown = skipped.slice(0, 200);
  const rows = shown.map((entry) => `<tr><td><code>${escapeHtml(entry.path)}</code></td><td>${escapeHtml(entry.reason)}</td></tr>`).join('');
  const more = skipped.length > shown.length ? `<p class="muted">… and ${skipped.length - shown.length} more (see skipped.txt).</p>` : '';
  return `<section id="skipped"><h2>Skipped files: ${skipped.length}</h2><details><summary>Show the files that were not used and why</summary>` +
    `<table><thead><tr><th>file</th><th>reason</th></tr></thead><tbody>${rows}</tbody></table>${more}</details></section>`;
}

// #endregion

// #region formatting

function keyValueTable(title: string, values: object, extra = ''): string {
  const rows = Object.entries(values).map(([key, value]) =>
    `<tr><th>${escapeHtml(key)}</th><td>${renderValue(key, value)}</td></tr>`).join('');
  return `<div><h3>${escapeHtml(title)}</h3>${extra}<table class="kv"><tbody>${rows}</tbody></table></div>`;
}

function renderValue(key: string, value: unknown): string {
  if (value === null || value === undefined) return '<span class="muted">—</span>';
  if (typeof value === 'number') {
    if (/seconds$/i.test(key)) return escapeHtml(formatDuration(value));
    return escapeHtml(Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6))));
  }
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'string') {
    return /sha256$/i.test(key) || value.length > 48 ? `<code>${escapeHtml(value)}</code>` : escapeHtml(value);
  }
  if (Array.isArray(value) && value.every((item) => item === null || typeof item !== 'object')) {
    return escapeHtml(value.map((item) => String(item)).join(', '));
  }
  return `<code>${escapeHtml(JSON.stringify(value))}</code>`;
}

function formatPercent(value: number): string {
  return Number.isFinite(value) ? `${(value * 100).toFixed(1)}%` : '—';
}

function formatRatio(value: number): string {
  return Number.isFinite(value) ? value.toFixed(3) : '—';
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '—';
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(2) : seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
}

function lastPathPart(path: string): string {
  const parts = path.split(/[\\/]/).filter((part) => part !== '');
  return parts.slice(-2).join('/');
}

function toolName(manifest: RunManifest | undefined): string {
  const name = manifest?.tool?.name ?? 'finetune';
  const version = manifest?.tool?.version;
  return version ? `${name} ${version}` : name;
}

// #endregion
