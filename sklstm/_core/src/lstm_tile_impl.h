/*
 * One precision of lstm_tile.h; included once per SK_T (see that file for
 * the panel layouts). Rows are the sequences running at the current step;
 * every row-major array has leading dimension H (states) or 4H (gates).
 */

typedef SK_T SK_NAME(sk_vec) __attribute__((vector_size(32)));
/* The same vector at any address aligned for SK_T: loads and stores through
 * it compile to unaligned vector moves (a memcpy would go through the stack
 * and stall store forwarding). */
typedef SK_T SK_NAME(sk_uvec) __attribute__((vector_size(32), aligned(sizeof(SK_T))));
#define SK_VEC SK_NAME(sk_vec)
#define SK_LOADV(ptr) (*(const SK_NAME(sk_uvec)*)(ptr))
#define SK_STOREV(ptr, v) (*(SK_NAME(sk_uvec)*)(ptr) = (v))
#if SK_NU == 8
#define SK_SPLAT(x) ((SK_VEC){x, x, x, x, x, x, x, x})
#else
#define SK_SPLAT(x) ((SK_VEC){x, x, x, x})
#endif

/* NU values from src as a vector, zero past n (n <= NU). */
SKLSTM_INLINE SK_VEC SK_NAME(sk_loadv)(const SK_T* src, ptrdiff_t n) {
    if (n == SK_NU) return SK_LOADV(src);
    SK_T tmp[SK_NU];
    for (ptrdiff_t j = 0; j < SK_NU; ++j) tmp[j] = j < n ? src[j] : 0;
    return SK_LOADV(tmp);
}

/* The first n (<= NU) lanes of v to dst. */
SKLSTM_INLINE void SK_NAME(sk_storev)(SK_T* dst, SK_VEC v, ptrdiff_t n) {
    if (n == SK_NU) {
        SK_STOREV(dst, v);
        return;
    }
    SK_T tmp[SK_NU];
    SK_STOREV(tmp, v);
    for (ptrdiff_t j = 0; j < n; ++j) dst[j] = tmp[j];
}

/* acc[r][v] += sum_k A[r * lda + k] * P[(k * 4 + v) * NU : +NU], r < mr. */
SKLSTM_INLINE void SK_NAME(sk_kernel)(const int mr, const SK_T* A, ptrdiff_t lda, ptrdiff_t K,
                                      const SK_T* P, SK_VEC acc[SKLSTM_MR][4]) {
    for (ptrdiff_t k = 0; k < K; ++k) {
        const SK_T* p = P + k * 4 * SK_NU;
        SK_VEC p0 = SK_LOADV(p), p1 = SK_LOADV(p + SK_NU);
        SK_VEC p2 = SK_LOADV(p + 2 * SK_NU), p3 = SK_LOADV(p + 3 * SK_NU);
#pragma GCC unroll 3
        for (int r = 0; r < mr; ++r) {
            SK_VEC a = SK_SPLAT(A[r * lda + k]);
            acc[r][0] += a * p0;
            acc[r][1] += a * p1;
            acc[r][2] += a * p2;
            acc[r][3] += a * p3;
        }
    }
}

/* Rows [0, mr) of one forward tile: units u0 .. u0+nu of every gate. */
SKLSTM_INLINE void SK_NAME(sk_forward_tile)(
    const int mr, ptrdiff_t H, ptrdiff_t u0, ptrdiff_t nu, const SK_T* hprev,
    const SK_T* P, SK_T* gates, const SK_T* cprev, SK_T* cells, SK_T* hidden) {
    SK_VEC acc[SKLSTM_MR][4];
#pragma GCC unroll 3
    for (int r = 0; r < mr; ++r)
#pragma GCC unroll 4
        for (int g = 0; g < 4; ++g)
            acc[r][g] = SK_NAME(sk_loadv)(gates + r * 4 * H + g * H + u0, nu);
    SK_NAME(sk_kernel)(mr, hprev, H, H, P, acc);
#pragma GCC unroll 3
    for (int r = 0; r < mr; ++r) {
        SK_VEC c = SK_NAME(sk_loadv)(cprev + r * H + u0, nu);
        SK_VEC i, f, g, o, h;
#if SK_VECTOR_MATH
        i = sklstm_v8_sigmoid(acc[r][0]);
        f = sklstm_v8_sigmoid(acc[r][1]);
        g = sklstm_v8_tanh(acc[r][2]);
        o = sklstm_v8_sigmoid(acc[r][3]);
        c = f * c + i * g;
        h = o * sklstm_v8_tanh(c);
#else
        for (int j = 0; j < SK_NU; ++j) {
            i[j] = SK_SIGMOID(acc[r][0][j]);
            f[j] = SK_SIGMOID(acc[r][1][j]);
            g[j] = SK_TANH(acc[r][2][j]);
            o[j] = SK_SIGMOID(acc[r][3][j]);
            c[j] = f[j] * c[j] + i[j] * g[j];
            h[j] = o[j] * SK_TANH(c[j]);
        }
#endif
        SK_T* gr = gates + r * 4 * H + u0;
        SK_NAME(sk_storev)(gr, i, nu);
        SK_NAME(sk_storev)(gr + H, f, nu);
        SK_NAME(sk_storev)(gr + 2 * H, g, nu);
        SK_NAME(sk_storev)(gr + 3 * H, o, nu);
        SK_NAME(sk_storev)(cells + r * H + u0, c, nu);
        SK_NAME(sk_storev)(hidden + r * H + u0, h, nu);
    }
}

/* Rows [0, mr) of one backward tile: dh[r, u0 : u0+nu] = dgates[r] @ U[:, u0 : +nu]. */
SKLSTM_INLINE void SK_NAME(sk_backward_tile)(
    const int mr, ptrdiff_t H, ptrdiff_t u0, ptrdiff_t nu, const SK_T* dgates,
    const SK_T* P, SK_T* dh) {
    SK_VEC acc[SKLSTM_MR][4];
#pragma GCC unroll 3
    for (int r = 0; r < mr; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < 4; ++v) acc[r][v] = SK_SPLAT(0);
    SK_NAME(sk_kernel)(mr, dgates, 4 * H, 4 * H, P, acc);
#pragma GCC unroll 3
    for (int r = 0; r < mr; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < 4; ++v) {
            ptrdiff_t n = nu - v * SK_NU;
            if (n > 0) SK_NAME(sk_storev)(dh + r * H + u0 + v * SK_NU, acc[r][v],
                                          n < SK_NU ? n : SK_NU);
        }
}

static ptrdiff_t SK_NAME(sklstm_forward_panel_size)(ptrdiff_t H) {
    return (H + SK_NU - 1) / SK_NU * H * 4 * SK_NU;
}

static ptrdiff_t SK_NAME(sklstm_backward_panel_size)(ptrdiff_t H) {
    return (H + 4 * SK_NU - 1) / (4 * SK_NU) * 4 * H * 4 * SK_NU;
}

static ptrdiff_t SK_NAME(sklstm_forward_blocks)(ptrdiff_t H) { return (H + SK_NU - 1) / SK_NU; }

static ptrdiff_t SK_NAME(sklstm_backward_blocks)(ptrdiff_t H) {
    return (H + 4 * SK_NU - 1) / (4 * SK_NU);
}

/* Pf from U (4H, H); see lstm_tile.h. */
static void SK_NAME(sklstm_pack_forward)(const SK_T* U, ptrdiff_t H, SK_T* Pf) {
    ptrdiff_t n_blocks = SK_NAME(sklstm_forward_blocks)(H);
    for (ptrdiff_t ub = 0; ub < n_blocks; ++ub)
        for (ptrdiff_t k = 0; k < H; ++k)
            for (ptrdiff_t g = 0; g < 4; ++g)
                for (ptrdiff_t j = 0; j < SK_NU; ++j) {
                    ptrdiff_t u = ub * SK_NU + j;
                    Pf[((ub * H + k) * 4 + g) * SK_NU + j] =
                        u < H ? U[(g * H + u) * H + k] : 0;
                }
}

/* Pb from U (4H, H); see lstm_tile.h. */
static void SK_NAME(sklstm_pack_backward)(const SK_T* U, ptrdiff_t H, SK_T* Pb) {
    ptrdiff_t n_blocks = SK_NAME(sklstm_backward_blocks)(H), width = 4 * SK_NU;
    for (ptrdiff_t sb = 0; sb < n_blocks; ++sb)
        for (ptrdiff_t k = 0; k < 4 * H; ++k)
            for (ptrdiff_t j = 0; j < width; ++j) {
                ptrdiff_t u = sb * width + j;
                Pb[(sb * 4 * H + k) * width + j] = u < H ? U[k * H + u] : 0;
            }
}

/* One step, unit block ub, every row: gates holds x W^T + b on entry, the
 * activations on exit; cells and hidden receive c_t and h_t. */
SKLSTM_CLONES static void SK_NAME(sklstm_forward_block)(
    ptrdiff_t rows, ptrdiff_t H, ptrdiff_t ub, const SK_T* hprev, const SK_T* Pf, SK_T* gates,
    const SK_T* cprev, SK_T* cells, SK_T* hidden) {
    ptrdiff_t u0 = ub * SK_NU, nu = H - u0 < SK_NU ? H - u0 : SK_NU;
    const SK_T* P = Pf + ub * H * 4 * SK_NU;
    ptrdiff_t r = 0;
    for (; r + SKLSTM_MR <= rows; r += SKLSTM_MR)
        SK_NAME(sk_forward_tile)(SKLSTM_MR, H, u0, nu, hprev + r * H, P,
                                 gates + r * 4 * H, cprev + r * H, cells + r * H,
                                 hidden + r * H);
    if (rows - r == 2)
        SK_NAME(sk_forward_tile)(2, H, u0, nu, hprev + r * H, P, gates + r * 4 * H,
                                 cprev + r * H, cells + r * H, hidden + r * H);
    else if (rows - r == 1)
        SK_NAME(sk_forward_tile)(1, H, u0, nu, hprev + r * H, P, gates + r * 4 * H,
                                 cprev + r * H, cells + r * H, hidden + r * H);
}

/* One step, unit superblock sb, every row: dh[:, units] = dgates @ U[:, units]. */
SKLSTM_CLONES static void SK_NAME(sklstm_backward_block)(
    ptrdiff_t rows, ptrdiff_t H, ptrdiff_t sb, const SK_T* dgates, const SK_T* Pb, SK_T* dh) {
    ptrdiff_t width = 4 * SK_NU, u0 = sb * width;
    ptrdiff_t nu = H - u0 < width ? H - u0 : width;
    const SK_T* P = Pb + sb * 4 * H * width;
    ptrdiff_t r = 0;
    for (; r + SKLSTM_MR <= rows; r += SKLSTM_MR)
        SK_NAME(sk_backward_tile)(SKLSTM_MR, H, u0, nu, dgates + r * 4 * H, P,
                                  dh + r * H);
    if (rows - r == 2)
        SK_NAME(sk_backward_tile)(2, H, u0, nu, dgates + r * 4 * H, P, dh + r * H);
    else if (rows - r == 1)
        SK_NAME(sk_backward_tile)(1, H, u0, nu, dgates + r * 4 * H, P, dh + r * H);
}

/* Gate derivatives of one step for units [u0, u1), every row:
 *   dh = d_hidden + dh_carry,  dc += dh o (1 - tanh²c),
 *   dgates = (dc g, dc c_prev, dc i, dh tanh c) ⊙ activation derivatives,
 *   dc_carry = dc f. */
SKLSTM_CLONES static void SK_NAME(sklstm_backward_gates)(
    ptrdiff_t rows, ptrdiff_t H, ptrdiff_t u0, ptrdiff_t u1, const SK_T* gates, const SK_T* cprev,
    const SK_T* cells, const SK_T* d_hidden, const SK_T* dh_carry, SK_T* dc_carry,
    SK_T* dgates) {
    for (ptrdiff_t r = 0; r < rows; ++r) {
        const SK_T* g = gates + r * 4 * H;
        SK_T* dg = dgates + r * 4 * H;
        for (ptrdiff_t u = u0; u < u1; ++u) {
            ptrdiff_t k = r * H + u;
            SK_T gi = g[u], gf = g[H + u], gg = g[2 * H + u], go = g[3 * H + u];
            SK_T tc = SK_TANH(cells[k]);
            SK_T dh = d_hidden[k] + dh_carry[k];
            SK_T dc = dc_carry[k] + dh * go * (1 - tc * tc);
            dg[u] = dc * gg * gi * (1 - gi);
            dg[H + u] = dc * cprev[k] * gf * (1 - gf);
            dg[2 * H + u] = dc * gi * (1 - gg * gg);
            dg[3 * H + u] = dh * tc * go * (1 - go);
            dc_carry[k] = dc * gf;
        }
    }
}

#undef SK_VEC
#undef SK_LOADV
#undef SK_STOREV
#undef SK_SPLAT
