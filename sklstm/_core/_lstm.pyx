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
step is one matrix product before the time loop, and ``dX``, ``dW``, ``dU``
are matrix products after it. Inside the loop, each step runs the recurrent
product over ``U`` packed once per call, fused with the gate activations
(forward) or with the previous step's gate derivatives (backward), in blocks
of hidden units spread over OpenMP threads.

Every product runs on one register-tiled micro-kernel over weights packed
once per call (``src/lstm_tile_impl.h``), in the caller's OpenMP thread pool.
BLAS is not used: OpenBLAS keeps a thread pool of its own whose threads spin
after each call, and on a machine with as many threads as cores they took
the cores from the OpenMP threads of the next time loop (a 5x slowdown
measured with 2 threads on 2 cores).

Results do not depend on the number of threads: work is cut into blocks of
fixed size, and each output element is computed by one thread in a fixed
order.

The caller (``sklstm.functional``) validates shapes, dtypes and contiguity
and allocates every output; these kernels trust it.
"""
from libc.stdlib cimport free, malloc

from cython.parallel cimport prange, threadid

from ._math cimport sklstm_max_threads
from ._typedefs cimport float32_t, float64_t, floating, intp_t


cdef extern from "lstm_tile.h" nogil:
    enum:
        SKLSTM_PEEPHOLE
        SKLSTM_IDENTITY
        SKLSTM_CELL_INPUT
        SKLSTM_GRU
    intp_t sklstm_unit_blocks_f32(intp_t H)
    intp_t sklstm_unit_blocks_f64(intp_t H)
    intp_t sklstm_column_width_f32()
    intp_t sklstm_column_width_f64()
    int sklstm_wide()
    intp_t sklstm_column_blocks_f32(intp_t n)
    intp_t sklstm_column_blocks_f64(intp_t n)
    intp_t sklstm_gate_panel_size_f32(intp_t H, intp_t K)
    intp_t sklstm_gate_panel_size_f64(intp_t H, intp_t K)
    intp_t sklstm_column_panel_size_f32(intp_t K, intp_t n)
    intp_t sklstm_column_panel_size_f64(intp_t K, intp_t n)
    intp_t sklstm_weight_scratch_size_f32(intp_t m)
    intp_t sklstm_weight_scratch_size_f64(intp_t m)
    intp_t sklstm_tile_pack_size_f32(intp_t N, intp_t m)
    intp_t sklstm_tile_pack_size_f64(intp_t N, intp_t m)
    void sklstm_pack_tiles_f32(intp_t rows, intp_t m, const float32_t* src, intp_t lds,
                               intp_t N, intp_t row0, float32_t* dst)
    void sklstm_pack_tiles_f64(intp_t rows, intp_t m, const float64_t* src, intp_t lds,
                               intp_t N, intp_t row0, float64_t* dst)
    void sklstm_pack_gates_f32(const float32_t* M, intp_t H, intp_t K, float32_t* P)
    void sklstm_pack_gates_f64(const float64_t* M, intp_t H, intp_t K, float64_t* P)
    void sklstm_pack_columns_f32(const float32_t* M, intp_t K, intp_t n, float32_t* P)
    void sklstm_pack_columns_f64(const float64_t* M, intp_t K, intp_t n, float64_t* P)
    void sklstm_project_block_f32(
        intp_t rows, intp_t D, intp_t H, intp_t ub, const float32_t* X,
        const float32_t* PW, const float32_t* b, float32_t* gates)
    void sklstm_project_block_f64(
        intp_t rows, intp_t D, intp_t H, intp_t ub, const float64_t* X,
        const float64_t* PW, const float64_t* b, float64_t* gates)
    void sklstm_forward_block_f32(
        intp_t rows, intp_t H, intp_t ub, int kind, const float32_t* operand,
        const float32_t* PU, float32_t* gates, const float32_t* cprev,
        const float32_t* P, float32_t* cells, float32_t* hidden)
    void sklstm_forward_block_f64(
        intp_t rows, intp_t H, intp_t ub, int kind, const float64_t* operand,
        const float64_t* PU, float64_t* gates, const float64_t* cprev,
        const float64_t* P, float64_t* cells, float64_t* hidden)
    void sklstm_columns_block_f32(
        intp_t rows, intp_t K, intp_t n, intp_t cb, const float32_t* A, intp_t lda,
        const float32_t* PM, float32_t* out, intp_t ldo)
    void sklstm_columns_block_f64(
        intp_t rows, intp_t K, intp_t n, intp_t cb, const float64_t* A, intp_t lda,
        const float64_t* PM, float64_t* out, intp_t ldo)
    void sklstm_backward_gates_f32(
        intp_t rows, intp_t H, intp_t u0, intp_t u1, int kind, const float32_t* gates,
        const float32_t* cprev, const float32_t* cells, const float32_t* d_hidden,
        const float32_t* dh_carry, float32_t* dc_carry, const float32_t* P,
        float32_t* dgates)
    void sklstm_backward_gates_f64(
        intp_t rows, intp_t H, intp_t u0, intp_t u1, int kind, const float64_t* gates,
        const float64_t* cprev, const float64_t* cells, const float64_t* d_hidden,
        const float64_t* dh_carry, float64_t* dc_carry, const float64_t* P,
        float64_t* dgates)
    void sklstm_weight_block_f32(
        intp_t N, intp_t G, intp_t m, intp_t cb, const float32_t* Ap,
        const float32_t* dgates, float32_t* out, float32_t* db, float32_t* scratch)
    void sklstm_weight_block_f64(
        intp_t N, intp_t G, intp_t m, intp_t cb, const float64_t* Ap,
        const float64_t* dgates, float64_t* out, float64_t* db, float64_t* scratch)


# The vector width, decided once at import, before any kernel runs.
_WIDE = bool(sklstm_wide())


def _vector_bytes():
    """Bytes per vector of the kernels in this process: 64 (AVX-512) or 32."""
    return 64 if _WIDE else 32


cdef enum:
    # Multiply-adds per thread below which work stays on one thread: an
    # OpenMP fork/join costs about a microsecond, some 10^5 multiply-adds.
    _MIN_WORK_PER_THREAD = 1 << 17
    # Rows per block of the products before and after the time loop (a
    # multiple of the micro-kernel's 3 rows).
    _ROW_CHUNK = 96


cdef inline int _threads_for(intp_t work, intp_t n_items) noexcept nogil:
    """Threads worth using for ``work`` multiply-adds split into ``n_items``."""
    cdef intp_t n = work // _MIN_WORK_PER_THREAD
    cdef int max_threads = sklstm_max_threads()
    if n > n_items:
        n = n_items
    if n > max_threads:
        n = max_threads
    return <int>n if n > 1 else 1


# --- precision dispatch: one inline wrapper per C entry point -----------------

cdef inline intp_t _unit_blocks(intp_t H, floating* tag) noexcept nogil:
    if floating is float:
        return sklstm_unit_blocks_f32(H)
    else:
        return sklstm_unit_blocks_f64(H)


cdef inline intp_t _column_width(floating* tag) noexcept nogil:
    if floating is float:
        return sklstm_column_width_f32()
    else:
        return sklstm_column_width_f64()


cdef inline intp_t _column_blocks(intp_t n, floating* tag) noexcept nogil:
    if floating is float:
        return sklstm_column_blocks_f32(n)
    else:
        return sklstm_column_blocks_f64(n)


cdef inline floating* _packed_gates(
    const floating* M, intp_t H, intp_t K,
) noexcept nogil:
    """M (4H, K) in gate panels, in a new buffer (NULL when out of memory)."""
    cdef floating* P
    if floating is float:
        P = <floating*>malloc(sklstm_gate_panel_size_f32(H, K) * sizeof(floating))
        if P != NULL:
            sklstm_pack_gates_f32(M, H, K, P)
    else:
        P = <floating*>malloc(sklstm_gate_panel_size_f64(H, K) * sizeof(floating))
        if P != NULL:
            sklstm_pack_gates_f64(M, H, K, P)
    return P


cdef inline floating* _packed_columns(
    const floating* M, intp_t K, intp_t n,
) noexcept nogil:
    """M (K, n) in column panels, in a new buffer (NULL when out of memory)."""
    cdef floating* P
    if floating is float:
        P = <floating*>malloc(sklstm_column_panel_size_f32(K, n) * sizeof(floating))
        if P != NULL:
            sklstm_pack_columns_f32(M, K, n, P)
    else:
        P = <floating*>malloc(sklstm_column_panel_size_f64(K, n) * sizeof(floating))
        if P != NULL:
            sklstm_pack_columns_f64(M, K, n, P)
    return P


cdef inline floating* _tile_buffer(intp_t N, intp_t m, floating* tag) noexcept nogil:
    """A buffer for an (N, m) matrix in tile layout (NULL when out of memory)."""
    if floating is float:
        return <floating*>malloc(sklstm_tile_pack_size_f32(N, m) * sizeof(floating))
    else:
        return <floating*>malloc(sklstm_tile_pack_size_f64(N, m) * sizeof(floating))


cdef inline void _pack_tiles(
    intp_t rows, intp_t m, const floating* src, intp_t lds, intp_t N, intp_t row0,
    floating* dst,
) noexcept nogil:
    if floating is float:
        sklstm_pack_tiles_f32(rows, m, src, lds, N, row0, dst)
    else:
        sklstm_pack_tiles_f64(rows, m, src, lds, N, row0, dst)


cdef inline void _project(
    intp_t item, intp_t n_blocks, intp_t N, intp_t D, intp_t H, const floating* X,
    const floating* PW, const floating* b, floating* gates,
) noexcept nogil:
    """Item = (row chunk, unit block) of gates = X W^T + b."""
    cdef intp_t r0 = (item // n_blocks) * _ROW_CHUNK, ub = item % n_blocks
    cdef intp_t rows = min(_ROW_CHUNK, N - r0)
    if floating is float:
        sklstm_project_block_f32(rows, D, H, ub, X + r0 * D, PW, b, gates + r0 * 4 * H)
    else:
        sklstm_project_block_f64(rows, D, H, ub, X + r0 * D, PW, b, gates + r0 * 4 * H)


cdef inline void _forward_step(
    intp_t ub, intp_t rows, intp_t H, int kind, const floating* operand,
    const floating* PU, floating* gates, const floating* cprev, const floating* P,
    floating* cells, floating* hidden,
) noexcept nogil:
    if floating is float:
        sklstm_forward_block_f32(rows, H, ub, kind, operand, PU, gates, cprev, P,
                                 cells, hidden)
    else:
        sklstm_forward_block_f64(rows, H, ub, kind, operand, PU, gates, cprev, P,
                                 cells, hidden)


cdef inline void _columns(
    intp_t rows, intp_t K, intp_t n, intp_t cb, const floating* A, intp_t lda,
    const floating* PM, floating* out, intp_t ldo,
) noexcept nogil:
    if floating is float:
        sklstm_columns_block_f32(rows, K, n, cb, A, lda, PM, out, ldo)
    else:
        sklstm_columns_block_f64(rows, K, n, cb, A, lda, PM, out, ldo)


cdef inline void _backward_gates(
    intp_t rows, intp_t H, intp_t u0, intp_t u1, int kind, const floating* gates,
    const floating* cprev, const floating* cells, const floating* d_hidden,
    const floating* dh_carry, floating* dc_carry, const floating* P,
    floating* dgates,
) noexcept nogil:
    if floating is float:
        sklstm_backward_gates_f32(rows, H, u0, u1, kind, gates, cprev, cells,
                                  d_hidden, dh_carry, dc_carry, P, dgates)
    else:
        sklstm_backward_gates_f64(rows, H, u0, u1, kind, gates, cprev, cells,
                                  d_hidden, dh_carry, dc_carry, P, dgates)


cdef inline void _backward_step(
    intp_t cb, intp_t rows, intp_t prev_rows, intp_t H, int kind,
    const floating* P,              # IN  (3, H) peephole weights, read with the flag
    const floating* dgates,         # IN  (rows, 4H) of step t
    const floating* PU,             # IN  column panels of U
    floating* dh_carry,             # IN/OUT (B, H): dL/dh_{t-1} of these units out
    floating* dc_carry,             # IN/OUT (B, H)
    const floating* prev_gates,     # IN  (prev_rows, 4H) of step t - 1
    const floating* prev_cprev,     # IN  c_{t-2} (or c0)
    const floating* prev_cells,     # IN  c_{t-1}
    const floating* prev_d_hidden,  # IN  dL/dh_{t-1} from above
    floating* prev_dgates,          # OUT (prev_rows, 4H) of step t - 1
) noexcept nogil:
    """dh_{t-1} for column block cb of units, then step t - 1's gate derivatives
    there."""
    cdef intp_t width = _column_width(<floating*>NULL)  # units per column block
    cdef intp_t u0 = cb * width, u1 = min(H, u0 + width)
    _columns(rows, 4 * H, H, cb, dgates, 4 * H, PU, dh_carry, H)
    if prev_rows > 0:
        _backward_gates(prev_rows, H, u0, u1, kind, prev_gates, prev_cprev,
                        prev_cells, prev_d_hidden, dh_carry, dc_carry, P, prev_dgates)


cdef inline void _input_gradient(
    intp_t item, intp_t n_blocks, intp_t N, intp_t D, intp_t H,
    const floating* dgates, const floating* PW, floating* dX,
) noexcept nogil:
    """Item = (row chunk, column block) of dX = dgates W."""
    cdef intp_t r0 = (item // n_blocks) * _ROW_CHUNK, cb = item % n_blocks
    cdef intp_t rows = min(_ROW_CHUNK, N - r0)
    _columns(rows, 4 * H, D, cb, dgates + r0 * 4 * H, 4 * H, PW, dX + r0 * D, D)


cdef inline void _weight_gradient(
    intp_t item, intp_t N, intp_t D, intp_t H, const floating* Xp,
    const floating* Hp, const floating* dgates, floating* dW, floating* dU,
    floating* db, floating* scratch,
) noexcept nogil:
    """Item = column block ``item // 2`` of dW and db (even items) or of dU (odd).

    Alternating keeps the cheap and the costly items (D and H columns of
    ``A``) evenly spread over the threads of a static schedule.
    """
    cdef intp_t cb = item // 2
    cdef bint is_W = item % 2 == 0
    cdef intp_t m = D if is_W else H
    cdef const floating* Ap = Xp if is_W else Hp
    cdef floating* out = dW if is_W else dU
    cdef floating* sums = db if is_W else NULL
    if floating is float:
        sklstm_weight_block_f32(N, 4 * H, m, cb, Ap, dgates, out, sums, scratch)
    else:
        sklstm_weight_block_f64(N, 4 * H, m, cb, Ap, dgates, out, sums, scratch)


# --- kernels --------------------------------------------------------------------

def lstm_forward(
    const floating[:, ::1] X,           # IN  (sum T_i, D), packed
    const intp_t[::1] batch_sizes,      # IN  (T,), non-increasing, batch_sizes[0] = B
    const floating[:, ::1] W,           # IN  (4H, D)
    const floating[:, ::1] U,           # IN  (4H, H)
    const floating[::1] b,              # IN  (4H,)
    const floating[:, ::1] h0,          # IN  (B, H), sorted like the batch
    const floating[:, ::1] c0,          # IN  (B, H)
    const floating[:, ::1] P,           # IN  (3, H) peepholes, read with the flag
    int kind,                           # IN  the SKLSTM_ flags of lstm_tile.h
    floating[:, ::1] gates,             # OUT (sum T_i, 4H), activations (i, f, g, o)
    floating[:, ::1] cells,             # OUT (sum T_i, H), c_t
    floating[:, ::1] hidden,            # OUT (sum T_i, H), h_t
):
    """Run one recurrent layer and direction over a packed batch; see the module
    docstring. With the cell-input flag, ``U`` is (4H, H) with a zero g block
    and multiplies ``c_{t-1}``."""
    cdef intp_t N = X.shape[0], D = X.shape[1], H = U.shape[1], G = 4 * H
    cdef intp_t T = batch_sizes.shape[0]
    cdef intp_t t, item, Bt, offset = 0, prev_offset = 0
    cdef intp_t n_blocks = _unit_blocks(H, <floating*>NULL)
    cdef intp_t n_items = (N + _ROW_CHUNK - 1) // _ROW_CHUNK * n_blocks
    cdef int n_threads
    cdef bint cell_input = (kind & SKLSTM_CELL_INPUT) != 0
    cdef const floating* h_prev
    cdef const floating* c_prev
    cdef const floating* operand
    cdef floating* PU = NULL
    cdef floating* PW = NULL
    with nogil:
        PU = _packed_gates(&U[0, 0], H, H)
        PW = _packed_gates(&W[0, 0], H, D)
        if PU != NULL and PW != NULL:
            # The input projection of every step at once.
            n_threads = _threads_for(N * G * D, n_items)
            if n_threads == 1:
                for item in range(n_items):
                    _project(item, n_blocks, N, D, H, &X[0, 0], PW, &b[0], &gates[0, 0])
            else:
                for item in prange(n_items, num_threads=n_threads, schedule="static"):
                    _project(item, n_blocks, N, D, H, &X[0, 0], PW, &b[0], &gates[0, 0])
            for t in range(T):
                Bt = batch_sizes[t]
                h_prev = &h0[0, 0] if t == 0 else &hidden[prev_offset, 0]
                c_prev = &c0[0, 0] if t == 0 else &cells[prev_offset, 0]
                operand = c_prev if cell_input else h_prev
                n_threads = _threads_for(Bt * G * H, n_blocks)
                if n_threads == 1:
                    for item in range(n_blocks):
                        _forward_step(item, Bt, H, kind, operand, PU,
                                      &gates[offset, 0], c_prev, &P[0, 0],
                                      &cells[offset, 0], &hidden[offset, 0])
                else:
                    for item in prange(n_blocks, num_threads=n_threads,
                                       schedule="static"):
                        _forward_step(item, Bt, H, kind, operand, PU,
                                      &gates[offset, 0], c_prev, &P[0, 0],
                                      &cells[offset, 0], &hidden[offset, 0])
                prev_offset = offset
                offset += Bt
    free(PU)
    free(PW)
    if PU == NULL or PW == NULL:
        raise MemoryError("not enough memory to pack the LSTM weights")
    return 0


def lstm_backward(
    const floating[:, ::1] X,           # IN  (sum T_i, D), packed
    const intp_t[::1] batch_sizes,      # IN  (T,)
    const floating[:, ::1] W,           # IN  (4H, D)
    const floating[:, ::1] U,           # IN  (4H, H)
    const floating[:, ::1] h0,          # IN  (B, H)
    const floating[:, ::1] c0,          # IN  (B, H)
    const floating[:, ::1] P,           # IN  (3, H), as in lstm_forward
    int kind,                           # IN  as in lstm_forward
    const floating[:, ::1] gates,       # IN  (sum T_i, 4H), from lstm_forward
    const floating[:, ::1] cells,       # IN  (sum T_i, H), from lstm_forward
    const floating[:, ::1] hidden,      # IN  (sum T_i, H), from lstm_forward
    const floating[:, ::1] d_hidden,    # IN  (sum T_i, H), dL/dh_t from above
    floating[:, ::1] dh_carry,          # IN/OUT (B, H): dL/dh_n in, dL/dh0 out
    floating[:, ::1] dc_carry,          # IN/OUT (B, H): dL/dc_n in, dL/dc0 out
    floating[:, ::1] dgates,            # OUT (sum T_i, 4H), dL/d(pre-activations)
    floating[:, ::1] dX,                # OUT (sum T_i, D), or (0, D) to skip it
    floating[:, ::1] dW,                # OUT (4H, D)
    floating[:, ::1] dU,                # OUT (4H, H)
    floating[::1] db,                   # OUT (4H,)
):
    """Backpropagation through time for one layer and direction of ``lstm_forward``.

    Gradients flow in from ``d_hidden`` (every step's output) and from the
    carries (the final states); every output is overwritten. With the
    cell-input flag, ``dh_carry`` carries the recurrent product into
    ``c_{t-1}``: it must come in as zeros (add ``dL/dh_n`` to ``d_hidden`` at
    each sequence's last row instead), and ``dh0 = 0``, ``dc0 = dc_carry +
    dh_carry`` on return. The peephole gradient is left to the caller (a
    reduction of ``dgates`` against the cell states).
    """
    cdef intp_t N = X.shape[0], D = X.shape[1], H = U.shape[1], G = 4 * H
    cdef intp_t T = batch_sizes.shape[0]
    cdef intp_t t, item, Bt, offset, prev_offset, prev_rows, n_items
    cdef intp_t n_unit_blocks = _column_blocks(H, <floating*>NULL)
    cdef intp_t n_input_blocks = _column_blocks(D, <floating*>NULL)
    cdef intp_t n_gate_blocks = _column_blocks(G, <floating*>NULL)
    cdef intp_t scratch_size
    cdef int n_threads, max_threads = sklstm_max_threads()
    cdef bint ok, cell_input = (kind & SKLSTM_CELL_INPUT) != 0
    cdef const floating* c_prev
    cdef const floating* operand
    cdef intp_t* offsets = NULL
    cdef floating* PU = NULL
    cdef floating* PW = NULL
    cdef floating* scratch = NULL
    cdef floating* Hp = NULL            # h_{t-1} of every row, in tile layout
    cdef floating* Xp = NULL            # X in tile layout
    if floating is float:
        scratch_size = sklstm_weight_scratch_size_f32(max(D, H))
    else:
        scratch_size = sklstm_weight_scratch_size_f64(max(D, H))
    with nogil:
        PU = _packed_columns(&U[0, 0], G, H)
        PW = _packed_columns(&W[0, 0], G, D)
        offsets = <intp_t*>malloc((T + 1) * sizeof(intp_t))
        scratch = <floating*>malloc(max_threads * scratch_size * sizeof(floating))
        Hp = _tile_buffer(N, H, <floating*>NULL)
        Xp = _tile_buffer(N, D, <floating*>NULL)
        ok = (PU != NULL and PW != NULL and offsets != NULL and scratch != NULL
              and Hp != NULL and Xp != NULL)
        if ok:
            offsets[0] = 0
            for t in range(T):
                offsets[t + 1] = offsets[t] + batch_sizes[t]
            # Gate derivatives of the last step; each iteration below then forms
            # dh_{t-1} = dgates_t U and, block by block of units, the gate
            # derivatives of step t - 1, which need only those units of dh_{t-1}.
            t = T - 1
            c_prev = &c0[0, 0] if t == 0 else &cells[offsets[t - 1], 0]
            _backward_gates(batch_sizes[t], H, 0, H, kind, &gates[offsets[t], 0],
                            c_prev, &cells[offsets[t], 0], &d_hidden[offsets[t], 0],
                            &dh_carry[0, 0], &dc_carry[0, 0], &P[0, 0],
                            &dgates[offsets[t], 0])
            for t in range(T - 1, -1, -1):
                Bt = batch_sizes[t]
                offset = offsets[t]
                prev_offset = offsets[t - 1] if t > 0 else 0
                prev_rows = batch_sizes[t - 1] if t > 0 else 0
                c_prev = &c0[0, 0] if t <= 1 else &cells[offsets[t - 2], 0]
                n_threads = _threads_for(Bt * G * H, n_unit_blocks)
                if n_threads == 1:
                    for item in range(n_unit_blocks):
                        _backward_step(item, Bt, prev_rows, H, kind, &P[0, 0],
                                       &dgates[offset, 0], PU,
                                       &dh_carry[0, 0], &dc_carry[0, 0],
                                       &gates[prev_offset, 0], c_prev,
                                       &cells[prev_offset, 0],
                                       &d_hidden[prev_offset, 0],
                                       &dgates[prev_offset, 0])
                else:
                    for item in prange(n_unit_blocks, num_threads=n_threads,
                                       schedule="static"):
                        _backward_step(item, Bt, prev_rows, H, kind, &P[0, 0],
                                       &dgates[offset, 0], PU,
                                       &dh_carry[0, 0], &dc_carry[0, 0],
                                       &gates[prev_offset, 0], c_prev,
                                       &cells[prev_offset, 0],
                                       &d_hidden[prev_offset, 0],
                                       &dgates[prev_offset, 0])
                # What U multiplied at step t (h_{t-1}, or c_{t-1}), for dU after
                # the loop.
                if cell_input:
                    operand = &c0[0, 0] if t == 0 else &cells[prev_offset, 0]
                else:
                    operand = &h0[0, 0] if t == 0 else &hidden[prev_offset, 0]
                _pack_tiles(Bt, H, operand, H, N, offset, Hp)

            # dX = dgates W, by (row chunk, column block).
            if dX.shape[0] > 0:
                n_items = (N + _ROW_CHUNK - 1) // _ROW_CHUNK * n_input_blocks
                n_threads = _threads_for(N * G * D, n_items)
                if n_threads == 1:
                    for item in range(n_items):
                        _input_gradient(item, n_input_blocks, N, D, H, &dgates[0, 0],
                                        PW, &dX[0, 0])
                else:
                    for item in prange(n_items, num_threads=n_threads,
                                       schedule="static"):
                        _input_gradient(item, n_input_blocks, N, D, H, &dgates[0, 0],
                                        PW, &dX[0, 0])
            # dW (with db) and dU, by column block of the 4H gates.
            _pack_tiles(N, D, &X[0, 0], D, N, 0, Xp)
            n_items = 2 * n_gate_blocks
            n_threads = _threads_for(N * G * (D + H), n_items)
            if n_threads == 1:
                for item in range(n_items):
                    _weight_gradient(item, N, D, H, Xp, Hp, &dgates[0, 0], &dW[0, 0],
                                     &dU[0, 0], &db[0], scratch)
            else:
                for item in prange(n_items, num_threads=n_threads, schedule="static"):
                    _weight_gradient(item, N, D, H, Xp, Hp, &dgates[0, 0], &dW[0, 0],
                                     &dU[0, 0], &db[0],
                                     scratch + threadid() * scratch_size)
    free(PU)
    free(PW)
    free(offsets)
    free(scratch)
    free(Hp)
    free(Xp)
    if not ok:
        raise MemoryError("not enough memory for the LSTM backward pass")
    return 0
