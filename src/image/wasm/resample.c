// Pillow's two resampling passes for 8-bit images (pil-bilinear, pil-bicubic), compiled to WebAssembly SIMD
// (wasm32 + simd128). Build: `npx tsx scripts/build-wasm.ts` (Debian: apt-get install clang-14 lld-14); the result is
// embedded in resample-wasm.ts. The weights come from resample.ts (convolutionAxis), so this file only does the sums.
//
// Arithmetic is Pillow's, exactly: weights are int32 (× 2^22), sums start at 2^21 and accumulate in int32 (Pillow's
// two spare bits guarantee no overflow), each pass ends with an arithmetic shift by 22 clamped to 0..255. Lanes hold
// independent channels or columns, so the order of the additions per value is the scalar order and the results are
// Pillow's bit for bit (test/image/resample-wasm.test.ts compares with the JS reference on random images).
//
// Every pointer is a byte offset into the one linear memory; no allocation happens here. Callers leave 16 readable
// bytes after the source image: a 3-channel pixel is read as 4 bytes, and the 1-channel pass reads whole groups of 4
// taps (their weights past `taps` are 0).
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))
#define INLINE static inline __attribute__((always_inline))

#define PRECISION_BITS 22
#define ROUNDING (1 << (PRECISION_BITS - 1))

INLINE uint8_t clip8(int32_t sum) {
  int32_t value = sum >> PRECISION_BITS;
  return value < 0 ? 0 : value > 255 ? 255 : (uint8_t)value;
}

// Four bytes at p → i32x4 (zero-extended).
INLINE v128_t load4(const uint8_t* p) {
  return wasm_u32x4_extend_low_u16x8(wasm_u16x8_extend_low_u8x16(wasm_v128_load32_zero(p)));
}

// i32x4 sums → four clip8 bytes, in lane order (signed saturation to i16, then unsigned to u8: exactly clip8 here).
INLINE uint32_t clip8x4(v128_t sums) {
  v128_t shifted = wasm_i32x4_shr(sums, PRECISION_BITS);
  v128_t words = wasm_i16x8_narrow_i32x4(shifted, shifted);
  return wasm_i32x4_extract_lane(wasm_u8x16_narrow_i16x8(words, words), 0);
}

// Horizontal pass over source rows [first_row, last_row): out gets `out_count` pixels of `channels` bytes per row.
// bounds[2c] is the first source column of output c, bounds[2c + 1] its number of taps; its weights start at
// weights[c * stride].
EXPORT(convolve_rows)
void convolve_rows(const uint8_t* src, int width, int channels, int first_row, int last_row, const int32_t* bounds,
                   const int32_t* weights, int stride, int out_count, uint8_t* out) {
  for (int row = first_row; row < last_row; row++) {
    const uint8_t* line = src + row * width * channels;
    if (channels == 3 || channels == 4) {
      for (int column = 0; column < out_count; column++) {
        const int taps = bounds[2 * column + 1];
        const int32_t* w = weights + column * stride;
        const uint8_t* pixel = line + bounds[2 * column] * channels;
        v128_t sums = wasm_i32x4_splat(ROUNDING);
        for (int tap = 0; tap < taps; tap++, pixel += channels)
          sums = wasm_i32x4_add(sums, wasm_i32x4_mul(load4(pixel), wasm_i32x4_splat(w[tap])));
        uint32_t packed = clip8x4(sums);
        out[0] = (uint8_t)packed;
        out[1] = (uint8_t)(packed >> 8);
        out[2] = (uint8_t)(packed >> 16);
        if (channels == 4) out[3] = (uint8_t)(packed >> 24);
        out += channels;
      }
    } else if (channels == 1) {
      for (int column = 0; column < out_count; column++) {
        const int taps = bounds[2 * column + 1];
        const int32_t* w = weights + column * stride;
        const uint8_t* pixel = line + bounds[2 * column];
        v128_t sums = wasm_i32x4_splat(0);
        for (int tap = 0; tap < taps; tap += 4)   // weights past `taps` are 0 up to `stride`, a multiple of 4
          sums = wasm_i32x4_add(sums, wasm_i32x4_mul(load4(pixel + tap), wasm_v128_load(w + tap)));
        // Integer addition is associative (wrapping), so summing the lanes in any order gives Pillow's sum.
        int32_t sum = ROUNDING + wasm_i32x4_extract_lane(sums, 0) + wasm_i32x4_extract_lane(sums, 1) +
                      wasm_i32x4_extract_lane(sums, 2) + wasm_i32x4_extract_lane(sums, 3);
        *out++ = clip8(sum);
      }
    } else {
      for (int column = 0; column < out_count; column++) {
        const int taps = bounds[2 * column + 1];
        const int32_t* w = weights + column * stride;
        const uint8_t* first = line + bounds[2 * column] * channels;
        for (int channel = 0; channel < channels; channel++) {
          int32_t sum = ROUNDING;
          for (int tap = 0; tap < taps; tap++) sum += first[tap * channels + channel] * w[tap];
          *out++ = clip8(sum);
        }
      }
    }
  }
}

// Vertical pass: output row r blends rows bounds[2r] − first_row … of `rows` (row_length bytes each), sixteen
// bytes at a time.
EXPORT(convolve_columns)
void convolve_columns(const uint8_t* rows, int row_length, int first_row, const int32_t* bounds, const int32_t* weights,
                      int stride, int out_rows, uint8_t* out) {
  for (int row = 0; row < out_rows; row++) {
    const int taps = bounds[2 * row + 1];
    const int32_t* w = weights + row * stride;
    const uint8_t* top = rows + (bounds[2 * row] - first_row) * row_length;
    uint8_t* target = out + row * row_length;
    int i = 0;
    for (; i + 16 <= row_length; i += 16) {
      v128_t s0 = wasm_i32x4_splat(ROUNDING), s1 = s0, s2 = s0, s3 = s0;
      for (int tap = 0; tap < taps; tap++) {
        v128_t bytes = wasm_v128_load(top + tap * row_length + i);
        v128_t low = wasm_u16x8_extend_low_u8x16(bytes), high = wasm_u16x8_extend_high_u8x16(bytes);
        v128_t weight = wasm_i32x4_splat(w[tap]);
        s0 = wasm_i32x4_add(s0, wasm_i32x4_mul(wasm_u32x4_extend_low_u16x8(low), weight));
        s1 = wasm_i32x4_add(s1, wasm_i32x4_mul(wasm_u32x4_extend_high_u16x8(low), weight));
        s2 = wasm_i32x4_add(s2, wasm_i32x4_mul(wasm_u32x4_extend_low_u16x8(high), weight));
        s3 = wasm_i32x4_add(s3, wasm_i32x4_mul(wasm_u32x4_extend_high_u16x8(high), weight));
      }
      v128_t words01 = wasm_i16x8_narrow_i32x4(wasm_i32x4_shr(s0, PRECISION_BITS), wasm_i32x4_shr(s1, PRECISION_BITS));
      v128_t words23 = wasm_i16x8_narrow_i32x4(wasm_i32x4_shr(s2, PRECISION_BITS), wasm_i32x4_shr(s3, PRECISION_BITS));
      wasm_v128_store(target + i, wasm_u8x16_narrow_i16x8(words01, words23));
    }
    for (; i < row_length; i++) {
      int32_t sum = ROUNDING;
      for (int tap = 0; tap < taps; tap++) sum += top[tap * row_length + i] * w[tap];
      target[i] = clip8(sum);
    }
  }
}
