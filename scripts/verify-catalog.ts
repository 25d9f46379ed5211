/**
 * Manual check of models/zoo.json (not run in CI):
 *   1. every entry's path, sha256, size, opset and I/O against ONNX_HUB_MANIFEST.json (when found);
 *   2. for every model present in the cache (or pulled with --pull), the cut algorithm's automatic choice and an
 *      explicit cut at the catalog's tensor agree with the entry's feature tensor, width, pooling and dtype;
 *   3. every Hugging Face Hub alias of models/hub.json that is cached (or pulled with --pull): the commit its revision
 *      resolves to, the file's sha256 and size against the entry, and the feature the cut picks. For an entry not yet
 *      verified it prints the values to write into models/hub.json (revision = the commit, sha256, sizeBytes,
 *      verified: true).
 *
 *   tsx scripts/verify-catalog.ts [--manifest PATH] [--home DIR] [--pull] [--mirror URL] [id ...]
 *   e.g. FINETUNE_ZOO_MIRROR=$(tsx scripts/serve-zoo-mirror.ts ../shared/zoo) ... --pull mobilenetv2-int8
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { cutBackbone } from '../src/onnx/cut-backbone.js';
import { readModel } from '../src/onnx/read-model.js';
import { getModel, listModels } from '../src/registry/catalog.js';
import type { ZooEntry } from '../src/registry/catalog.js';
import { downloadModel } from '../src/registry/download.js';
import { checkCachedModel } from '../src/registry/model-cache.js';
import { resolveHubModel } from '../src/registry/hub.js';
import { findHubAlias, hubAliasReference, listHubAliases } from '../src/registry/hub-catalog.js';
import type { HubAlias } from '../src/registry/hub-catalog.js';
import { prepareBackbone } from '../src/workflows/prepare-backbone.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    manifest: { type: 'string', default: new URL('../../shared/ref/ONNX_HUB_MANIFEST.json', import.meta.url).pathname },
    home: { type: 'string' },
    pull: { type: 'boolean', default: false },
    mirror: { type: 'string' },
  },
});
const hubNames = positionals.filter((name) => findHubAlias(name) !== undefined);
const zooNames = positionals.filter((name) => findHubAlias(name) === undefined);
const entries: readonly ZooEntry[] = positionals.length === 0 ? listModels() : zooNames.map((id) => getModel(id));
const hubEntries: readonly HubAlias[] = positionals.length === 0 ? listHubAliases() : hubNames.map((name) => findHubAlias(name)!);
const problems: string[] = [];
const say = (line: string): void => void process.stdout.write(`${line}\n`);

if (existsSync(values.manifest)) {
  type Manifest = Array<{ model_path: string; opset_version: number; metadata: { model_sha: string; model_bytes: number;
    io_ports?: { inputs: Array<{ name: string; shape: unknown[] }> }; extra_ports?: { features?: Array<{ name: string }> } } }>;
  const manifest = new Map((JSON.parse(readFileSync(values.manifest, 'utf8')) as Manifest).map((m) => [m.model_path, m]));
  for (const entry of entries) {
    const m = manifest.get(entry.path);
    const issues: string[] = [];
    if (!m) issues.push('path not in manifest');
    else {
      if (m.metadata.model_sha !== entry.sha256) issues.push(`sha256 ${m.metadata.model_sha}`);
      if (m.metadata.model_bytes !== entry.sizeBytes) issues.push(`size ${m.metadata.model_bytes}`);
      if (m.opset_version !== entry.opset) issues.push(`opset ${m.opset_version}`);
      const input = m.metadata.io_ports?.inputs[0];
      if (input && (input.name !== entry.input.name || JSON.stringify(input.shape) !== JSON.stringify(entry.input.dims))) {
        issues.push(`input ${input.name} ${JSON.stringify(input.shape)}`);
      }
      const feature = m.metadata.extra_ports?.features?.[0]?.name;
      if (feature && feature !== entry.feature.tensor) issues.push(`manifest feature ${feature} (catalog: ${entry.feature.tensor}, source ${entry.feature.source})`);
    }
    say(`manifest  ${entry.id.padEnd(24)} ${issues.length === 0 ? 'ok' : issues.join('; ')}`);
    if (issues.some((issue) => !issue.startsWith('manifest feature'))) problems.push(`${entry.id}: ${issues.join('; ')}`);
  }
} else {
  say(`manifest  not found at ${values.manifest}; skipped`);
}

for (const entry of entries) {
  let path: string | null = null;
  if (values.pull) {
    try {
      path = (await downloadModel(entry, { ...(values.home ? { home: values.home } : {}), ...(values.mirror ? { mirror: values.mirror } : {}) })).path;
    } catch (error) {
      problems.push(`${entry.id}: pull failed: ${(error as Error).message.split('\n')[0]}`);
    }
  } else {
    const cached = await checkCachedModel(entry, values.home);
    if (cached.ok) path = cached.path;
  }
  if (!path) {
    say(`cut       ${entry.id.padEnd(24)} not cached; skipped (use --pull)`);
    continue;
  }
  const model = await readModel(path);
  const issues: string[] = [];
  try {
    const auto = cutBackbone(model);
    if (auto.featureTensor !== entry.feature.tensor) issues.push(`auto-cut picks ${auto.featureTensor}`);
  } catch (error) {
    issues.push(`auto-cut fails: ${(error as Error).message.split('\n')[0]}`);
  }
  try {
    const cut = cutBackbone(model, { layer: entry.feature.tensor, pooling: entry.feature.pooling });
    if (cut.embeddingDim !== entry.feature.embeddingDim) issues.push(`width ${cut.embeddingDim}, catalog ${entry.feature.embeddingDim}`);
    if (cut.dequantized !== (entry.feature.dtype === 'uint8')) issues.push(`dequantized=${cut.dequantized}, catalog dtype ${entry.feature.dtype}`);
  } catch (error) {
    issues.push(`cut at ${entry.feature.tensor} fails: ${(error as Error).message.split('\n')[0]}`);
  }
  say(`cut       ${entry.id.padEnd(24)} ${issues.length === 0 ? `ok (${entry.feature.tensor} → ${entry.feature.embeddingDim})` : issues.join('; ')}`);
  if (issues.length > 0) problems.push(`${entry.id}: ${issues.join('; ')}`);
}

for (const entry of hubEntries) {
  const reference = hubAliasReference(entry);
  const common = { ...(values.home ? { home: values.home } : {}), offline: !values.pull };
  try {
    const model = await resolveHubModel(reference, common);
    const issues: string[] = [];
    if (entry.sha256 !== null && entry.sha256 !== model.sha256) issues.push(`sha256 ${model.sha256}, catalog ${entry.sha256}`);
    if (entry.sizeBytes !== null && entry.sizeBytes !== model.sizeBytes) issues.push(`size ${model.sizeBytes}, catalog ${entry.sizeBytes}`);
    const prepared = await prepareBackbone(reference, common);
    const feature = `${prepared.cut.featureTensor} (${prepared.cut.pooling}) → ${prepared.cut.embeddingDim}`;
    say(`hub       ${entry.alias.padEnd(24)} ${issues.length === 0 ? `ok: ${model.reference}, ${feature}` : issues.join('; ')}`);
    if (!entry.verified && model.commit !== null) {
      say(`          fill in models/hub.json: ${JSON.stringify({ revision: model.commit, sha256: model.sha256, sizeBytes: model.sizeBytes, verified: true })}`);
    }
    if (issues.length > 0) problems.push(`${entry.alias}: ${issues.join('; ')}`);
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    if (!values.pull && (error as { code?: string }).code === 'OFFLINE') say(`hub       ${entry.alias.padEnd(24)} not cached; skipped (use --pull)`);
    else problems.push(`${entry.alias}: ${message}`);
  }
}

if (problems.length > 0) {
  say(`\n${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
  process.exitCode = 1;
}
