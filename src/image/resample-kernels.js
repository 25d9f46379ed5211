// The resampling arithmetic of resample.ts (and the resize geometry of preprocess-image.ts), as plain JavaScript so that the serve page can load the very same file
// (served at /image/resample-kernels.js; no build step) and resize in the browser exactly as `finetune predict` does.
// resample.ts is the documented entry point (and adds the WebAssembly passes); the conventions are described there.
// Types: resample-kernels.d.ts. Every function here is pure and works on typed arrays.

/** Pillow's fixed point for 8-bit images: weights × 2^22, two spare bits for overshoot (every sum fits an int32). */
const PRECISION_BITS = 22;
const ROUNDING = 1 << (PRECISION_BITS - 1);

/** Pillow's filters: value at distance x (source pixels at scale 1) and half-width. */
const PILLOW_KERNELS = {
  'pil-bilinear': {
    support: 1,
    weight: (x) => {
      const distance = x < 0 ? -x : x;
      return distance < 1 ? 1 - distance : 0;
    },
  },
  // Keys' cubic with a = −0.5, in Pillow's operation order so that the doubles agree bit for bit.
  'pil-bicubic': {
    support: 2,
    weight: (x) => {
      const a = -0.5;
      const distance = x < 0 ? -x : x;
      if (distance < 1) return ((a + 2) * distance - (a + 3)) * distance * distance + 1;
      if (distance < 2) return (((distance - 5) * distance + 8) * distance - 4) * a;
      return 0;
    },
  },
};

/** Checks an image, an output size and a window; throws a RangeError naming the value. */
export function checkResampleArguments(name, image, outWidth, outHeight, window) {
  const { width, height, channels, data } = image;
  if (!(Number.isInteger(width) && Number.isInteger(height) && Number.isInteger(channels) && width >= 1 && height >= 1 && channels >= 1))
    throw new RangeError(`${name}: invalid image ${width}×${height}×${channels}.`);
  if (data.length !== width * height * channels)
    throw new RangeError(`${name}: data.length (${data.length}) is not width × height × channels (${width * height * channels}).`);
  if (!(Number.isInteger(outWidth) && Number.isInteger(outHeight) && outWidth >= 1 && outHeight >= 1))
    throw new RangeError(`${name}: invalid output size ${outWidth}×${outHeight}.`);
  const { left, top, width: windowWidth, height: windowHeight } = window;
  if (!([left, top, windowWidth, windowHeight].every(Number.isInteger) && left >= 0 && top >= 0 && windowWidth >= 1 &&
      windowHeight >= 1 && left + windowWidth <= outWidth && top + windowHeight <= outHeight))
    throw new RangeError(`${name}: window ${windowWidth}×${windowHeight} at (${left}, ${top}) is not inside ${outWidth}×${outHeight}.`);
}

// #region Pillow convolution (pil-bilinear, pil-bicubic)

/**
 * Pillow's precompute_coeffs + normalize_coeffs_8bpc for output pixels [start, start + count) of one axis, mapping
 * source span [in0, in1) (float32, as Pillow's box) onto the output: per output pixel the first source index and the
 * number of taps (`bounds`), and the int32 weights at `stride` (the most taps rounded up to a multiple of 4; zeros
 * after the taps, which the WebAssembly pass relies on).
 */
export function convolutionAxis(inSize, in0, in1, outSize, filter, start, count) {
  const kernel = PILLOW_KERNELS[filter];
  const boxStart = Math.fround(in0);
  const scale = Math.fround(Math.fround(in1) - boxStart) / outSize;
  const filterScale = scale < 1 ? 1 : scale;
  const support = kernel.support * filterScale;
  const maxTaps = Math.ceil(support) * 2 + 1;
  const stride = Math.ceil(maxTaps / 4) * 4;
  const inverseFilterScale = 1 / filterScale;
  const bounds = new Int32Array(2 * count);
  const weights = new Int32Array(count * stride);
  const taps = new Float64Array(maxTaps);
  for (let index = 0; index < count; index++) {
    const center = boxStart + (start + index + 0.5) * scale;
    const first = Math.max(0, Math.trunc(center - support + 0.5));
    const last = Math.min(inSize, Math.trunc(center + support + 0.5));
    const tapCount = last - first;
    let sum = 0;
    for (let tap = 0; tap < tapCount; tap++) {
      const weight = kernel.weight((tap + first - center + 0.5) * inverseFilterScale);
      taps[tap] = weight;
      sum += weight;
    }
    const offset = index * stride;
    for (let tap = 0; tap < tapCount; tap++) {
      const normalized = sum !== 0 ? taps[tap] / sum : taps[tap];
      weights[offset + tap] = normalized < 0
        ? Math.trunc(-0.5 + normalized * (1 << PRECISION_BITS))
        : Math.trunc(0.5 + normalized * (1 << PRECISION_BITS));
    }
    bounds[2 * index] = first;
    bounds[2 * index + 1] = tapCount;
  }
  return { bounds, weights, stride };
}

/**
 * The two passes a `pil-*` resize needs for `window`: the horizontal axis (null when the width and span do not
 * change: Pillow skips that pass, its weights would be the identity), the vertical one, and the source rows
 * [firstRow, lastRow) the vertical pass reads.
 */
export function convolutionPlan(image, filter, outWidth, outHeight, window, box) {
  const vertical = outHeight !== image.height || box.top !== 0 || box.bottom !== outHeight
    ? convolutionAxis(image.height, box.top, box.bottom, outHeight, filter, window.top, window.height) : null;
  const horizontal = outWidth !== image.width || box.left !== 0 || box.right !== outWidth
    ? convolutionAxis(image.width, box.left, box.right, outWidth, filter, window.left, window.width) : null;
  const last = 2 * (window.height - 1);
  return {
    horizontal,
    vertical,
    firstRow: vertical ? vertical.bounds[0] : window.top,
    lastRow: vertical ? vertical.bounds[last] + vertical.bounds[last + 1] : window.top + window.height,
  };
}

/** Fixed-point sum → uint8, as Pillow's clip8 (arithmetic shift, then clamp). */
function clip8(sum) {
  const value = sum >> PRECISION_BITS;
  return value < 0 ? 0 : value > 255 ? 255 : value;
}

/** Both passes of a plan in JS: window.height rows of window.width pixels. */
export function convolveJs(image, plan, window) {
  const { horizontal, vertical, firstRow, lastRow } = plan;
  const rows = horizontal !== null
    ? convolveRows(image, horizontal, firstRow, lastRow)
    : copyColumns(image, window.left, window.width, firstRow, lastRow);
  return vertical === null ? rows : convolveColumns(rows, window.width * image.channels, firstRow, vertical, window.height);
}

/** Horizontal pass over source rows [firstRow, lastRow): one uint8 row of `axis` outputs per source row. */
function convolveRows(image, axis, firstRow, lastRow) {
  const { data: source, width, channels } = image;
  const { bounds, weights, stride } = axis;
  const outCount = bounds.length / 2;
  const out = new Uint8Array((lastRow - firstRow) * outCount * channels);
  let target = 0;
  for (let row = firstRow; row < lastRow; row++) {
    const rowStart = row * width * channels;
    if (channels === 3) {
      for (let column = 0; column < outCount; column++) {
        const taps = bounds[2 * column + 1], weightOffset = column * stride;
        let pixel = rowStart + bounds[2 * column] * 3;
        let red = ROUNDING, green = ROUNDING, blue = ROUNDING;
        for (let tap = 0; tap < taps; tap++, pixel += 3) {
          const weight = weights[weightOffset + tap];
          red = (red + Math.imul(source[pixel], weight)) | 0;
          green = (green + Math.imul(source[pixel + 1], weight)) | 0;
          blue = (blue + Math.imul(source[pixel + 2], weight)) | 0;
        }
        out[target] = clip8(red);
        out[target + 1] = clip8(green);
        out[target + 2] = clip8(blue);
        target += 3;
      }
    } else {
      for (let column = 0; column < outCount; column++) {
        const taps = bounds[2 * column + 1], weightOffset = column * stride;
        const firstPixel = rowStart + bounds[2 * column] * channels;
        for (let channel = 0; channel < channels; channel++) {
          let sum = ROUNDING;
          for (let tap = 0, pixel = firstPixel + channel; tap < taps; tap++, pixel += channels)
            sum = (sum + Math.imul(source[pixel], weights[weightOffset + tap])) | 0;
          out[target++] = clip8(sum);
        }
      }
    }
  }
  return out;
}

/** Vertical pass: output row r blends rows bounds[2r] … of `rows` (which start at source row `firstRow`). */
function convolveColumns(rows, rowLength, firstRow, axis, outRows) {
  const { bounds, weights, stride } = axis;
  const out = new Uint8Array(outRows * rowLength);
  const sums = new Int32Array(rowLength);
  for (let row = 0; row < outRows; row++) {
    const taps = bounds[2 * row + 1], weightOffset = row * stride;
    const sourceRow = bounds[2 * row] - firstRow;
    sums.fill(ROUNDING);
    for (let tap = 0; tap < taps; tap++) {
      const weight = weights[weightOffset + tap];
      const rowStart = (sourceRow + tap) * rowLength;
      for (let i = 0; i < rowLength; i++) sums[i] = (sums[i] + Math.imul(rows[rowStart + i], weight)) | 0;
    }
    const outStart = row * rowLength;
    for (let i = 0; i < rowLength; i++) out[outStart + i] = clip8(sums[i]);
  }
  return out;
}

/** Columns [left, left + count) of source rows [firstRow, lastRow), packed. */
function copyColumns(image, left, count, firstRow, lastRow) {
  const { data, width, channels } = image;
  const rowLength = count * channels;
  const out = new Uint8Array((lastRow - firstRow) * rowLength);
  for (let row = firstRow; row < lastRow; row++) {
    const start = (row * width + left) * channels;
    out.set(data.subarray(start, start + rowLength), (row - firstRow) * rowLength);
  }
  return out;
}

// #endregion

// #region PyTorch bilinear (torch-bilinear)

/**
 * PyTorch's compute_indices_weights_linear (align_corners=False) for outputs [start, start + count): scale = in / out
 * in float32; source = scale × (x + 0.5) − 0.5 in double, clamped at 0; blend floor(source) and the next pixel with
 * float32 weights. (Checked by feeding PyTorch 1.13 unit impulses: these weights are its weights bit for bit.)
 */
function linearAxis(inSize, outSize, start, count) {
  const scale = Math.fround(inSize / outSize);
  const index0 = new Int32Array(count), index1 = new Int32Array(count);
  const lambda0 = new Float32Array(count), lambda1 = new Float32Array(count);
  for (let index = 0; index < count; index++) {
    let source = scale * (start + index + 0.5) - 0.5;   // in double (CPU accumulate type), from a float32 scale
    if (source < 0) source = 0;
    const first = Math.trunc(source);
    index0[index] = first;
    index1[index] = first < inSize - 1 ? first + 1 : first;
    const weight = Math.fround(source - first);
    lambda1[index] = weight;
    lambda0[index] = Math.fround(1 - weight);
  }
  return { index0, index1, lambda0, lambda1 };
}

/** `torch-bilinear` in float: window.height × window.width × channels values, interleaved. */
export function torchBilinear(image, outWidth, outHeight, window) {
  const { data: source, width, channels } = image;
  const columns = linearAxis(width, outWidth, window.left, window.width);
  const rows = linearAxis(image.height, outHeight, window.top, window.height);
  const rowLength = window.width * channels;
  // Horizontal blends of the source rows the window needs, in float32 like PyTorch's inner interpolation.
  const firstRow = rows.index0[0], lastRow = rows.index1[window.height - 1] + 1;
  const blended = new Float32Array((lastRow - firstRow) * rowLength);
  for (let row = firstRow; row < lastRow; row++) {
    const rowStart = row * width * channels;
    let target = (row - firstRow) * rowLength;
    for (let column = 0; column < window.width; column++) {
      const left = rowStart + columns.index0[column] * channels, right = rowStart + columns.index1[column] * channels;
      const weight0 = columns.lambda0[column], weight1 = columns.lambda1[column];
      for (let channel = 0; channel < channels; channel++)
        blended[target++] = weight0 * source[left + channel] + weight1 * source[right + channel];
    }
  }
  const out = new Float32Array(window.height * rowLength);
  for (let row = 0; row < window.height; row++) {
    const top = (rows.index0[row] - firstRow) * rowLength, bottom = (rows.index1[row] - firstRow) * rowLength;
    const weight0 = rows.lambda0[row], weight1 = rows.lambda1[row];
    const outStart = row * rowLength;
    for (let i = 0; i < rowLength; i++) out[outStart + i] = weight0 * blended[top + i] + weight1 * blended[bottom + i];
  }
  return out;
}

// #endregion

// #region Pillow nearest

/** Pillow's ImagingScaleAffine: source index = trunc(position), position starting at scale/2 and stepping by scale. */
function nearestAxis(inSize, outSize, start, count) {
  const scale = inSize / outSize;
  const indices = new Int32Array(count);
  let position = scale * 0.5;
  for (let index = 0; index < start; index++) position += scale;   // accumulated, not multiplied: Pillow's rounding
  for (let index = 0; index < count; index++, position += scale) indices[index] = Math.min(inSize - 1, Math.trunc(position));
  return indices;
}

/** `nearest`: window.height × window.width × channels bytes. */
export function nearest(image, outWidth, outHeight, window) {
  const { data: source, width, channels } = image;
  const columns = nearestAxis(width, outWidth, window.left, window.width);
  const rows = nearestAxis(image.height, outHeight, window.top, window.height);
  const out = new Uint8Array(window.width * window.height * channels);
  let target = 0;
  for (let row = 0; row < window.height; row++) {
    const rowStart = rows[row] * width * channels;
    for (let column = 0; column < window.width; column++) {
      const pixel = rowStart + columns[column] * channels;
      for (let channel = 0; channel < channels; channel++) out[target++] = source[pixel + channel];
    }
  }
  return out;
}

// #endregion

// #region Geometry

/** Python's round() of a multiple of 1/2: half to even (torchvision's `int(round((h − crop) / 2.0))`). */
function roundHalfToEven(value) {
  const floor = Math.floor(value);
  if (value - floor !== 0.5) return Math.round(value);
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * The resize target and center crop for a `width` × `height` image (after EXIF orientation), in the spec's
 * `geometry` convention (absent: `zoo`). `shorter-side` keeps the aspect ratio: the shorter side becomes
 * `resizeSize` and the longer one long × resizeSize / short, rounded to nearest (`zoo`: the ONNX Model Zoo's
 * `imagenet_preprocess.py`, `int(round(ratio × long))`) or down (`torchvision`: `Resize(int)`'s
 * `int(size × long / short)`; `transformers`: `get_resize_output_image_size`, the same). `direct` stretches to
 * resizeSize × resizeSize. The crop's corner is floor((resized − crop) / 2) on each axis (`zoo`, `transformers`'
 * `center_crop`), or that value rounded half to even (`torchvision`'s `CenterCrop`: 16.5 → 16, 17.5 → 18).
 */
export function resizeGeometry(width, height, spec) {
  if (!(width >= 1 && height >= 1)) throw new RangeError(`resizeGeometry: invalid image size ${width}×${height}.`);
  const { resizeSize, cropSize } = spec;
  if (!Number.isInteger(resizeSize) || !Number.isInteger(cropSize) || cropSize < 1 || cropSize > resizeSize)
    throw new RangeError(`resizeGeometry: need integers 1 ≤ cropSize (${cropSize}) ≤ resizeSize (${resizeSize}).`);
  const geometry = spec.geometry ?? 'zoo';
  if (geometry !== 'zoo' && geometry !== 'torchvision' && geometry !== 'transformers')
    throw new RangeError(`resizeGeometry: unknown geometry ${String(geometry)}.`);
  let resizeWidth = resizeSize, resizeHeight = resizeSize;
  if (spec.resizeMode === 'shorter-side') {
    const longSide = (long, short) => {
      const exact = (long * resizeSize) / short;
      return Math.max(resizeSize, geometry === 'zoo' ? Math.round(exact) : Math.floor(exact));
    };
    if (width <= height) resizeHeight = longSide(height, width);
    else resizeWidth = longSide(width, height);
  } else if (spec.resizeMode !== 'direct') {
    throw new RangeError(`resizeGeometry: unknown resizeMode ${String(spec.resizeMode)}.`);
  }
  const corner = (resized) => geometry === 'torchvision'
    ? roundHalfToEven((resized - cropSize) / 2) : Math.floor((resized - cropSize) / 2);
  return { resizeWidth, resizeHeight, cropLeft: corner(resizeWidth), cropTop: corner(resizeHeight), cropSize };
}

// #endregion

/**
 * The JS engine of resample.ts's `resample` (same arguments, already checked): the `window` of `image` resized to
 * outWidth × outHeight with `filter` (`box`: the source span, for the pil-* filters), as interleaved bytes.
 */
export function resampleBytes(image, filter, outWidth, outHeight, window, box) {
  switch (filter) {
    case 'pil-bilinear':
    case 'pil-bicubic':
      return convolveJs(image, convolutionPlan(image, filter, outWidth, outHeight, window, box), window);
    case 'nearest':
      return nearest(image, outWidth, outHeight, window);
    case 'torch-bilinear': {
      const values = torchBilinear(image, outWidth, outHeight, window);
      const data = new Uint8Array(values.length);
      for (let i = 0; i < values.length; i++) data[i] = Math.round(values[i]);   // in [0, 255]: a convex blend
      return data;
    }
    default:
      throw new RangeError(`resample: unknown filter ${String(filter)}.`);
  }
}
