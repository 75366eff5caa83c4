/*
 * One precision and vector width of lstm_tile.h; included once per (SK_T,
 * SK_NU) (see that file for the panel layouts). Rows are the sequences
 * running at the current step; every row-major array has leading dimension H
 * (states) or 4H (gates). SK_TARGET is the functions' instruction set,
 * SK_MR the rows of a register tile, SK_STEP_KC the chunk of the per-step
 * forward product; all but SK_T are undefined at the end of this file.
 */

typedef SK_T SK_NAME(sk_vec) __attribute__((vector_size(SK_NU * sizeof(SK_T))));
/* The same vector at any address aligned for SK_T: loads and stores through
 * it compile to unaligned vector moves (a memcpy would go through the stack
 * and stall store forwarding). */
typedef SK_T SK_NAME(sk_uvec)
    __attribute__((vector_size(SK_NU * sizeof(SK_T)), aligned(sizeof(SK_T))));
#define SK_VEC SK_NAME(sk_vec)
#define SK_LOADV(ptr) (*(const SK_NAME(sk_uvec)*)(ptr))
#define SK_STOREV(ptr, v) (*(SK_NAME(sk_uvec)*)(ptr) = (v))
/* An initializer list, not (SK_VEC){0} + x: GCC turns the sum into a scalar
 * add before the broadcast, where the list becomes one broadcast from memory. */
#if SK_NU == 16
#define SK_SPLAT(x) ((SK_VEC){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x})
#elif SK_NU == 8
#define SK_SPLAT(x) ((SK_VEC){x, x, x, x, x, x, x, x})
#else
#define SK_SPLAT(x) ((SK_VEC){x, x, x, x})
#endif

/* Lanes of vector v (of 4) that hold one of the first nc columns of a block. */
#define SK_LANES(nc, v) \
    ((nc) - (v) * SK_NU <= 0 ? 0 : (nc) - (v) * SK_NU < SK_NU ? (nc) - (v) * SK_NU : SK_NU)

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

/* y[i] = σ(x[i]) (kind 0) or tanh(x[i]) (kind 1) exactly as the kernels
 * compute them; for the tests. */
SK_TARGET static void SK_NAME(sklstm_activation)(int kind, const SK_T* x, SK_T* y, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i += SK_NU) {
        const ptrdiff_t m = n - i < SK_NU ? n - i : SK_NU;
        SK_VEC v = SK_NAME(sk_loadv)(x + i, m);
        SK_NAME(sk_storev)(y + i, kind == 0 ? SK_VSIGMOID(v) : SK_VTANH(v), m);
    }
}

/* The micro-kernel of every product here, on a tile of mr (<= MR) rows and
 * nv (3 or 4) vectors of columns (pair: see the one-row case below):
 *     acc[r][v] += sum_k A[r * ars + k * aks] * P[k * pks + v * NU : +NU]
 * A is read by broadcast, so it may be strided either way (rows of a
 * row-major matrix, or columns of one for transposed products). */
SKLSTM_INLINE void SK_NAME(sk_kernel)(const int mr, const int nv, const int pair,
                                      const SK_T* A, ptrdiff_t ars, ptrdiff_t aks,
                                      ptrdiff_t K, const SK_T* P, ptrdiff_t pks,
                                      SK_VEC acc[SK_MR][4]) {
    ptrdiff_t k = 0;
    if (mr == 1 && pair) {
        /* One row has only nv independent sums, too few to hide the FMA
         * latency: alternate two sets of them over k, then add the sets.
         * This sums in another order than a row of a larger tile, so callers
         * ask for it (pair) only where the same row never falls in a larger
         * tile at another thread count. */
        SK_VEC odd[4] = {SK_SPLAT(0), SK_SPLAT(0), SK_SPLAT(0), SK_SPLAT(0)};
        for (; k + 1 < K; k += 2) {
            const SK_T* p = P + k * pks;
            SK_VEC a = SK_SPLAT(A[k * aks]), b = SK_SPLAT(A[(k + 1) * aks]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; ++v) {
                acc[0][v] += a * SK_LOADV(p + v * SK_NU);
                odd[v] += b * SK_LOADV(p + pks + v * SK_NU);
            }
        }
#pragma GCC unroll 4
        for (int v = 0; v < nv; ++v) acc[0][v] += odd[v];
    }
    for (; k < K; ++k) {
        const SK_T* p = P + k * pks;
        SK_VEC pv[4];
#pragma GCC unroll 4
        for (int v = 0; v < nv; ++v) pv[v] = SK_LOADV(p + v * SK_NU);
#pragma GCC unroll 8
        for (int r = 0; r < mr; ++r) {
            SK_VEC a = SK_SPLAT(A[r * ars + k * aks]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; ++v) acc[r][v] += a * pv[v];
        }
    }
}

/* The gate slot (0-3, of the 4H gates of a row) that vector v of a gate
 * panel of the given form holds: every slot in order (SKLSTM_PANEL_ALL), or
 * slots 0, 1, 3 (SKLSTM_PANEL_013) or 0, 1, 2 (SKLSTM_PANEL_012). */
SKLSTM_INLINE int SK_NAME(sk_panel_slot)(const int panel, const int v) {
    return panel == SKLSTM_PANEL_013 && v == 2 ? 3 : v;
}

/* Rows [0, mr) of one forward step tile, units u0 .. u0+nu of the gates of
 * the panel form (see sk_panel_slot): gates (x W^T + b on entry) +=
 * h_{t-1} U^T. */
SKLSTM_INLINE void SK_NAME(sk_forward_tile)(
    const int mr, const int panel, const int pair, ptrdiff_t H, ptrdiff_t K,
    ptrdiff_t u0, ptrdiff_t nu, const SK_T* hprev, const SK_T* P, SK_T* gates) {
    const int nv = sklstm_panel_gates(panel);
    SK_VEC acc[SK_MR][4];
#pragma GCC unroll 8
    for (int r = 0; r < mr; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < nv; ++v)
            acc[r][v] = SK_NAME(sk_loadv)(
                gates + r * 4 * H + SK_NAME(sk_panel_slot)(panel, v) * H + u0, nu);
    SK_NAME(sk_kernel)(mr, nv, pair, hprev, H, 1, K, P, nv * SK_NU, acc);
#pragma GCC unroll 8
    for (int r = 0; r < mr; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < nv; ++v)
            SK_NAME(sk_storev)(
                gates + r * 4 * H + SK_NAME(sk_panel_slot)(panel, v) * H + u0,
                acc[r][v], nu);
}

/* The element-wise pass of one row of an LSTM step, units u0 .. u0+nu:
 * gates holds the pre-activations on entry and the activations (i, f, g, o)
 * on exit. With peep, P (3, H) adds P[0] ⊙ c_{t-1} to i, P[1] ⊙ c_{t-1} to f
 * and P[2] ⊙ c_t to o; with ident, h_t = o_t ⊙ c_t instead of o_t ⊙ tanh(c_t).
 * Called with constant flags, so that each form compiles to its own code. */
SKLSTM_INLINE void SK_NAME(sk_lstm_cell)(
    const int peep, const int ident, ptrdiff_t H, ptrdiff_t u0, ptrdiff_t nu,
    SK_T* gates, const SK_T* cprev, const SK_T* P, SK_T* cells, SK_T* hidden) {
    SK_T* gr = gates + u0;
    SK_VEC i = SK_NAME(sk_loadv)(gr, nu), f = SK_NAME(sk_loadv)(gr + H, nu);
    SK_VEC g = SK_NAME(sk_loadv)(gr + 2 * H, nu), o = SK_NAME(sk_loadv)(gr + 3 * H, nu);
    SK_VEC c = SK_NAME(sk_loadv)(cprev + u0, nu), h;
    if (peep) {
        i += SK_NAME(sk_loadv)(P + u0, nu) * c;
        f += SK_NAME(sk_loadv)(P + H + u0, nu) * c;
    }
    i = SK_VSIGMOID(i);
    f = SK_VSIGMOID(f);
    g = SK_VTANH(g);
    c = f * c + i * g;
    if (peep) o += SK_NAME(sk_loadv)(P + 2 * H + u0, nu) * c;
    o = SK_VSIGMOID(o);
    h = ident ? o * c : o * SK_VTANH(c);
    SK_NAME(sk_storev)(gr, i, nu);
    SK_NAME(sk_storev)(gr + H, f, nu);
    SK_NAME(sk_storev)(gr + 2 * H, g, nu);
    SK_NAME(sk_storev)(gr + 3 * H, o, nu);
    SK_NAME(sk_storev)(cells + u0, c, nu);
    SK_NAME(sk_storev)(hidden + u0, h, nu);
}

/* The element-wise pass of one row of a GRU step (PyTorch's variant) in four
 * slots: the pre-activations (r, z, n_x, n_h) = (W_r x + U_r h + b_r,
 * W_z x + U_z h + b_z, W_n x + b_in, U_n h + b_hn) on entry, (r, z, n, n_h) on
 * exit; n = tanh(n_x + r ⊙ n_h), h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}. */
SKLSTM_INLINE void SK_NAME(sk_gru_cell)(ptrdiff_t H, ptrdiff_t u0, ptrdiff_t nu,
                                        SK_T* gates, const SK_T* hprev, SK_T* hidden) {
    SK_T* gr = gates + u0;
    const SK_VEC one = SK_SPLAT(1);
    SK_VEC r = SK_VSIGMOID(SK_NAME(sk_loadv)(gr, nu));
    SK_VEC z = SK_VSIGMOID(SK_NAME(sk_loadv)(gr + H, nu));
    SK_VEC n = SK_VTANH(SK_NAME(sk_loadv)(gr + 2 * H, nu) +
                        r * SK_NAME(sk_loadv)(gr + 3 * H, nu));
    SK_VEC h = (one - z) * n + z * SK_NAME(sk_loadv)(hprev + u0, nu);
    SK_NAME(sk_storev)(gr, r, nu);
    SK_NAME(sk_storev)(gr + H, z, nu);
    SK_NAME(sk_storev)(gr + 2 * H, n, nu);
    SK_NAME(sk_storev)(hidden + u0, h, nu);
}

/* Gate derivatives of one GRU row for units [u0, u1): dh = d_hidden +
 * dh_carry (the product dgates_{t+1} U) + dc_carry (the direct path
 * z_{t+1} ⊙ dh_{t+1}); then dn = dh (1 - z) tanh', and dc_carry = dh z.
 * The derivatives are stored (dn n_h σ'(r), dh (h_{t-1} - n) σ'(z), dn r,
 * dn): the forward slots n_x and n_h swapped, so that the three that reach
 * h_{t-1} (r, z and the recurrent n) come first and the backward products
 * with U run over 3H gates, not 4H (lstm_backward: U in the order (U_r,
 * U_z, U_n, 0), W in (W_r, W_z, 0, W_n)). */
SKLSTM_INLINE void SK_NAME(sk_gru_cell_backward)(
    ptrdiff_t H, ptrdiff_t u0, ptrdiff_t u1, const SK_T* g, const SK_T* hprev,
    const SK_T* d_hidden, const SK_T* dh_carry, SK_T* dc_carry, SK_T* dg) {
    const SK_VEC one = SK_SPLAT(1);
    for (ptrdiff_t u = u0; u < u1; u += SK_NU) {
        const ptrdiff_t n = u1 - u < SK_NU ? u1 - u : SK_NU;
        SK_VEC r = SK_NAME(sk_loadv)(g + u, n), z = SK_NAME(sk_loadv)(g + H + u, n);
        SK_VEC nn = SK_NAME(sk_loadv)(g + 2 * H + u, n);
        SK_VEC nh = SK_NAME(sk_loadv)(g + 3 * H + u, n);
        SK_VEC dh = SK_NAME(sk_loadv)(d_hidden + u, n) +
                    SK_NAME(sk_loadv)(dh_carry + u, n) +
                    SK_NAME(sk_loadv)(dc_carry + u, n);
        SK_VEC dn = dh * (one - z) * (one - nn * nn);
        SK_NAME(sk_storev)(dg + u, dn * nh * r * (one - r), n);
        SK_NAME(sk_storev)(dg + H + u,
                           dh * (SK_NAME(sk_loadv)(hprev + u, n) - nn) * z * (one - z), n);
        SK_NAME(sk_storev)(dg + 2 * H + u, dn * r, n);
        SK_NAME(sk_storev)(dg + 3 * H + u, dn, n);
        SK_NAME(sk_storev)(dc_carry + u, dh * z, n);
    }
}

/* Calls TILE(mr, r0) over the row tiles of [0, rows), with a compile-time
 * mr in each call so that the accumulators stay in registers. (Splitting a
 * remainder of 4 rows as 2 + 2 instead of 3 + 1 measured 10% slower: two
 * accumulators per gate are too few to hide the FMA latency.) */
#define SK_FOR_ROW_TILES(rows, TILE)                          \
    do {                                                      \
        ptrdiff_t r0_ = 0;                                    \
        for (; r0_ + SK_MR <= (rows); r0_ += SK_MR)   \
            TILE(SK_MR, r0_);                             \
        switch ((rows) - r0_) {                               \
        case 5: if (SK_MR > 5) TILE(5, r0_); break;           \
        case 4: if (SK_MR > 4) TILE(4, r0_); break;           \
        case 3: if (SK_MR > 3) TILE(3, r0_); break;           \
        case 2: TILE(2, r0_); break;                          \
        case 1: TILE(1, r0_); break;                          \
        }                                                     \
    } while (0)

/* Rows of dgates per packed chunk in sklstm_weight_block: a (KC, 4NU) panel
 * (16 KiB in float32) stays in L1 while every column of A passes. (The step
 * products stream their panels from L2 without such chunks: chunking them
 * measured slower.) */
#define SKLSTM_KC 128

/* ---- Packing -------------------------------------------------------------
 * Gate panels, from M (4H, K) row-major (M = U with K = H, or W with K = D),
 * of nv = sklstm_panel_gates(panel) vectors, vector v from gate slot
 * sk_panel_slot(panel, v):
 *     P[((ub * K + k) * nv + v) * NU + j] = M[slot(v) * H + ub * NU + j, k]
 * Column panels, from M (K, n) row-major (M = U or W, K = 4H):
 *     P[(cb * K + k) * 4NU + j] = M[k, cb * 4NU + j]
 * Units or columns past the end are zero. */

static ptrdiff_t SK_NAME(sklstm_unit_blocks)(ptrdiff_t H) { return (H + SK_NU - 1) / SK_NU; }

/* Units (or columns) per column panel: 4 vectors. */
static ptrdiff_t SK_NAME(sklstm_column_width)(void) { return 4 * SK_NU; }

static ptrdiff_t SK_NAME(sklstm_column_blocks)(ptrdiff_t n) {
    return (n + 4 * SK_NU - 1) / (4 * SK_NU);
}

static ptrdiff_t SK_NAME(sklstm_gate_panel_size)(ptrdiff_t H, ptrdiff_t K, int panel) {
    return SK_NAME(sklstm_unit_blocks)(H) * K * sklstm_panel_gates(panel) * SK_NU;
}

static ptrdiff_t SK_NAME(sklstm_column_panel_size)(ptrdiff_t K, ptrdiff_t n) {
    return SK_NAME(sklstm_column_blocks)(n) * K * 4 * SK_NU;
}

static void SK_NAME(sklstm_pack_gates)(const SK_T* M, ptrdiff_t H, ptrdiff_t K,
                                       int panel, SK_T* P) {
    const int nv = sklstm_panel_gates(panel);
    for (ptrdiff_t ub = 0; ub < SK_NAME(sklstm_unit_blocks)(H); ++ub)
        for (ptrdiff_t k = 0; k < K; ++k)
            for (int v = 0; v < nv; ++v) {
                const ptrdiff_t g = SK_NAME(sk_panel_slot)(panel, v);
                for (ptrdiff_t j = 0; j < SK_NU; ++j) {
                    ptrdiff_t u = ub * SK_NU + j;
                    P[((ub * K + k) * nv + v) * SK_NU + j] =
                        u < H ? M[(g * H + u) * K + k] : 0;
                }
            }
}

static void SK_NAME(sklstm_pack_columns)(const SK_T* M, ptrdiff_t K, ptrdiff_t n, SK_T* P) {
    const ptrdiff_t width = 4 * SK_NU;
    for (ptrdiff_t cb = 0; cb < SK_NAME(sklstm_column_blocks)(n); ++cb)
        for (ptrdiff_t k = 0; k < K; ++k)
            for (ptrdiff_t j = 0; j < width; ++j) {
                ptrdiff_t c = cb * width + j;
                P[(cb * K + k) * width + j] = c < n ? M[k * n + c] : 0;
            }
}

/* ---- Forward ---------------------------------------------------------------- */

/* Input projection of rows [0, rows) for unit block ub, with PW the gate
 * panels of W of the given form: gates[:, units of every gate] = X @ W^T + b.
 * (SKLSTM_PANEL_012, the GRU's W: the fourth slot, whose block of W is zero,
 * is b's.) */
SKLSTM_INLINE void SK_NAME(sk_project)(
    const int panel, ptrdiff_t rows, ptrdiff_t D, ptrdiff_t H, ptrdiff_t ub,
    const SK_T* X, const SK_T* PW, const SK_T* b, SK_T* gates) {
    const int nv = sklstm_panel_gates(panel);
    const ptrdiff_t u0 = ub * SK_NU, nu = H - u0 < SK_NU ? H - u0 : SK_NU;
    const SK_T* P = PW + ub * D * nv * SK_NU;
    SK_VEC bias[4];
    for (int g = 0; g < 4; ++g) bias[g] = SK_NAME(sk_loadv)(b + g * H + u0, nu);
#define SK_TILE(mr, r0)                                                          \
    do {                                                                         \
        SK_VEC acc[SK_MR][4];                                                    \
        _Pragma("GCC unroll 8") for (int r = 0; r < (mr); ++r)                   \
            _Pragma("GCC unroll 4") for (int g = 0; g < nv; ++g)                 \
                acc[r][g] = bias[g];                                             \
        SK_NAME(sk_kernel)((mr), nv, 1, X + (r0) * D, D, 1, D, P, nv * SK_NU, acc); \
        _Pragma("GCC unroll 8") for (int r = 0; r < (mr); ++r) {                 \
            _Pragma("GCC unroll 4") for (int g = 0; g < nv; ++g)                 \
                SK_NAME(sk_storev)(gates + ((r0) + r) * 4 * H + g * H + u0,      \
                                   acc[r][g], nu);                               \
            if (nv == 3)                                                         \
                SK_NAME(sk_storev)(gates + ((r0) + r) * 4 * H + 3 * H + u0,      \
                                   bias[3], nu);                                 \
        }                                                                        \
    } while (0)
    SK_FOR_ROW_TILES(rows, SK_TILE);
#undef SK_TILE
}

/* The input projection of a step of the given kind (PW packed in
 * sklstm_input_panel(kind)'s form). */
SK_TARGET static void SK_NAME(sklstm_project_block)(
    ptrdiff_t rows, ptrdiff_t D, ptrdiff_t H, ptrdiff_t ub, int kind, const SK_T* X,
    const SK_T* PW, const SK_T* b, SK_T* gates) {
    if (sklstm_input_panel(kind) == SKLSTM_PANEL_012)
        SK_NAME(sk_project)(SKLSTM_PANEL_012, rows, D, H, ub, X, PW, b, gates);
    else
        SK_NAME(sk_project)(SKLSTM_PANEL_ALL, rows, D, H, ub, X, PW, b, gates);
}

/* One step for unit block ub, every running row: gates holds x W^T + b on
 * entry and the activations on exit, after adding operand U^T (PU: gate
 * panels of U; operand is h_{t-1}, or c_{t-1} for SKLSTM_CELL_INPUT); cells
 * and hidden receive c_t and h_t. kind is a combination of the SKLSTM_
 * flags of lstm_tile.h; pair as in sk_kernel (for a step of one row in all).
 * The activations run in a pass of their own after the
 * products: row after row they are independent, so their long dependency
 * chains overlap, where applied to each register tile they stalled the
 * products (measured 1.4x faster steps at H = 64). */
SK_TARGET static void SK_NAME(sklstm_forward_block)(
    ptrdiff_t rows, int pair, ptrdiff_t H, ptrdiff_t ub, int kind, const SK_T* operand,
    const SK_T* PU, SK_T* gates, const SK_T* cprev, const SK_T* P, SK_T* cells,
    SK_T* hidden) {
    const ptrdiff_t u0 = ub * SK_NU, nu = H - u0 < SK_NU ? H - u0 : SK_NU;
    const int three = sklstm_recurrent_panel(kind) == SKLSTM_PANEL_013;
    const ptrdiff_t nv = three ? 3 : 4;
    const SK_T* PB = PU + ub * H * nv * SK_NU;
    /* In chunks of SK_STEP_KC of the H products, so that a chunk of the panel
     * stays in L1 while every row tile passes (the 64-byte panels of H = 256
     * are 64 KiB; the 32-byte ones measured faster unchunked). The panels of
     * the GRU and of the cell-input form hold U's three nonzero blocks
     * (SKLSTM_PANEL_013). */
    for (ptrdiff_t k0 = 0; k0 < H; k0 += SK_STEP_KC) {
        const ptrdiff_t kc = H - k0 < SK_STEP_KC ? H - k0 : SK_STEP_KC;
#define SK_TILE(mr, r0)                                                             \
    SK_NAME(sk_forward_tile)((mr), SKLSTM_PANEL_ALL, pair, H, kc, u0, nu,           \
                             operand + (r0) * H + k0, PB + k0 * 4 * SK_NU,          \
                             gates + (r0) * 4 * H)
#define SK_THREE_TILE(mr, r0)                                                       \
    SK_NAME(sk_forward_tile)((mr), SKLSTM_PANEL_013, pair, H, kc, u0, nu,           \
                             operand + (r0) * H + k0, PB + k0 * 3 * SK_NU,          \
                             gates + (r0) * 4 * H)
        if (three)
            SK_FOR_ROW_TILES(rows, SK_THREE_TILE);
        else
            SK_FOR_ROW_TILES(rows, SK_TILE);
#undef SK_TILE
#undef SK_THREE_TILE
    }
    for (ptrdiff_t r = 0; r < rows; ++r) {
        SK_T* gr = gates + r * 4 * H;
        const SK_T* cr = cprev + r * H;
        if (kind & SKLSTM_GRU) {
            /* the GRU's state is h: cprev holds h_{t-1} */
            SK_NAME(sk_gru_cell)(H, u0, nu, gr, cr, hidden + r * H);
            continue;
        }
        switch (kind & (SKLSTM_PEEPHOLE | SKLSTM_IDENTITY)) {
        case 0:
            SK_NAME(sk_lstm_cell)(0, 0, H, u0, nu, gr, cr, P, cells + r * H, hidden + r * H);
            break;
        case SKLSTM_PEEPHOLE:
            SK_NAME(sk_lstm_cell)(1, 0, H, u0, nu, gr, cr, P, cells + r * H, hidden + r * H);
            break;
        case SKLSTM_IDENTITY:
            SK_NAME(sk_lstm_cell)(0, 1, H, u0, nu, gr, cr, P, cells + r * H, hidden + r * H);
            break;
        default:
            SK_NAME(sk_lstm_cell)(1, 1, H, u0, nu, gr, cr, P, cells + r * H, hidden + r * H);
        }
    }
}

/* ---- Backward --------------------------------------------------------------- */

/* out[:, columns of block cb] = A @ M for rows [0, rows), where PM holds the
 * column panels of M (K, n): dh_{t-1} = dgates_t U per step, dX = dgates W,
 * and the output layer's products; pair as in sk_kernel. */
SK_TARGET static void SK_NAME(sklstm_columns_block)(
    ptrdiff_t rows, int pair, ptrdiff_t K, ptrdiff_t n, ptrdiff_t cb, const SK_T* A,
    ptrdiff_t lda, const SK_T* PM, SK_T* out, ptrdiff_t ldo) {
    const ptrdiff_t width = 4 * SK_NU, c0 = cb * width;
    const ptrdiff_t nc = n - c0 < width ? n - c0 : width;
    const SK_T* P = PM + cb * K * width;
#define SK_TILE(mr, r0)                                                           \
    do {                                                                          \
        SK_VEC acc[SK_MR][4];                                                     \
        _Pragma("GCC unroll 8") for (int r = 0; r < (mr); ++r)                    \
            _Pragma("GCC unroll 4") for (int v = 0; v < 4; ++v)                   \
                acc[r][v] = SK_SPLAT(0);                                          \
        SK_NAME(sk_kernel)((mr), 4, pair, A + (r0) * lda, lda, 1, K, P, width, acc); \
        _Pragma("GCC unroll 8") for (int r = 0; r < (mr); ++r)                    \
            _Pragma("GCC unroll 4") for (int v = 0; v < 4; ++v)                   \
                SK_NAME(sk_storev)(out + ((r0) + r) * ldo + c0 + v * SK_NU,       \
                                   acc[r][v], SK_LANES(nc, v));                   \
    } while (0)
    SK_FOR_ROW_TILES(rows, SK_TILE);
#undef SK_TILE
}

/* Gate derivatives of one LSTM row for units [u0, u1), with the flags of
 * sk_lstm_cell (and cellin: the product carried in dh_carry reached c_{t-1},
 * not h_{t-1}, so it adds to dc; h_t then has no recurrent path):
 *   dh = d_hidden + dh_carry,  do = dh σ_h(c) σ'(o),
 *   dc = dc_carry + dh o σ_h'(c) + P[2] do,
 *   (di, df, dg) = (dc g σ'(i), dc c_prev σ'(f), dc i tanh'(g)),
 *   dc_carry = dc f + P[0] di + P[1] df. */
SKLSTM_INLINE void SK_NAME(sk_lstm_cell_backward)(
    const int peep, const int ident, const int cellin, ptrdiff_t H, ptrdiff_t u0,
    ptrdiff_t u1, const SK_T* g, const SK_T* cprev, const SK_T* cells,
    const SK_T* d_hidden, const SK_T* dh_carry, SK_T* dc_carry, const SK_T* P,
    SK_T* dg) {
    const SK_VEC one = SK_SPLAT(1);
    for (ptrdiff_t u = u0; u < u1; u += SK_NU) {
        const ptrdiff_t n = u1 - u < SK_NU ? u1 - u : SK_NU;
        SK_VEC gi = SK_NAME(sk_loadv)(g + u, n);
        SK_VEC gf = SK_NAME(sk_loadv)(g + H + u, n);
        SK_VEC gg = SK_NAME(sk_loadv)(g + 2 * H + u, n);
        SK_VEC go = SK_NAME(sk_loadv)(g + 3 * H + u, n);
        SK_VEC c = SK_NAME(sk_loadv)(cells + u, n);
        SK_VEC tc = ident ? c : SK_VTANH(c);
        SK_VEC carry = SK_NAME(sk_loadv)(dh_carry + u, n);
        SK_VEC dh = SK_NAME(sk_loadv)(d_hidden + u, n);
        if (!cellin) dh += carry;
        SK_VEC d_o = dh * tc * go * (one - go);
        SK_VEC dc = SK_NAME(sk_loadv)(dc_carry + u, n) +
                    (ident ? dh * go : dh * go * (one - tc * tc));
        if (cellin) dc += carry;
        if (peep) dc += SK_NAME(sk_loadv)(P + 2 * H + u, n) * d_o;
        SK_VEC d_i = dc * gg * gi * (one - gi);
        SK_VEC d_f = dc * SK_NAME(sk_loadv)(cprev + u, n) * gf * (one - gf);
        SK_VEC dcp = dc * gf;
        if (peep)
            dcp += SK_NAME(sk_loadv)(P + u, n) * d_i + SK_NAME(sk_loadv)(P + H + u, n) * d_f;
        SK_NAME(sk_storev)(dg + u, d_i, n);
        SK_NAME(sk_storev)(dg + H + u, d_f, n);
        SK_NAME(sk_storev)(dg + 2 * H + u, dc * gi * (one - gg * gg), n);
        SK_NAME(sk_storev)(dg + 3 * H + u, d_o, n);
        SK_NAME(sk_storev)(dc_carry + u, dcp, n);
    }
}

/* Gate derivatives of one step for units [u0, u1), every running row, for a
 * cell of the given kind (see sklstm_forward_block): d_hidden is dL/dh_t from
 * above, dh_carry the recurrent product dgates_{t+1} U there, dc_carry the
 * carry of the state (dL/dc_t; updated to the carry into step t - 1). */
SK_TARGET static void SK_NAME(sklstm_backward_gates)(
    ptrdiff_t rows, ptrdiff_t H, ptrdiff_t u0, ptrdiff_t u1, int kind,
    const SK_T* gates, const SK_T* cprev, const SK_T* cells, const SK_T* d_hidden,
    const SK_T* dh_carry, SK_T* dc_carry, const SK_T* P, SK_T* dgates) {
    for (ptrdiff_t r = 0; r < rows; ++r) {
        const SK_T* g = gates + r * 4 * H;
        SK_T* dg = dgates + r * 4 * H;
        const ptrdiff_t k = r * H;
#define SK_ROW(peep, ident, cellin)                                                   \
    SK_NAME(sk_lstm_cell_backward)(peep, ident, cellin, H, u0, u1, g, cprev + k,      \
                                   cells + k, d_hidden + k, dh_carry + k,             \
                                   dc_carry + k, P, dg)
        switch (kind) {
        case SKLSTM_GRU:
            SK_NAME(sk_gru_cell_backward)(H, u0, u1, g, cprev + k, d_hidden + k,
                                          dh_carry + k, dc_carry + k, dg);
            break;
        case 0: SK_ROW(0, 0, 0); break;
        case SKLSTM_PEEPHOLE: SK_ROW(1, 0, 0); break;
        case SKLSTM_IDENTITY: SK_ROW(0, 1, 0); break;
        case SKLSTM_PEEPHOLE | SKLSTM_IDENTITY: SK_ROW(1, 1, 0); break;
        case SKLSTM_CELL_INPUT: SK_ROW(0, 0, 1); break;
        case SKLSTM_CELL_INPUT | SKLSTM_PEEPHOLE: SK_ROW(1, 0, 1); break;
        case SKLSTM_CELL_INPUT | SKLSTM_IDENTITY: SK_ROW(0, 1, 1); break;
        default: SK_ROW(1, 1, 1);
        }
#undef SK_ROW
    }
}

/* Tile layout of a (N, m) matrix for the weight gradients: the columns in
 * tiles of MR, each tile stored row after row, so that the micro-kernel's
 * broadcasts walk memory contiguously. (Read in place, the rows of h or X
 * are 4H or D values apart, and with power-of-two widths every row of a
 * chunk falls in the same few L1 sets.)
 *     dst[(c / MR) * N * MR + row * MR + c % MR] = M[row, c] */
static ptrdiff_t SK_NAME(sklstm_tile_pack_size)(ptrdiff_t N, ptrdiff_t m) {
    return (m + SK_MR - 1) / SK_MR * SK_MR * N;
}

/* Rows [row0, row0 + rows) of the tile layout (see above) from src (rows, m),
 * leading dimension lds. */
static void SK_NAME(sklstm_pack_tiles)(ptrdiff_t rows, ptrdiff_t m, const SK_T* src,
                                       ptrdiff_t lds, ptrdiff_t N, ptrdiff_t row0,
                                       SK_T* dst) {
    for (ptrdiff_t r = 0; r < rows; ++r)
        for (ptrdiff_t c = 0; c < m; ++c)
            dst[(c / SK_MR) * N * SK_MR + (row0 + r) * SK_MR + c % SK_MR] =
                src[r * lds + c];
}

static ptrdiff_t SK_NAME(sklstm_weight_scratch_size)(ptrdiff_t m) {
    return SKLSTM_KC * 4 * SK_NU + (m + SK_MR) * 4 * SK_NU;
}

/* out[columns cb of G, :] = (A^T dgates[:, columns cb])^T, the weight
 * gradient dW = dgates^T X (A = X) or dU = dgates^T h_{t-1} (A = the h_{t-1}
 * of every row): out is (G, m), Ap is A (N, m) in tile layout, dgates is
 * (N, G). With db, also the column sums of dgates there.
 * scratch: sklstm_weight_scratch_size(m) values. */
SK_TARGET static void SK_NAME(sklstm_weight_block)(
    ptrdiff_t N, ptrdiff_t G, ptrdiff_t m, ptrdiff_t cb, const SK_T* Ap,
    const SK_T* dgates, SK_T* out, SK_T* db, SK_T* scratch) {
    const ptrdiff_t width = 4 * SK_NU, c0 = cb * width;
    const ptrdiff_t nc = G - c0 < width ? G - c0 : width;
    SK_T* panel = scratch;                        /* (KC, width) */
    SK_T* acc_out = scratch + SKLSTM_KC * width;  /* (m, width), out transposed */
    SK_VEC sums[4] = {SK_SPLAT(0), SK_SPLAT(0), SK_SPLAT(0), SK_SPLAT(0)};
    for (ptrdiff_t i = 0; i < m * width; ++i) acc_out[i] = 0;
    for (ptrdiff_t k0 = 0; k0 < N; k0 += SKLSTM_KC) {
        const ptrdiff_t kc = N - k0 < SKLSTM_KC ? N - k0 : SKLSTM_KC;
        for (ptrdiff_t k = 0; k < kc; ++k) {
            const SK_T* row = dgates + (k0 + k) * G + c0;
            for (int v = 0; v < 4; ++v) {
                SK_VEC x = SK_NAME(sk_loadv)(row + v * SK_NU, SK_LANES(nc, v));
                SK_STOREV(panel + k * width + v * SK_NU, x);
                sums[v] += x;
            }
        }
#define SK_TILE(mr, r0)                                                          \
    do {                                                                         \
        SK_VEC acc[SK_MR][4];                                                \
        _Pragma("GCC unroll 8") for (int r = 0; r < (mr); ++r)                   \
            _Pragma("GCC unroll 4") for (int v = 0; v < 4; ++v)                  \
                acc[r][v] = SK_LOADV(acc_out + ((r0) + r) * width + v * SK_NU);  \
        SK_NAME(sk_kernel)((mr), 4, 1, Ap + (r0) * N + k0 * SK_MR, 1, SK_MR, \
                           kc, panel, width, acc);                               \
        _Pragma("GCC unroll 8") for (int r = 0; r < (mr); ++r)                   \
            _Pragma("GCC unroll 4") for (int v = 0; v < 4; ++v)                  \
                SK_STOREV(acc_out + ((r0) + r) * width + v * SK_NU, acc[r][v]);  \
    } while (0)
        SK_FOR_ROW_TILES(m, SK_TILE);
#undef SK_TILE
    }
    for (ptrdiff_t j = 0; j < nc; ++j)
        for (ptrdiff_t i = 0; i < m; ++i) out[(c0 + j) * m + i] = acc_out[i * width + j];
    if (db) {
        SK_T tmp[4 * SK_NU];
        for (int v = 0; v < 4; ++v) SK_STOREV(tmp + v * SK_NU, sums[v]);
        for (ptrdiff_t j = 0; j < nc; ++j) db[c0 + j] = tmp[j];
    }
}

/* This instantiation's parameters; the includer keeps SK_T. */
#undef SK_NU
#undef SK_NAME
#undef SK_VSIGMOID
#undef SK_VTANH
#undef SK_TARGET
#undef SK_MR
#undef SK_STEP_KC
#undef SK_VEC
#undef SK_LOADV
#undef SK_STOREV
#undef SK_SPLAT
#undef SK_FOR_ROW_TILES
#undef SK_LANES
