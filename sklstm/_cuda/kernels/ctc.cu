/*
 * The CTC loss and its gradient on the GPU: the CuPy backend's counterpart
 * of ctc_loss in _core/_ctc.pyx, with the same layouts, the same treatment
 * of infeasible and empty targets and of -inf logits, and the same gradient
 * (softmax(u_t) - gamma_t, scaled by the sequence's weight, with respect to
 * the logits; Graves 2012, eq. 7.34).
 *
 * Layouts (row-major): logits and grad (B, T, C); lengths (B,) frames of
 * each sequence; labels the concatenated targets, sequence b's at
 * [offsets[b], offsets[b + 1]) (L labels, none the blank); the extended
 * target l' has S = 2L + 1 states, the blank at even s and label (s - 1) / 2
 * at odd s. frame_max and frame_norm (B * T,) hold each frame's max_k u(k)
 * and Z = sum_k exp(u(k) - max), so log y_t(k) = (u(k) - max) - log Z.
 *
 * The recursions run in log space, in double precision whatever the logits'
 * precision, each frame shifted by the previous frame's largest entry so
 * that the stored values stay near 0 (their rounding does not grow with t);
 * the shifts add up to the loss. A state that no alignment reaches is -inf,
 * so an infeasible target (one needing more frames than the input has, or
 * blocked by -inf logits) ends with p = 0: loss +inf, gradient zero.
 *
 * lattice (sum_b lengths[b] S_b,) doubles, sequence b's (lengths[b], S_b)
 * block at lattice_offsets[b]: ctc_alpha fills it with the shifted log
 * alpha_t(s), ctc_beta adds the shifted log beta'_t(s) (beta' excludes
 * frame t's emission), and ctc_grad normalises each frame's sum into the
 * state posteriors. ctc_alpha and ctc_beta run one block per sequence, the
 * threads over the states (block-stride loops, SK_SYNC between frames), so
 * any block size gives the same result; ctc_frame_norm and ctc_grad are
 * grid-stride loops over the B * T frames. prelude.cuh comes first.
 */

/* -inf (NVRTC has no INFINITY macro): an overflow both compilers fold. */
SK_DEVICE double sk_ctc_neg_inf() { return -(1e308 * 10.0); }

SK_DEVICE double sk_ctc_log(double x) { return log(x); }

/* log(exp(a) + exp(b) + exp(c)); -inf when all three are. */
SK_DEVICE double sk_ctc_log_sum3(double a, double b, double c) {
    double m = a > b ? a : b;
    if (c > m) m = c;
    if (m == sk_ctc_neg_inf()) return m;
    return m + log(exp(a - m) + exp(b - m) + exp(c - m));
}

/* The class of state s of l': the blank at even s, label (s - 1) / 2 at odd s. */
SK_DEVICE long long sk_ctc_state_label(const long long* labels, long long blank,
                                       long long s) {
    return (s & 1) ? labels[(s - 1) >> 1] : blank;
}

/* Whether state s may be entered from s - 2: a label state whose label
 * differs from the previous label. */
SK_DEVICE bool sk_ctc_skip_allowed(const long long* labels, long long s) {
    return s >= 2 && (s & 1) && labels[(s - 1) >> 1] != labels[(s - 3) >> 1];
}

/* log y_t of state s's class, from the frame's logits u, max and log Z. */
template <typename T>
SK_DEVICE double sk_ctc_log_emission(const T* u, double mx, double log_z,
                                     const long long* labels, long long blank,
                                     long long s) {
    return ((double)u[sk_ctc_state_label(labels, blank, s)] - mx) - log_z;
}

/* The largest of row[0 .. S), or 0 when all are -inf (a row no alignment
 * reaches: it stays -inf whatever the shift). Every thread reads the row. */
SK_DEVICE double sk_ctc_row_shift(const double* row, long long S) {
    double m = sk_ctc_neg_inf();
    for (long long s = 0; s < S; ++s)
        if (row[s] > m) m = row[s];
    return m == sk_ctc_neg_inf() ? 0.0 : m;
}

/* Each frame's max_k u(k) and Z = sum_k exp(u(k) - max), in double, summed in
 * the order of the CPU kernel's _frame_normalizer; n = B * T frames. */
template <typename T>
SK_GLOBAL void ctc_frame_norm(long long n, long long C, const T* logits,
                              double* frame_max, double* frame_norm) {
    for (long long idx = SK_FIRST_INDEX; idx < n; idx += SK_STRIDE) {
        const T* u = logits + idx * C;
        double mx = (double)u[0];
        for (long long k = 1; k < C; ++k)
            if ((double)u[k] > mx) mx = (double)u[k];
        double z = 0;
        if (mx != sk_ctc_neg_inf())  // a padding frame of -inf only: unused
            for (long long k = 0; k < C; ++k) z += exp((double)u[k] - mx);
        frame_max[idx] = mx;
        frame_norm[idx] = z;
    }
}

/* The forward recursion of each sequence (one block each): lattice receives
 * the shifted log alpha, losses[b] = -log p(l | x), +inf when p = 0. */
template <typename T>
SK_GLOBAL void ctc_alpha(long long B, long long T_max, long long C, const T* logits,
                         const double* frame_max, const double* frame_norm,
                         const long long* lengths, const long long* labels,
                         const long long* offsets, long long blank, double* lattice,
                         const long long* lattice_offsets, double* losses) {
    for (long long b = SK_BLOCK; b < B; b += SK_GRID_DIM) {
        const long long Tb = lengths[b];
        const long long L = offsets[b + 1] - offsets[b];
        const long long S = 2 * L + 1;
        const long long* lab = labels + offsets[b];
        const T* u = logits + b * T_max * C;
        const double* mx = frame_max + b * T_max;
        const double* z = frame_norm + b * T_max;
        double* lat = lattice + lattice_offsets[b];
        const double log_z0 = sk_ctc_log(z[0]);
        for (long long s = SK_THREAD; s < S; s += SK_BLOCK_DIM)
            lat[s] = s <= 1 ? sk_ctc_log_emission(u, mx[0], log_z0, lab, blank, s)
                            : sk_ctc_neg_inf();
        SK_SYNC();
        double shift_sum = 0;  // the same in every thread: each reads every row
        for (long long t = 1; t < Tb; ++t) {
            const double* prev = lat + (t - 1) * S;
            double* cur = lat + t * S;
            const T* ut = u + t * C;
            const double log_z = sk_ctc_log(z[t]);
            const double shift = sk_ctc_row_shift(prev, S);
            shift_sum += shift;
            for (long long s = SK_THREAD; s < S; s += SK_BLOCK_DIM) {
                double a = sk_ctc_log_sum3(
                    prev[s], s >= 1 ? prev[s - 1] : sk_ctc_neg_inf(),
                    sk_ctc_skip_allowed(lab, s) ? prev[s - 2] : sk_ctc_neg_inf());
                if (a != sk_ctc_neg_inf())
                    a += sk_ctc_log_emission(ut, mx[t], log_z, lab, blank, s) - shift;
                cur[s] = a;
            }
            SK_SYNC();
        }
        if (SK_THREAD == 0) {
            const double* last = lat + (Tb - 1) * S;
            const double f = sk_ctc_log_sum3(
                last[S - 1], S > 1 ? last[S - 2] : sk_ctc_neg_inf(), sk_ctc_neg_inf());
            losses[b] = f == sk_ctc_neg_inf() ? -sk_ctc_neg_inf() : -(shift_sum + f);
        }
    }
}

/* The backward recursion of each sequence with a finite loss (one block
 * each), after ctc_alpha: adds the shifted log beta' to lattice, which then
 * holds log(alpha_t(s) beta'_t(s)) up to a constant per frame. rows
 * (B, 2, S_max) is scratch for the two frames of beta' in flight. */
template <typename T>
SK_GLOBAL void ctc_beta(long long B, long long T_max, long long C, long long S_max,
                        const T* logits, const double* frame_max,
                        const double* frame_norm, const long long* lengths,
                        const long long* labels, const long long* offsets,
                        long long blank, const double* losses, double* lattice,
                        const long long* lattice_offsets, double* rows) {
    for (long long b = SK_BLOCK; b < B; b += SK_GRID_DIM) {
        if (!(losses[b] < -sk_ctc_neg_inf())) continue;  // the whole block skips
        const long long Tb = lengths[b];
        const long long L = offsets[b + 1] - offsets[b];
        const long long S = 2 * L + 1;
        const long long* lab = labels + offsets[b];
        const T* u = logits + b * T_max * C;
        const double* mx = frame_max + b * T_max;
        const double* z = frame_norm + b * T_max;
        double* lat = lattice + lattice_offsets[b];
        double* R = rows + b * 2 * S_max;
        double* first = R + ((Tb - 1) & 1) * S;
        for (long long s = SK_THREAD; s < S; s += SK_BLOCK_DIM)
            first[s] = s >= S - 2 ? 0.0 : sk_ctc_neg_inf();  // log beta'_{T-1}
        SK_SYNC();
        for (long long t = Tb - 1; t >= 0; --t) {
            const double* cur = R + (t & 1) * S;
            double* earlier = R + ((t + 1) & 1) * S;  // beta'_{t-1}, same parity as t+1
            const T* ut = u + t * C;
            const double log_z = sk_ctc_log(z[t]);
            const double shift = t > 0 ? sk_ctc_row_shift(cur, S) : 0.0;
            for (long long s = SK_THREAD; s < S; s += SK_BLOCK_DIM) {
                lat[t * S + s] += cur[s];
                if (t == 0) continue;
                // log beta'_{t-1}(s): over s' in {s, s+1, s+2} of
                // beta'_t(s') y_t(s'), shifted
                double terms[3];
                for (int j = 0; j < 3; ++j) {
                    const long long r = s + j;
                    const bool reach = r < S && (j < 2 || sk_ctc_skip_allowed(lab, r));
                    terms[j] = reach && cur[r] != sk_ctc_neg_inf()
                        ? cur[r] - shift
                              + sk_ctc_log_emission(ut, mx[t], log_z, lab, blank, r)
                        : sk_ctc_neg_inf();
                }
                earlier[s] = sk_ctc_log_sum3(terms[0], terms[1], terms[2]);
            }
            SK_SYNC();
        }
    }
}

/* The gradient of each frame (n = B * T, grid-stride), after ctc_beta:
 * weights[b] (softmax(u_t) - gamma_t), written in the logits' precision in
 * the order of the CPU kernel; zero past each length and for an infinite
 * loss. */
template <typename T>
SK_GLOBAL void ctc_grad(long long n, long long T_max, long long C, const T* logits,
                        const double* frame_max, const double* frame_norm,
                        const long long* lengths, const long long* labels,
                        const long long* offsets, long long blank,
                        const double* lattice, const long long* lattice_offsets,
                        const double* losses, const double* weights, T* grad) {
    for (long long idx = SK_FIRST_INDEX; idx < n; idx += SK_STRIDE) {
        const long long b = idx / T_max;
        const long long t = idx - b * T_max;
        T* g = grad + idx * C;
        if (t >= lengths[b] || !(losses[b] < -sk_ctc_neg_inf())) {
            for (long long k = 0; k < C; ++k) g[k] = T(0);
            continue;
        }
        const T* u = logits + idx * C;
        const double mx = frame_max[idx], z = frame_norm[idx];
        for (long long k = 0; k < C; ++k) {
            const T e = (T)exp((double)u[k] - mx);
            g[k] = (T)((double)e / z);
        }
        const long long L = offsets[b + 1] - offsets[b];
        const long long S = 2 * L + 1;
        const long long* lab = labels + offsets[b];
        const double* row = lattice + lattice_offsets[b] + t * S;
        // the frame's log sum_s alpha beta': the posteriors' normaliser
        double m = sk_ctc_neg_inf();
        for (long long s = 0; s < S; ++s)
            if (row[s] > m) m = row[s];
        if (m != sk_ctc_neg_inf()) {
            double total = 0;
            for (long long s = 0; s < S; ++s) total += exp(row[s] - m);
            const double norm = m + sk_ctc_log(total);
            for (long long s = 0; s < S; ++s) {
                if (row[s] == sk_ctc_neg_inf()) continue;
                const long long k = sk_ctc_state_label(lab, blank, s);
                g[k] = (T)((double)g[k] - exp(row[s] - norm));
            }
        }
        const double w = weights[b];
        if (w != 1) {
            const T factor = (T)w;
            for (long long k = 0; k < C; ++k) g[k] = g[k] * factor;
        }
    }
}
