/*
 * Packed recurrent products and fused LSTM step tiles, for _lstm.pyx.
 *
 * The per-step product h_{t-1} U^T has few rows (the sequences still
 * running) and the same right-hand side at every step. A general GEMM packs
 * U again at every call; here U is packed once per kernel call into panels
 * that the step tiles stream through, and the gate activations and the cell
 * update are applied to each tile while it is still in registers.
 *
 * Panel layouts are described in lstm_tile_impl.h, beside the packing code.
 *
 * The file instantiates lstm_tile_impl.h once per precision. Functions carry
 * target clones where GCC supports them, so that one build runs AVX2+FMA code
 * on CPUs that have it and SSE2 code elsewhere (resolved once at load time).
 */
#ifndef SKLSTM_LSTM_TILE_H
#define SKLSTM_LSTM_TILE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__) && !defined(SKLSTM_NO_CLONES)
#define SKLSTM_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define SKLSTM_CLONES
#endif
#define SKLSTM_INLINE static inline __attribute__((always_inline))

/* Rows per register tile: 3 rows x 4 vectors = 12 accumulators. */
#define SKLSTM_MR 3

/* float: exp by Cephes' expf polynomial (relative error ~2 ulp), in a form
 * GCC vectorizes: a clamp instead of overflow, truncation of a positive
 * number instead of floor. σ and tanh follow from it. */
SKLSTM_INLINE float sklstm_expf(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    int32_t ni = (int32_t)(x * 1.44269504088896341f + 128.5f) - 128;
    float n = (float)ni;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = (ni + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}
SKLSTM_INLINE float sklstm_sigmoidf(float x) { return 1.0f / (1.0f + sklstm_expf(-x)); }
SKLSTM_INLINE float sklstm_tanhf(float x) {
    return 2.0f / (1.0f + sklstm_expf(-2.0f * x)) - 1.0f;
}

/* The same on 8 floats at once, for the step tiles. */
typedef float sklstm_v8f __attribute__((vector_size(32)));
typedef int32_t sklstm_v8i __attribute__((vector_size(32)));

SKLSTM_INLINE sklstm_v8f sklstm_v8_select(sklstm_v8i mask, sklstm_v8f a, sklstm_v8f b) {
    return (sklstm_v8f)(((sklstm_v8i)a & mask) | ((sklstm_v8i)b & ~mask));
}

SKLSTM_INLINE sklstm_v8f sklstm_v8_exp(sklstm_v8f x) {
    const sklstm_v8f lo = (sklstm_v8f){0} - 87.0f, hi = (sklstm_v8f){0} + 88.0f;
    x = sklstm_v8_select(x < lo, lo, x);
    x = sklstm_v8_select(x > hi, hi, x);
    sklstm_v8i ni = __builtin_convertvector(x * 1.44269504088896341f + 128.5f,
                                            sklstm_v8i) - 128;
    sklstm_v8f n = __builtin_convertvector(ni, sklstm_v8f);
    sklstm_v8f r = x - n * 0.693359375f + n * 2.12194440e-4f;
    sklstm_v8f p = (sklstm_v8f){0} + 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    return p * (sklstm_v8f)((ni + 127) << 23);
}

SKLSTM_INLINE sklstm_v8f sklstm_v8_sigmoid(sklstm_v8f x) {
    return 1.0f / (1.0f + sklstm_v8_exp(-x));
}

SKLSTM_INLINE sklstm_v8f sklstm_v8_tanh(sklstm_v8f x) {
    return 2.0f / (1.0f + sklstm_v8_exp(-2.0f * x)) - 1.0f;
}

/* double: libm, so that float64 results match the equations to ~1e-15. */
SKLSTM_INLINE double sklstm_sigmoid(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double z = exp(x);
    return z / (1.0 + z);
}

#define SK_T float
#define SK_NU 8
#define SK_NAME(name) name##_f32
#define SK_SIGMOID sklstm_sigmoidf
#define SK_TANH sklstm_tanhf
#define SK_VECTOR_MATH 1
#include "lstm_tile_impl.h"
#undef SK_T
#undef SK_NU
#undef SK_NAME
#undef SK_SIGMOID
#undef SK_TANH
#undef SK_VECTOR_MATH

#define SK_T double
#define SK_NU 4
#define SK_NAME(name) name##_f64
#define SK_SIGMOID sklstm_sigmoid
#define SK_TANH tanh
#define SK_VECTOR_MATH 0
#include "lstm_tile_impl.h"
#undef SK_T
#undef SK_NU
#undef SK_NAME
#undef SK_SIGMOID
#undef SK_TANH
#undef SK_VECTOR_MATH

#endif
