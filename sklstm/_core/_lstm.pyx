"""LSTM forward pass and backpropagation through time on packed batches.

Layout (cuDNN / PyTorch PackedSequence): a minibatch of ``B`` sequences
sorted by length, descending, is stored time-major. Step ``t`` of sequence
``j`` (``j < batch_sizes[t]``) is row ``offsets[t] + j`` of every packed
array, with ``offsets[t] = sum(batch_sizes[:t])``. Because lengths are
sorted, the sequences running at step ``t`` are the first ``batch_sizes[t]``
of those running at step ``t - 1``, so ``h_{t-1}`` of every active row is a
contiguous block.

Gates are stacked (i, f, g, o) along the ``4H`` axis, PyTorch's layout.
Equations (Gers, Schmidhuber & Cummins 2000, with 0-based time)::

    i_t = σ(W_i x_t + U_i h_{t-1} + b_i)     c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    f_t = σ(W_f x_t + U_f h_{t-1} + b_f)     h_t = o_t ⊙ tanh(c_t)
    g_t = tanh(W_g x_t + U_g h_{t-1} + b_g)
    o_t = σ(W_o x_t + U_o h_{t-1} + b_o)

The caller (``sklstm.functional``) validates shapes, dtypes and contiguity
and allocates every output; these kernels trust it.
"""
from libc.string cimport memcpy, memset

from cython.parallel cimport prange

from ._blas cimport _gemm
from ._math cimport _sigmoid, _tanh, sklstm_max_threads
from ._typedefs cimport floating, intp_t

# Element-wise work per parallel chunk below which a step stays on one thread:
# an OpenMP fork/join costs about as much as this many gate evaluations.
cdef enum:
    _MIN_WORK_PER_THREAD = 4096


cdef inline int _threads_for(intp_t work, int max_threads) noexcept nogil:
    """Threads worth using for ``work`` element-wise gate evaluations."""
    cdef intp_t n = work // _MIN_WORK_PER_THREAD
    if n < 1:
        return 1
    if n > max_threads:
        return max_threads
    return <int>n


cdef void _forward_rows(
    floating* gates,              # IN/OUT (rows, 4H): pre-activations in, activations out
    const floating* c_prev,       # IN  (rows, H)
    floating* c_out,              # OUT (rows, H)
    floating* h_out,              # OUT (rows, H)
    intp_t row_start, intp_t row_stop, intp_t H,
) noexcept nogil:
    """The fused element-wise part of one step, for rows [row_start, row_stop)."""
    cdef intp_t r, u
    cdef floating* g
    cdef floating gi, gf, gg, go, c
    for r in range(row_start, row_stop):
        g = gates + r * 4 * H
        for u in range(H):
            gi = _sigmoid(g[u])
            gf = _sigmoid(g[H + u])
            gg = _tanh(g[2 * H + u])
            go = _sigmoid(g[3 * H + u])
            c = gf * c_prev[r * H + u] + gi * gg
            g[u] = gi
            g[H + u] = gf
            g[2 * H + u] = gg
            g[3 * H + u] = go
            c_out[r * H + u] = c
            h_out[r * H + u] = go * _tanh(c)


cdef void _backward_rows(
    const floating* gates,        # IN  (rows, 4H) activations
    const floating* c_prev,       # IN  (rows, H)
    const floating* c_cur,        # IN  (rows, H)
    const floating* d_hidden,     # IN  (rows, H) gradient arriving from above
    const floating* dh_carry,     # IN  (rows, H) gradient arriving from step t+1
    floating* dc_carry,           # IN/OUT (rows, H): dc_t in, dc_{t-1} out
    floating* dgates,             # OUT (rows, 4H) gradient of the pre-activations
    intp_t row_start, intp_t row_stop, intp_t H,
) noexcept nogil:
    """Gate derivatives of one step, for rows [row_start, row_stop)."""
    cdef intp_t r, u, k
    cdef const floating* g
    cdef floating* dg
    cdef floating gi, gf, gg, go, tc, dh, dc
    for r in range(row_start, row_stop):
        g = gates + r * 4 * H
        dg = dgates + r * 4 * H
        for u in range(H):
            k = r * H + u
            gi = g[u]
            gf = g[H + u]
            gg = g[2 * H + u]
            go = g[3 * H + u]
            tc = _tanh(c_cur[k])
            dh = d_hidden[k] + dh_carry[k]
            dc = dc_carry[k] + dh * go * (1 - tc * tc)
            dg[u] = dc * gg * gi * (1 - gi)
            dg[H + u] = dc * c_prev[k] * gf * (1 - gf)
            dg[2 * H + u] = dc * gi * (1 - gg * gg)
            dg[3 * H + u] = dh * tc * go * (1 - go)
            dc_carry[k] = dc * gf


def lstm_forward(
    const floating[:, ::1] X,           # IN  (sum T_i, D), packed
    const intp_t[::1] batch_sizes,      # IN  (T,), non-increasing, batch_sizes[0] = B
    const floating[:, ::1] W,           # IN  (4H, D)
    const floating[:, ::1] U,           # IN  (4H, H)
    const floating[::1] b,              # IN  (4H,)
    const floating[:, ::1] h0,          # IN  (B, H), sorted like the batch
    const floating[:, ::1] c0,          # IN  (B, H)
    floating[:, ::1] gates,             # OUT (sum T_i, 4H), activations (i, f, g, o)
    floating[:, ::1] cells,             # OUT (sum T_i, H), c_t
    floating[:, ::1] hidden,            # OUT (sum T_i, H), h_t
):
    """Run one LSTM layer and direction over a packed batch; see the module docstring."""
    cdef intp_t N = X.shape[0], D = X.shape[1], H = U.shape[1], G = 4 * H
    cdef intp_t T = batch_sizes.shape[0]
    cdef intp_t t, r, Bt, offset = 0, prev_offset = 0, chunk, start, stop
    cdef int n_threads, max_threads = sklstm_max_threads(), thread
    cdef const floating* h_prev
    cdef const floating* c_prev
    with nogil:
        # Bias in every row, then the input projection of every step at once.
        for r in range(N):
            memcpy(&gates[r, 0], &b[0], G * sizeof(floating))
        _gemm(False, True, N, G, D, 1, &X[0, 0], D, &W[0, 0], D, 1, &gates[0, 0], G)
        for t in range(T):
            Bt = batch_sizes[t]
            if t == 0:
                h_prev = &h0[0, 0]
                c_prev = &c0[0, 0]
            else:
                h_prev = &hidden[prev_offset, 0]
                c_prev = &cells[prev_offset, 0]
            _gemm(False, True, Bt, G, H, 1, h_prev, H, &U[0, 0], H, 1,
                  &gates[offset, 0], G)
            n_threads = _threads_for(Bt * H, max_threads)
            if n_threads == 1:
                _forward_rows(&gates[offset, 0], c_prev, &cells[offset, 0],
                              &hidden[offset, 0], 0, Bt, H)
            else:
                chunk = (Bt + n_threads - 1) // n_threads
                for thread in prange(n_threads, num_threads=n_threads,
                                     schedule="static"):
                    start = thread * chunk
                    stop = min(start + chunk, Bt)
                    _forward_rows(&gates[offset, 0], c_prev, &cells[offset, 0],
                                  &hidden[offset, 0], start, stop, H)
            prev_offset = offset
            offset += Bt
    return 0


def lstm_backward(
    const floating[:, ::1] X,           # IN  (sum T_i, D), packed
    const intp_t[::1] batch_sizes,      # IN  (T,)
    const floating[:, ::1] W,           # IN  (4H, D)
    const floating[:, ::1] U,           # IN  (4H, H)
    const floating[:, ::1] h0,          # IN  (B, H)
    const floating[:, ::1] c0,          # IN  (B, H)
    const floating[:, ::1] gates,       # IN  (sum T_i, 4H), from lstm_forward
    const floating[:, ::1] cells,       # IN  (sum T_i, H), from lstm_forward
    const floating[:, ::1] hidden,      # IN  (sum T_i, H), from lstm_forward
    const floating[:, ::1] d_hidden,    # IN  (sum T_i, H), dL/dh_t from above
    floating[:, ::1] dh_carry,          # IN/OUT (B, H): dL/dh_n in, dL/dh0 out
    floating[:, ::1] dc_carry,          # IN/OUT (B, H): dL/dc_n in, dL/dc0 out
    floating[:, ::1] dgates,            # OUT (sum T_i, 4H), dL/d(pre-activations)
    floating[:, ::1] h_shift,           # OUT (sum T_i, H) scratch: h_{t-1} of each row
    floating[:, ::1] dX,                # OUT (sum T_i, D), or (0, D) to skip it
    floating[:, ::1] dW,                # OUT (4H, D)
    floating[:, ::1] dU,                # OUT (4H, H)
    floating[::1] db,                   # OUT (4H,)
):
    """Backpropagation through time for one layer and direction of ``lstm_forward``.

    Gradients flow in from ``d_hidden`` (every step's output) and from the
    carries (the final states); every output is overwritten.
    """
    cdef intp_t N = X.shape[0], D = X.shape[1], H = U.shape[1], G = 4 * H
    cdef intp_t T = batch_sizes.shape[0]
    cdef intp_t t, r, u, Bt, offset, prev_offset, chunk, start, stop
    cdef int n_threads, max_threads = sklstm_max_threads(), thread
    cdef const floating* c_prev
    with nogil:
        offset = N
        for t in range(T - 1, -1, -1):
            Bt = batch_sizes[t]
            offset -= Bt
            prev_offset = offset - batch_sizes[t - 1] if t > 0 else 0
            c_prev = &c0[0, 0] if t == 0 else &cells[prev_offset, 0]
            n_threads = _threads_for(Bt * H, max_threads)
            if n_threads == 1:
                _backward_rows(&gates[offset, 0], c_prev, &cells[offset, 0],
                               &d_hidden[offset, 0], &dh_carry[0, 0],
                               &dc_carry[0, 0], &dgates[offset, 0], 0, Bt, H)
            else:
                chunk = (Bt + n_threads - 1) // n_threads
                for thread in prange(n_threads, num_threads=n_threads,
                                     schedule="static"):
                    start = thread * chunk
                    stop = min(start + chunk, Bt)
                    _backward_rows(&gates[offset, 0], c_prev, &cells[offset, 0],
                                   &d_hidden[offset, 0], &dh_carry[0, 0],
                                   &dc_carry[0, 0], &dgates[offset, 0],
                                   start, stop, H)
            # dh_{t-1} = dgates_t @ U for the rows still running at t - 1.
            _gemm(False, False, Bt, H, G, 1, &dgates[offset, 0], G, &U[0, 0], H, 0,
                  &dh_carry[0, 0], H)
            # h_{t-1} of each row of step t, for dU after the loop.
            memcpy(&h_shift[offset, 0],
                   &h0[0, 0] if t == 0 else &hidden[prev_offset, 0],
                   Bt * H * sizeof(floating))

        # Weight gradients: whole-sequence GEMMs.
        _gemm(True, False, G, H, N, 1, &dgates[0, 0], G, &h_shift[0, 0], H, 0,
              &dU[0, 0], H)
        _gemm(True, False, G, D, N, 1, &dgates[0, 0], G, &X[0, 0], D, 0,
              &dW[0, 0], D)
        memset(&db[0], 0, G * sizeof(floating))
        for r in range(N):
            for u in range(G):
                db[u] += dgates[r, u]
        if dX.shape[0] > 0:
            _gemm(False, False, N, D, G, 1, &dgates[0, 0], G, &W[0, 0], D, 0,
                  &dX[0, 0], D)
    return 0
