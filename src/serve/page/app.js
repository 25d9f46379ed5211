// The browser demo: loads the exported model with onnxruntime-web (WebAssembly, served by `finetune serve` from
// node_modules/onnxruntime-web/dist), prepares a picked or dropped image per the model's own preprocessing and
// shows the top-k classes. Class names come from the model's `labels` output (and /model-info.json before the
// first run).
import * as ort from '/ort/ort.wasm.min.mjs';
import { normalizePixels, resizeGeometry, resizeToCrop, rgbaToRgb, topK } from './preprocess.js';
import { formatBytes } from './util/format-bytes.js';   // the CLI's own formatter (SI units)

const $ = (id) => document.getElementById(id);
const status = $('status');
const fileInput = $('file');
const drop = $('drop');

function setStatus(state, text) {
  status.dataset.state = state;
  status.textContent = text;
}

function formatShape(shape) {
  return `[${shape.map((dim) => (dim === null ? '?' : dim)).join(', ')}]`;
}

ort.env.wasm.wasmPaths = new URL('/ort/', location.href).href;
// One thread: the page needs no cross-origin isolation, and results match `finetune export`'s wasm parity check.
ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error';

let session = null;
let info = null;
let busy = false;

async function fetchOk(path) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response;
}

async function load() {
  info = await (await fetchOk('/model-info.json')).json();
  const totalBytes = info.sizeBytes + (info.externalData?.sizeBytes ?? 0);   // with model.onnx.data, if any
  $('model').textContent = `${info.modelName} (${formatBytes(totalBytes)}) · ${info.classNames.length} classes` +
    `${info.backboneId ? ` · ${info.backboneId}` : ''} · input ${info.inputName}: ` +
    `${info.inputType === 'uint8-image' ? 'uint8 RGB' : 'float32'} ${formatShape(info.inputShape)}`;
  $('preprocess').textContent = `Preprocessing stored in the model: ${info.preprocessDescription}.`;
  setStatus('loading', `Loading ${info.modelName} (${formatBytes(totalBytes)})…`);
  const bytes = new Uint8Array(await (await fetchOk('/model.onnx')).arrayBuffer());
  const options = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' };
  // A model exported with external data names its weights file (model.onnx.data); onnxruntime-web fetches it from here.
  if (info.externalData) options.externalData = [{ path: info.externalData.name, data: '/model.onnx.data' }];
  session = await ort.InferenceSession.create(bytes, options);
  fileInput.disabled = false;
  setStatus('ready', 'Ready: pick or drop an image.');
}

/** Exact mode: the server decodes, resizes and crops with sharp (as `finetune predict`); shown in the canvas. */
async function prepareOnServer(file) {
  // application/octet-stream is not a "simple" content type: the server refuses simple (cross-site capable) posts.
  const response = await fetch('/preprocess', { method: 'POST', body: file, headers: { 'Content-Type': 'application/octet-stream' } });
  if (!response.ok) throw new Error(await response.text());
  const rgb = new Uint8Array(await response.arrayBuffer());
  const cropSize = Number(response.headers.get('X-Crop-Size'));
  const canvas = $('crop');
  canvas.width = cropSize;
  canvas.height = cropSize;
  const rgba = new Uint8ClampedArray(cropSize * cropSize * 4);
  for (let pixel = 0; pixel < cropSize * cropSize; pixel++) {
    rgba[pixel * 4] = rgb[pixel * 3];
    rgba[pixel * 4 + 1] = rgb[pixel * 3 + 1];
    rgba[pixel * 4 + 2] = rgb[pixel * 3 + 2];
    rgba[pixel * 4 + 3] = 255;
  }
  canvas.getContext('2d').putImageData(new ImageData(rgba, cropSize, cropSize), 0, 0);
  $('crop-caption').textContent = `${(response.headers.get('X-Source-Size') ?? '?').replace('x', '×')} → ` +
    `${cropSize}×${cropSize} crop (decoded and resized on the server, as finetune predict does)`;
  return { rgb, cropSize };
}

/** Decodes, resizes and center-crops into the visible canvas; returns the crop as RGB bytes (HWC). */
async function prepare(file) {
  const spec = info.preprocess;
  let bitmap;
  try {
    // Raw pixel values (no colour-profile conversion), EXIF orientation applied, as sharp does in `finetune predict`.
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image', premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  } catch (error) {
    throw new Error(`"${file.name}" is not an image this browser can decode (${error.message}).`);
  }
  const geometry = resizeGeometry(bitmap.width, bitmap.height, spec);
  const canvas = $('crop');
  canvas.width = geometry.cropSize;
  canvas.height = geometry.cropSize;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  const resized = geometry.resizeWidth !== bitmap.width || geometry.resizeHeight !== bitmap.height;
  const size = `${bitmap.width}×${bitmap.height}` +
    `${resized ? ` → resized to ${geometry.resizeWidth}×${geometry.resizeHeight}` : ''} → ${geometry.cropSize}×${geometry.cropSize} crop`;
  // The model's own resize filter on the decoded pixels, as `finetune predict` does (the same code).
  const decoded = document.createElement('canvas');
  decoded.width = bitmap.width;
  decoded.height = bitmap.height;
  const decodedContext = decoded.getContext('2d', { willReadFrequently: true });
  decodedContext.fillStyle = '#ffffff';   // transparency over white, like the Node decoder
  decodedContext.fillRect(0, 0, bitmap.width, bitmap.height);
  decodedContext.drawImage(bitmap, 0, 0);
  const crop = resizeToCrop(rgbaToRgb(decodedContext.getImageData(0, 0, bitmap.width, bitmap.height).data), bitmap.width, bitmap.height, spec);
  if (crop !== null) {
    const rgba = new Uint8ClampedArray(geometry.cropSize * geometry.cropSize * 4);
    for (let pixel = 0; pixel < geometry.cropSize * geometry.cropSize; pixel++) {
      rgba.set(crop.subarray(pixel * 3, pixel * 3 + 3), pixel * 4);
      rgba[pixel * 4 + 3] = 255;
    }
    context.putImageData(new ImageData(rgba, geometry.cropSize, geometry.cropSize), 0, 0);
    $('crop-caption').textContent = `${size} (${spec.resizeFilter}, in this page)`;
    bitmap.close();
    return { rgb: crop, cropSize: geometry.cropSize };
  }
  // sharp-linear (models from before resize filters were recorded): libvips' kernel; the canvas comes close.
  context.fillStyle = '#ffffff';
  context.fillRect(0, 0, geometry.cropSize, geometry.cropSize);
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = 'high';
  context.drawImage(bitmap, -geometry.cropLeft, -geometry.cropTop, geometry.resizeWidth, geometry.resizeHeight);
  $('crop-caption').textContent = `${size} (canvas)`;
  bitmap.close();
  return { rgb: rgbaToRgb(context.getImageData(0, 0, geometry.cropSize, geometry.cropSize).data), cropSize: geometry.cropSize };
}

function inputTensor(rgb, cropSize) {
  const batch = typeof info.inputShape[0] === 'number' && info.inputShape[0] > 0 ? info.inputShape[0] : 1;
  if (info.inputType === 'uint8-image') {
    const data = new Uint8Array(batch * rgb.length);   // a fixed batch > 1 is padded with zeros
    data.set(rgb);
    return new ort.Tensor('uint8', data, [batch, cropSize, cropSize, 3]);
  }
  const values = normalizePixels(rgb, info.preprocess);
  const data = new Float32Array(batch * values.length);
  data.set(values);
  const dims = info.preprocess.layout === 'NCHW' ? [batch, 3, cropSize, cropSize] : [batch, cropSize, cropSize, 3];
  return new ort.Tensor('float32', data, dims);
}

function showResults(ranked, label) {
  const list = $('results');
  list.replaceChildren();
  for (const entry of ranked) {
    const item = document.createElement('li');
    item.className = 'result';
    item.dataset.classIndex = String(entry.index);
    item.dataset.className = entry.className;
    item.dataset.probability = String(entry.probability);
    const row = document.createElement('div');
    row.className = 'row';
    const name = document.createElement('span');
    name.className = 'class-name';
    name.textContent = entry.className;
    const probability = document.createElement('span');
    probability.className = 'probability';
    probability.textContent = `${(entry.probability * 100).toFixed(4)}%`;
    row.append(name, probability);
    const bar = document.createElement('progress');
    bar.max = 1;
    bar.value = entry.probability;
    item.append(row, bar);
    list.append(item);
  }
  if (label !== null) list.dataset.label = label;
  else delete list.dataset.label;
}

async function classify(file) {
  if (!session || busy) return;
  busy = true;
  try {
    setStatus('running', `Classifying ${file.name}…`);
    const { rgb, cropSize } = $('exact').checked ? await prepareOnServer(file) : await prepare(file);
    const feeds = { [info.inputName]: inputTensor(rgb, cropSize) };
    const started = performance.now();
    const outputs = await session.run(feeds);
    const milliseconds = performance.now() - started;
    const probabilities = outputs.probabilities;
    if (!probabilities) throw new Error(`the model has no "probabilities" output (outputs: ${session.outputNames.join(', ')})`);
    const classNames = outputs.labels ? Array.from(outputs.labels.data) : info.classNames;
    const numClasses = classNames.length;
    const row = Array.from(probabilities.data.slice(0, numClasses), Number);
    const label = outputs.label ? String(outputs.label.data[0]) : null;
    showResults(topK(row, classNames, info.topK), label);
    $('output').hidden = false;
    $('timing').textContent = `Inference: ${milliseconds.toFixed(1)} ms (onnxruntime-web ${ort.env.versions?.web ?? ''}, WebAssembly, 1 thread).`;
    setStatus('done', `${file.name}: done.`);
  } catch (error) {
    setStatus('error', `Could not classify ${file.name}: ${error.message}`);
  } finally {
    busy = false;
  }
}

fileInput.addEventListener('change', () => {
  const file = fileInput.files?.[0];
  if (file) classify(file);
  fileInput.value = '';
});
drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('over');
  const file = [...(event.dataTransfer?.files ?? [])].find((candidate) => candidate.type.startsWith('image/')) ?? event.dataTransfer?.files?.[0];
  if (file) classify(file);
});

load().catch((error) => setStatus('error', `Could not load the model: ${error.message}`));
