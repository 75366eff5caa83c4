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

/* The forms of a recurrent step (the kind argument of the step kernels):
 * peephole connections, an identity output activation, the gates reading
 * c_{t-1} instead of h_{t-1}, combinations of them; or the GRU. */
enum { SKLSTM_PEEPHOLE = 1, SKLSTM_IDENTITY = 2, SKLSTM_CELL_INPUT = 4, SKLSTM_GRU = 8 };

/* Rows per register tile: 3 rows x 4 vectors = 12 accumulators. */
#define SKLSTM_MR 3

/* float: tanh by the odd rational minimax approximation p(x)/q(x) of degrees
 * 13/6 that Eigen and ONNX Runtime (MLAS) use, clamped at ±7.9053 where
 * tanh rounds to ±1 in float32: about 16 vector instructions, no exp, and odd
 * in x, so small arguments keep their relative accuracy. σ(x) = (1 +
 * tanh(x/2)) / 2. Measured here, the Cephes exp behind 1 / (1 + e^-x) took
 * twice as long, and the activations dominate a step for H below ~128. */
typedef float sklstm_v8f __attribute__((vector_size(32)));
typedef int32_t sklstm_v8i __attribute__((vector_size(32)));

SKLSTM_INLINE sklstm_v8f sklstm_v8_select(sklstm_v8i mask, sklstm_v8f a, sklstm_v8f b) {
    return (sklstm_v8f)(((sklstm_v8i)a & mask) | ((sklstm_v8i)b & ~mask));
}

SKLSTM_INLINE sklstm_v8f sklstm_v8_tanh(sklstm_v8f x) {
    const sklstm_v8f hi = (sklstm_v8f){0} + 7.90531110763549805f, lo = -hi;
    x = sklstm_v8_select(x > hi, hi, x);
    x = sklstm_v8_select(x < lo, lo, x);
    sklstm_v8f x2 = x * x;
    sklstm_v8f p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    sklstm_v8f q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    return x * p / q;
}

SKLSTM_INLINE sklstm_v8f sklstm_v8_sigmoid(sklstm_v8f x) {
    return 0.5f * sklstm_v8_tanh(0.5f * x) + 0.5f;
}

/* double: exp by Cephes' Padé form (relative error ~2e-16) on 4 doubles at
 * once, so that float64 results match the equations to ~1e-15 at a fraction
 * of libm's cost. Rounding uses the 1.5 * 2^52 shifter, which leaves the
 * integer in the low bits and needs no double-to-int64 conversion (AVX2 has
 * none). Arguments are clamped to ±708, where e^x stays a normal double. */
typedef double sklstm_v4d __attribute__((vector_size(32)));
typedef int64_t sklstm_v4l __attribute__((vector_size(32)));

SKLSTM_INLINE sklstm_v4d sklstm_v4_select(sklstm_v4l mask, sklstm_v4d a, sklstm_v4d b) {
    return (sklstm_v4d)(((sklstm_v4l)a & mask) | ((sklstm_v4l)b & ~mask));
}

SKLSTM_INLINE sklstm_v4d sklstm_v4_exp(sklstm_v4d x) {
    const sklstm_v4d hi = (sklstm_v4d){0} + 708.0, lo = -hi;
    const sklstm_v4d shifter = (sklstm_v4d){0} + 6755399441055744.0;
    x = sklstm_v4_select(x > hi, hi, x);
    x = sklstm_v4_select(x < lo, lo, x);
    sklstm_v4d t = x * 1.4426950408889634073599 + shifter;
    sklstm_v4d n = t - shifter;
    sklstm_v4l ni = (sklstm_v4l)t - (sklstm_v4l)shifter;
    sklstm_v4d r = x - n * 6.93145751953125E-1 - n * 1.42860682030941723212E-6;
    sklstm_v4d rr = r * r;
    sklstm_v4d px = r * ((rr * 1.26177193074810590878E-4 + 3.02994407707441961300E-2) * rr +
                         9.99999999999999999910E-1);
    sklstm_v4d qx = ((rr * 3.00198505138664455042E-6 + 2.52448340349684104192E-3) * rr +
                     2.27265548208155028766E-1) * rr + 2.00000000000000000009E0;
    sklstm_v4d e = 1.0 + 2.0 * px / (qx - px);
    return e * (sklstm_v4d)((ni + 1023) << 52);
}

SKLSTM_INLINE sklstm_v4d sklstm_v4_sigmoid(sklstm_v4d x) {
    return 1.0 / (1.0 + sklstm_v4_exp(-x));
}

/* tanh: Cephes' rational form below |x| = 0.625, where 1 - 2 / (e^2x + 1)
 * would lose relative accuracy to cancellation, that form above. */
SKLSTM_INLINE sklstm_v4d sklstm_v4_tanh(sklstm_v4d x) {
    sklstm_v4d z = x * x;
    sklstm_v4d small = x + x * z *
        ((z * -9.64399179425052238628E-1 - 9.92877231001918586564E1) * z -
         1.61468768441708447952E3) /
        (((z + 1.12811678491632931402E2) * z + 2.23548839060100448583E3) * z +
         4.84406305325125486048E3);
    sklstm_v4d large = 1.0 - 2.0 / (sklstm_v4_exp(2.0 * x) + 1.0);
    return sklstm_v4_select(z < 0.390625, small, large);
}

#define SK_T float
#define SK_NU 8
#define SK_NAME(name) name##_f32
#define SK_VSIGMOID sklstm_v8_sigmoid
#define SK_VTANH sklstm_v8_tanh
#include "lstm_tile_impl.h"
#undef SK_T
#undef SK_NU
#undef SK_NAME
#undef SK_VSIGMOID
#undef SK_VTANH

#define SK_T double
#define SK_NU 4
#define SK_NAME(name) name##_f64
#define SK_VSIGMOID sklstm_v4_sigmoid
#define SK_VTANH sklstm_v4_tanh
#include "lstm_tile_impl.h"
#undef SK_T
#undef SK_NU
#undef SK_NAME
#undef SK_VSIGMOID
#undef SK_VTANH

#endif
