import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { confusionHeatmap, lineChart, niceTicks } from '../../src/report/svg-charts.js';

const count = (text: string, pattern: RegExp) => (text.match(pattern) ?? []).length;

describe('lineChart', () => {
  it('draws one point per finite value, with its series and coordinates in data attributes', () => {
    const svg = lineChart({
      title: 'loss', x: [1, 2, 3, 4],
      series: [{ name: 'train', values: [1, 0.5, 0.25, 0.2] }, { name: 'validation', values: [1.1, null, 0.6, Number.NaN] }],
    });
    assert.equal(count(svg, /<circle class="point"/g), 6);
    assert.match(svg, /data-points="6"/);
    assert.equal(count(svg, /data-series="validation" data-x/g), 2);
    assert.match(svg, /data-series="train" data-x="3" data-y="0.25"/);
    // The gap at x = 2 splits validation into two polylines: 2 runs for validation, 1 for train.
    assert.equal(count(svg, /<polyline/g), 3);
  });

  it('puts higher values higher on the plot', () => {
    const svg = lineChart({ title: 't', x: [1, 2], series: [{ name: 's', values: [0.9, 0.1] }] });
    const ys = [...svg.matchAll(/class="point"[^>]*cy="([\d.]+)"/g)].map((match) => Number(match[1]));
    assert.equal(ys.length, 2);
    assert.ok(ys[0]! < ys[1]!, `y of 0.9 (${ys[0]}) should be above (smaller than) y of 0.1 (${ys[1]})`);
  });

  it('joins markers at the same epoch and escapes every label', () => {
    const svg = lineChart({
      title: 'a <b> & "c"', x: [1, 2, 3], series: [{ name: '<i>', values: [1, 2, 3] }],
      markers: [{ x: 2, label: 'best' }, { x: 2, label: 'restored' }, { x: 3, label: 'stop' }],
    });
    assert.equal(count(svg, /<g class="marker"/g), 2);
    assert.match(svg, /data-label="best = restored"/);
    assert.ok(!svg.includes('<b>') && !svg.includes('<i>'), 'raw markup leaked into the SVG');
    assert.match(svg, /a &lt;b&gt; &amp; &quot;c&quot;/);
  });

  it('keeps a marker label at the right edge inside the chart (issue 14, defect 10: "best = restored" was clipped)', () => {
    const svg = lineChart({
      title: 't', x: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], width: 540, series: [{ name: 's', values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] }],
      markers: [{ x: 10, label: 'best' }, { x: 10, label: 'restored' }, { x: 1, label: 'a long label at the left edge' }, { x: 5, label: 'mid' }],
    });
    assert.match(svg, /<g class="marker" data-x="10"[^>]*>.*?<text x="520" [^>]*text-anchor="end"[^>]*>best = restored \(10\)<\/text>/);
    assert.match(svg, /<g class="marker" data-x="1"[^>]*>.*?<text x="58" [^>]*text-anchor="start"/);
    assert.match(svg, /<g class="marker" data-x="5"[^>]*>.*?text-anchor="middle"/);
  });

  it('rejects a series whose length differs from x', () => {
    assert.throws(() => lineChart({ title: 't', x: [1, 2], series: [{ name: 's', values: [1] }] }), RangeError);
  });
});

describe('confusionHeatmap', () => {
  it('draws a cell per entry with its count, colours errors red and correct predictions blue', () => {
    const svg = confusionHeatmap({ title: 'cm', rowLabels: ['a', 'b'], colLabels: ['a', 'b'], values: [[8, 2], [0, 5]] });
    assert.equal(count(svg, /<rect class="cell"/g), 4);
    assert.match(svg, /data-points="4"/);
    assert.match(svg, /data-row="0" data-col="1" data-value="2"/);
    const fill = (row: number, col: number) => new RegExp(`data-row="${row}" data-col="${col}"[^>]*fill="rgb\\((\\d+),(\\d+),(\\d+)\\)"`).exec(svg)!;
    const diagonal = fill(0, 0), error = fill(0, 1), empty = fill(1, 0);
    assert.ok(Number(diagonal[3]) > Number(diagonal[1]), 'diagonal cell should be blue');
    assert.ok(Number(error[1]) > Number(error[3]), 'off-diagonal cell should be red');
    assert.deepEqual([empty[1], empty[2], empty[3]], ['255', '255', '255']);
  });

  it('rejects a ragged matrix', () => {
    assert.throws(() => confusionHeatmap({ title: 't', rowLabels: ['a', 'b'], colLabels: ['a', 'b'], values: [[1, 2], [3]] }), RangeError);
  });
});

describe('niceTicks', () => {
  it('covers the range with 1/2/5 steps', () => {
    assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
    assert.deepEqual(niceTicks(0.13, 0.91, 4), [0, 0.2, 0.4, 0.6, 0.8, 1]);
    assert.deepEqual(niceTicks(3, 47, 5), [0, 10, 20, 30, 40, 50]);
  });
});
