import type { ModelInspection, TensorSummary } from './inspect-model.js';

/** A readable, plain-text rendering of {@link ModelInspection} for `finetune inspect`. Pure; no colours. */
export function formatInspection(inspection: ModelInspection): string {
  const lines: string[] = [];
  const shape = (dims: TensorSummary['dims']): string => (dims ? `[${dims.map((d) => d ?? '?').join(', ')}]` : '[?]');
  lines.push(`IR version   ${inspection.irVersion ?? '?'}`);
  lines.push(`Producer     ${inspection.producer || '(none)'}`);
  lines.push(`Opsets       ${inspection.opsets.map((o) => `${o.domain} ${o.version}`).join(', ')}`);
  lines.push(`Nodes        ${inspection.nodeCount}`);
  lines.push(`Parameters   ${inspection.parameterCount.toLocaleString('en-US')}`);
  if (inspection.initializerInputs > 0) {
    lines.push(`             (${inspection.initializerInputs} initializers are also listed as graph inputs, as in IR < 4)`);
  }
  lines.push('');
  lines.push(...table(['', 'name', 'type', 'shape'], [
    ...inspection.inputs.map((t) => ['input', t.name, t.type, shape(t.dims)]),
    ...inspection.outputs.map((t) => ['output', t.name, t.type, shape(t.dims)]),
  ]));
  lines.push('');
  lines.push('Feature tensors (nearest to the output first; * = automatic cut):');
  lines.push(...table(['', 'name', 'type', 'shape', 'from', '--pooling (default first)'], inspection.featureCandidates.map((c) =>
    [c.auto ? '*' : '', c.name, c.type, shape(c.dims), c.producer, c.poolings.join(', ')])));
  const cut = inspection.autoCut;
  if ('error' in cut) lines.push(`No automatic cut: ${cut.error}. Pass --layer <name>.`);
  else if (cut.pooling) lines.push(`Automatic cut: "${cut.tensor}", a token sequence, pooled with ${cut.pooling} (--pooling mean-tokens for the mean of the patch tokens).`);
  else lines.push(`Automatic cut: "${cut.tensor}" (feeds the ${cut.classifier} classifier).`);
  lines.push('');
  lines.push(`Operators    ${inspection.operators.map((o) => `${o.opType} ${o.count}`).join(', ')}`);
  return lines.join('\n');
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const render = (row: string[]): string => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd();
  return [render(header), ...rows.map(render)];
}
