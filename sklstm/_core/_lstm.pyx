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

How the work is split (Appleyard et al. 2016): the input projection of every
step is one BLAS GEMM before the time loop, and the weight gradients are
GEMMs after it. Inside the loop, each step runs the recurrent product over
``U`` packed once per call (``src/lstm_tile.h``), fused with the gate
activations (forward) or with the next step's gate derivatives (backward),
in blocks of hidden units spread over OpenMP threads.

The caller (``sklstm.functional``) validates shapes, dtypes and contiguity
and allocates every output; these kernels trust it.
"""
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from cython.parallel cimport prange

from ._blas cimport _gemm
from ._math cimport sklstm_max_threads
from ._typedefs cimport float32_t, float64_t, floating, intp_t


cdef extern from "lstm_tile.h" nogil:
    intp_t sklstm_forward_panel_size_f32(intp_t H)
    intp_t sklstm_forward_panel_size_f64(intp_t H)
    intp_t sklstm_backward_panel_size_f32(intp_t H)
    intp_t sklstm_backward_panel_size_f64(intp_t H)
    intp_t sklstm_forward_blocks_f32(intp_t H)
    intp_t sklstm_forward_blocks_f64(intp_t H)
    intp_t sklstm_backward_blocks_f32(intp_t H)
    intp_t sklstm_backward_blocks_f64(intp_t H)
    void sklstm_pack_forward_f32(const float32_t* U, intp_t H, float32_t* P)
    void sklstm_pack_forward_f64(const float64_t* U, intp_t H, float64_t* P)
    void sklstm_pack_backward_f32(const float32_t* U, intp_t H, float32_t* P)
    void sklstm_pack_backward_f64(const float64_t* U, intp_t H, float64_t* P)
    void sklstm_forward_block_f32(
        intp_t rows, intp_t H, intp_t block, const float32_t* hprev,
        const float32_t* P, float32_t* gates, const float32_t* cprev,
        float32_t* cells, float32_t* hidden)
    void sklstm_forward_block_f64(
        intp_t rows, intp_t H, intp_t block, const float64_t* hprev,
        const float64_t* P, float64_t* gates, const float64_t* cprev,
        float64_t* cells, float64_t* hidden)
    void sklstm_backward_block_f32(
        intp_t rows, intp_t H, intp_t block, const float32_t* dgates,
        const float32_t* P, float32_t* dh)
    void sklstm_backward_block_f64(
        intp_t rows, intp_t H, intp_t block, const float64_t* dgates,
        const float64_t* P, float64_t* dh)
    void sklstm_backward_gates_f32(
        intp_t rows, intp_t H, intp_t u0, intp_t u1, const float32_t* gates,
        const float32_t* cprev, const float32_t* cells, const float32_t* d_hidden,
        const float32_t* dh_carry, float32_t* dc_carry, float32_t* dgates)
    void sklstm_backward_gates_f64(
        intp_t rows, intp_t H, intp_t u0, intp_t u1, const float64_t* gates,
        const float64_t* cprev, const float64_t* cells, const float64_t* d_hidden,
        const float64_t* dh_carry, float64_t* dc_carry, float64_t* dgates)


cdef enum:
    # Multiply-adds per thread below which a step stays on one thread: an
    # OpenMP fork/join costs about a microsecond, some 10^5 multiply-adds.
    _MIN_WORK_PER_THREAD = 1 << 17


cdef inline int _threads_for(intp_t work, intp_t n_blocks) noexcept nogil:
    """Threads worth using for a step of ``work`` multiply-adds in ``n_blocks``."""
    cdef intp_t n = work // _MIN_WORK_PER_THREAD
    cdef int max_threads = sklstm_max_threads()
    if n > n_blocks:
        n = n_blocks
    if n > max_threads:
        n = max_threads
    return <int>n if n > 1 else 1


cdef inline intp_t _panel_size(intp_t H, bint forward, floating dummy) noexcept nogil:
    if floating is float:
        return (sklstm_forward_panel_size_f32(H) if forward
                else sklstm_backward_panel_size_f32(H))
    else:
        return (sklstm_forward_panel_size_f64(H) if forward
                else sklstm_backward_panel_size_f64(H))


cdef inline void _forward_block(
    intp_t rows, intp_t H, intp_t block, const floating* hprev, const floating* P,
    floating* gates, const floating* cprev, floating* cells, floating* hidden,
) noexcept nogil:
    if floating is float:
        sklstm_forward_block_f32(rows, H, block, hprev, P, gates, cprev, cells, hidden)
    else:
        sklstm_forward_block_f64(rows, H, block, hprev, P, gates, cprev, cells, hidden)


cdef inline void _backward_block(
    intp_t rows, intp_t H, intp_t block, const floating* dgates, const floating* P,
    floating* dh,
) noexcept nogil:
    if floating is float:
        sklstm_backward_block_f32(rows, H, block, dgates, P, dh)
    else:
        sklstm_backward_block_f64(rows, H, block, dgates, P, dh)


cdef inline void _backward_gates(
    intp_t rows, intp_t H, intp_t u0, intp_t u1, const floating* gates,
    const floating* cprev, const floating* cells, const floating* d_hidden,
    const floating* dh_carry, floating* dc_carry, floating* dgates,
) noexcept nogil:
    if floating is float:
        sklstm_backward_gates_f32(rows, H, u0, u1, gates, cprev, cells, d_hidden,
                                  dh_carry, dc_carry, dgates)
    else:
        sklstm_backward_gates_f64(rows, H, u0, u1, gates, cprev, cells, d_hidden,
                                  dh_carry, dc_carry, dgates)


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
    cdef intp_t t, r, Bt, block, offset = 0, prev_offset = 0
    cdef intp_t n_blocks = (sklstm_forward_blocks_f32(H) if floating is float
                            else sklstm_forward_blocks_f64(H))
    cdef int n_threads
    cdef const floating* h_prev
    cdef const floating* c_prev
    cdef floating* panel = <floating*>malloc(
        _panel_size(H, True, <floating>0) * sizeof(floating))
    if panel == NULL:
        raise MemoryError()
    with nogil:
        if floating is float:
            sklstm_pack_forward_f32(&U[0, 0], H, panel)
        else:
            sklstm_pack_forward_f64(&U[0, 0], H, panel)
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
            n_threads = _threads_for(Bt * G * H, n_blocks)
            if n_threads == 1:
                for block in range(n_blocks):
                    _forward_block(Bt, H, block, h_prev, panel, &gates[offset, 0],
                                   c_prev, &cells[offset, 0], &hidden[offset, 0])
            else:
                for block in prange(n_blocks, num_threads=n_threads,
                                    schedule="static"):
                    _forward_block(Bt, H, block, h_prev, panel, &gates[offset, 0],
                                   c_prev, &cells[offset, 0], &hidden[offset, 0])
            prev_offset = offset
            offset += Bt
    free(panel)
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
    cdef intp_t t, r, u, Bt, block, u0, u1, offset, prev_offset, prev_rows
    cdef intp_t width = 32 if floating is float else 16  # units per block
    cdef intp_t n_blocks = (sklstm_backward_blocks_f32(H) if floating is float
                            else sklstm_backward_blocks_f64(H))
    cdef int n_threads
    cdef const floating* c_prev
    cdef intp_t* offsets = <intp_t*>malloc((T + 1) * sizeof(intp_t))
    cdef floating* panel = <floating*>malloc(
        _panel_size(H, False, <floating>0) * sizeof(floating))
    if panel == NULL or offsets == NULL:
        free(panel)
        free(offsets)
        raise MemoryError()
    with nogil:
        if floating is float:
            sklstm_pack_backward_f32(&U[0, 0], H, panel)
        else:
            sklstm_pack_backward_f64(&U[0, 0], H, panel)
        offsets[0] = 0
        for t in range(T):
            offsets[t + 1] = offsets[t] + batch_sizes[t]
        # Gate derivatives of the last step; each loop iteration below then
        # forms dh_{t-1} = dgates_t U and, unit block by unit block, the gate
        # derivatives of step t - 1, which need only those units of dh_{t-1}.
        t = T - 1
        c_prev = &c0[0, 0] if t == 0 else &cells[offsets[t - 1], 0]
        _backward_gates(batch_sizes[t], H, 0, H, &gates[offsets[t], 0], c_prev,
                        &cells[offsets[t], 0], &d_hidden[offsets[t], 0],
                        &dh_carry[0, 0], &dc_carry[0, 0], &dgates[offsets[t], 0])
        for t in range(T - 1, -1, -1):
            Bt = batch_sizes[t]
            offset = offsets[t]
            prev_offset = offsets[t - 1] if t > 0 else 0
            prev_rows = batch_sizes[t - 1] if t > 0 else 0
            c_prev = &c0[0, 0] if t <= 1 else &cells[offsets[t - 2], 0]
            n_threads = _threads_for(Bt * G * H, n_blocks)
            if n_threads == 1:
                for block in range(n_blocks):
                    _backward_step(Bt, prev_rows, H, block, width, &dgates[offset, 0],
                                   panel, &dh_carry[0, 0], &dc_carry[0, 0],
                                   &gates[prev_offset, 0], c_prev,
                                   &cells[prev_offset, 0], &d_hidden[prev_offset, 0],
                                   &dgates[prev_offset, 0])
            else:
                for block in prange(n_blocks, num_threads=n_threads,
                                    schedule="static"):
                    _backward_step(Bt, prev_rows, H, block, width, &dgates[offset, 0],
                                   panel, &dh_carry[0, 0], &dc_carry[0, 0],
                                   &gates[prev_offset, 0], c_prev,
                                   &cells[prev_offset, 0], &d_hidden[prev_offset, 0],
                                   &dgates[prev_offset, 0])
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
    free(panel)
    free(offsets)
    return 0


cdef inline void _backward_step(
    intp_t rows, intp_t prev_rows, intp_t H, intp_t block, intp_t width,
    const floating* dgates,         # IN  (rows, 4H) of step t
    const floating* panel,          # IN  backward panels of U
    floating* dh_carry,             # IN/OUT (B, H): dL/dh_{t-1} of these units out
    floating* dc_carry,             # IN/OUT (B, H)
    const floating* prev_gates,     # IN  (prev_rows, 4H) of step t - 1
    const floating* prev_cprev,     # IN  c_{t-2} (or c0)
    const floating* prev_cells,     # IN  c_{t-1}
    const floating* prev_d_hidden,  # IN  dL/dh_{t-1} from above
    floating* prev_dgates,          # OUT (prev_rows, 4H) of step t - 1
) noexcept nogil:
    """dh_{t-1} for one block of units, then step t - 1's gate derivatives there."""
    cdef intp_t u0 = block * width, u1 = min(H, u0 + width)
    _backward_block(rows, H, block, dgates, panel, dh_carry)
    if prev_rows > 0:
        _backward_gates(prev_rows, H, u0, u1, prev_gates, prev_cprev, prev_cells,
                        prev_d_hidden, dh_carry, dc_carry, prev_dgates)
