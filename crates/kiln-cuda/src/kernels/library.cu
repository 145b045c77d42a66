// Kiln's static CUDA kernel library: data movement, pooling, softmax, reductions, normalization.
// Every kernel takes one parameter struct by value; the matching #[repr(C)] structs are in
// src/kernels/mod.rs. Elementwise work is generated per layer instead (src/codegen.rs).

// ---------------------------------------------------------------------------------------------
// Convolution epilogue over channel-last output: y[i] = clamp(acc[i] * alpha[c] + bias[c], lo, hi)
// with c = i % k. INT8 convolutions accumulate in int32 and cuDNN hands back float32 `acc`;
// alpha[c] = s_x * s_w[c] (per-tensor activation scale times per-channel weight scale) restores
// real units. alpha and bias are optional (null); acc may be y itself (in place). k % 4 == 0, so
// four channels go per thread with vector loads.
struct ConvEpilogueArgs {
  const void* acc;
  const float* alpha;
  const void* bias;
  void* y;
  i64 n4;  // elements / 4
  i64 k4;  // channels / 4
  float lo;
  float hi;
};

template <typename TA, typename TY>
__device__ void conv_epilogue(const ConvEpilogueArgs& a) {
  const TA* acc = (const TA*)a.acc;
  const TY* bias = (const TY*)a.bias;
  TY* y = (TY*)a.y;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < a.n4; i += (i64)gridDim.x * blockDim.x) {
    i64 c = (i % a.k4) * 4;
    float v[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) v[j] = ldf(acc, i * 4 + j);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      if (a.alpha) v[j] *= a.alpha[c + j];
      if (bias) v[j] += ldf(bias, c + j);
      v[j] = fminf(fmaxf(v[j], a.lo), a.hi);
      stf(y, i * 4 + j, v[j]);
    }
  }
}
extern "C" __global__ void conv_epilogue_f32_f32(ConvEpilogueArgs a) { conv_epilogue<float, float>(a); }
extern "C" __global__ void conv_epilogue_f32_f16(ConvEpilogueArgs a) { conv_epilogue<float, kiln_half>(a); }
extern "C" __global__ void conv_epilogue_f16_f16(ConvEpilogueArgs a) { conv_epilogue<kiln_half, kiln_half>(a); }

// ---------------------------------------------------------------------------------------------
// Strided copy: out[view index] = in[in_off + sum(((c_k % mod_k) * in_st_k)], over a view of
// rank <= 8. Covers transpose, slice, expand, tile, concat (into an offset block), split.
struct CopyArgs {
  const void* src;
  void* dst;
  i64 n;
  int rank;
  int pad;
  i64 dims[KILN_MAX_RANK];
  i64 src_st[KILN_MAX_RANK];
  i64 src_mod[KILN_MAX_RANK];
  i64 dst_st[KILN_MAX_RANK];
  i64 src_off;
  i64 dst_off;
};

template <typename T>
__device__ void strided_copy(const CopyArgs& a) {
  const T* src = (const T*)a.src;
  T* dst = (T*)a.dst;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < a.n; i += (i64)gridDim.x * blockDim.x) {
    i64 rem = i, so = a.src_off, d = a.dst_off;
    for (int k = a.rank - 1; k >= 0; --k) {
      i64 c = rem % a.dims[k];
      rem /= a.dims[k];
      so += (c % a.src_mod[k]) * a.src_st[k];
      d += c * a.dst_st[k];
    }
    dst[d] = src[so];
  }
}
extern "C" __global__ void strided_copy_b1(CopyArgs a) { strided_copy<unsigned char>(a); }
extern "C" __global__ void strided_copy_b2(CopyArgs a) { strided_copy<unsigned short>(a); }
extern "C" __global__ void strided_copy_b4(CopyArgs a) { strided_copy<unsigned int>(a); }
extern "C" __global__ void strided_copy_b8(CopyArgs a) { strided_copy<unsigned long long>(a); }

// ---------------------------------------------------------------------------------------------
// Gather along one axis: out[o, j, i] = data[o, wrap(idx[j]), i]. Out-of-range indices were
// rejected on the host side only for constant indices, so they are clamped here to stay in bounds
// and reported through `err` (set to 1 + the bad index position).
struct GatherArgs {
  const void* src;
  void* dst;
  const void* idx;
  int idx64;
  int pad;
  i64 outer;
  i64 axis_dim;
  i64 inner;
  i64 n_idx;
  unsigned long long* err;
};

template <typename T>
__device__ void gather(const GatherArgs& a) {
  const T* src = (const T*)a.src;
  T* dst = (T*)a.dst;
  i64 n = a.outer * a.n_idx * a.inner;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    i64 in_ = i % a.inner;
    i64 j = (i / a.inner) % a.n_idx;
    i64 o = i / (a.inner * a.n_idx);
    i64 k = a.idx64 ? ((const i64*)a.idx)[j] : (i64)((const int*)a.idx)[j];
    if (k < 0) k += a.axis_dim;
    if (k < 0 || k >= a.axis_dim) {
      if (a.err) atomicCAS(a.err, 0ull, (unsigned long long)(j + 1));
      k = 0;
    }
    dst[i] = src[(o * a.axis_dim + k) * a.inner + in_];
  }
}
extern "C" __global__ void gather_b1(GatherArgs a) { gather<unsigned char>(a); }
extern "C" __global__ void gather_b2(GatherArgs a) { gather<unsigned short>(a); }
extern "C" __global__ void gather_b4(GatherArgs a) { gather<unsigned int>(a); }
extern "C" __global__ void gather_b8(GatherArgs a) { gather<unsigned long long>(a); }

// ---------------------------------------------------------------------------------------------
// Pooling over up to 3 spatial dims, one thread per output element. kind: 0 max, 1 average,
// 2 Lp. Padding positions are skipped; average divides by the window size clipped to the padded
// input when count_include_pad, else by the number of real elements (ONNX semantics).
struct PoolArgs {
  const void* src;
  void* dst;
  i64 nc;
  int rank;
  int kind;
  int count_include_pad;
  float p;
  i64 in[3];
  i64 out[3];
  i64 k[3];
  i64 s[3];
  i64 pb[3];
  i64 pe[3];
  i64 d[3];
  i64 c;
  int in_nhwc;
  int out_nhwc;
};

// I: the index type. Integer division dominates this kernel, and 32-bit division is several
// times cheaper than 64-bit: the launcher takes the `int` variant when every index fits.
template <typename T, typename I>
__device__ void pool(const PoolArgs& a) {
  const T* src = (const T*)a.src;
  T* dst = (T*)a.dst;
  I osz = 1, isz = 1;
  for (int r = 0; r < a.rank; ++r) { osz *= (I)a.out[r]; isz *= (I)a.in[r]; }
  I n = (I)a.nc * osz;
  for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < n; i += (I)gridDim.x * blockDim.x) {
    // (n, c) plane and spatial position of output element i, in either storage order.
    I plane, rem, nn, cc;
    if (a.out_nhwc) { cc = i % (I)a.c; I r = i / (I)a.c; rem = r % osz; nn = r / osz; }
    else { rem = i % osz; I p = i / osz; cc = p % (I)a.c; nn = p / (I)a.c; }
    plane = nn * (I)a.c + cc;
    I oc[3] = {0, 0, 0};
    for (int r = a.rank - 1; r >= 0; --r) { oc[r] = rem % (I)a.out[r]; rem /= (I)a.out[r]; }
    I kk[3] = {a.rank > 0 ? (I)a.k[0] : 1, a.rank > 1 ? (I)a.k[1] : 1, a.rank > 2 ? (I)a.k[2] : 1};
    float acc = a.kind == 0 ? -kiln_inf() : 0.0f;
    I count = 0, padded = 1;
    // Window size clipped to the padded extent (count_include_pad divisor).
    for (int r = 0; r < a.rank; ++r) {
      I start = oc[r] * (I)a.s[r] - (I)a.pb[r];
      I end = start + ((I)a.k[r] - 1) * (I)a.d[r] + 1;
      I lim = (I)a.in[r] + (I)a.pe[r];
      if (end > lim) end = lim;
      padded *= (end - start + (I)a.d[r] - 1) / (I)a.d[r];
    }
    const T* base = a.in_nhwc ? src + (i64)nn * isz * a.c + cc : src + (i64)plane * isz;
    const I step = a.in_nhwc ? (I)a.c : 1;
    for (I k0 = 0; k0 < kk[0]; ++k0)
      for (I k1 = 0; k1 < kk[1]; ++k1)
        for (I k2 = 0; k2 < kk[2]; ++k2) {
          I kc[3] = {k0, k1, k2};
          I off = 0;
          bool inside = true;
          for (int r = 0; r < a.rank; ++r) {
            I x = oc[r] * (I)a.s[r] - (I)a.pb[r] + kc[r] * (I)a.d[r];
            if (x < 0 || x >= (I)a.in[r]) { inside = false; break; }
            off = off * (I)a.in[r] + x;
          }
          if (!inside) continue;
          float v = ldf(base, off * step);
          if (a.kind == 0) acc = (v > acc || v != v) ? v : acc;
          else if (a.kind == 1) acc += v;
          else acc += powf(fabsf(v), a.p);
          ++count;
        }
    float out;
    if (a.kind == 0) out = acc;
    else if (a.kind == 1) out = acc / (float)(a.count_include_pad ? padded : (count > 0 ? count : 1));
    else out = powf(acc, 1.0f / a.p);
    stf(dst, i, out);
  }
}
// The 2-D case with scalar indices (no per-dimension arrays, which the generic kernel indexes
// dynamically and so keeps in local memory): what CNNs run.
template <typename T>
__device__ void pool2d(const PoolArgs& a) {
  const T* src = (const T*)a.src;
  T* dst = (T*)a.dst;
  const int C = (int)a.c, H = (int)a.in[0], W = (int)a.in[1], OH = (int)a.out[0], OW = (int)a.out[1];
  const int KH = (int)a.k[0], KW = (int)a.k[1], SH = (int)a.s[0], SW = (int)a.s[1];
  const int PH = (int)a.pb[0], PW = (int)a.pb[1], DH = (int)a.d[0], DW = (int)a.d[1];
  const int EH = H + (int)a.pe[0], EW = W + (int)a.pe[1];
  const int n = (int)a.nc * OH * OW;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    int c, ow, oh, b, r;
    if (a.out_nhwc) { c = i % C; r = i / C; ow = r % OW; r /= OW; oh = r % OH; b = r / OH; }
    else { ow = i % OW; r = i / OW; oh = r % OH; r /= OH; c = r % C; b = r / C; }
    const int h0 = oh * SH - PH, w0 = ow * SW - PW;
    float acc = a.kind == 0 ? -kiln_inf() : 0.0f;
    int count = 0;
    for (int kh = 0; kh < KH; ++kh) {
      const int h = h0 + kh * DH;
      if (h < 0 || h >= H) continue;
      for (int kw = 0; kw < KW; ++kw) {
        const int w = w0 + kw * DW;
        if (w < 0 || w >= W) continue;
        const i64 off = a.in_nhwc ? (((i64)b * H + h) * W + w) * C + c : (((i64)b * C + c) * H + h) * W + w;
        const float v = ldf(src, off);
        if (a.kind == 0) acc = (v > acc || v != v) ? v : acc;
        else if (a.kind == 1) acc += v;
        else acc += powf(fabsf(v), a.p);
        ++count;
      }
    }
    float out;
    if (a.kind == 0) out = acc;
    else if (a.kind == 1) {
      const int ph = (min(h0 + (KH - 1) * DH + 1, EH) - h0 + DH - 1) / DH;
      const int pw = (min(w0 + (KW - 1) * DW + 1, EW) - w0 + DW - 1) / DW;
      out = acc / (float)(a.count_include_pad ? ph * pw : (count > 0 ? count : 1));
    } else out = powf(acc, 1.0f / a.p);
    stf(dst, i, out);
  }
}
extern "C" __global__ void pool2d_f32(PoolArgs a) { pool2d<float>(a); }
extern "C" __global__ void pool2d_f16(PoolArgs a) { pool2d<kiln_half>(a); }
extern "C" __global__ void pool_f32(PoolArgs a) { pool<float, i64>(a); }
extern "C" __global__ void pool_f16(PoolArgs a) { pool<kiln_half, i64>(a); }
extern "C" __global__ void pool_f32_i32(PoolArgs a) { pool<float, int>(a); }
extern "C" __global__ void pool_f16_i32(PoolArgs a) { pool<kiln_half, int>(a); }

// ---------------------------------------------------------------------------------------------
// Block-wide reductions (blockDim.x = 256).
__device__ float block_sum(float v, float* sh) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  float t = 0.0f;
  for (int w = 0; w < (int)(blockDim.x + 31) / 32; ++w) t += sh[w];
  return t;
}
__device__ float block_max(float v, float* sh) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  float t = -kiln_inf();
  for (int w = 0; w < (int)(blockDim.x + 31) / 32; ++w) t = fmaxf(t, sh[w]);
  return t;
}

// Softmax family along one axis: one block per (outer, inner) row. kind: 0 softmax,
// 1 log-softmax, 2 hardmax (first maximum wins).
struct SoftmaxArgs {
  const void* src;
  void* dst;
  i64 outer;
  i64 axis;
  i64 inner;
  int kind;
  int pad;
};

template <typename T>
__device__ void softmax(const SoftmaxArgs& a) {
  __shared__ float sh[32];
  const T* src = (const T*)a.src;
  T* dst = (T*)a.dst;
  for (i64 row = blockIdx.x; row < a.outer * a.inner; row += gridDim.x) {
    i64 o = row / a.inner, in_ = row % a.inner;
    i64 base = o * a.axis * a.inner + in_;
    float m = -kiln_inf();
    for (i64 j = threadIdx.x; j < a.axis; j += blockDim.x) m = fmaxf(m, ldf(src, base + j * a.inner));
    m = block_max(m, sh);
    if (a.kind == 2) {
      // First index holding the maximum.
      __shared__ unsigned long long first;
      if (threadIdx.x == 0) first = 0xffffffffffffffffull;
      __syncthreads();
      for (i64 j = threadIdx.x; j < a.axis; j += blockDim.x)
        if (ldf(src, base + j * a.inner) == m) atomicMin(&first, (unsigned long long)j);
      __syncthreads();
      for (i64 j = threadIdx.x; j < a.axis; j += blockDim.x) stf(dst, base + j * a.inner, (unsigned long long)j == first ? 1.0f : 0.0f);
      __syncthreads();
      continue;
    }
    float s = 0.0f;
    for (i64 j = threadIdx.x; j < a.axis; j += blockDim.x) s += expf(ldf(src, base + j * a.inner) - m);
    s = block_sum(s, sh);
    float ls = logf(s);
    for (i64 j = threadIdx.x; j < a.axis; j += blockDim.x) {
      float x = ldf(src, base + j * a.inner) - m;
      stf(dst, base + j * a.inner, a.kind == 1 ? x - ls : expf(x) / s);
    }
    __syncthreads();
  }
}
extern "C" __global__ void softmax_f32(SoftmaxArgs a) { softmax<float>(a); }
extern "C" __global__ void softmax_f16(SoftmaxArgs a) { softmax<kiln_half>(a); }

// ---------------------------------------------------------------------------------------------
// Reduce: one block per output element; the reduced elements are enumerated through up to 8
// (dim, stride) pairs. op: 0 sum, 1 prod, 2 max, 3 min, 4 mean, 5 L1, 6 L2, 7 log-sum,
// 8 log-sum-exp, 9 sum-square. Accumulation in float (double for sums of many terms would be
// slower than the FP32 contract needs).
struct ReduceArgs {
  const void* src;
  void* dst;
  i64 n_out;
  int out_rank;
  int red_rank;
  i64 out_dims[KILN_MAX_RANK];
  i64 out_st[KILN_MAX_RANK];
  i64 red_dims[KILN_MAX_RANK];
  i64 red_st[KILN_MAX_RANK];
  i64 red_n;
  int op;
  int pad;
};

template <typename T>
__device__ void reduce(const ReduceArgs& a) {
  __shared__ float sh[32];
  const T* src = (const T*)a.src;
  T* dst = (T*)a.dst;
  for (i64 o = blockIdx.x; o < a.n_out; o += gridDim.x) {
    i64 rem = o, base = 0;
    for (int k = a.out_rank - 1; k >= 0; --k) { base += (rem % a.out_dims[k]) * a.out_st[k]; rem /= a.out_dims[k]; }
    float m = -kiln_inf();
    if (a.op == 8 || a.op == 2 || a.op == 3) {
      float mx = -kiln_inf(), mn = kiln_inf();
      bool nan = false;
      for (i64 j = threadIdx.x; j < a.red_n; j += blockDim.x) {
        i64 r = j, off = base;
        for (int k = a.red_rank - 1; k >= 0; --k) { off += (r % a.red_dims[k]) * a.red_st[k]; r /= a.red_dims[k]; }
        float v = ldf(src, off);
        nan |= (v != v);
        mx = fmaxf(mx, v);
        mn = fminf(mn, v);
      }
      float nanf_ = block_max(nan ? 1.0f : 0.0f, sh);
      if (a.op == 3) { mx = -block_max(-mn, sh); } else { mx = block_max(mx, sh); }
      if (a.op != 8) {
        if (threadIdx.x == 0) stf(dst, o, nanf_ > 0.0f ? kiln_nan() : mx);
        __syncthreads();
        continue;
      }
      m = mx;
    }
    float acc = (a.op == 1) ? 1.0f : 0.0f;
    for (i64 j = threadIdx.x; j < a.red_n; j += blockDim.x) {
      i64 r = j, off = base;
      for (int k = a.red_rank - 1; k >= 0; --k) { off += (r % a.red_dims[k]) * a.red_st[k]; r /= a.red_dims[k]; }
      float v = ldf(src, off);
      switch (a.op) {
        case 1: acc *= v; break;
        case 5: acc += fabsf(v); break;
        case 6: case 9: acc += v * v; break;
        case 8: acc += expf(v - m); break;
        default: acc += v;
      }
    }
    if (a.op == 1) {
      // Product: combine per-thread partial products through shared memory (no block_prod).
      __shared__ float part[256];
      part[threadIdx.x] = acc;
      __syncthreads();
      if (threadIdx.x == 0) {
        float p = 1.0f;
        for (int t = 0; t < (int)blockDim.x; ++t) p *= part[t];
        stf(dst, o, p);
      }
      __syncthreads();
      continue;
    }
    acc = block_sum(acc, sh);
    if (threadIdx.x == 0) {
      float out = acc;
      if (a.op == 4) out = acc / (float)a.red_n;
      else if (a.op == 6) out = sqrtf(acc);
      else if (a.op == 7) out = logf(acc);
      else if (a.op == 8) out = (a.red_n == 0) ? -kiln_inf() : m + logf(acc);
      stf(dst, o, out);
    }
    __syncthreads();
  }
}
extern "C" __global__ void reduce_f32(ReduceArgs a) { reduce<float>(a); }
extern "C" __global__ void reduce_f16(ReduceArgs a) { reduce<kiln_half>(a); }

// ---------------------------------------------------------------------------------------------
// Row normalization (instance, group, layer): one block per row of `row_len` contiguous elements;
// two-pass mean/variance in float. The affine parameters are indexed by `param_index`:
// mode 0 (instance/group: per channel) p = ((row % groups_per_batch) * chans_per_row) + j / spatial,
// with the channel taken modulo `channels`; mode 1 (layer: per element of the row) p = j % param_len.
struct RowNormArgs {
  const void* src;
  void* dst;
  const void* scale;
  const void* bias;
  int param_half;
  int mode;
  i64 rows;
  i64 row_len;
  i64 rows_per_batch;
  i64 chans_per_row;
  i64 spatial;
  i64 param_len;
  float eps;
  int pad;
};

template <typename T>
__device__ void row_norm(const RowNormArgs& a) {
  __shared__ float sh[32];
  const T* src = (const T*)a.src;
  T* dst = (T*)a.dst;
  for (i64 row = blockIdx.x; row < a.rows; row += gridDim.x) {
    const T* x = src + row * a.row_len;
    float s = 0.0f;
    for (i64 j = threadIdx.x; j < a.row_len; j += blockDim.x) s += ldf(x, j);
    float mean = block_sum(s, sh) / (float)a.row_len;
    float v = 0.0f;
    for (i64 j = threadIdx.x; j < a.row_len; j += blockDim.x) { float d = ldf(x, j) - mean; v += d * d; }
    float var = block_sum(v, sh) / (float)a.row_len;
    float inv = rsqrtf(var + a.eps);
    for (i64 j = threadIdx.x; j < a.row_len; j += blockDim.x) {
      i64 p = a.mode == 0 ? ((row % a.rows_per_batch) * a.chans_per_row + j / a.spatial) % a.param_len : j % a.param_len;
      float g = a.scale ? (a.param_half ? h2f(((const kiln_half*)a.scale)[p]) : ((const float*)a.scale)[p]) : 1.0f;
      float b = a.bias ? (a.param_half ? h2f(((const kiln_half*)a.bias)[p]) : ((const float*)a.bias)[p]) : 0.0f;
      stf(dst + row * a.row_len, j, (ldf(x, j) - mean) * inv * g + b);
    }
    __syncthreads();
  }
}
extern "C" __global__ void row_norm_f32(RowNormArgs a) { row_norm<float>(a); }
extern "C" __global__ void row_norm_f16(RowNormArgs a) { row_norm<kiln_half>(a); }

// Local response normalization across channels of [N, C, spatial]: one thread per element.
struct LrnArgs {
  const void* src;
  void* dst;
  i64 n;
  i64 c;
  i64 spatial;
  int size;
  float alpha;
  float beta;
  float bias;
};

template <typename T>
__device__ void lrn(const LrnArgs& a) {
  const T* src = (const T*)a.src;
  T* dst = (T*)a.dst;
  i64 total = a.n * a.c * a.spatial;
  int lo = (a.size - 1) / 2, hi = a.size / 2;  // floor((size-1)/2) before, ceil((size-1)/2) after
  hi = a.size - 1 - lo;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < total; i += (i64)gridDim.x * blockDim.x) {
    i64 s = i % a.spatial, ch = (i / a.spatial) % a.c, b = i / (a.spatial * a.c);
    float sq = 0.0f;
    for (i64 k = ch - lo; k <= ch + hi; ++k) {
      if (k < 0 || k >= a.c) continue;
      float v = ldf(src, (b * a.c + k) * a.spatial + s);
      sq += v * v;
    }
    stf(dst, i, ldf(src, i) / powf(a.bias + a.alpha / (float)a.size * sq, a.beta));
  }
}
extern "C" __global__ void lrn_f32(LrnArgs a) { lrn<float>(a); }
extern "C" __global__ void lrn_f16(LrnArgs a) { lrn<kiln_half>(a); }

// ---------------------------------------------------------------------------------------------
// INT8 calibration scan of |x| (kiln_core::calibration::scan_f32 / scan_f16 on the device): max |x|
// over finite values, the counts of finite and non-finite values, and, when width > 0, counts by
// min(floor((double)|x| / width), CALIB_MAX_BINS - 1) — the same f64 division as the CPU, so both
// backends bin every value identically. `out` is the context's scratch buffer of u64 words:
// [0] max |x| as float bits (atomicMax on the bits orders non-negative floats), [1] finite,
// [2] non-finite, [3 ..] the bins. The host zeroes the words it used after each scan.
#define CALIB_NUM_BINS 2048
#define CALIB_MAX_BINS (2048 * 128)
#define CALIB_HEADER 3

struct CalibScanArgs {
  const void* src;
  unsigned long long* out;
  i64 n;
  double width;
};

template <typename T>
__device__ void calib_scan(const CalibScanArgs& a) {
  // Bins below CALIB_NUM_BINS are privatized per block in shared memory (u32 is enough: a block
  // sees at most n / gridDim.x elements); the rest (growth past the first range) go straight to global.
  __shared__ unsigned int bins[CALIB_NUM_BINS];
  __shared__ unsigned long long sh_count[2][32];
  __shared__ float sh_max[32];
  const bool binned = a.width > 0.0;
  if (binned)
    for (int b = threadIdx.x; b < CALIB_NUM_BINS; b += blockDim.x) bins[b] = 0u;
  __syncthreads();
  const T* src = (const T*)a.src;
  float m = 0.0f;
  unsigned long long finite = 0ull, non_finite = 0ull;
  // Bin 0 (zeros: half of every ReLU output) is counted per thread: a shared atomic per zero would
  // serialize whole warps on one address.
  unsigned int bin0 = 0u;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < a.n; i += (i64)gridDim.x * blockDim.x) {
    float v = fabsf(ldf(src, i));
    if ((__float_as_uint(v) & 0x7f800000u) == 0x7f800000u) {
      ++non_finite;
      continue;
    }
    ++finite;
    m = fmaxf(m, v);
    if (binned) {
      double q = (double)v / a.width;
      i64 idx = q >= (double)(CALIB_MAX_BINS - 1) ? (i64)(CALIB_MAX_BINS - 1) : (i64)q;
      if (idx == 0)
        ++bin0;
      else if (idx < CALIB_NUM_BINS)
        atomicAdd(&bins[idx], 1u);
      else
        atomicAdd(&a.out[CALIB_HEADER + idx], 1ull);
    }
  }
  // Block reduction of max and the two counts (warp shuffles, then one value per warp).
  for (int o = 16; o > 0; o >>= 1) {
    m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    finite += __shfl_xor_sync(0xffffffffu, finite, o);
    non_finite += __shfl_xor_sync(0xffffffffu, non_finite, o);
  }
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (binned && bin0) atomicAdd(&bins[0], bin0);
  if (lane == 0) {
    sh_max[warp] = m;
    sh_count[0][warp] = finite;
    sh_count[1][warp] = non_finite;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    float bm = 0.0f;
    unsigned long long bf = 0ull, bn = 0ull;
    for (int w = 0; w < (int)(blockDim.x + 31) / 32; ++w) {
      bm = fmaxf(bm, sh_max[w]);
      bf += sh_count[0][w];
      bn += sh_count[1][w];
    }
    if (bm > 0.0f) atomicMax((unsigned int*)&a.out[0], __float_as_uint(bm));
    if (bf) atomicAdd(&a.out[1], bf);
    if (bn) atomicAdd(&a.out[2], bn);
  }
  if (binned)
    for (int b = threadIdx.x; b < CALIB_NUM_BINS; b += blockDim.x)
      if (bins[b]) atomicAdd(&a.out[CALIB_HEADER + b], (unsigned long long)bins[b]);
}
extern "C" __global__ void calib_scan_f32(CalibScanArgs a) { calib_scan<float>(a); }
extern "C" __global__ void calib_scan_f16(CalibScanArgs a) { calib_scan<kiln_half>(a); }
