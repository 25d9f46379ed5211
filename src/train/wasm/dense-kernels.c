// Dense-layer training kernels for finetune's head trainer, compiled to WebAssembly SIMD (wasm32 + simd128).
// Build: `npx tsx scripts/build-wasm.ts` (Debian: apt-get install clang-14 lld-14). The result is embedded in
// dense-kernels-wasm.ts; test/train/wasm-build.test.ts checks that it matches a rebuild when clang is present.
//
// Layout, as in dense-kernels.ts: row-major float32; weights output-major [outputDim × inputDim].
// Every pointer is a byte offset into the one linear memory; no allocation happens here.
// Sums accumulate in float32 in a fixed order (no threads, no FMA contraction: WebAssembly has none), so the
// results are bit-identical from run to run on every machine.
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))
#define UNROLL _Pragma("clang loop unroll(full)")
#define INLINE static inline __attribute__((always_inline))

typedef float f32;

INLINE f32 hsum(v128_t v) {
  // ((a0 + a2) + (a1 + a3)): a fixed order.
  v128_t s = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  return wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1);
}

// ---- forward: out[i, j] = bias[j] + Σ_p x[i, p] · w[j, p] -------------------------------------------------
// Register tile of R rows × C outputs, reducing along p four lanes at a time (R·C accumulators).
INLINE void forward_tile(const f32* x, int in_dim, const f32* w, const f32* bias, int out_dim, f32* out,
                         int i0, int j0, const int R, const int C) {
  v128_t acc[4][2];
  UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] = wasm_f32x4_splat(0.0f);
  int p = 0;
  for (; p + 4 <= in_dim; p += 4) {
    v128_t xv[4], wv[2];
    UNROLL for (int r = 0; r < R; r++) xv[r] = wasm_v128_load(x + (i0 + r) * in_dim + p);
    UNROLL for (int c = 0; c < C; c++) wv[c] = wasm_v128_load(w + (j0 + c) * in_dim + p);
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++)
      acc[r][c] = wasm_f32x4_add(acc[r][c], wasm_f32x4_mul(xv[r], wv[c]));
  }
  UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) {
    f32 sum = hsum(acc[r][c]);
    for (int q = p; q < in_dim; q++) sum += x[(i0 + r) * in_dim + q] * w[(j0 + c) * in_dim + q];
    out[(i0 + r) * out_dim + j0 + c] = bias[j0 + c] + sum;
  }
}

INLINE void forward_rows(const f32* x, int in_dim, const f32* w, const f32* bias, int out_dim, f32* out,
                         int rows, int j0, const int C) {
  int i0 = 0;
  for (; i0 + 4 <= rows; i0 += 4) forward_tile(x, in_dim, w, bias, out_dim, out, i0, j0, 4, C);
  switch (rows - i0) {
    case 3: forward_tile(x, in_dim, w, bias, out_dim, out, i0, j0, 3, C); break;
    case 2: forward_tile(x, in_dim, w, bias, out_dim, out, i0, j0, 2, C); break;
    case 1: forward_tile(x, in_dim, w, bias, out_dim, out, i0, j0, 1, C); break;
    default: break;
  }
}

// Outputs outer, rows inner: a pair of weight rows stays in L1 while every input row passes by.
// Outputs j_begin ≤ j < j_end only, so two threads can share a layer.
EXPORT(dense_forward)
void dense_forward(const f32* x, int rows, int in_dim, const f32* w, const f32* bias, int out_dim, f32* out,
                   int j_begin, int j_end) {
  int j0 = j_begin;
  for (; j0 + 2 <= j_end; j0 += 2) forward_rows(x, in_dim, w, bias, out_dim, out, rows, j0, 2);
  if (j0 < j_end) forward_rows(x, in_dim, w, bias, out_dim, out, rows, j0, 1);
}

// ---- backward, input gradient: gx[i, p] = Σ_j g[i, j] · w[j, p] --------------------------------------------
// Tile of R rows × 16 columns of p; sums over j in order.
INLINE void backward_input_tile(const f32* g, int out_dim, const f32* w, int in_dim, f32* gx, int i0, int p0, const int R) {
  v128_t acc[2][4];
  UNROLL for (int r = 0; r < R; r++) UNROLL for (int v = 0; v < 4; v++) acc[r][v] = wasm_f32x4_splat(0.0f);
  for (int j = 0; j < out_dim; j++) {
    const f32* wrow = w + j * in_dim + p0;
    v128_t wv[4];
    UNROLL for (int v = 0; v < 4; v++) wv[v] = wasm_v128_load(wrow + 4 * v);
    UNROLL for (int r = 0; r < R; r++) {
      v128_t gs = wasm_v128_load32_splat(g + (i0 + r) * out_dim + j);
      UNROLL for (int v = 0; v < 4; v++) acc[r][v] = wasm_f32x4_add(acc[r][v], wasm_f32x4_mul(gs, wv[v]));
    }
  }
  UNROLL for (int r = 0; r < R; r++) UNROLL for (int v = 0; v < 4; v++) wasm_v128_store(gx + (i0 + r) * in_dim + p0 + 4 * v, acc[r][v]);
}

// Columns p_begin ≤ p < p_end only.
EXPORT(dense_backward_input)
void dense_backward_input(const f32* g, int rows, int out_dim, const f32* w, int in_dim, f32* gx, int p_begin, int p_end) {
  int p0 = p_begin;
  for (; p0 + 16 <= p_end; p0 += 16) {
    int i0 = 0;
    for (; i0 + 2 <= rows; i0 += 2) backward_input_tile(g, out_dim, w, in_dim, gx, i0, p0, 2);
    if (i0 < rows) backward_input_tile(g, out_dim, w, in_dim, gx, i0, p0, 1);
  }
  for (int i = 0; i < rows; i++)
    for (int p = p0; p < p_end; p++) {
      f32 sum = 0.0f;
      for (int j = 0; j < out_dim; j++) sum += g[i * out_dim + j] * w[j * in_dim + p];
      gx[i * in_dim + p] = sum;
    }
}

// ---- backward, weight gradient, optionally fused with the optimizer update ---------------------------------
// gw[j, p] = Σ_i g[i, j] · x[i, p], gb[j] = Σ_i g[i, j]; sums over i in order. The fused forms apply the update to
// each 4×16 tile of weights while its gradient is still in registers, so the gradient is never written.

typedef struct {
  f32 alpha;          // Adam: lr · √(1 − β2^t) / (1 − β1^t); SGD: lr
  f32 one_minus_beta1, one_minus_beta2, epsilon;
  f32 decay;          // decoupled weight decay factor (weightDecay · lr), applied first
  f32 momentum;       // SGD
  int mode;           // 0 write gradient, 1 Adam, 2 Adam + AMSGrad, 3 SGD, 4 SGD + momentum, 5 SGD + Nesterov
} update_t;

INLINE v128_t adam_lane(v128_t p, v128_t g, f32* mp, f32* vp, f32* vmaxp, const update_t* u) {
  v128_t m = wasm_v128_load(mp), v = wasm_v128_load(vp);
  m = wasm_f32x4_add(m, wasm_f32x4_mul(wasm_f32x4_sub(g, m), wasm_f32x4_splat(u->one_minus_beta1)));
  v = wasm_f32x4_add(v, wasm_f32x4_mul(wasm_f32x4_sub(wasm_f32x4_mul(g, g), v), wasm_f32x4_splat(u->one_minus_beta2)));
  wasm_v128_store(mp, m);
  wasm_v128_store(vp, v);
  if (u->mode == 2) { v = wasm_f32x4_max(wasm_v128_load(vmaxp), v); wasm_v128_store(vmaxp, v); }
  v128_t step = wasm_f32x4_div(wasm_f32x4_mul(m, wasm_f32x4_splat(u->alpha)),
                               wasm_f32x4_add(wasm_f32x4_sqrt(v), wasm_f32x4_splat(u->epsilon)));
  return wasm_f32x4_sub(p, step);
}

INLINE f32 adam_scalar(f32 p, f32 g, f32* mp, f32* vp, f32* vmaxp, const update_t* u) {
  f32 m = *mp + (g - *mp) * u->one_minus_beta1;
  f32 v = *vp + (g * g - *vp) * u->one_minus_beta2;
  *mp = m; *vp = v;
  if (u->mode == 2) { if (*vmaxp > v) v = *vmaxp; *vmaxp = v; }
  return p - (m * u->alpha) / (__builtin_sqrtf(v) + u->epsilon);
}

INLINE v128_t sgd_lane(v128_t p, v128_t g, f32* velp, const update_t* u) {
  v128_t lr = wasm_f32x4_splat(u->alpha);
  if (u->mode == 3) return wasm_f32x4_sub(p, wasm_f32x4_mul(lr, g));
  v128_t vel = wasm_f32x4_sub(wasm_f32x4_mul(wasm_v128_load(velp), wasm_f32x4_splat(u->momentum)), wasm_f32x4_mul(g, lr));
  wasm_v128_store(velp, vel);
  if (u->mode == 4) return wasm_f32x4_add(p, vel);
  return wasm_f32x4_add(p, wasm_f32x4_sub(wasm_f32x4_mul(vel, wasm_f32x4_splat(u->momentum)), wasm_f32x4_mul(g, lr)));
}

INLINE f32 sgd_scalar(f32 p, f32 g, f32* velp, const update_t* u) {
  if (u->mode == 3) return p - u->alpha * g;
  f32 vel = *velp * u->momentum - g * u->alpha;
  *velp = vel;
  if (u->mode == 4) return p + vel;
  return p + (vel * u->momentum - g * u->alpha);
}

// Applies the update to 4 lanes at `index` of the layer's parameters (params, state arrays share the index).
INLINE void update_lanes(f32* params, f32* grads, f32* s1, f32* s2, f32* s3, int index, v128_t g, const update_t* u) {
  if (u->mode == 0) { wasm_v128_store(grads + index, g); return; }
  v128_t p = wasm_v128_load(params + index);
  if (u->decay != 0.0f) p = wasm_f32x4_sub(p, wasm_f32x4_mul(p, wasm_f32x4_splat(u->decay)));
  p = u->mode <= 2 ? adam_lane(p, g, s1 + index, s2 + index, s3 + index, u) : sgd_lane(p, g, s1 + index, u);
  wasm_v128_store(params + index, p);
}

INLINE void update_one(f32* params, f32* grads, f32* s1, f32* s2, f32* s3, int index, f32 g, const update_t* u) {
  if (u->mode == 0) { grads[index] = g; return; }
  f32 p = params[index];
  if (u->decay != 0.0f) p = p - p * u->decay;
  p = u->mode <= 2 ? adam_scalar(p, g, s1 + index, s2 + index, s3 + index, u) : sgd_scalar(p, g, s1 + index, u);
  params[index] = p;
}

INLINE void weights_tile(const f32* g, int rows, int out_dim, const f32* x, int in_dim, int j0, int p0, const int C, const int SKIP,
                         f32* params, f32* grads, f32* s1, f32* s2, f32* s3, const update_t* u) {
  v128_t acc[4][4];
  UNROLL for (int c = 0; c < C; c++) UNROLL for (int v = 0; v < 4; v++) acc[c][v] = wasm_f32x4_splat(0.0f);
  for (int i = 0; i < rows; i++) {
    // A row whose gradient is zero for all C outputs adds only ±0 to sums that are never −0 (they start at +0
    // and x is finite), so skipping it leaves every bit as it was. ReLU and dropout make such rows common in
    // MLPs, and exp's cut-off (below) in confident softmax heads.
    if (SKIP) {
      int nonzero = 0;
      UNROLL for (int c = 0; c < C; c++) nonzero |= g[i * out_dim + j0 + c] != 0.0f;
      if (!nonzero) continue;
    }
    const f32* xrow = x + i * in_dim + p0;
    v128_t xv[4];
    UNROLL for (int v = 0; v < 4; v++) xv[v] = wasm_v128_load(xrow + 4 * v);
    UNROLL for (int c = 0; c < C; c++) {
      v128_t gs = wasm_v128_load32_splat(g + i * out_dim + j0 + c);
      UNROLL for (int v = 0; v < 4; v++) acc[c][v] = wasm_f32x4_add(acc[c][v], wasm_f32x4_mul(gs, xv[v]));
    }
  }
  UNROLL for (int c = 0; c < C; c++) UNROLL for (int v = 0; v < 4; v++)
    update_lanes(params, grads, s1, s2, s3, (j0 + c) * in_dim + p0 + 4 * v, acc[c][v], u);
}

INLINE void weights_columns(const f32* g, int rows, int out_dim, const f32* x, int in_dim, int j0, const int C,
                            f32* params, f32* grads, f32* s1, f32* s2, f32* s3, const update_t* u) {
  // The zero test costs ~10 % where no row is zero (a dense softmax gradient), so it runs only for columns that
  // have a zero row.
  int zero_row = 0;
  for (int i = 0; i < rows && !zero_row; i++) {
    int nonzero = 0;
    UNROLL for (int c = 0; c < C; c++) nonzero |= g[i * out_dim + j0 + c] != 0.0f;
    zero_row = !nonzero;
  }
  int p0 = 0;
  if (zero_row)
    for (; p0 + 16 <= in_dim; p0 += 16) weights_tile(g, rows, out_dim, x, in_dim, j0, p0, C, 1, params, grads, s1, s2, s3, u);
  else
    for (; p0 + 16 <= in_dim; p0 += 16) weights_tile(g, rows, out_dim, x, in_dim, j0, p0, C, 0, params, grads, s1, s2, s3, u);
  UNROLL for (int c = 0; c < C; c++)
    for (int p = p0; p < in_dim; p++) {
      f32 sum = 0.0f;
      for (int i = 0; i < rows; i++) sum += g[i * out_dim + j0 + c] * x[i * in_dim + p];
      update_one(params, grads, s1, s2, s3, (j0 + c) * in_dim + p, sum, u);
    }
}

// Weight gradient of one layer for outputs j_begin ≤ j < j_end, written to `grads` (mode 0) or applied at once to
// `params` (modes 1–5). The kernel occupies [0, out_dim·in_dim) of params/grads/s1/s2/s3, the bias the next
// out_dim entries. s1/s2/s3: Adam m, v, vmax; SGD velocity in s1. `update` points to an update_t in memory.
EXPORT(dense_backward_weights)
void dense_backward_weights(const f32* g, int rows, int out_dim, const f32* x, int in_dim,
                            f32* params, f32* grads, f32* s1, f32* s2, f32* s3, const update_t* update,
                            int j_begin, int j_end) {
  const update_t local = *update, *u = &local;   // a copy: stores into params cannot alias it, so it stays in registers
  int j0 = j_begin;
  for (; j0 + 2 <= j_end; j0 += 2) weights_columns(g, rows, out_dim, x, in_dim, j0, 2, params, grads, s1, s2, s3, u);
  if (j0 < j_end) weights_columns(g, rows, out_dim, x, in_dim, j0, 1, params, grads, s1, s2, s3, u);
  const int b = out_dim * in_dim;
  for (int j = j_begin; j < j_end; j++) {
    f32 sum = 0.0f;
    for (int i = 0; i < rows; i++) sum += g[i * out_dim + j];
    update_one(params, grads, s1, s2, s3, b + j, sum, u);
  }
}

// The optimizer update alone over `length` parameters (for gradients computed elsewhere).
EXPORT(apply_update)
void apply_update(f32* params, f32* grads, f32* s1, f32* s2, f32* s3, int length, const update_t* update) {
  const update_t local = *update, *u = &local;
  int i = 0;
  for (; i + 4 <= length; i += 4) update_lanes(params, grads, s1, s2, s3, i, wasm_v128_load(grads + i), u);
  for (; i < length; i++) update_one(params, grads, s1, s2, s3, i, grads[i], u);
}

// Sets optimizer state below 1e-30 in magnitude to 0 (the caller runs it every few dozen steps). Without it, state
// whose gradient stays 0 (a confident head: exp's cut-off below; a dead ReLU unit) decays into subnormals, where
// m − m·(1 − β1) rounds back to m, so it stays there, and x86 takes a microcode assist on every subnormal
// operation: a 2048→256 MLP's epochs ran 6× slower once its m had decayed. Adam's m takes ~170 steps from 1e-30
// to the subnormal range (v ~17,000), so a pass every 64 steps catches it first. What is dropped cannot move a
// parameter: Adam's step is ≤ α·m/ε (≈ 1e-26), √v < 1e-15 vanishes next to ε, SGD's velocity is the step itself.
// Flushing inside the update instead cost 50 % of a 1,280 × 1,000 Adam pass.
EXPORT(flush_state)
void flush_state(f32* state, int length) {
  const v128_t floor = wasm_f32x4_splat(1e-30f);
  int i = 0;
  for (; i + 4 <= length; i += 4) {
    v128_t s = wasm_v128_load(state + i);
    wasm_v128_store(state + i, wasm_v128_andnot(s, wasm_f32x4_lt(wasm_f32x4_abs(s), floor)));
  }
  for (; i < length; i++) if (__builtin_fabsf(state[i]) < 1e-30f) state[i] = 0.0f;
}

// ---- standardization of a gathered batch in place: x[i, p] = (x[i, p] − mean[p]) · inv_std[p] ------------------
EXPORT(standardize_rows)
void standardize_rows(f32* x, int rows, int dim, const f32* mean, const f32* inv_std) {
  for (int i = 0; i < rows; i++) {
    f32* row = x + i * dim;
    int p = 0;
    for (; p + 4 <= dim; p += 4)
      wasm_v128_store(row + p, wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(row + p), wasm_v128_load(mean + p)), wasm_v128_load(inv_std + p)));
    for (; p < dim; p++) row[p] = (row[p] - mean[p]) * inv_std[p];
  }
}

// ---- softmax cross-entropy over a batch of logits ------------------------------------------------------------
// The semantics of softmaxCrossEntropyRows in loss.ts: Keras label smoothing (y = onehot·(1 − s) + s/K), per-class
// weights, loss accumulated in float64 and returned; the rows whose first maximum is the label counted in
// *correct; with `gradient`, gradient_scale · weight · (softmax(z) − y) written there (it may alias the logits).
// exp is computed in float32 (range reduction to [−ln2/2, ln2/2] and a degree-6 polynomial, ≤ 2 ulp), log in float64.

INLINE v128_t exp_f32x4(v128_t x) {
  // exp(x) = 2^n · exp(r), n = round(x / ln2), r = x − n·ln2 (ln2 split in two for accuracy). Inputs here are ≤ 0.
  // Below −64 the result is 0 (exp(−64) ≈ 1.6e-28, nothing next to the row's largest term, 1): clamping there
  // instead made every confidently rejected class a subnormal gradient (exp(−87) · 1/sum · 1/rows), and x86 takes
  // a microcode assist on each subnormal operation, which slowed confident heads 20× in the weight-gradient pass.
  const v128_t negligible = wasm_f32x4_lt(x, wasm_f32x4_splat(-64.0f));
  x = wasm_f32x4_max(x, wasm_f32x4_splat(-64.0f));
  v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(x, wasm_f32x4_splat(1.44269504088896341f)));
  v128_t r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, wasm_f32x4_splat(-2.12194440e-4f)));
  v128_t p = wasm_f32x4_splat(1.9875691500e-4f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.3981999507e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(8.3334519073e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(4.1665795894e-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.6666665459e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(5.0000001201e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(p, r), r), wasm_f32x4_add(r, wasm_f32x4_splat(1.0f)));
  v128_t scale = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  return wasm_v128_andnot(wasm_f32x4_mul(p, scale), negligible);
}

INLINE f32 exp_f32(f32 x) {
  return wasm_f32x4_extract_lane(exp_f32x4(wasm_f32x4_splat(x)), 0);
}

// Natural log in float64 for x > 0 (x = m · 2^e with m in [√½, √2); log m = 2·atanh((m−1)/(m+1)) as a series).
static double log_f64(double x) {
  if (!(x > 0.0) || x == __builtin_inf()) return x == __builtin_inf() ? x : (x == 0.0 ? -__builtin_inf() : __builtin_nan(""));
  union { double d; unsigned long long u; } bits = { x };
  int e = (int)((bits.u >> 52) & 0x7ff) - 1023;
  bits.u = (bits.u & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;   // m in [1, 2)
  double m = bits.d;
  if (m > 1.4142135623730951) { m *= 0.5; e += 1; }
  double s = (m - 1.0) / (m + 1.0), s2 = s * s, term = s, sum = 0.0;
  for (int k = 1; k <= 27; k += 2) { sum += term / k; term *= s2; }
  return 2.0 * sum + e * 0.6931471805599453;
}

EXPORT(softmax_cross_entropy)
double softmax_cross_entropy(f32* logits, const int* labels, int rows, int num_classes, f32 label_smoothing,
                             const f32* class_weights, f32* gradient, f32 gradient_scale, int* correct) {
  const f32 off_value = label_smoothing / num_classes, on_value = 1.0f - label_smoothing + off_value;
  double loss_sum = 0.0;
  int hits = 0;
  for (int row = 0; row < rows; row++) {
    f32* z = logits + row * num_classes;
    const int label = labels[row];
    f32 max = -__builtin_inff();
    int argmax = 0;
    double z_sum = 0.0;
    for (int k = 0; k < num_classes; k++) {
      if (z[k] > max) { max = z[k]; argmax = k; }
      z_sum += z[k];
    }
    if (z[0] != z[0] || max == __builtin_inff()) max = __builtin_nanf("");   // the divergence guard sees NaN
    const double target_dot = (double)(on_value - off_value) * z[label] + (double)off_value * z_sum;
    f32* e = gradient == 0 ? 0 : gradient + row * num_classes;
    v128_t vmax = wasm_f32x4_splat(max), vsum = wasm_f32x4_splat(0.0f);
    int k = 0;
    for (; k + 4 <= num_classes; k += 4) {
      v128_t ex = exp_f32x4(wasm_f32x4_sub(wasm_v128_load(z + k), vmax));
      if (e != 0) wasm_v128_store(e + k, ex);
      vsum = wasm_f32x4_add(vsum, ex);
    }
    double sum = (double)hsum(vsum);
    for (; k < num_classes; k++) {
      f32 ex = exp_f32(z[k] - max);
      if (e != 0) e[k] = ex;
      sum += ex;
    }
    const f32 weight = class_weights == 0 ? 1.0f : class_weights[label];
    loss_sum += weight * ((double)max + log_f64(sum) - target_dot);
    if (argmax == label) hits++;
    if (e != 0) {
      const f32 scale = gradient_scale * weight, inv_sum = (f32)(1.0 / sum);
      const v128_t vscale = wasm_f32x4_splat(scale), vinv = wasm_f32x4_splat(inv_sum), voff = wasm_f32x4_splat(off_value);
      int j = 0;
      for (; j + 4 <= num_classes; j += 4)
        wasm_v128_store(e + j, wasm_f32x4_mul(vscale, wasm_f32x4_sub(wasm_f32x4_mul(wasm_v128_load(e + j), vinv), voff)));
      for (; j < num_classes; j++) e[j] = scale * (e[j] * inv_sum - off_value);
      e[label] -= scale * (on_value - off_value);
    }
  }
  *correct = hits;
  return loss_sum;
}

// ---- dropout: mask[i] = draw_i ≤ threshold ? 0 : keep; values[i] *= mask[i] ------------------------------------
// draw_i is the i-th output of mulberry32 (util/rng.ts's Rng) from `state`: the generator is counter-based (draw i
// mixes state + (i+1)·0x6d2b79f5), so four lanes draw four consecutive values, the same as Rng.nextUint32 in turn.
// `threshold` is ⌈rate · 2^32⌉ − 1, so draw ≤ threshold ⇔ Rng.nextFloat() < rate.
INLINE v128_t mulberry32_mix(v128_t t) {
  t = wasm_i32x4_mul(wasm_v128_xor(t, wasm_u32x4_shr(t, 15)), wasm_v128_or(t, wasm_i32x4_splat(1)));
  t = wasm_v128_xor(t, wasm_i32x4_add(t, wasm_i32x4_mul(wasm_v128_xor(t, wasm_u32x4_shr(t, 7)), wasm_v128_or(t, wasm_i32x4_splat(61)))));
  return wasm_v128_xor(t, wasm_u32x4_shr(t, 14));
}

EXPORT(dropout)
void dropout(f32* values, f32* mask, int length, unsigned state, unsigned threshold, f32 keep) {
  const unsigned step = 0x6d2b79f5u;
  v128_t counter = wasm_i32x4_make((int)(state + step), (int)(state + 2 * step), (int)(state + 3 * step), (int)(state + 4 * step));
  const v128_t advance = wasm_i32x4_splat((int)(4 * step)), vthreshold = wasm_i32x4_splat((int)threshold), vkeep = wasm_f32x4_splat(keep);
  int i = 0;
  for (; i + 4 <= length; i += 4) {
    v128_t dropped = wasm_u32x4_le(mulberry32_mix(counter), vthreshold);
    v128_t m = wasm_v128_andnot(vkeep, dropped);
    wasm_v128_store(mask + i, m);
    wasm_v128_store(values + i, wasm_f32x4_mul(wasm_v128_load(values + i), m));
    counter = wasm_i32x4_add(counter, advance);
  }
  for (; i < length; i++) {
    v128_t draw = mulberry32_mix(wasm_i32x4_splat((int)(state + (unsigned)(i + 1) * step)));
    const f32 m = (unsigned)wasm_i32x4_extract_lane(draw, 0) <= threshold ? 0.0f : keep;
    mask[i] = m;
    values[i] = values[i] * m;
  }
}
