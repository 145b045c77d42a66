// Kiln CUDA prelude: shared by the static kernel library and the generated pointwise kernels.
// NVRTC compiles this with no CUDA headers (the build machines have no toolkit), so half <-> float
// conversions are written with PTX cvt instructions on the raw 16-bit pattern.

typedef unsigned short kiln_half;
typedef long long i64;

#define KILN_MAX_RANK 8

__device__ __forceinline__ float h2f(kiln_half h) {
  float f;
  asm("{ cvt.f32.f16 %0, %1; }" : "=f"(f) : "h"(h));
  return f;
}
__device__ __forceinline__ kiln_half f2h(float f) {
  kiln_half h;
  asm("{ cvt.rn.f16.f32 %0, %1; }" : "=h"(h) : "f"(f));
  return h;
}

// Loads and stores of the float storage types as float.
__device__ __forceinline__ float ldf(const float* p, i64 i) { return p[i]; }
__device__ __forceinline__ float ldf(const kiln_half* p, i64 i) { return h2f(p[i]); }
__device__ __forceinline__ void stf(float* p, i64 i, float v) { p[i] = v; }
__device__ __forceinline__ void stf(kiln_half* p, i64 i, float v) { p[i] = f2h(v); }

__device__ __forceinline__ float kiln_nan() { return __int_as_float(0x7fc00000); }
__device__ __forceinline__ float kiln_inf() { return __int_as_float(0x7f800000); }

// ONNX float semantics that differ from C's: NaN-propagating max/min, Python-style modulo,
// round half to even, sign keeping zero.
__device__ __forceinline__ float kmax(float a, float b) { return (a != a || b != b) ? kiln_nan() : (b > a ? b : a); }
__device__ __forceinline__ float kmin(float a, float b) { return (a != a || b != b) ? kiln_nan() : (b < a ? b : a); }
__device__ __forceinline__ float kmod(float a, float b) {
  float r = fmodf(a, b);
  return (r != 0.0f && ((r < 0.0f) != (b < 0.0f))) ? r + b : r;
}
__device__ __forceinline__ float ksign(float x) { return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x); }
__device__ __forceinline__ float ksigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  float e = expf(x);
  return e / (1.0f + e);
}
__device__ __forceinline__ float ksoftplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }
__device__ __forceinline__ float kclamp01(float x) { return fminf(fmaxf(x, 0.0f), 1.0f); }
__device__ __forceinline__ float kpow(float a, float b) { return powf(a, b); }
