/*
 * The element-wise passes of one recurrent step on the GPU: the CuPy
 * backend's counterpart of sk_lstm_cell, sk_gru_cell and their backward
 * passes in _core/src/lstm_tile_impl.h, with the same equations, layouts
 * and flags. The products (the input projection X W^T + b for every step at
 * once, and h_{t-1} U^T accumulated onto each step's rows) are cuBLAS's;
 * these kernels read the gate pre-activations they leave and apply the
 * activations and the state update, one thread per (row, unit).
 *
 * Layouts (row-major): gates (rows, 4H), slots i, f, g, o (the GRU: r, z,
 * n_x, n_h); cprev, cells, hidden, the carries (rows, H); P (3, H).
 *
 * Every kernel is a grid-stride loop over n = rows * H, so any launch shape
 * computes the same result; none synchronises threads. prelude.cuh comes
 * first (see there).
 */
/* The step forms: the SKLSTM_ flags of lstm_tile.h. */
#define SK_PEEPHOLE 1
#define SK_IDENTITY 2
#define SK_CELL_INPUT 4

/* One LSTM step's rows: gates hold the pre-activations on entry and the
 * activations (i, f, g, o) on exit; cells and hidden receive c_t and h_t.
 * With SK_PEEPHOLE, P adds P[0] c_{t-1} to i, P[1] c_{t-1} to f and P[2] c_t
 * to o; with SK_IDENTITY, h_t = o c_t. (SK_CELL_INPUT changes only what the
 * recurrent product read, not this pass.) */
template <typename T, int KIND>
SK_GLOBAL void lstm_cell_forward(long long n, int H, T* gates, const T* cprev,
                                 const T* P, T* cells, T* hidden) {
    for (long long idx = SK_FIRST_INDEX; idx < n; idx += SK_STRIDE) {
        const long long r = idx / H;
        const int u = (int)(idx - r * H);
        T* g = gates + r * 4 * H;
        T c = cprev[idx];
        T i = g[u], f = g[H + u], z = g[2 * H + u], o = g[3 * H + u];
        if (KIND & SK_PEEPHOLE) {
            i += P[u] * c;
            f += P[H + u] * c;
        }
        i = sk_sigmoid(i);
        f = sk_sigmoid(f);
        z = sk_tanh(z);
        c = f * c + i * z;
        if (KIND & SK_PEEPHOLE) o += P[2 * H + u] * c;
        o = sk_sigmoid(o);
        g[u] = i;
        g[H + u] = f;
        g[2 * H + u] = z;
        g[3 * H + u] = o;
        cells[idx] = c;
        hidden[idx] = (KIND & SK_IDENTITY) ? o * c : o * sk_tanh(c);
    }
}

/* Gate derivatives of one LSTM step's rows, as sk_lstm_cell_backward:
 *   dh = d_hidden + dh_carry,  do = dh s(c) o (1 - o),
 *   dc = dc_carry + dh o s'(c) + P[2] do,
 *   (di, df, dg) = (dc g i (1 - i), dc c_prev f (1 - f), dc i (1 - g^2)),
 *   dc_carry = dc f + P[0] di + P[1] df,
 * where s is tanh (the identity with SK_IDENTITY). With SK_CELL_INPUT the
 * recurrent product in dh_carry reached c_{t-1}, not h_{t-1}: it adds to dc.
 * dh_carry is read, dc_carry updated in place to the carry into step t-1. */
template <typename T, int KIND>
SK_GLOBAL void lstm_cell_backward(long long n, int H, const T* gates, const T* cprev,
                                  const T* cells, const T* d_hidden, const T* dh_carry,
                                  T* dc_carry, const T* P, T* dgates) {
    for (long long idx = SK_FIRST_INDEX; idx < n; idx += SK_STRIDE) {
        const long long r = idx / H;
        const int u = (int)(idx - r * H);
        const T* g = gates + r * 4 * H;
        T* dg = dgates + r * 4 * H;
        const T gi = g[u], gf = g[H + u], gg = g[2 * H + u], go = g[3 * H + u];
        const T c = cells[idx];
        const T tc = (KIND & SK_IDENTITY) ? c : sk_tanh(c);
        const T carry = dh_carry[idx];
        T dh = d_hidden[idx];
        if (!(KIND & SK_CELL_INPUT)) dh += carry;
        const T d_o = dh * tc * go * (T(1) - go);
        T dc = dc_carry[idx] + ((KIND & SK_IDENTITY) ? dh * go : dh * go * (T(1) - tc * tc));
        if (KIND & SK_CELL_INPUT) dc += carry;
        if (KIND & SK_PEEPHOLE) dc += P[2 * H + u] * d_o;
        const T d_i = dc * gg * gi * (T(1) - gi);
        const T d_f = dc * cprev[idx] * gf * (T(1) - gf);
        T dcp = dc * gf;
        if (KIND & SK_PEEPHOLE) dcp += P[u] * d_i + P[H + u] * d_f;
        dg[u] = d_i;
        dg[H + u] = d_f;
        dg[2 * H + u] = dc * gi * (T(1) - gg * gg);
        dg[3 * H + u] = d_o;
        dc_carry[idx] = dcp;
    }
}

/* One GRU step's rows (PyTorch's variant) in four slots: the pre-activations
 * (r, z, n_x, n_h) = (W_r x + U_r h + b_r, W_z x + U_z h + b_z, W_n x + b_in,
 * U_n h + b_hn) on entry, (r, z, n, n_h) on exit;
 * n = tanh(n_x + r n_h), h_t = (1 - z) n + z h_{t-1}. */
template <typename T>
SK_GLOBAL void gru_cell_forward(long long n, int H, T* gates, const T* hprev,
                                T* hidden) {
    for (long long idx = SK_FIRST_INDEX; idx < n; idx += SK_STRIDE) {
        const long long r = idx / H;
        const int u = (int)(idx - r * H);
        T* g = gates + r * 4 * H;
        const T rr = sk_sigmoid(g[u]);
        const T z = sk_sigmoid(g[H + u]);
        const T nn = sk_tanh(g[2 * H + u] + rr * g[3 * H + u]);
        g[u] = rr;
        g[H + u] = z;
        g[2 * H + u] = nn;
        hidden[idx] = (T(1) - z) * nn + z * hprev[idx];
    }
}

/* Gate derivatives of one GRU step's rows, as sk_gru_cell_backward:
 * dh = d_hidden + dh_carry (the product dgates_{t+1} U) + dc_carry (the
 * direct path z_{t+1} dh_{t+1}); dn = dh (1 - z)(1 - n^2); the slots'
 * derivatives (dn n_h r (1 - r), dh (h_{t-1} - n) z (1 - z), dn, dn r); and
 * dc_carry = dh z. */
template <typename T>
SK_GLOBAL void gru_cell_backward(long long n, int H, const T* gates, const T* hprev,
                                 const T* d_hidden, const T* dh_carry, T* dc_carry,
                                 T* dgates) {
    for (long long idx = SK_FIRST_INDEX; idx < n; idx += SK_STRIDE) {
        const long long r = idx / H;
        const int u = (int)(idx - r * H);
        const T* g = gates + r * 4 * H;
        T* dg = dgates + r * 4 * H;
        const T rr = g[u], z = g[H + u], nn = g[2 * H + u], nh = g[3 * H + u];
        const T dh = d_hidden[idx] + dh_carry[idx] + dc_carry[idx];
        const T dn = dh * (T(1) - z) * (T(1) - nn * nn);
        dg[u] = dn * nh * rr * (T(1) - rr);
        dg[H + u] = dh * (hprev[idx] - nn) * z * (T(1) - z);
        dg[2 * H + u] = dn;
        dg[3 * H + u] = dn * rr;
        dc_carry[idx] = dh * z;
    }
}
