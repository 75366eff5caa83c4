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
 * The file instantiates lstm_tile_impl.h twice per precision: on 32-byte
 * vectors, whose functions carry target clones where GCC supports them (AVX2
 * + FMA code on CPUs that have it, SSE2 elsewhere, resolved at load time),
 * and on 64-byte vectors compiled for AVX-512, chosen at run time where the
 * CPU has it (sklstm_wide). The panel layouts depend on the width, so one
 * process uses one width throughout.
 */
#ifndef SKLSTM_LSTM_TILE_H
#define SKLSTM_LSTM_TILE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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

/* The forms of a gate panel (the panel argument of the packing and the input
 * projection): all four gate slots; or three of them, where the fourth's
 * block of the matrix is zero, so that the products skip it (see
 * sk_panel_slot in lstm_tile_impl.h): slots 0, 1 and 3 for the U of the GRU
 * (r, z, n_h) and of the cell-input form (i, f, o: its candidate has no
 * recurrent term), slots 0, 1 and 2 for the W of the GRU (r, z, n_x). */
enum { SKLSTM_PANEL_ALL = 0, SKLSTM_PANEL_013 = 1, SKLSTM_PANEL_012 = 2 };

/* Gate vectors per row of a panel of the given form. */
SKLSTM_INLINE int sklstm_panel_gates(const int panel) {
    return panel == SKLSTM_PANEL_ALL ? 4 : 3;
}

/* The panel forms of U (recurrent) and of W of a step of the given kind. */
SKLSTM_INLINE int sklstm_recurrent_panel(const int kind) {
    return kind & (SKLSTM_GRU | SKLSTM_CELL_INPUT) ? SKLSTM_PANEL_013 : SKLSTM_PANEL_ALL;
}
SKLSTM_INLINE int sklstm_input_panel(const int kind) {
    return kind & SKLSTM_GRU ? SKLSTM_PANEL_012 : SKLSTM_PANEL_ALL;
}

/* Rows per register tile: 3 rows x 4 vectors = 12 accumulators. */
#define SKLSTM_MR 3
/* AVX-512 has 32 vector registers: 6 rows x 4 vectors = 24 accumulators. */
#define SKLSTM_WIDE_MR 6
/* (The GRU's forward step tile is 3 vectors wide, SKLSTM_PANEL_013: with
 * 8 rows instead of 6 it measured no faster.) */

/* float: tanh by the odd rational minimax approximation p(x)/q(x) of degrees
 * 13/6 that Eigen and ONNX Runtime (MLAS) use, clamped at ±7.9053 where
 * tanh rounds to ±1 in float32: about 16 vector instructions, no exp, and odd
 * in x, so small arguments keep their relative accuracy. σ(x) = (1 +
 * tanh(x/2)) / 2. Measured here, the Cephes exp behind 1 / (1 + e^-x) took
 * twice as long, and the activations dominate a step for H below ~128.
 * Defined for 8 lanes (AVX2) and 16 (AVX-512), lane by lane the same. */
#define SKLSTM_FLOAT_MATH(VF, VI, SUF)                                          \
    SKLSTM_INLINE VF sklstm_##SUF##_select(VI mask, VF a, VF b) {               \
        return (VF)(((VI)a & mask) | ((VI)b & ~mask));                          \
    }                                                                           \
    SKLSTM_INLINE VF sklstm_##SUF##_tanh(VF x) {                                \
        const VF hi = (VF){0} + 7.90531110763549805f, lo = -hi;                \
        x = sklstm_##SUF##_select(x > hi, hi, x);                               \
        x = sklstm_##SUF##_select(x < lo, lo, x);                               \
        VF x2 = x * x;                                                          \
        VF p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;             \
        p = p * x2 + -8.60467152213735e-11f;                                    \
        p = p * x2 + 5.12229709037114e-08f;                                     \
        p = p * x2 + 1.48572235717979e-05f;                                     \
        p = p * x2 + 6.37261928875436e-04f;                                     \
        p = p * x2 + 4.89352455891786e-03f;                                     \
        VF q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;              \
        q = q * x2 + 2.26843463243900e-03f;                                     \
        q = q * x2 + 4.89352518554385e-03f;                                     \
        return x * p / q;                                                       \
    }                                                                           \
    SKLSTM_INLINE VF sklstm_##SUF##_sigmoid(VF x) {                             \
        return 0.5f * sklstm_##SUF##_tanh(0.5f * x) + 0.5f;                     \
    }

/* double: exp by Cephes' Padé form (relative error ~2e-16) on 4 (or 8)
 * doubles at once, so that float64 results match the equations to ~1e-15 at
 * a fraction of libm's cost. Rounding uses the 1.5 * 2^52 shifter, which
 * leaves the integer in the low bits and needs no double-to-int64 conversion
 * (AVX2 has none). Arguments are clamped to ±708, where e^x stays a normal
 * double. tanh: Cephes' rational form below |x| = 0.625, where
 * 1 - 2 / (e^2x + 1) would lose relative accuracy to cancellation, that form
 * above. */
#define SKLSTM_DOUBLE_MATH(VD, VL, SUF)                                         \
    SKLSTM_INLINE VD sklstm_##SUF##_select(VL mask, VD a, VD b) {               \
        return (VD)(((VL)a & mask) | ((VL)b & ~mask));                          \
    }                                                                           \
    SKLSTM_INLINE VD sklstm_##SUF##_exp(VD x) {                                 \
        const VD hi = (VD){0} + 708.0, lo = -hi;                                \
        const VD shifter = (VD){0} + 6755399441055744.0;                        \
        x = sklstm_##SUF##_select(x > hi, hi, x);                               \
        x = sklstm_##SUF##_select(x < lo, lo, x);                               \
        VD t = x * 1.4426950408889634073599 + shifter;                          \
        VD n = t - shifter;                                                     \
        VL ni = (VL)t - (VL)shifter;                                            \
        VD r = x - n * 6.93145751953125E-1 - n * 1.42860682030941723212E-6;     \
        VD rr = r * r;                                                          \
        VD px = r * ((rr * 1.26177193074810590878E-4 + 3.02994407707441961300E-2) \
                     * rr + 9.99999999999999999910E-1);                         \
        VD qx = ((rr * 3.00198505138664455042E-6 + 2.52448340349684104192E-3)   \
                 * rr + 2.27265548208155028766E-1) * rr + 2.00000000000000000009E0; \
        VD e = 1.0 + 2.0 * px / (qx - px);                                      \
        return e * (VD)((ni + 1023) << 52);                                     \
    }                                                                           \
    SKLSTM_INLINE VD sklstm_##SUF##_sigmoid(VD x) {                             \
        return 1.0 / (1.0 + sklstm_##SUF##_exp(-x));                            \
    }                                                                           \
    SKLSTM_INLINE VD sklstm_##SUF##_tanh(VD x) {                                \
        VD z = x * x;                                                           \
        VD small = x + x * z *                                                  \
            ((z * -9.64399179425052238628E-1 - 9.92877231001918586564E1) * z -  \
             1.61468768441708447952E3) /                                        \
            (((z + 1.12811678491632931402E2) * z + 2.23548839060100448583E3) * z \
             + 4.84406305325125486048E3);                                       \
        VD large = 1.0 - 2.0 / (sklstm_##SUF##_exp(2.0 * x) + 1.0);            \
        return sklstm_##SUF##_select(z < 0.390625, small, large);               \
    }

/* The 64-byte helpers are only inlined into AVX-512 functions; GCC's note
 * that passing such vectors by value elsewhere would change the ABI does not
 * apply. */
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float sklstm_v8f __attribute__((vector_size(32)));
typedef int32_t sklstm_v8i __attribute__((vector_size(32)));
typedef float sklstm_v16f __attribute__((vector_size(64)));
typedef int32_t sklstm_v16i __attribute__((vector_size(64)));
typedef double sklstm_v4d __attribute__((vector_size(32)));
typedef int64_t sklstm_v4l __attribute__((vector_size(32)));
typedef double sklstm_v8d __attribute__((vector_size(64)));
typedef int64_t sklstm_v8l __attribute__((vector_size(64)));
SKLSTM_FLOAT_MATH(sklstm_v8f, sklstm_v8i, v8)
SKLSTM_FLOAT_MATH(sklstm_v16f, sklstm_v16i, v16)
SKLSTM_DOUBLE_MATH(sklstm_v4d, sklstm_v4l, v4)
SKLSTM_DOUBLE_MATH(sklstm_v8d, sklstm_v8l, v8d)

/* AVX-512: the same code on vectors of 64 bytes, compiled for the CPUs that
 * have it and chosen at run time (sklstm_wide below). The 256-bit form
 * carries its own target clones (AVX2 + FMA, or SSE2). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    !defined(SKLSTM_NO_CLONES)
#define SKLSTM_WIDE_TARGET __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#define SKLSTM_HAS_WIDE 1
#else
#define SKLSTM_WIDE_TARGET
#define SKLSTM_HAS_WIDE 0
#endif

#define SK_T float
#define SK_NU 8
#define SK_NAME(name) name##_f32_n
#define SK_VSIGMOID sklstm_v8_sigmoid
#define SK_VTANH sklstm_v8_tanh
#define SK_TARGET SKLSTM_CLONES
#define SK_MR SKLSTM_MR
#define SK_STEP_KC PTRDIFF_MAX
#include "lstm_tile_impl.h"
#define SK_NU 16
#define SK_NAME(name) name##_f32_w
#define SK_VSIGMOID sklstm_v16_sigmoid
#define SK_VTANH sklstm_v16_tanh
#define SK_TARGET SKLSTM_WIDE_TARGET
#define SK_MR SKLSTM_WIDE_MR
#define SK_STEP_KC 128
#include "lstm_tile_impl.h"
#undef SK_T

#define SK_T double
#define SK_NU 4
#define SK_NAME(name) name##_f64_n
#define SK_VSIGMOID sklstm_v4_sigmoid
#define SK_VTANH sklstm_v4_tanh
#define SK_TARGET SKLSTM_CLONES
#define SK_MR SKLSTM_MR
#define SK_STEP_KC PTRDIFF_MAX
#include "lstm_tile_impl.h"
#define SK_NU 8
#define SK_NAME(name) name##_f64_w
#define SK_VSIGMOID sklstm_v8d_sigmoid
#define SK_VTANH sklstm_v8d_tanh
#define SK_TARGET SKLSTM_WIDE_TARGET
#define SK_MR SKLSTM_WIDE_MR
#define SK_STEP_KC 128
#include "lstm_tile_impl.h"
#undef SK_T

/* Which width runs: 64-byte vectors where the CPU has AVX-512 (F, VL, DQ,
 * BW) and SKLSTM_NO_AVX512 is unset or "0"; 32-byte ones otherwise. Decided
 * once per process (each extension module asks at import, before any
 * kernel runs, so that the answer never changes between a packing and the
 * products that read it). */
static int sklstm_wide_state = -1;

static inline int sklstm_wide(void) {
    if (sklstm_wide_state < 0) {
        int wide = 0;
#if SKLSTM_HAS_WIDE
        __builtin_cpu_init();
        wide = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw");
#endif
        const char* off = getenv("SKLSTM_NO_AVX512");
        if (off && off[0] && !(off[0] == '0' && off[1] == 0)) wide = 0;
        sklstm_wide_state = wide;
    }
    return sklstm_wide_state;
}

/* Rows of the register tile of the width that runs. */
static inline ptrdiff_t sklstm_tile_rows(void) {
    return sklstm_wide() ? SKLSTM_WIDE_MR : SKLSTM_MR;
}

/* The kernels' entry points, each calling the width that runs. */
#define SKLSTM_ENTRY_POINTS(P, T)                                                   \
    static inline void sklstm_activation_##P(int kind, const T* x, T* y, ptrdiff_t n) {    \
        if (sklstm_wide()) sklstm_activation_##P##_w(kind, x, y, n);                \
        else sklstm_activation_##P##_n(kind, x, y, n);                              \
    }                                                                               \
    static inline ptrdiff_t sklstm_unit_blocks_##P(ptrdiff_t H) {                          \
        return sklstm_wide() ? sklstm_unit_blocks_##P##_w(H)                        \
                             : sklstm_unit_blocks_##P##_n(H);                       \
    }                                                                               \
    static inline ptrdiff_t sklstm_column_blocks_##P(ptrdiff_t n) {                        \
        return sklstm_wide() ? sklstm_column_blocks_##P##_w(n)                      \
                             : sklstm_column_blocks_##P##_n(n);                     \
    }                                                                               \
    static inline ptrdiff_t sklstm_column_width_##P(void) {                                \
        return sklstm_wide() ? sklstm_column_width_##P##_w()                        \
                             : sklstm_column_width_##P##_n();                       \
    }                                                                               \
    static inline ptrdiff_t sklstm_gate_panel_size_##P(ptrdiff_t H, ptrdiff_t K,           \
                                                       int panel) {                 \
        return sklstm_wide() ? sklstm_gate_panel_size_##P##_w(H, K, panel)          \
                             : sklstm_gate_panel_size_##P##_n(H, K, panel);         \
    }                                                                               \
    static inline ptrdiff_t sklstm_column_panel_size_##P(ptrdiff_t K, ptrdiff_t n) {       \
        return sklstm_wide() ? sklstm_column_panel_size_##P##_w(K, n)               \
                             : sklstm_column_panel_size_##P##_n(K, n);              \
    }                                                                               \
    static inline ptrdiff_t sklstm_weight_scratch_size_##P(ptrdiff_t m) {                  \
        return sklstm_wide() ? sklstm_weight_scratch_size_##P##_w(m)                \
                             : sklstm_weight_scratch_size_##P##_n(m);               \
    }                                                                               \
    static inline ptrdiff_t sklstm_tile_pack_size_##P(ptrdiff_t N, ptrdiff_t m) {          \
        return sklstm_wide() ? sklstm_tile_pack_size_##P##_w(N, m)                  \
                             : sklstm_tile_pack_size_##P##_n(N, m);                 \
    }                                                                               \
    static inline void sklstm_pack_tiles_##P(ptrdiff_t rows, ptrdiff_t m, const T* src,    \
                                      ptrdiff_t lds, ptrdiff_t N, ptrdiff_t row0,   \
                                      T* dst) {                                     \
        if (sklstm_wide()) sklstm_pack_tiles_##P##_w(rows, m, src, lds, N, row0, dst); \
        else sklstm_pack_tiles_##P##_n(rows, m, src, lds, N, row0, dst);            \
    }                                                                               \
    static inline void sklstm_pack_gates_##P(const T* M, ptrdiff_t H, ptrdiff_t K,         \
                                             int panel, T* out) {                   \
        if (sklstm_wide()) sklstm_pack_gates_##P##_w(M, H, K, panel, out);          \
        else sklstm_pack_gates_##P##_n(M, H, K, panel, out);                        \
    }                                                                               \
    static inline void sklstm_pack_columns_##P(const T* M, ptrdiff_t K, ptrdiff_t n,       \
                                        T* out) {                                   \
        if (sklstm_wide()) sklstm_pack_columns_##P##_w(M, K, n, out);               \
        else sklstm_pack_columns_##P##_n(M, K, n, out);                             \
    }                                                                               \
    static inline void sklstm_project_block_##P(ptrdiff_t rows, ptrdiff_t D, ptrdiff_t H,  \
                                         ptrdiff_t ub, int kind, const T* X,        \
                                         const T* PW, const T* b, T* gates) {       \
        if (sklstm_wide())                                                          \
            sklstm_project_block_##P##_w(rows, D, H, ub, kind, X, PW, b, gates);    \
        else sklstm_project_block_##P##_n(rows, D, H, ub, kind, X, PW, b, gates);   \
    }                                                                               \
    static inline void sklstm_forward_block_##P(ptrdiff_t rows, int pair, ptrdiff_t H,     \
                                         ptrdiff_t ub, int kind, const T* operand,  \
                                         const T* PU, T* gates, const T* cprev,     \
                                         const T* Pp, T* cells, T* hidden) {        \
        if (sklstm_wide())                                                          \
            sklstm_forward_block_##P##_w(rows, pair, H, ub, kind, operand, PU,      \
                                         gates, cprev, Pp, cells, hidden);          \
        else                                                                        \
            sklstm_forward_block_##P##_n(rows, pair, H, ub, kind, operand, PU,      \
                                         gates, cprev, Pp, cells, hidden);          \
    }                                                                               \
    static inline void sklstm_columns_block_##P(ptrdiff_t rows, int pair, ptrdiff_t K,     \
                                         ptrdiff_t n, ptrdiff_t cb, const T* A,     \
                                         ptrdiff_t lda, const T* PM, T* out,        \
                                         ptrdiff_t ldo) {                           \
        if (sklstm_wide())                                                          \
            sklstm_columns_block_##P##_w(rows, pair, K, n, cb, A, lda, PM, out, ldo); \
        else sklstm_columns_block_##P##_n(rows, pair, K, n, cb, A, lda, PM, out, ldo); \
    }                                                                               \
    static inline void sklstm_backward_gates_##P(                                          \
        ptrdiff_t rows, ptrdiff_t H, ptrdiff_t u0, ptrdiff_t u1, int kind,          \
        const T* gates, const T* cprev, const T* cells, const T* d_hidden,          \
        const T* dh_carry, T* dc_carry, const T* Pp, T* dgates) {                   \
        if (sklstm_wide())                                                          \
            sklstm_backward_gates_##P##_w(rows, H, u0, u1, kind, gates, cprev,      \
                                          cells, d_hidden, dh_carry, dc_carry, Pp,  \
                                          dgates);                                  \
        else                                                                        \
            sklstm_backward_gates_##P##_n(rows, H, u0, u1, kind, gates, cprev,      \
                                          cells, d_hidden, dh_carry, dc_carry, Pp,  \
                                          dgates);                                  \
    }                                                                               \
    static inline void sklstm_weight_block_##P(ptrdiff_t N, ptrdiff_t G, ptrdiff_t m,      \
                                        ptrdiff_t cb, const T* Ap, const T* dgates, \
                                        T* out, T* db, T* scratch) {                \
        if (sklstm_wide())                                                          \
            sklstm_weight_block_##P##_w(N, G, m, cb, Ap, dgates, out, db, scratch); \
        else sklstm_weight_block_##P##_n(N, G, m, cb, Ap, dgates, out, db, scratch);\
    }
SKLSTM_ENTRY_POINTS(f32, float)
SKLSTM_ENTRY_POINTS(f64, double)

#endif
