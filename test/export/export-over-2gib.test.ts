/**
 * A model over protobuf's 2 GiB limit exports with its weights in model.onnx.data, passes the parity check and
 * reloads in onnxruntime-node (and in Python's onnx checker when /usr/bin/python3 has it). The 2 GiB table is a
 * zero-filled buffer (calloc'ed, so it takes no memory until touched) of which two rows are used.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { checkParity } from '../../src/export/check-parity.js';
import type { ParityReport } from '../../src/export/check-parity.js';
import { exportClassifier } from '../../src/export/export-classifier.js';
import { writeExportedModel } from '../../src/export/write-exported-model.js';
import { attribute, emptyTensor, makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/onnx/graph-builder.js';
import { TensorDataType } from '../../src/onnx/proto.js';
import { predictProbabilities } from '../../src/train/predict-probabilities.js';
import { predict } from '../../src/workflows/predict.js';
import { randomHead, testSpec } from './fixtures.js';

const FEATURES = 16;
const ROWS = 2 ** 25 + 4096;   // ROWS × 16 floats = 2,147,745,792 bytes: just over 2 GiB
const SPEC = testSpec({ resizeSize: 2, cropSize: 2, scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1], channelOrder: 'RGB' });

/** features = table[int(max(pixels))]: white images (value 1.0) read row 1, darker ones row 0. */
function hugeBackbone() {
  const table = emptyTensor('table', TensorDataType.FLOAT, [ROWS, FEATURES]);
  const data = Buffer.alloc(ROWS * FEATURES * 4);
  const rows = new Float32Array(data.buffer, 0, 2 * FEATURES);
  for (let feature = 0; feature < FEATURES; feature++) {
    rows[feature] = (feature + 1) / FEATURES;
    rows[FEATURES + feature] = (FEATURES - feature) / FEATURES;
  }
  table.raw_data = data;
  const graph = makeGraph([
    makeNode('ReduceMax', ['pixels'], ['max'], { attributes: [attribute.ints('axes', [1, 2, 3]), attribute.int('keepdims', 0)] }),
    makeNode('Cast', ['max'], ['index'], { attributes: [attribute.int('to', TensorDataType.INT64)] }),
    makeNode('Gather', ['table', 'index'], ['features'], { attributes: [attribute.int('axis', 0)] }),
  ], [makeValueInfo('pixels', 'float32', ['N', 3, 2, 2])], [makeValueInfo('features', 'float32', ['N', FEATURES])], { initializers: [table] });
  return { model: makeModel(graph, { opset: 13 }), rows: new Float32Array(rows) };
}

const hasPythonOnnx = spawnSync('/usr/bin/python3', ['-c', 'import onnx'], { stdio: 'ignore' }).status === 0;

describe('a model over 2 GiB', () => {
  it('exports with external data, passes parity, and reloads in onnxruntime-node', { timeout: 300_000 }, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'finetune-2gib-'));
    try {
      const images: string[] = [];
      for (const [name, value] of [['dark', 90], ['white', 255], ['gray', 200]] as const) {
        const path = join(dir, `${name}.png`);
        await sharp(Buffer.alloc(4 * 4 * 3, value), { raw: { width: 4, height: 4, channels: 3 } }).png().toFile(path);
        images.push(path);
      }
      const { model: cut, rows } = hugeBackbone();
      const features = new Float32Array([...rows.subarray(0, FEATURES), ...rows.subarray(FEATURES), ...rows.subarray(0, FEATURES)]);
      const head = randomHead(FEATURES, 2, { seed: 5 });
      const expected = predictProbabilities(head, features, 3);
      const classNames = ['a', 'b'];
      const exported = exportClassifier(cut, head, { classNames, preprocess: SPEC });
      let report: ParityReport | undefined;
      const written = await writeExportedModel(join(dir, 'out', 'model.onnx'), exported, {
        verify: async (files) => {
          report = await checkParity({ written: files, model: exported }, images, expected, {
            preprocess: SPEC, withPreprocessing: true, numClasses: 2, classNames, features, labels: [0, 1, 0],
          });
        },
      });
      assert.ok(report?.ok, report?.summary);
      assert.equal(report.n, 3);
      assert.match(report.summary, /end to end skipped: the model has 2148 MB of parameters/);
      assert.ok(written.externalData, 'over 2 GiB, the weights went to model.onnx.data without being asked');
      assert.equal(written.externalData.path, join(dir, 'out', 'model.onnx.data'));
      assert.ok(written.externalData.sizeBytes >= ROWS * FEATURES * 4 && written.externalData.sizeBytes > 2 ** 31);
      assert.ok(written.sizeBytes < 20_000, `model.onnx holds the graph only (${written.sizeBytes} bytes)`);
      assert.equal((await stat(written.path)).size, written.sizeBytes);

      // onnxruntime-node loads the pair from the model's path, as a user of the exported model would.
      const predictions = await predict(written.path, images, { device: 'cpu', top: 2 });
      predictions.forEach((prediction, row) => {
        for (const { className, probability } of prediction.top) {
          assert.ok(Math.abs(probability - expected[row * 2 + classNames.indexOf(className)]!) <= 1e-5, `${images[row]} ${className}`);
        }
      });

      if (!hasPythonOnnx) {
        t.diagnostic('skipped the Python check: /usr/bin/python3 has no onnx module');
        return;
      }
      // Python: onnx's checker accepts the pair (onnxruntime for Python is not installed here, so nothing runs).
      const checked = execFileSync('/usr/bin/python3', ['-c', [
        'import onnx, sys',
        'onnx.checker.check_model(sys.argv[1])',
        'm = onnx.load(sys.argv[1], load_external_data=False)',
        't = [x for x in m.graph.initializer if x.name == "table"][0]',
        'print(t.data_location, {e.key: e.value for e in t.external_data})',
      ].join('\n'), written.path], { encoding: 'utf8' });
      assert.match(checked, /^1 \{'location': 'model\.onnx\.data', 'offset': '\d+', 'length': '2147745792'\}/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
