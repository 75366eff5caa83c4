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

The caller (``sklstm.functional``) validates every argument. Scratch is one
buffer, a slice per thread, allocated before any time loop and sized by the
function that carves it (``_lattice``, ``_rows``, ``_beam_scratch``); a kernel
that cannot allocate it raises MemoryError.
"""
from libc.math cimport INFINITY, exp, log, log1p
from libc.stdlib cimport free, malloc, qsort
from libc.string cimport memset

from cython.parallel cimport parallel, prange, threadid

from ._math cimport sklstm_max_threads, sklstm_omp_init
from ._typedefs cimport float32_t, float64_t, floating, intp_t

sklstm_omp_init()  # single-threaded in fork children (see sklstm_omp.h)

# Below this, a rescaled frame sum is treated as underflowed (section note above).
cdef double _TINY = 1e-280
# Above this, a sum of rescaled products is exact to double precision even if
# some of its terms underflowed (each is below 1e-308, relative 1e-58).
cdef double _SAFE = 1e-250
# The smallest normal double (DBL_MIN): a rescaled state below it has lost
# digits or been flushed to 0.
cdef double _NORMAL_MIN = 2.2250738585072014e-308


# The precision a softmax is written in: the logits' (a gradient) or double.
ctypedef fused softmax_t:
    float32_t
    float64_t


cdef bint _feasible(const intp_t* labels, intp_t L, intp_t Tb) noexcept nogil:
    """Whether L labels fit Tb frames: one frame each, plus a blank between
    equal neighbours."""
    cdef intp_t k, needed = L
    for k in range(1, L):
        if labels[k] == labels[k - 1]:
            needed += 1
    return needed <= Tb


cdef inline intp_t _state_label(
    const intp_t* labels, intp_t blank, intp_t s,
) noexcept nogil:
    """The class of state s of l': the blank at even s, label (s - 1) / 2 at odd s."""
    return labels[(s - 1) >> 1] if s & 1 else blank


cdef inline intp_t _state_emission(intp_t s) noexcept nogil:
    """Where state s finds its emission in a frame's row of _frame_emissions:
    0 (the blank) at even s, 1 + (s - 1) / 2 (its label) at odd s."""
    return (s + 1) >> 1 if s & 1 else 0


cdef inline bint _skip_allowed(const intp_t* labels, intp_t s) noexcept nogil:
    """Whether state s (a label state) may be entered from s - 2: the labels differ."""
    return s >= 2 and (s & 1) == 1 and labels[(s - 1) >> 1] != labels[(s - 3) >> 1]


cdef inline double _frame_max(const floating* u, intp_t C) noexcept nogil:
    """max_k u(k) over the C logits of one frame."""
    cdef intp_t k
    cdef double mx = u[0]
    for k in range(1, C):
        if u[k] > mx:
            mx = u[k]
    return mx


cdef inline double _frame_normalizer(
    const floating* u,          # IN  (C,) logits of one frame
    intp_t C,
    double mx,                  # IN  max_k u(k), from _frame_max
    softmax_t* y,               # OUT (C,) softmax(u), or NULL to skip it
) noexcept nogil:
    """Z = sum_k exp(u(k) - mx), the frame's softmax normaliser after the shift
    by its maximum (log Z + mx is its log-sum-exp)."""
    cdef intp_t k
    cdef double b, z = 0
    if y == NULL:
        for k in range(C):
            z += exp(u[k] - mx)
        return z
    for k in range(C):
        b = exp(u[k] - mx)
        y[k] = <softmax_t>b
        z += b
    for k in range(C):
        y[k] = <softmax_t>(y[k] / z)
    return z


cdef void _frame_emissions(
    const floating* u,          # IN  (C,) logits of one frame
    intp_t C, intp_t blank, const intp_t* labels, intp_t L,
    double* e_states,           # OUT (L + 1,): e of blank, then of each label
    double* max_out,            # OUT max_k u(k)
) noexcept nogil:
    cdef intp_t k
    cdef double m = _frame_max(u, C)
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
    cdef double total, a, log_scale = 0, best, inv
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
        _log_space_frame(u, C, blank, labels, L, NULL, cur, m[0], &log_scale)
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
            a *= e[t * (L + 1) + _state_emission(s)]
            cur[s] = a
            total += a
        if not total > _TINY:
            _log_space_frame(u + t * C, C, blank, labels, L, prev, cur, m[t],
                             &log_scale)
        else:
            inv = 1 / total
            for s in range(S):
                cur[s] *= inv
            log_scale += log(total)
    cur = alpha + (Tb - 1) * S
    best = cur[S - 1] + (cur[S - 2] if S > 1 else 0)
    # The final states may hold a tiny share of the last frame's mass (the
    # rest on states that cannot finish): below _SAFE, that share may have
    # lost digits or underflowed, and the caller recomputes in logs.
    underflow[0] = not best > _SAFE
    if best <= 0:
        return -INFINITY
    return log_scale + log(best)


cdef void _log_space_frame(
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
        cur[s] = log(a) + u[_state_label(labels, blank, s)] - m if a > 0 else -INFINITY
        if cur[s] > lm:
            lm = cur[s]
    for s in range(S):
        cur[s] = exp(cur[s] - lm)
        total += cur[s]
    for s in range(S):
        cur[s] /= total
    log_scale[0] += lm + log(total)


cdef double _sequence_loss_grad(
    const floating* u, intp_t Tb, intp_t C, intp_t blank, const intp_t* labels,
    intp_t L, floating* grad, double* e, double* m, double* alpha, double* beta,
    double* beta_prev,
) noexcept nogil:
    """-log p(l | x) of one sequence; grad (Tb, C) receives its gradient with
    respect to the logits (zero when the loss is infinite)."""
    cdef intp_t S = 2 * L + 1, t, s, k
    cdef double log_p, log_z_sum = 0, gamma_sum, total, b
    cdef double* at
    cdef floating* g
    cdef const floating* ut
    cdef bint underflow
    if not _feasible(labels, L, Tb):
        for t in range(Tb * C):
            grad[t] = 0
        return INFINITY
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
        log_z_sum += log(_frame_normalizer(ut, C, m[t], g))
        # state posteriors γ_t(s) ∝ α_t(s) β'_t(s); α and β' are each rescaled
        # to sum to one, and where their supports barely overlap (peaked,
        # conflicting evidence) the products can underflow: then in logs.
        at = alpha + t * S
        gamma_sum = 0
        for s in range(S):
            beta_prev[s] = at[s] * beta[s]
            gamma_sum += beta_prev[s]
        if not gamma_sum > _SAFE:
            return _sequence_loss_grad_logs(u, Tb, C, blank, labels, L, grad,
                                            alpha, beta, beta_prev, m)
        if gamma_sum > 0:
            for s in range(S):
                k = _state_label(labels, blank, s)
                g[k] = <floating>(g[k] - beta_prev[s] / gamma_sum)
        if t == 0:
            break
        # β'_{t-1}(s) = Σ over s' in {s, s+1, s+2} of e_t(s') β'_t(s'), rescaled
        total = 0
        for s in range(S):
            b = beta[s] * e[t * (L + 1) + _state_emission(s)]
            beta_prev[s] = b
        for s in range(S):
            b = beta_prev[s]
            if s + 1 < S:
                b += beta_prev[s + 1]
            if s + 2 < S and _skip_allowed(labels, s + 2):
                b += beta_prev[s + 2]
            beta[s] = b
            total += b
        if total > _TINY:
            for s in range(S):
                beta[s] /= total
        else:
            _rescale_to_max(beta, S)
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


cdef inline double _row_shift(const double* row, intp_t lo, intp_t hi) noexcept nogil:
    """The largest of row[lo:hi], or 0 when all are -inf: subtracted from the
    next row of a log-space recursion, it keeps the stored values near 0, so
    that their rounding does not grow with the loss (and so with T)."""
    cdef intp_t s
    cdef double mx = -INFINITY
    for s in range(lo, hi):
        if row[s] > mx:
            mx = row[s]
    return 0.0 if mx == -INFINITY else mx


cdef inline double _band_shift(
    const double* prev, intp_t S, intp_t Tb, intp_t t,
) noexcept nogil:
    """The shift of frame t >= 1 of the forward recursion: the largest entry
    of frame t - 1's row ``prev`` among the states that frame reaches and
    can still finish from (the band _log_prob_in_logs computes)."""
    return _row_shift(prev, max(0, S - 2 * (Tb - t + 1)), min(S, 2 * t))


cdef double _loss_in_logs(
    const floating* u, intp_t Tb, intp_t C, intp_t blank, const intp_t* labels,
    intp_t L, double* la, double* lz,
) noexcept nogil:
    """-log p(l | x) by the log-space forward recursion; la (Tb, S) receives
    log α shifted per frame (each row by the previous row's largest entry
    among the states that can still finish, the shifts summing to the
    loss), lz (Tb,) each frame's log-softmax normaliser. The slow, safe path,
    for sequences whose rescaled recursions underflow."""
    cdef intp_t S = 2 * L + 1, t, s
    cdef double a, mx, shift = 0, shift_sum = 0
    cdef const floating* ut
    for t in range(Tb):
        ut = u + t * C
        mx = _frame_max(ut, C)
        lz[t] = mx + log(_frame_normalizer(ut, C, mx, <double*>NULL))
    for t in range(Tb):
        ut = u + t * C
        if t > 0:
            shift = _band_shift(la + (t - 1) * S, S, Tb, t)
            shift_sum += shift
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
                a += (ut[_state_label(labels, blank, s)] - lz[t]) - shift
            la[t * S + s] = a
    a = la[(Tb - 1) * S + S - 1]
    if S > 1:
        a = _log_add(a, la[(Tb - 1) * S + S - 2])
    return INFINITY if a == -INFINITY else -(shift_sum + a)


cdef double _sequence_loss_grad_logs(
    const floating* u, intp_t Tb, intp_t C, intp_t blank, const intp_t* labels,
    intp_t L, floating* grad, double* la, double* lb, double* lb_prev, double* lz,
) noexcept nogil:
    """_sequence_loss_grad in log space (see _loss_in_logs)."""
    cdef intp_t S = 2 * L + 1, t, s, k
    cdef double loss = _loss_in_logs(u, Tb, C, blank, labels, L, la, lz), b, mx, total
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
        # log α_t(s) + log β'_t(s), both shifted, into lb_prev (rewritten
        # below), normalised by the frame's own log-sum.
        mx = -INFINITY
        for s in range(S):
            b = la[t * S + s] + lb[s]
            lb_prev[s] = b
            if b > mx:
                mx = b
        if mx != -INFINITY:     # (a frame no path crosses: none with a finite loss)
            total = 0
            for s in range(S):
                total += exp(lb_prev[s] - mx)
            mx += log(total)
            for s in range(S):
                b = lb_prev[s] - mx   # log γ_t(s)
                if b != -INFINITY:
                    k = _state_label(labels, blank, s)
                    g[k] = <floating>(g[k] - exp(b))
        if t == 0:
            break
        mx = _row_shift(lb, 0, S)   # log β' shifted per frame, as log α
        for s in range(S):
            lb_prev[s] = (lb[s] - mx) + (ut[_state_label(labels, blank, s)] - lz[t]) \
                if lb[s] != -INFINITY else -INFINITY
        for s in range(S):
            b = lb_prev[s]
            if s + 1 < S:
                b = _log_add(b, lb_prev[s + 1])
            if s + 2 < S and _skip_allowed(labels, s + 2):
                b = _log_add(b, lb_prev[s + 2])
            lb[s] = b
    return loss


cdef void _rescale_to_max(double* beta, intp_t S) noexcept nogil:
    """Scale an underflowing β' so that its largest entry is 1."""
    cdef intp_t s
    cdef double mx = 0
    for s in range(S):
        if beta[s] > mx:
            mx = beta[s]
    if mx > 0:
        for s in range(S):
            beta[s] /= mx


cdef struct _Lattice:
    intp_t size         # doubles it spans, rounded up to whole cache lines
    double* e           # (T, L + 1) emissions of the blank and of each label
    double* m           # (T,) frame maxima
    double* alpha       # (T, S) rescaled α (log α on the slow path)
    double* beta        # (S,) rescaled β' of the current frame
    double* beta_prev   # (S,) and of the frame before


cdef _Lattice _lattice(double* base, intp_t T, intp_t max_L) noexcept nogil:
    """One thread's scratch for sequences of at most T frames and max_L labels,
    carved from base; with base NULL, only its size. The size is whole cache
    lines (8 doubles), so that threads' slices of one buffer share none."""
    cdef _Lattice lat
    cdef intp_t S = 2 * max_L + 1
    cdef intp_t n_e = T * (max_L + 1), n_m = T, n_alpha = T * S
    memset(&lat, 0, sizeof(lat))
    lat.size = (n_e + n_m + n_alpha + 2 * S + 7) // 8 * 8
    if base != NULL:
        lat.e = base
        lat.m = lat.e + n_e
        lat.alpha = lat.m + n_m
        lat.beta = lat.alpha + n_alpha
        lat.beta_prev = lat.beta + S
    return lat


cdef intp_t _longest(const intp_t[::1] offsets) noexcept:
    """The longest of the targets that ``offsets`` (n + 1,) delimit."""
    cdef intp_t i, longest = 0
    for i in range(offsets.shape[0] - 1):
        longest = max(longest, offsets[i + 1] - offsets[i])
    return longest


def ctc_loss(
    const floating[:, :, ::1] logits,   # IN  (B, T, C)
    const intp_t[::1] input_lengths,    # IN  (B,), in [1, T]
    const intp_t[::1] targets,          # IN  (sum L,), labels in [0, C) minus blank
    const intp_t[::1] target_offsets,   # IN  (B + 1,)
    intp_t blank,
    const double[::1] grad_scale,       # IN  (B,): factor of each sequence's gradient
    double[::1] losses,                 # OUT (B,): -log p(l_b | x_b), inf if infeasible
    floating[:, :, ::1] grad,           # OUT (B, T, C): every entry written
):
    """CTC loss of each sequence and its (scaled) gradient with respect to the
    logits; the padding frames of grad are zeroed here, in parallel."""
    cdef intp_t B = logits.shape[0], T = logits.shape[1], C = logits.shape[2]
    cdef intp_t b, L, max_L = 0, i, n, per_thread
    cdef double* scratch = NULL
    cdef _Lattice lat
    cdef floating* g
    cdef floating factor
    cdef int n_threads = min(sklstm_max_threads(), <int>B)
    max_L = _longest(target_offsets)
    per_thread = _lattice(NULL, T, max_L).size
    with nogil:
        scratch = <double*>malloc(n_threads * per_thread * sizeof(double))
        if scratch != NULL:
            with parallel(num_threads=n_threads):
                lat = _lattice(scratch + threadid() * per_thread, T, max_L)
                for b in prange(B, schedule="dynamic"):
                    g = &grad[b, 0, 0]
                    for i in range(input_lengths[b] * C, T * C):
                        g[i] = 0
                    L = target_offsets[b + 1] - target_offsets[b]
                    losses[b] = _sequence_loss_grad(
                        &logits[b, 0, 0], input_lengths[b], C, blank,
                        &targets[target_offsets[b]], L, g,
                        lat.e, lat.m, lat.alpha, lat.beta, lat.beta_prev)
                    if grad_scale[b] != 1:
                        factor = <floating>grad_scale[b]
                        n = input_lengths[b] * C
                        for i in range(n):
                            g[i] = g[i] * factor
    free(scratch)
    if scratch == NULL:
        raise MemoryError(
            f"not enough memory for the CTC loss scratch: {n_threads} thread(s) x "
            f"{per_thread * sizeof(double)} bytes (the lattice of {T} frames and "
            f"{2 * max_L + 1} states)")
    return 0


cdef struct _Rows:
    intp_t size         # doubles it spans, rounded up to whole cache lines
    double* e           # (max(C, L + 1),) the frame's emissions
    double* prev        # (S,) α of the previous frame (log α on the slow path)
    double* cur         # (S,) α of the current frame
    intp_t* emission    # (S,) where state s finds its emission in e
    intp_t* skip        # (S,) 1 where state s may be entered from s - 2


cdef _Rows _rows(double* base, intp_t C, intp_t max_L) noexcept nogil:
    """One thread's scratch for _log_prob over targets of at most max_L labels,
    carved from base; with base NULL, only its size. Two rows of α, not the
    (T, S) lattice: rescoring needs no backward pass. Whole cache lines, as
    _lattice."""
    cdef _Rows rows
    cdef intp_t S = 2 * max_L + 1, n_e = max(C, max_L + 1)
    memset(&rows, 0, sizeof(rows))
    # intp_t and double are both 8 bytes: the index arrays take double slots
    rows.size = (n_e + 4 * S + 7) // 8 * 8
    if base != NULL:
        rows.e = base
        rows.prev = rows.e + n_e
        rows.cur = rows.prev + S
        rows.emission = <intp_t*>(rows.cur + S)
        rows.skip = rows.emission + S
    return rows


def ctc_log_prob(
    const floating[:, :, ::1] logits,   # IN  (B, T, C)
    const intp_t[::1] input_lengths,    # IN  (B,)
    const intp_t[::1] sequence_of,      # IN  (J,): the logits row of each target
    const intp_t[::1] targets,          # IN  (sum L,)
    const intp_t[::1] target_offsets,   # IN  (J + 1,)
    intp_t blank,
    const double[::1] log_z,            # IN  (B,): from ctc_log_normalizers
    double[::1] log_probs,              # OUT (J,): log p(l_j | x), -inf if infeasible
    bint finishing_only=False,
):
    """log p(l | x) of each target, by the forward recursion (for rescoring).
    Scratch is O(C + L) per thread, whatever the number of frames.

    With finishing_only, the recursion also skips the states that can no
    longer reach the end, s < S - 2 (Tb - t): the same value mathematically,
    in fewer operations, but rescaled by other sums, so not the same bits."""
    cdef intp_t J = sequence_of.shape[0], C = logits.shape[2]
    cdef intp_t j, b, L, max_L = 0, per_thread
    cdef double* scratch = NULL
    cdef _Rows rows
    cdef int n_threads = min(sklstm_max_threads(), <int>max(J, 1))
    max_L = _longest(target_offsets)
    per_thread = _rows(NULL, C, max_L).size
    with nogil:
        scratch = <double*>malloc(n_threads * per_thread * sizeof(double))
        if scratch != NULL:
            with parallel(num_threads=n_threads):
                rows = _rows(scratch + threadid() * per_thread, C, max_L)
                for j in prange(J, schedule="dynamic"):
                    b = sequence_of[j]
                    L = target_offsets[j + 1] - target_offsets[j]
                    log_probs[j] = _log_prob(
                        &logits[b, 0, 0], input_lengths[b], C, blank,
                        &targets[target_offsets[j]], L, log_z[b], rows,
                        finishing_only)
    free(scratch)
    if scratch == NULL:
        raise MemoryError(
            f"not enough memory for the CTC rescoring scratch: {n_threads} thread(s) x "
            f"{per_thread * sizeof(double)} bytes (two rows of {2 * max_L + 1} states "
            f"and {C} classes)")
    return 0


cdef double _log_prob(
    const floating* u, intp_t Tb, intp_t C, intp_t blank, const intp_t* labels,
    intp_t L, double log_z_sum, _Rows rows, bint finishing_only,
) noexcept nogil:
    """log p(l | x); log_z_sum is _log_normalizer of the sequence."""
    cdef bint underflow
    cdef double log_p
    if not _feasible(labels, L, Tb):
        return -INFINITY
    log_p = _forward_rows(u, Tb, C, blank, labels, L, rows, finishing_only,
                          &underflow)
    if underflow:
        return _log_prob_in_logs(u, Tb, C, blank, labels, L, rows)
    if log_p == -INFINITY:
        return log_p
    return log_p - log_z_sum


cdef inline bint _flushed(
    const double* prev, const double* cur, const intp_t* skip, intp_t lo,
    intp_t hi,
) noexcept nogil:
    """Whether a state of [lo, hi) was reached (a predecessor is nonzero, or
    it is) but is below the smallest normal double: a weight lost to the
    frame's scale, which later frames may make dominant (issue 9)."""
    cdef intp_t s
    for s in range(lo, hi):
        if cur[s] < _NORMAL_MIN and (
                cur[s] > 0 or prev[s] > 0 or (s >= 1 and prev[s - 1] > 0)
                or (skip[s] and prev[s - 2] > 0)):
            return True
    return False


cdef double _forward_rows(
    const floating* u,          # IN  (Tb, C) logits of the sequence
    intp_t Tb, intp_t C, intp_t blank, const intp_t* labels, intp_t L,
    _Rows rows,                 # SCRATCH _rows(..., C, max_L >= L)
    bint finishing_only,        # IN  also skip the states that cannot finish
    bint* underflow,            # OUT whether a state that matters underflowed to 0
) noexcept nogil:
    """_forward's value, keeping two rows of α: the same operations in the same
    order, so the same bits. Two savings keep them: a frame's emissions are
    the C exponentials of its classes when C <= L + 1 (else the L + 1 of its
    states, as _frame_emissions), and states s >= 2t + 2, which no path
    reaches by frame t, are skipped (their α is 0, adding it changes nothing).

    With finishing_only, states s < S - 2 (Tb - t), which cannot reach the
    final two in the frames left, are skipped too: they feed no state that
    can, so the value is the same but for rounding (the frame sums that
    rescale α leave their mass out). The states below the band are kept at 0,
    so that a frame recomputed in logs reads no stale α.

    Without finishing_only, the value is exact: a state that can still
    finish but whose weight falls below the smallest normal double of the
    frame's scale is lost, and may dominate later frames, so *underflow is
    set and the caller recomputes in logs. The first pass does not check:
    long inputs flush the states far ahead of (or behind) the mass as a
    rule, harmlessly but for contrived logits, and its values only select
    the candidates that the exact pass scores."""
    cdef intp_t S = 2 * L + 1, t, s, k, lo = 0, hi
    cdef bint by_class = C <= L + 1
    cdef double total, a, log_scale = 0, best, inv, mx
    cdef double* e = rows.e
    cdef double* prev = rows.prev
    cdef double* cur = rows.cur
    cdef double* swap
    cdef intp_t* emission = rows.emission
    cdef intp_t* skip = rows.skip
    cdef const floating* ut
    underflow[0] = False
    for s in range(S):
        emission[s] = _state_label(labels, blank, s) if by_class else _state_emission(s)
        skip[s] = _skip_allowed(labels, s)
        prev[s] = 0
        cur[s] = 0
    for t in range(Tb):
        ut = u + t * C
        if by_class:
            mx = _frame_max(ut, C)
            for k in range(C):
                e[k] = exp(ut[k] - mx)
        else:
            _frame_emissions(ut, C, blank, labels, L, e, &mx)
        if t == 0:
            cur[0] = e[emission[0]]
            if S > 1:
                cur[1] = e[emission[1]]
            total = cur[0] + (cur[1] if S > 1 else 0)
            if not total > _TINY:
                _log_space_frame(ut, C, blank, labels, L, NULL, cur, mx, &log_scale)
            else:
                for s in range(S):
                    cur[s] /= total
                log_scale += log(total)
            # an emission below the normal range flushes a first state
            if not finishing_only:
                for s in range(max(0, S - 2 * Tb), min(S, 2)):
                    if cur[s] < _NORMAL_MIN:
                        underflow[0] = True
                        return -INFINITY
            continue
        swap = prev
        prev = cur
        cur = swap
        hi = min(S, 2 * t + 2)
        if finishing_only and S - 2 * (Tb - t) > 0:
            lo = S - 2 * (Tb - t)
            # this row last held frame t - 2, whose band began 4 states lower
            for s in range(max(0, lo - 4), lo):
                cur[s] = 0
        total = 0
        for s in range(lo, hi):
            a = prev[s]
            if s >= 1:
                a += prev[s - 1]
            if skip[s]:
                a += prev[s - 2]
            a *= e[emission[s]]
            cur[s] = a
            total += a
        if not total > _TINY:
            _log_space_frame(ut, C, blank, labels, L, prev, cur, mx, &log_scale)
            for s in range(lo):     # it wrote every state
                cur[s] = 0
        else:
            inv = 1 / total
            for s in range(lo, hi):
                cur[s] *= inv
            log_scale += log(total)
        # states below S - 2 (Tb - t) cannot finish: their loss changes nothing
        if not finishing_only and _flushed(prev, cur, skip,
                                           max(0, S - 2 * (Tb - t)), hi):
            underflow[0] = True
            return -INFINITY
    best = cur[S - 1] + (cur[S - 2] if S > 1 else 0)
    # as in _forward: a tiny share on the final states may have lost digits
    underflow[0] = not best > _SAFE
    if best <= 0:
        return -INFINITY
    return log_scale + log(best)


cdef double _log_prob_in_logs(
    const floating* u, intp_t Tb, intp_t C, intp_t blank, const intp_t* labels,
    intp_t L, _Rows rows,
) noexcept nogil:
    """log p(l | x) by the log-space forward recursion of _loss_in_logs (the
    same operations on the states that matter, so the same bits), keeping
    two rows of log α. At frame t it skips the states s >= 2t + 2, which no
    path reaches, and s < S - 2 (Tb - t), which cannot finish: they hold
    -inf or feed only states that cannot finish, and _log_add returns the
    other operand of a -inf."""
    cdef intp_t S = 2 * L + 1, t, s, lo, hi
    cdef double a, mx, lz, shift = 0, shift_sum = 0
    cdef double* prev = rows.prev
    cdef double* cur = rows.cur
    cdef double* swap
    cdef const floating* ut
    for s in range(S):
        prev[s] = -INFINITY
        cur[s] = -INFINITY
    for t in range(Tb):
        ut = u + t * C
        mx = _frame_max(ut, C)
        lz = mx + log(_frame_normalizer(ut, C, mx, <double*>NULL))
        if t > 0:   # the same shift as _loss_in_logs
            shift = _band_shift(prev, S, Tb, t)
            shift_sum += shift
        lo = max(0, S - 2 * (Tb - t))
        hi = min(S, 2 * t + 2)
        # this row last held frame t - 2, whose band began 4 states lower
        for s in range(max(0, lo - 4), lo):
            cur[s] = -INFINITY
        for s in range(lo, hi):
            if t == 0:
                a = 0.0 if s <= 1 else -INFINITY
            else:
                a = prev[s]
                if s >= 1:
                    a = _log_add(a, prev[s - 1])
                if _skip_allowed(labels, s):
                    a = _log_add(a, prev[s - 2])
            if a != -INFINITY:
                a += (ut[_state_label(labels, blank, s)] - lz) - shift
            cur[s] = a
        swap = prev
        prev = cur
        cur = swap
    a = prev[S - 1]
    if S > 1:
        a = _log_add(a, prev[S - 2])
    return -INFINITY if a == -INFINITY else shift_sum + a


cdef double _log_normalizer(const floating* u, intp_t Tb, intp_t C) noexcept nogil:
    """sum_t log Z_t with Z_t = sum_k exp(u_t(k) - max_k u_t(k)): what _forward's
    emissions leave out of p(l | x), the same for every target of a sequence."""
    cdef intp_t t
    cdef double total = 0
    for t in range(Tb):
        total += log(_frame_normalizer(u + t * C, C, _frame_max(u + t * C, C),
                                       <double*>NULL))
    return total


def ctc_log_normalizers(
    const floating[:, :, ::1] logits,   # IN  (B, T, C)
    const intp_t[::1] input_lengths,    # IN  (B,)
    double[::1] log_z,                  # OUT (B,): _log_normalizer of each sequence
):
    """The per-sequence normaliser that ctc_log_prob needs, computed once."""
    cdef intp_t B = logits.shape[0], C = logits.shape[2], b
    cdef int n_threads = min(sklstm_max_threads(), <int>B)
    for b in prange(B, nogil=True, schedule="dynamic", num_threads=n_threads):
        log_z[b] = _log_normalizer(&logits[b, 0, 0], input_lengths[b], C)
    return 0


cdef inline void _heap_sift_down(
    double* score, intp_t* item, intp_t n, intp_t i,
) noexcept nogil:
    """Restore the min-heap property of (score, item) below position i."""
    cdef intp_t child, smallest
    while True:
        smallest = i
        child = 2 * i + 1
        if child < n and score[child] < score[smallest]:
            smallest = child
        if child + 1 < n and score[child + 1] < score[smallest]:
            smallest = child + 1
        if smallest == i:
            return
        score[i], score[smallest] = score[smallest], score[i]
        item[i], item[smallest] = item[smallest], item[i]
        i = smallest


cdef inline void _heap_push(double* score, intp_t* item, intp_t* n, intp_t capacity,
                            double s, intp_t it) noexcept nogil:
    """Keep the `capacity` largest scores seen (a min-heap of them)."""
    cdef intp_t i, parent
    if n[0] < capacity:
        i = n[0]
        n[0] += 1
        score[i] = s
        item[i] = it
        while i > 0:
            parent = (i - 1) // 2
            if score[parent] <= score[i]:
                break
            score[i], score[parent] = score[parent], score[i]
            item[i], item[parent] = item[parent], item[i]
            i = parent
    elif s > score[0]:
        score[0] = s
        item[0] = it
        _heap_sift_down(score, item, n[0], 0)


cdef struct _Ranked:
    double score
    intp_t item


cdef int _by_score(const void* a, const void* b) noexcept nogil:
    """qsort order of _Ranked: score descending, then item ascending (the
    order a stable sort by descending score leaves)."""
    cdef const _Ranked* x = <const _Ranked*>a
    cdef const _Ranked* y = <const _Ranked*>b
    if x.score != y.score:
        return -1 if x.score > y.score else 1
    return -1 if x.item < y.item else (1 if x.item > y.item else 0)


cdef struct _BeamScratch:
    intp_t bytes        # bytes it spans, rounded up to whole cache lines
    intp_t* parent      # (1 + T W,) trie nodes: parent, -1 at the root
    intp_t* label       # (1 + T W,) trie nodes: last label, -1 at the root
    intp_t* slot        # (1 + T W,) beam slot of a node, or -1
    intp_t* node        # (W,) current beams
    intp_t* next_node   # (W,)
    intp_t* heap_item   # (W,) candidate ids
    double* pb          # (W,) paths ending in blank
    double* pnb         # (W,) paths ending in a label
    double* stay_pb     # (W,)
    double* stay_pnb    # (W,)
    double* next_pb     # (W,)
    double* next_pnb    # (W,)
    double* heap_score  # (W,)
    _Ranked* order      # (W,) beams by score, best first
    double* y           # (C,) the frame's softmax
    char* skip          # (W, C) merged extensions


cdef _BeamScratch _beam_scratch(
    char* base, intp_t T, intp_t C, intp_t W,
) noexcept nogil:
    """One thread's scratch for _beam_search_sequence over at most T frames,
    carved from base; with base NULL, only its size. The intp_t arrays come
    first, then the doubles, then the flags, so that each is aligned; the size
    is whole cache lines, so that the next thread's scratch is aligned too."""
    cdef _BeamScratch sc
    cdef intp_t capacity = 1 + T * W   # the root, then at most W nodes a frame
    memset(&sc, 0, sizeof(sc))
    sc.bytes = ((3 * capacity + 3 * W) * sizeof(intp_t)
                + (8 * W + C) * sizeof(double) + W * sizeof(_Ranked) + W * C
                + 63) // 64 * 64
    if base != NULL:
        sc.parent = <intp_t*>base
        sc.label = sc.parent + capacity
        sc.slot = sc.label + capacity
        sc.node = sc.slot + capacity
        sc.next_node = sc.node + W
        sc.heap_item = sc.next_node + W
        sc.pb = <double*>(sc.heap_item + W)
        sc.pnb = sc.pb + W
        sc.stay_pb = sc.pnb + W
        sc.stay_pnb = sc.stay_pb + W
        sc.next_pb = sc.stay_pnb + W
        sc.next_pnb = sc.next_pb + W
        sc.heap_score = sc.next_pnb + W
        sc.order = <_Ranked*>(sc.heap_score + W)
        sc.y = <double*>(sc.order + W)
        sc.skip = <char*>(sc.y + C)
    return sc


cdef intp_t _beam_search_sequence(
    const floating* u, intp_t Tb, intp_t C, intp_t blank, intp_t W,
    intp_t* out_labels,     # OUT (W, T_max): the final prefixes, best beam score first
    intp_t* out_lengths,    # OUT (W,)
    intp_t T_max,
    char* scratch,          # SCRATCH _beam_scratch(scratch, T_max, C, W)
) noexcept nogil:
    """Prefix beam search (Hannun et al. 2014) over one sequence; returns the
    number of final prefixes. Scores are probabilities rescaled every frame.

    Prefixes are nodes of a trie (parent, last label) grown by at most W
    nodes a frame. An extension of beam i by label c that equals another
    beam j (j's parent is i and its label c) is merged into j, so that every
    prefix's probability gathers all the paths kept that collapse to it."""
    cdef _BeamScratch buf = _beam_scratch(scratch, T_max, C, W)
    cdef intp_t capacity = 1 + Tb * W              # the nodes this sequence can grow
    cdef intp_t* parent = buf.parent
    cdef intp_t* label = buf.label
    cdef intp_t* slot = buf.slot
    cdef intp_t* node = buf.node
    cdef intp_t* next_node = buf.next_node
    cdef intp_t* heap_item = buf.heap_item
    cdef double* pb = buf.pb
    cdef double* pnb = buf.pnb
    cdef double* stay_pb = buf.stay_pb
    cdef double* stay_pnb = buf.stay_pnb
    cdef double* next_pb = buf.next_pb
    cdef double* next_pnb = buf.next_pnb
    cdef double* heap_score = buf.heap_score
    cdef _Ranked* order = buf.order
    cdef double* y = buf.y
    cdef char* skip = buf.skip
    cdef intp_t n_nodes = 1, n_beams = 1, n_heap, t, i, j, k, c, last, it, n
    cdef double mx, total, sc, y_top
    cdef const floating* ut
    parent[0] = -1
    label[0] = -1
    for i in range(capacity):
        slot[i] = -1
    for i in range(W * C):
        skip[i] = 0
    node[0] = 0
    slot[0] = 0
    pb[0] = 1.0
    pnb[0] = 0.0
    for t in range(Tb):
        ut = u + t * C
        _frame_normalizer(ut, C, _frame_max(ut, C), y)
        # prefixes that stay: a blank, or the last label repeated
        for i in range(n_beams):
            stay_pb[i] = (pb[i] + pnb[i]) * y[blank]
            stay_pnb[i] = pnb[i] * y[label[node[i]]] if node[i] != 0 else 0.0
        # extensions that are already beams: merge them into those beams
        for j in range(n_beams):
            if node[j] == 0:
                continue
            i = slot[parent[node[j]]]
            if i < 0:
                continue
            c = label[node[j]]
            last = label[node[i]]
            stay_pnb[j] += (pb[i] if c == last else pb[i] + pnb[i]) * y[c]
            skip[i * C + c] = 1
        # the W best candidates: item = i for "stay", W + i * C + c to extend
        n_heap = 0
        for i in range(n_beams):
            sc = stay_pb[i] + stay_pnb[i]
            if sc > 0:
                _heap_push(heap_score, heap_item, &n_heap, W, sc, i)
        # Beams by total score, best first (ties in beam order): once a
        # beam's best extension, total * max_c y(c), cannot beat the W-th
        # candidate, neither can any extension of the beams after it.
        y_top = 0
        for c in range(C):
            if c != blank and y[c] > y_top:
                y_top = y[c]
        for n in range(n_beams):
            order[n].score = pb[n] + pnb[n]
            order[n].item = n
        qsort(order, n_beams, sizeof(_Ranked), _by_score)
        for n in range(n_beams):
            i = order[n].item
            total = pb[i] + pnb[i]
            if n_heap == W and total * y_top <= heap_score[0]:
                break
            last = label[node[i]]
            for c in range(C):
                if c == blank or skip[i * C + c]:
                    continue
                sc = (pb[i] if c == last else total) * y[c]
                if sc > 0 and (n_heap < W or sc > heap_score[0]):
                    _heap_push(heap_score, heap_item, &n_heap, W, sc, W + i * C + c)
        for j in range(n_beams):
            if node[j] != 0 and slot[parent[node[j]]] >= 0:
                skip[slot[parent[node[j]]] * C + label[node[j]]] = 0
        # the new beams, rescaled so that the best has score 1
        mx = 0
        for n in range(n_heap):
            it = heap_item[n]
            if it < W:
                next_node[n] = node[it]
                next_pb[n] = stay_pb[it]
                next_pnb[n] = stay_pnb[it]
            else:
                i = (it - W) // C
                c = (it - W) % C
                parent[n_nodes] = node[i]
                label[n_nodes] = c
                next_node[n] = n_nodes
                n_nodes += 1
                next_pb[n] = 0.0
                next_pnb[n] = heap_score[n]
            if next_pb[n] + next_pnb[n] > mx:
                mx = next_pb[n] + next_pnb[n]
        if not mx > 0:
            mx = 1.0
        for i in range(n_beams):
            slot[node[i]] = -1
        n_beams = n_heap
        for n in range(n_beams):
            node[n] = next_node[n]
            pb[n] = next_pb[n] / mx
            pnb[n] = next_pnb[n] / mx
            slot[node[n]] = n
    # best first, by beam score
    for n in range(n_beams):
        order[n].score = pb[n] + pnb[n]
        order[n].item = n
    qsort(order, n_beams, sizeof(_Ranked), _by_score)
    for n in range(n_beams):
        k = node[order[n].item]
        i = 0
        while k != 0:
            i += 1
            k = parent[k]
        out_lengths[n] = i
        k = node[order[n].item]
        while k != 0:
            i -= 1
            out_labels[n * T_max + i] = label[k]
            k = parent[k]
    return n_beams


def ctc_beam_search(
    const floating[:, :, ::1] logits,   # IN  (B, T, C)
    const intp_t[::1] input_lengths,    # IN  (B,)
    intp_t blank,
    intp_t beam_width,
    intp_t[:, :, ::1] labels,           # OUT (B, W, T): prefixes, best beam score first
    intp_t[:, ::1] lengths,             # OUT (B, W)
    intp_t[::1] n_found,                # OUT (B,)
):
    """Prefix beam search over every sequence, in parallel over sequences."""
    cdef intp_t B = logits.shape[0], T = logits.shape[1], C = logits.shape[2], b
    cdef intp_t per_thread = _beam_scratch(NULL, T, C, beam_width).bytes
    cdef char* scratch = NULL
    cdef int n_threads = min(sklstm_max_threads(), <int>B)
    with nogil:
        scratch = <char*>malloc(n_threads * per_thread)
        if scratch != NULL:
            for b in prange(B, schedule="dynamic", num_threads=n_threads):
                n_found[b] = _beam_search_sequence(
                    &logits[b, 0, 0], input_lengths[b], C, blank, beam_width,
                    &labels[b, 0, 0], &lengths[b, 0], T,
                    scratch + threadid() * per_thread)
    free(scratch)
    if scratch == NULL:
        raise MemoryError(
            f"not enough memory for the beam search scratch: {n_threads} thread(s) x "
            f"{per_thread} bytes (a prefix trie of {1 + T * beam_width} nodes for "
            f"{T} frames and beam_width={beam_width})")
    return 0
