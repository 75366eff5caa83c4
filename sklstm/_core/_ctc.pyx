"""Connectionist temporal classification: loss, gradient, decoding.

Layout: ``logits`` is padded ``(B, T, C)``; sequence ``b`` uses frames
``[0, input_lengths[b])``. Its target is ``targets[target_offsets[b] :
target_offsets[b + 1]]`` (``L`` labels, none equal to ``blank``); the
blank-extended target ``l'`` has ``S = 2L + 1`` states, blank at even ``s``
and label ``(s - 1) / 2`` at odd ``s`` (Graves et al. 2006, section 4.1;
0-based time).

The forward-backward recursions run in probability space, rescaled at every
frame so that the states sum to one, in double precision whatever the input
precision (Rabiner's scaling; Graves 2012, section 7.3.1). Emission
probabilities enter as ``e_t(k) = exp(u_t(k) - max_k u_t(k))``, whose
normaliser ``Z_t`` is folded into the loss. A frame whose rescaled sum
underflows (emissions below ~1e-300 on every reachable state, far beyond
logits of magnitude 50) is recomputed in log space, so extreme logits cost
speed, never accuracy. The gradient is taken with respect to the logits:
``softmax(u_t) - γ_t``, with ``γ_t(k)`` the posterior of label ``k`` at
frame ``t`` (Graves 2012, eq. 7.34).

The caller (``sklstm.functional``) validates every argument; scratch is
allocated once per thread, before any time loop.
"""
from libc.math cimport INFINITY, exp, log, log1p
from libc.stdlib cimport free, malloc

from cython.parallel cimport parallel, prange

from ._math cimport sklstm_max_threads
from ._typedefs cimport floating, intp_t

# Below this, a rescaled frame sum is treated as underflowed (section note above).
cdef double _TINY = 1e-280


cdef inline bint _skip_allowed(const intp_t* labels, intp_t s) noexcept nogil:
    """Whether state s (a label state) may be entered from s - 2: the labels differ."""
    return s >= 2 and (s & 1) == 1 and labels[(s - 1) >> 1] != labels[(s - 3) >> 1]


cdef void _frame_emissions(
    const floating* u,          # IN  (C,) logits of one frame
    intp_t C, intp_t blank, const intp_t* labels, intp_t L,
    double* e_states,           # OUT (L + 1,): e of blank, then of each label
    double* max_out,            # OUT max_k u(k)
) noexcept nogil:
    cdef intp_t k
    cdef double m = u[0]
    for k in range(1, C):
        if u[k] > m:
            m = u[k]
    e_states[0] = exp(u[blank] - m)
    for k in range(L):
        e_states[k + 1] = exp(u[labels[k]] - m)
    max_out[0] = m


cdef double _forward(
    const floating* u,          # IN  (Tb, C) logits of the sequence
    intp_t Tb, intp_t C, intp_t blank, const intp_t* labels, intp_t L,
    double* e,                  # SCRATCH (Tb, L + 1): emissions
    double* m,                  # SCRATCH (Tb,): frame maxima
    double* alpha,              # OUT (Tb, S): rescaled forward variables
    bint* underflow,            # OUT whether a state that matters underflowed to 0
) noexcept nogil:
    """log(p(l | x) prod_t Z_t), with Z_t the normaliser of exp(u_t - max u_t);
    -inf when the target cannot be aligned. Fills e, m and alpha."""
    cdef intp_t S = 2 * L + 1, t, s
    cdef double total, a, log_scale = 0, best
    cdef double* prev
    cdef double* cur
    underflow[0] = False
    for t in range(Tb):
        _frame_emissions(u + t * C, C, blank, labels, L, e + t * (L + 1), m + t)
    cur = alpha
    for s in range(S):
        cur[s] = 0
    cur[0] = e[0]
    if S > 1:
        cur[1] = e[1]
    total = cur[0] + (cur[1] if S > 1 else 0)
    if not total > _TINY:
        total = _log_space_frame(u, C, blank, labels, L, NULL, cur, m[0], &log_scale)
    else:
        for s in range(S):
            cur[s] /= total
        log_scale += log(total)
    for t in range(1, Tb):
        prev = alpha + (t - 1) * S
        cur = alpha + t * S
        total = 0
        for s in range(S):
            a = prev[s]
            if s >= 1:
                a += prev[s - 1]
            if _skip_allowed(labels, s):
                a += prev[s - 2]
            a *= e[t * (L + 1) + ((s + 1) >> 1 if s & 1 else 0)]
            cur[s] = a
            total += a
            # Every state reachable from the start that can still reach the
            # end has a positive forward variable in exact arithmetic.
            if a == 0 and s <= 2 * t + 1 and s >= S - 2 * (Tb - t):
                underflow[0] = True
        if not total > _TINY:
            _log_space_frame(u + t * C, C, blank, labels, L, prev, cur, m[t],
                             &log_scale)
        else:
            for s in range(S):
                cur[s] /= total
            log_scale += log(total)
    cur = alpha + (Tb - 1) * S
    best = cur[S - 1] + (cur[S - 2] if S > 1 else 0)
    if best <= 0:
        return -INFINITY
    return log_scale + log(best)


cdef double _log_space_frame(
    const floating* u, intp_t C, intp_t blank, const intp_t* labels, intp_t L,
    const double* prev,         # IN  (S,) rescaled previous frame, or NULL at t = 0
    double* cur,                # OUT (S,) rescaled frame
    double m, double* log_scale,
) noexcept nogil:
    """One forward frame in log space, for emissions too small to multiply."""
    cdef intp_t S = 2 * L + 1, s
    cdef double a, lm = -INFINITY, total = 0
    for s in range(S):
        if prev == NULL:
            a = 1.0 if s <= 1 else 0.0
        else:
            a = prev[s]
            if s >= 1:
                a += prev[s - 1]
            if _skip_allowed(labels, s):
                a += prev[s - 2]
        cur[s] = log(a) + u[labels[(s - 1) >> 1] if s & 1 else blank] - m \
            if a > 0 else -INFINITY
        if cur[s] > lm:
            lm = cur[s]
    for s in range(S):
        cur[s] = exp(cur[s] - lm)
        total += cur[s]
    for s in range(S):
        cur[s] /= total
    log_scale[0] += lm + log(total)
    return total


cdef double _sequence_loss_grad(
    const floating* u, intp_t Tb, intp_t C, intp_t blank, const intp_t* labels,
    intp_t L, floating* grad, double* e, double* m, double* alpha, double* beta,
    double* beta_prev,
) noexcept nogil:
    """-log p(l | x) of one sequence; grad (Tb, C) receives its gradient with
    respect to the logits (zero when the loss is infinite)."""
    cdef intp_t S = 2 * L + 1, t, s, k
    cdef double log_p, log_z_sum = 0, z, gamma_sum, total, b
    cdef double* at
    cdef floating* g
    cdef const floating* ut
    cdef bint underflow
    log_p = _forward(u, Tb, C, blank, labels, L, e, m, alpha, &underflow)
    if underflow:
        return _sequence_loss_grad_logs(u, Tb, C, blank, labels, L, grad, alpha, beta,
                                        beta_prev, m)
    if log_p == -INFINITY:
        for t in range(Tb * C):
            grad[t] = 0
        return INFINITY
    for s in range(S):
        beta[s] = 1.0 if s >= S - 2 else 0.0
    for t in range(Tb - 1, -1, -1):
        ut = u + t * C
        g = grad + t * C
        # softmax of the frame, and its normaliser
        z = 0
        for k in range(C):
            b = exp(ut[k] - m[t])
            g[k] = <floating>b
            z += b
        log_z_sum += log(z)
        for k in range(C):
            g[k] = <floating>(g[k] / z)
        # state posteriors γ_t(s) ∝ α_t(s) β'_t(s); α and β' are each rescaled
        # to sum to one, and where their supports barely overlap (peaked,
        # conflicting evidence) the products can underflow: then in logs.
        at = alpha + t * S
        gamma_sum = 0
        for s in range(S):
            beta_prev[s] = at[s] * beta[s]
            gamma_sum += beta_prev[s]
        if not gamma_sum > _TINY:
            return _sequence_loss_grad_logs(u, Tb, C, blank, labels, L, grad,
                                            alpha, beta, beta_prev, m)
        if gamma_sum > 0:
            for s in range(S):
                k = labels[(s - 1) >> 1] if s & 1 else blank
                g[k] = <floating>(g[k] - beta_prev[s] / gamma_sum)
        if t == 0:
            break
        # β'_{t-1}(s) = Σ over s' in {s, s+1, s+2} of e_t(s') β'_t(s'), rescaled
        total = 0
        for s in range(S):
            b = beta[s] * e[t * (L + 1) + ((s + 1) >> 1 if s & 1 else 0)]
            beta_prev[s] = b
        for s in range(S):
            b = beta_prev[s]
            if s + 1 < S:
                b += beta_prev[s + 1]
            if s + 2 < S and _skip_allowed(labels, s + 2):
                b += beta_prev[s + 2]
            beta[s] = b
            total += b
            if b == 0 and s <= 2 * t - 1 and s >= S - 2 * (Tb - t + 1):
                # underflow of a state that matters (see _forward): redo in logs
                return _sequence_loss_grad_logs(u, Tb, C, blank, labels, L, grad,
                                                alpha, beta, beta_prev, m)
        if not total > _TINY:
            total = _rescale_log(beta, S)
        for s in range(S):
            beta[s] /= total
    # The recursions used e = exp(u - max) instead of softmax(u) = e / Z, so
    # they computed p(l|x) * prod_t Z_t.
    return log_z_sum - log_p


cdef inline double _log_add(double a, double b) noexcept nogil:
    """log(exp(a) + exp(b)); the other operand when one is -inf."""
    if a == -INFINITY:
        return b
    if b == -INFINITY:
        return a
    if a > b:
        return a + log1p(exp(b - a))
    return b + log1p(exp(a - b))


cdef double _loss_in_logs(
    const floating* u, intp_t Tb, intp_t C, intp_t blank, const intp_t* labels,
    intp_t L, double* la, double* lz,
) noexcept nogil:
    """-log p(l | x) by the log-space forward recursion; la (Tb, S) receives
    log α, lz (Tb,) each frame's log-softmax normaliser. The slow, safe path,
    for sequences whose rescaled recursions underflow."""
    cdef intp_t S = 2 * L + 1, t, s, k
    cdef double a, mx, z
    cdef const floating* ut
    for t in range(Tb):
        ut = u + t * C
        mx = ut[0]
        for k in range(1, C):
            if ut[k] > mx:
                mx = ut[k]
        z = 0
        for k in range(C):
            z += exp(ut[k] - mx)
        lz[t] = mx + log(z)
    for t in range(Tb):
        ut = u + t * C
        for s in range(S):
            if t == 0:
                a = 0.0 if s <= 1 else -INFINITY
            else:
                a = la[(t - 1) * S + s]
                if s >= 1:
                    a = _log_add(a, la[(t - 1) * S + s - 1])
                if _skip_allowed(labels, s):
                    a = _log_add(a, la[(t - 1) * S + s - 2])
            if a != -INFINITY:
                a += ut[labels[(s - 1) >> 1] if s & 1 else blank] - lz[t]
            la[t * S + s] = a
    a = la[(Tb - 1) * S + S - 1]
    if S > 1:
        a = _log_add(a, la[(Tb - 1) * S + S - 2])
    return -a


cdef double _sequence_loss_grad_logs(
    const floating* u, intp_t Tb, intp_t C, intp_t blank, const intp_t* labels,
    intp_t L, floating* grad, double* la, double* lb, double* lb_prev, double* lz,
) noexcept nogil:
    """_sequence_loss_grad in log space (see _loss_in_logs)."""
    cdef intp_t S = 2 * L + 1, t, s, k
    cdef double loss = _loss_in_logs(u, Tb, C, blank, labels, L, la, lz), b
    cdef const floating* ut
    cdef floating* g
    if loss == INFINITY:
        for t in range(Tb * C):
            grad[t] = 0
        return loss
    for s in range(S):
        lb[s] = 0.0 if s >= S - 2 else -INFINITY   # log β'_{T-1}
    for t in range(Tb - 1, -1, -1):
        ut = u + t * C
        g = grad + t * C
        for k in range(C):
            g[k] = <floating>exp(ut[k] - lz[t])
        for s in range(S):
            b = la[t * S + s] + lb[s] + loss   # log γ_t(s)
            if b != -INFINITY:
                k = labels[(s - 1) >> 1] if s & 1 else blank
                g[k] = <floating>(g[k] - exp(b))
        if t == 0:
            break
        for s in range(S):
            lb_prev[s] = lb[s] + ut[labels[(s - 1) >> 1] if s & 1 else blank] - lz[t] \
                if lb[s] != -INFINITY else -INFINITY
        for s in range(S):
            b = lb_prev[s]
            if s + 1 < S:
                b = _log_add(b, lb_prev[s + 1])
            if s + 2 < S and _skip_allowed(labels, s + 2):
                b = _log_add(b, lb_prev[s + 2])
            lb[s] = b
    return loss


cdef double _rescale_log(double* beta, intp_t S) noexcept nogil:
    """Scale an underflowing β' so that its largest entry is 1; returns 1."""
    cdef intp_t s
    cdef double mx = 0
    for s in range(S):
        if beta[s] > mx:
            mx = beta[s]
    if mx > 0:
        for s in range(S):
            beta[s] /= mx
    return 1.0


def ctc_loss(
    const floating[:, :, ::1] logits,   # IN  (B, T, C)
    const intp_t[::1] input_lengths,    # IN  (B,), in [1, T]
    const intp_t[::1] targets,          # IN  (sum L,), labels in [0, C) minus blank
    const intp_t[::1] target_offsets,   # IN  (B + 1,)
    intp_t blank,
    double[::1] losses,                 # OUT (B,): -log p(l_b | x_b), inf if infeasible
    floating[:, :, ::1] grad,           # OUT (B, T, C): must be zero on entry
):
    """CTC loss of each sequence and its gradient with respect to the logits."""
    cdef intp_t B = logits.shape[0], T = logits.shape[1], C = logits.shape[2]
    cdef intp_t b, L, max_L = 0, S
    cdef double* scratch
    cdef intp_t per_thread
    cdef int n_threads = min(sklstm_max_threads(), <int>B)
    for b in range(B):
        max_L = max(max_L, target_offsets[b + 1] - target_offsets[b])
    S = 2 * max_L + 1
    # e (T, L + 1), m (T,), alpha (T, S), beta and beta_prev (S each)
    per_thread = T * (max_L + 1) + T + T * S + 2 * S
    with nogil, parallel(num_threads=n_threads):
        scratch = <double*>malloc(per_thread * sizeof(double))
        for b in prange(B, schedule="dynamic"):
            if scratch == NULL:
                losses[b] = -1  # reported as MemoryError by the caller
                continue
            L = target_offsets[b + 1] - target_offsets[b]
            losses[b] = _sequence_loss_grad(
                &logits[b, 0, 0], input_lengths[b], C, blank,
                &targets[target_offsets[b]], L, &grad[b, 0, 0],
                scratch, scratch + T * (max_L + 1),
                scratch + T * (max_L + 1) + T,
                scratch + T * (max_L + 1) + T + T * S,
                scratch + T * (max_L + 1) + T + T * S + S)
        free(scratch)
    return 0


def ctc_log_prob(
    const floating[:, :, ::1] logits,   # IN  (B, T, C)
    const intp_t[::1] input_lengths,    # IN  (B,)
    const intp_t[::1] targets,          # IN  (sum L,)
    const intp_t[::1] target_offsets,   # IN  (B + 1,)
    intp_t blank,
    double[::1] log_probs,              # OUT (B,): log p(l_b | x_b), -inf if infeasible
):
    """log p(l | x) of each (sequence, target) pair, by the forward recursion."""
    cdef intp_t B = logits.shape[0], T = logits.shape[1], C = logits.shape[2]
    cdef intp_t b, L, max_L = 0, S
    cdef double* scratch
    cdef intp_t per_thread
    cdef int n_threads = min(sklstm_max_threads(), <int>B)
    for b in range(B):
        max_L = max(max_L, target_offsets[b + 1] - target_offsets[b])
    S = 2 * max_L + 1
    per_thread = T * (max_L + 1) + T + T * S
    with nogil, parallel(num_threads=n_threads):
        scratch = <double*>malloc(per_thread * sizeof(double))
        for b in prange(B, schedule="dynamic"):
            if scratch == NULL:
                log_probs[b] = 1  # reported as MemoryError by the caller
                continue
            L = target_offsets[b + 1] - target_offsets[b]
            log_probs[b] = _log_prob(&logits[b, 0, 0], input_lengths[b], C, blank,
                                     &targets[target_offsets[b]], L, scratch,
                                     scratch + T * (max_L + 1),
                                     scratch + T * (max_L + 1) + T)
        free(scratch)
    return 0


cdef double _log_prob(
    const floating* u, intp_t Tb, intp_t C, intp_t blank, const intp_t* labels,
    intp_t L, double* e, double* m, double* alpha,
) noexcept nogil:
    cdef intp_t t, k
    cdef bint underflow
    cdef double log_p = _forward(u, Tb, C, blank, labels, L, e, m, alpha, &underflow)
    cdef double z, log_z_sum = 0
    if underflow:
        return -_loss_in_logs(u, Tb, C, blank, labels, L, alpha, m)
    if log_p == -INFINITY:
        return log_p
    for t in range(Tb):
        z = 0
        for k in range(C):
            z += exp(u[t * C + k] - m[t])
        log_z_sum += log(z)
    return log_p - log_z_sum
