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
(forward) or with the previous step's gate derivatives (backward).

Threads split the time loop by sequences, not by units: the batch is cut
into pieces of about equal numbers of steps (``_split_batch``), and each
thread runs the whole time loop of a piece, then takes the next piece left.
A step needs the previous step of its own sequences only, so no thread
waits for another until the loop ends. Split by units instead, every step
was a fork and a join; on a machine with another process on one of the
cores, each join waited for a thread that had lost its core, and a call on
two threads took up to 55 times as long as on one. Pieces outnumber threads,
so a thread that shares its core does less of the work. A call with little
work, or fewer than two sequences per thread, runs on one thread.

Every product runs on one register-tiled micro-kernel over weights packed
once per call (``src/lstm_tile_impl.h``), in the caller's OpenMP thread pool.
BLAS is not used: OpenBLAS keeps a thread pool of its own whose threads spin
after each call, and on a machine with as many threads as cores they took
the cores from the OpenMP threads of the next time loop (a 5x slowdown
measured with 2 threads on 2 cores).

Results do not depend on the number of threads: each output element is
computed by one thread, in an order fixed by the batch alone. (Rows of a
register tile are summed alike whatever the tile's size, except for a step
with a single row in all, which sums in two interleaved halves: it is that
row's alone at any thread count.)

The caller (``sklstm.functional``) validates shapes, dtypes and contiguity
and allocates every output; these kernels trust it.
"""
from libc.stdlib cimport free, malloc

from cython.parallel cimport prange, threadid

from ._math cimport sklstm_max_threads, sklstm_now, sklstm_omp_init
from ._math cimport sklstm_team_report, sklstm_team_size
from ._typedefs cimport float32_t, float64_t, floating, intp_t


cdef extern from "lstm_tile.h" nogil:
    enum:
        SKLSTM_PEEPHOLE
        SKLSTM_IDENTITY
        SKLSTM_CELL_INPUT
        SKLSTM_GRU
    int sklstm_recurrent_panel(int kind)
    int sklstm_input_panel(int kind)
    intp_t sklstm_unit_blocks_f32(intp_t H)
    intp_t sklstm_unit_blocks_f64(intp_t H)
    intp_t sklstm_column_width_f32()
    intp_t sklstm_column_width_f64()
    int sklstm_wide()
    intp_t sklstm_tile_rows()
    intp_t sklstm_column_blocks_f32(intp_t n)
    intp_t sklstm_column_blocks_f64(intp_t n)
    intp_t sklstm_gate_panel_size_f32(intp_t H, intp_t K, int panel)
    intp_t sklstm_gate_panel_size_f64(intp_t H, intp_t K, int panel)
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
    void sklstm_pack_gates_f32(const float32_t* M, intp_t H, intp_t K, int panel,
                               float32_t* P)
    void sklstm_pack_gates_f64(const float64_t* M, intp_t H, intp_t K, int panel,
                               float64_t* P)
    void sklstm_pack_columns_f32(const float32_t* M, intp_t K, intp_t n, float32_t* P)
    void sklstm_pack_columns_f64(const float64_t* M, intp_t K, intp_t n, float64_t* P)
    void sklstm_project_block_f32(
        intp_t rows, intp_t D, intp_t H, intp_t ub, int kind, const float32_t* X,
        const float32_t* PW, const float32_t* b, float32_t* gates)
    void sklstm_project_block_f64(
        intp_t rows, intp_t D, intp_t H, intp_t ub, int kind, const float64_t* X,
        const float64_t* PW, const float64_t* b, float64_t* gates)
    void sklstm_forward_block_f32(
        intp_t rows, int pair, intp_t H, intp_t ub, int kind, const float32_t* operand,
        const float32_t* PU, float32_t* gates, const float32_t* cprev,
        const float32_t* P, float32_t* cells, float32_t* hidden)
    void sklstm_forward_block_f64(
        intp_t rows, int pair, intp_t H, intp_t ub, int kind, const float64_t* operand,
        const float64_t* PU, float64_t* gates, const float64_t* cprev,
        const float64_t* P, float64_t* cells, float64_t* hidden)
    void sklstm_columns_block_f32(
        intp_t rows, int pair, intp_t K, intp_t n, intp_t cb, const float32_t* A,
        intp_t lda, const float32_t* PM, float32_t* out, intp_t ldo)
    void sklstm_columns_block_f64(
        intp_t rows, int pair, intp_t K, intp_t n, intp_t cb, const float64_t* A,
        intp_t lda, const float64_t* PM, float64_t* out, intp_t ldo)
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
sklstm_omp_init()  # single-threaded in fork children (see sklstm_omp.h)


def _vector_bytes():
    """Bytes per vector of the kernels in this process: 64 (AVX-512) or 32."""
    return 64 if _WIDE else 32


cdef enum:
    # Multiply-adds per thread below which a product stays on one thread: a
    # parallel region costs some tens of microseconds, mostly waking threads
    # that sleep between regions (see _core/__init__.py).
    _MIN_WORK_PER_THREAD = 1 << 21
    # The same for a time loop, and sequences per thread: below these, two
    # threads measured no faster than one (in float32; a piece of the batch
    # streams all of U at every step).
    _MIN_LOOP_WORK_PER_THREAD = 1 << 23
    _MIN_LOOP_ROWS_PER_THREAD = 4
    # Rows per block of the products before and after the time loop (a
    # multiple of the micro-kernel's 3 and 6 rows).
    _ROW_CHUNK = 96
    # Pieces of the batch per thread in the time loop: more pieces than
    # threads, handed out as threads come free, so that a thread slowed by
    # another process on its core does less of the work.
    _PIECES_PER_THREAD = 4
    # Split by units instead (a fork and a join per step) where a piece of
    # the batch would have fewer rows a thread than this and U more bytes
    # than this: each thread of a piece streams all of U at every step, and
    # with few rows to reuse it on, two threads measured 0.8 times as fast
    # as when each streams its half (B = 16, H = 512).
    _UNIT_SPLIT_ROWS = 16
    _UNIT_SPLIT_BYTES = 1 << 21


cdef inline int _threads_for(intp_t work, intp_t n_items) noexcept nogil:
    """Threads worth using for ``work`` multiply-adds split into ``n_items``."""
    cdef intp_t n = work // _MIN_WORK_PER_THREAD
    cdef int max_threads = sklstm_max_threads()
    if n > n_items:
        n = n_items
    if n > max_threads:
        n = max_threads
    return sklstm_team_size(<int>n) if n > 1 else 1


cdef intp_t _split_batch(
    const intp_t* batch_sizes, intp_t T, intp_t N, int n_threads, intp_t grain,
    intp_t* bounds,
) noexcept nogil:
    """Cut the batch's sequences into pieces of about equal numbers of steps.

    Sequence ``j`` runs while ``batch_sizes[t] > j``; piece ``p`` is the
    sequences ``bounds[p] <= j < bounds[p + 1]``, and cuts fall on multiples
    of ``grain`` rows (the micro-kernel's tile) where there are enough tiles
    for ``_PIECES_PER_THREAD`` pieces per thread, on any row otherwise.
    ``bounds`` has room for ``_PIECES_PER_THREAD * n_threads + 1`` values;
    returns the number of pieces.
    """
    cdef intp_t B = batch_sizes[0], j, k = 1, n_pieces = 0, t_end = T, done = 0
    cdef intp_t n = (B + grain - 1) // grain
    if n >= 2 * n_threads:
        n = min(n, _PIECES_PER_THREAD * n_threads)
    else:
        n = n_threads
        grain = 1
    bounds[0] = 0
    for j in range(B - 1):
        while t_end > 0 and batch_sizes[t_end - 1] <= j:
            t_end -= 1
        done += t_end                   # steps of sequences [0, j]
        if (j + 1) % grain == 0 and done * n >= k * N:
            n_pieces += 1
            bounds[n_pieces] = j + 1
            while k < n and done * n >= k * N:
                k += 1
            if k == n:
                break
    n_pieces += 1
    bounds[n_pieces] = B
    return n_pieces


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
    const floating* M, intp_t H, intp_t K, int panel,
) noexcept nogil:
    """M (4H, K) in gate panels of the given form (``SKLSTM_PANEL_``), in a new
    buffer (NULL when out of memory)."""
    cdef floating* P
    cdef intp_t size
    if floating is float:
        size = sklstm_gate_panel_size_f32(H, K, panel)
        P = <floating*>malloc(size * sizeof(floating))
        if P != NULL:
            sklstm_pack_gates_f32(M, H, K, panel, P)
    else:
        size = sklstm_gate_panel_size_f64(H, K, panel)
        P = <floating*>malloc(size * sizeof(floating))
        if P != NULL:
            sklstm_pack_gates_f64(M, H, K, panel, P)
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
    intp_t item, intp_t n_blocks, intp_t N, intp_t D, intp_t H, int kind,
    const floating* X, const floating* PW, const floating* b, floating* gates,
) noexcept nogil:
    """Item = (row chunk, unit block) of gates = X W^T + b (PW: gate panels in
    the form of the kind's W)."""
    cdef intp_t r0 = (item // n_blocks) * _ROW_CHUNK, ub = item % n_blocks
    cdef intp_t rows = min(_ROW_CHUNK, N - r0)
    if floating is float:
        sklstm_project_block_f32(rows, D, H, ub, kind, X + r0 * D, PW, b,
                                 gates + r0 * 4 * H)
    else:
        sklstm_project_block_f64(rows, D, H, ub, kind, X + r0 * D, PW, b,
                                 gates + r0 * 4 * H)


cdef inline void _forward_step(
    intp_t ub, intp_t rows, bint pair, intp_t H, int kind, const floating* operand,
    const floating* PU, floating* gates, const floating* cprev, const floating* P,
    floating* cells, floating* hidden,
) noexcept nogil:
    if floating is float:
        sklstm_forward_block_f32(rows, pair, H, ub, kind, operand, PU, gates, cprev,
                                 P, cells, hidden)
    else:
        sklstm_forward_block_f64(rows, pair, H, ub, kind, operand, PU, gates, cprev,
                                 P, cells, hidden)


cdef inline void _columns(
    intp_t rows, bint pair, intp_t K, intp_t n, intp_t cb, const floating* A,
    intp_t lda, const floating* PM, floating* out, intp_t ldo,
) noexcept nogil:
    if floating is float:
        sklstm_columns_block_f32(rows, pair, K, n, cb, A, lda, PM, out, ldo)
    else:
        sklstm_columns_block_f64(rows, pair, K, n, cb, A, lda, PM, out, ldo)


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


cdef inline void _input_gradient(
    intp_t item, intp_t n_blocks, intp_t N, intp_t D, intp_t H,
    const floating* dgates, const floating* PW, floating* dX,
) noexcept nogil:
    """Item = (row chunk, column block) of dX = dgates W."""
    cdef intp_t r0 = (item // n_blocks) * _ROW_CHUNK, cb = item % n_blocks
    cdef intp_t rows = min(_ROW_CHUNK, N - r0)
    _columns(rows, True, 4 * H, D, cb, dgates + r0 * 4 * H, 4 * H, PW, dX + r0 * D, D)


cdef inline intp_t _recurrent_gates(intp_t H, int kind) noexcept nogil:
    """The gates whose derivatives reach the previous state: all 4H, or the
    GRU's first 3H (sk_gru_cell_backward stores them first; the fourth slot
    is its n gate's input part)."""
    return 3 * H if kind & SKLSTM_GRU else 4 * H


cdef inline void _weight_gradient(
    intp_t item, intp_t N, intp_t D, intp_t H, int kind, const floating* Xp,
    const floating* Hp, const floating* dgates, floating* dW, floating* dU,
    floating* db, floating* scratch,
) noexcept nogil:
    """Item = column block ``item // 2`` of dW and db (even items) or of dU (odd).

    Alternating keeps the cheap and the costly items (D and H columns of
    ``A``) evenly spread over the threads of a static schedule. The GRU's
    blocks of zero weights are left unwritten: dU's past its recurrent gates
    (its fourth slot) and dW's and db's within its third (whose bias
    gradient the caller sums itself).
    """
    cdef intp_t cb = item // 2, width = _column_width(<floating*>NULL)
    cdef bint is_W = item % 2 == 0
    if kind & SKLSTM_GRU and (
            (not is_W and cb * width >= 3 * H)
            or (is_W and cb * width >= 2 * H and (cb + 1) * width <= 3 * H)):
        return
    cdef intp_t m = D if is_W else H
    cdef const floating* Ap = Xp if is_W else Hp
    cdef floating* out = dW if is_W else dU
    cdef floating* sums = db if is_W else NULL
    if floating is float:
        sklstm_weight_block_f32(N, 4 * H, m, cb, Ap, dgates, out, sums, scratch)
    else:
        sklstm_weight_block_f64(N, 4 * H, m, cb, Ap, dgates, out, sums, scratch)


# --- the time loops, one piece of the batch at a time ------------------------------

cdef void _forward_piece(
    intp_t j0, intp_t j1, intp_t T, const intp_t* batch_sizes, intp_t H,
    intp_t n_blocks, int kind, int n_threads, const floating* h0,
    const floating* c0, const floating* PU, const floating* P, floating* gates,
    floating* cells, floating* hidden,
) noexcept nogil:
    """The forward time loop of sequences ``j0 <= j < j1``, every unit block,
    each step's blocks spread over ``n_threads`` (1 inside a parallel loop
    over pieces; see ``_split_by_units``).

    Sequence ``j``'s step ``t`` is packed row ``offset_t + j``: the piece's
    running rows at each step are contiguous, and no other piece reads them.
    """
    cdef intp_t t, ub, Bt, rows, G = 4 * H, offset = 0, prev_offset = 0
    cdef bint cell_input = (kind & SKLSTM_CELL_INPUT) != 0
    cdef const floating* h_prev
    cdef const floating* c_prev
    cdef int team
    cdef double stamps[2]               # as in lstm_forward
    cdef intp_t first[1]
    for t in range(T):
        Bt = batch_sizes[t]
        if Bt <= j0:
            break
        rows = min(j1, Bt) - j0
        if t == 0:
            h_prev = h0 + j0 * H
            c_prev = c0 + j0 * H
        else:
            h_prev = hidden + (prev_offset + j0) * H
            c_prev = cells + (prev_offset + j0) * H
        # pair: a step of one row in all is that row's alone at any thread
        # count (see sk_kernel)
        team = sklstm_team_size(n_threads)
        if team == 1:
            for ub in range(n_blocks):
                _forward_step(ub, rows, Bt == 1, H, kind,
                              c_prev if cell_input else h_prev, PU,
                              gates + (offset + j0) * G, c_prev, P,
                              cells + (offset + j0) * H, hidden + (offset + j0) * H)
        else:
            stamps[0] = stamps[1] = sklstm_now()
            first[0] = 0
            for ub in prange(n_blocks, num_threads=team, schedule="static"):
                _forward_step(ub, rows, Bt == 1, H, kind,
                              c_prev if cell_input else h_prev, PU,
                              gates + (offset + j0) * G, c_prev, P,
                              cells + (offset + j0) * H, hidden + (offset + j0) * H)
                if threadid() == 0:
                    first[0] += 1
                    stamps[1] = sklstm_now()
            sklstm_team_report(stamps[0], stamps[1], sklstm_now(), first[0], n_blocks)
        prev_offset = offset
        offset += Bt


cdef inline void _backward_block(
    intp_t cb, intp_t width, intp_t rows, bint pair, intp_t prev_rows, intp_t H,
    int kind, const floating* P, const floating* dgates, const floating* PU,
    floating* dh_carry, floating* dc_carry, const floating* prev_gates,
    const floating* prev_cprev, const floating* prev_cells,
    const floating* prev_d_hidden, floating* prev_dgates,
) noexcept nogil:
    """dh_{t-1} for column block cb of units, then step t - 1's gate
    derivatives there, which need only those units of dh_{t-1}. (The GRU's
    derivatives reach h_{t-1} through their first 3H gates alone: see
    sk_gru_cell_backward.)"""
    cdef intp_t u0 = cb * width, u1 = min(H, u0 + width)
    _columns(rows, pair, _recurrent_gates(H, kind), H, cb, dgates, 4 * H, PU,
             dh_carry, H)
    if prev_rows > 0:
        _backward_gates(prev_rows, H, u0, u1, kind, prev_gates, prev_cprev,
                        prev_cells, prev_d_hidden, dh_carry, dc_carry, P, prev_dgates)


cdef void _backward_piece(
    intp_t j0, intp_t j1, intp_t T, const intp_t* batch_sizes, const intp_t* offsets,
    intp_t N, intp_t H, intp_t n_unit_blocks, int kind, int n_threads,
    const floating* P, const floating* h0, const floating* c0, const floating* gates,
    const floating* cells, const floating* hidden, const floating* d_hidden,
    const floating* PU, floating* dh_carry, floating* dc_carry, floating* dgates,
    floating* Hp,
) noexcept nogil:
    """Backpropagation through time of sequences ``j0 <= j < j1``: their gate
    derivatives at every step, their carries, and the rows of ``Hp`` (what
    ``U`` multiplied, in tile layout) for the weight gradients; each step's
    column blocks spread over ``n_threads`` as in ``_forward_piece``."""
    cdef intp_t G = 4 * H, width = _column_width(<floating*>NULL)
    cdef intp_t t, cb, rows, prev_rows, at, prev_at
    cdef bint pair, cell_input = (kind & SKLSTM_CELL_INPUT) != 0
    cdef const floating* c_prev
    cdef const floating* operand
    cdef int team
    cdef double stamps[2]
    cdef intp_t first[1]
    dh_carry += j0 * H
    dc_carry += j0 * H
    # The piece's last step, and its gate derivatives; each iteration below
    # then forms dh_{t-1} = dgates_t U and the gate derivatives of step t - 1,
    # block by block of units.
    t = T - 1
    while batch_sizes[t] <= j0:
        t -= 1
    at = offsets[t] + j0
    c_prev = c0 + j0 * H if t == 0 else cells + (offsets[t - 1] + j0) * H
    _backward_gates(min(j1, batch_sizes[t]) - j0, H, 0, H, kind, gates + at * G,
                    c_prev, cells + at * H, d_hidden + at * H, dh_carry, dc_carry,
                    P, dgates + at * G)
    while t >= 0:
        rows = min(j1, batch_sizes[t]) - j0
        pair = batch_sizes[t] == 1
        at = offsets[t] + j0
        prev_rows = min(j1, batch_sizes[t - 1]) - j0 if t > 0 else 0
        prev_at = offsets[t - 1] + j0 if t > 0 else 0
        if t <= 1:
            c_prev = c0 + j0 * H
        else:
            c_prev = cells + (offsets[t - 2] + j0) * H
        team = sklstm_team_size(n_threads)
        if team == 1:
            for cb in range(n_unit_blocks):
                _backward_block(cb, width, rows, pair, prev_rows, H, kind, P,
                                dgates + at * G, PU, dh_carry, dc_carry,
                                gates + prev_at * G, c_prev, cells + prev_at * H,
                                d_hidden + prev_at * H, dgates + prev_at * G)
        else:
            stamps[0] = stamps[1] = sklstm_now()
            first[0] = 0
            for cb in prange(n_unit_blocks, num_threads=team, schedule="static"):
                _backward_block(cb, width, rows, pair, prev_rows, H, kind, P,
                                dgates + at * G, PU, dh_carry, dc_carry,
                                gates + prev_at * G, c_prev, cells + prev_at * H,
                                d_hidden + prev_at * H, dgates + prev_at * G)
                if threadid() == 0:
                    first[0] += 1
                    stamps[1] = sklstm_now()
            sklstm_team_report(stamps[0], stamps[1], sklstm_now(), first[0],
                               n_unit_blocks)
        # What U multiplied at step t (h_{t-1}, or c_{t-1}), for dU after the
        # loop.
        if t == 0:
            operand = (c0 if cell_input else h0) + j0 * H
        else:
            operand = (cells if cell_input else hidden) + prev_at * H
        _pack_tiles(rows, H, operand, H, N, at, Hp)
        t -= 1


cdef int _loop_threads(
    const intp_t[::1] batch_sizes, intp_t work,
) noexcept nogil:
    """Threads for a time loop of ``work`` multiply-adds over this batch."""
    if batch_sizes.shape[0] == 0:
        return 1
    return _threads_for(work // (_MIN_LOOP_WORK_PER_THREAD // _MIN_WORK_PER_THREAD),
                        batch_sizes[0] // _MIN_LOOP_ROWS_PER_THREAD)


cdef inline bint _split_by_units(
    intp_t B, intp_t H, int n_threads, intp_t itemsize,
) noexcept nogil:
    """Whether a time loop on ``n_threads`` threads splits each step by units
    (see ``_UNIT_SPLIT_ROWS``)."""
    return (n_threads > 1 and B < _UNIT_SPLIT_ROWS * n_threads
            and 4 * H * H * itemsize > _UNIT_SPLIT_BYTES)


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
    and multiplies ``c_{t-1}``. With the GRU flag, ``W``, ``U`` and ``b`` are in
    the four slots of ``functional._gru_slots``; the zero blocks (``U``'s n_x,
    ``W``'s n_h) are not read."""
    cdef intp_t N = X.shape[0], D = X.shape[1], H = U.shape[1], G = 4 * H
    cdef intp_t T = batch_sizes.shape[0]
    cdef intp_t p, item, n_pieces
    cdef intp_t n_blocks = _unit_blocks(H, <floating*>NULL)
    cdef intp_t n_items = (N + _ROW_CHUNK - 1) // _ROW_CHUNK * n_blocks
    cdef int n_threads, loop_threads
    cdef double stamps[2]               # loop start; first thread's last piece
    cdef intp_t first_pieces[1]         # pieces the first thread ran
    cdef floating* PU = NULL
    cdef floating* PW = NULL
    cdef intp_t* bounds = NULL
    # the panels skip the zero blocks of the GRU (U's n_x, W's n_h) and of
    # the cell-input form (U's candidate)
    with nogil:
        PU = _packed_gates(&U[0, 0], H, H, sklstm_recurrent_panel(kind))
        PW = _packed_gates(&W[0, 0], H, D, sklstm_input_panel(kind))
        loop_threads = _loop_threads(batch_sizes, N * G * H)
        bounds = <intp_t*>malloc(
            (_PIECES_PER_THREAD * loop_threads + 1) * sizeof(intp_t))
        if PU != NULL and PW != NULL and bounds != NULL and N > 0:
            # The input projection of every step at once.
            n_threads = _threads_for(N * G * D, n_items)
            if n_threads == 1:
                for item in range(n_items):
                    _project(item, n_blocks, N, D, H, kind, &X[0, 0], PW, &b[0],
                             &gates[0, 0])
            else:
                for item in prange(n_items, num_threads=n_threads, schedule="dynamic"):
                    _project(item, n_blocks, N, D, H, kind, &X[0, 0], PW, &b[0],
                             &gates[0, 0])
            # The time loop, in pieces of the batch that share no rows: no
            # thread waits for another until the end.
            # (One piece of the whole batch on one thread, or with each
            # step split by units.)
            if loop_threads == 1 or _split_by_units(batch_sizes[0], H, loop_threads,
                                                    sizeof(floating)):
                _forward_piece(0, batch_sizes[0], T, &batch_sizes[0], H, n_blocks,
                               kind, loop_threads, &h0[0, 0], &c0[0, 0], PU, &P[0, 0],
                               &gates[0, 0], &cells[0, 0], &hidden[0, 0])
            else:
                n_pieces = _split_batch(&batch_sizes[0], T, N, loop_threads,
                                        sklstm_tile_rows(), bounds)
                stamps[0] = stamps[1] = sklstm_now()
                first_pieces[0] = 0
                for p in prange(n_pieces, num_threads=loop_threads, schedule="dynamic",
                                chunksize=1):
                    _forward_piece(bounds[p], bounds[p + 1], T, &batch_sizes[0], H,
                                   n_blocks, kind, 1, &h0[0, 0], &c0[0, 0], PU,
                                   &P[0, 0], &gates[0, 0], &cells[0, 0], &hidden[0, 0])
                    if threadid() == 0:
                        first_pieces[0] += 1
                        stamps[1] = sklstm_now()
                sklstm_team_report(stamps[0], stamps[1], sklstm_now(), first_pieces[0],
                                   n_pieces)
    free(PU)
    free(PW)
    free(bounds)
    if PU == NULL or PW == NULL or bounds == NULL:
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
    reduction of ``dgates`` against the cell states). For the GRU, ``W``,
    ``U``, ``dgates`` and the gradients have the backward slot order of
    ``sk_gru_cell_backward`` (``U`` ``(U_r, U_z, U_n, 0)``, ``W`` ``(W_r,
    W_z, 0, W_n)``); rows ``3H:`` of ``dU`` are left unwritten, and so are
    the rows of ``dW`` and ``db`` within ``2H:3H`` that no column block
    outside it shares.
    """
    cdef intp_t N = X.shape[0], D = X.shape[1], H = U.shape[1], G = 4 * H
    cdef intp_t T = batch_sizes.shape[0]
    cdef intp_t t, p, item, n_items, n_pieces
    cdef intp_t n_unit_blocks = _column_blocks(H, <floating*>NULL)
    cdef intp_t n_input_blocks = _column_blocks(D, <floating*>NULL)
    cdef intp_t n_gate_blocks = _column_blocks(G, <floating*>NULL)
    cdef intp_t scratch_size
    cdef int n_threads, loop_threads, max_threads = sklstm_max_threads()
    cdef double stamps[2]               # as in lstm_forward
    cdef intp_t first_pieces[1]
    cdef bint ok
    cdef intp_t* offsets = NULL
    cdef intp_t* bounds = NULL
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
        loop_threads = _loop_threads(batch_sizes, N * G * H)
        PU = _packed_columns(&U[0, 0], _recurrent_gates(H, kind), H)
        PW = _packed_columns(&W[0, 0], G, D)
        offsets = <intp_t*>malloc((T + 1) * sizeof(intp_t))
        bounds = <intp_t*>malloc(
            (_PIECES_PER_THREAD * loop_threads + 1) * sizeof(intp_t))
        scratch = <floating*>malloc(max_threads * scratch_size * sizeof(floating))
        Hp = _tile_buffer(N, H, <floating*>NULL)
        Xp = _tile_buffer(N, D, <floating*>NULL)
        ok = (PU != NULL and PW != NULL and offsets != NULL and bounds != NULL
              and scratch != NULL and Hp != NULL and Xp != NULL)
        if ok:
            offsets[0] = 0
            for t in range(T):
                offsets[t + 1] = offsets[t] + batch_sizes[t]
            # The time loop, in pieces of the batch that share no rows.
            if N == 0:
                pass
            elif loop_threads == 1 or _split_by_units(batch_sizes[0], H, loop_threads,
                                                      sizeof(floating)):
                _backward_piece(0, batch_sizes[0], T, &batch_sizes[0], offsets, N, H,
                                n_unit_blocks, kind, loop_threads, &P[0, 0], &h0[0, 0],
                                &c0[0, 0], &gates[0, 0], &cells[0, 0], &hidden[0, 0],
                                &d_hidden[0, 0], PU, &dh_carry[0, 0], &dc_carry[0, 0],
                                &dgates[0, 0], Hp)
            else:
                n_pieces = _split_batch(&batch_sizes[0], T, N, loop_threads,
                                        sklstm_tile_rows(), bounds)
                stamps[0] = stamps[1] = sklstm_now()
                first_pieces[0] = 0
                for p in prange(n_pieces, num_threads=loop_threads,
                                schedule="dynamic", chunksize=1):
                    _backward_piece(bounds[p], bounds[p + 1], T, &batch_sizes[0],
                                    offsets, N, H, n_unit_blocks, kind, 1, &P[0, 0],
                                    &h0[0, 0], &c0[0, 0], &gates[0, 0], &cells[0, 0],
                                    &hidden[0, 0], &d_hidden[0, 0], PU,
                                    &dh_carry[0, 0], &dc_carry[0, 0], &dgates[0, 0],
                                    Hp)
                    if threadid() == 0:
                        first_pieces[0] += 1
                        stamps[1] = sklstm_now()
                sklstm_team_report(stamps[0], stamps[1], sklstm_now(), first_pieces[0],
                                   n_pieces)

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
                                       schedule="dynamic"):
                        _input_gradient(item, n_input_blocks, N, D, H, &dgates[0, 0],
                                        PW, &dX[0, 0])
            # dW (with db) and dU, by column block of the 4H gates.
            _pack_tiles(N, D, &X[0, 0], D, N, 0, Xp)
            n_items = 2 * n_gate_blocks
            n_threads = _threads_for(N * G * (D + H), n_items)
            if n_threads == 1:
                for item in range(n_items):
                    _weight_gradient(item, N, D, H, kind, Xp, Hp, &dgates[0, 0],
                                     &dW[0, 0], &dU[0, 0], &db[0], scratch)
            else:
                for item in prange(n_items, num_threads=n_threads, schedule="dynamic"):
                    _weight_gradient(item, N, D, H, kind, Xp, Hp, &dgates[0, 0],
                                     &dW[0, 0], &dU[0, 0], &db[0],
                                     scratch + threadid() * scratch_size)
    free(PU)
    free(PW)
    free(offsets)
    free(bounds)
    free(scratch)
    free(Hp)
    free(Xp)
    if not ok:
        raise MemoryError("not enough memory for the LSTM backward pass")
    return 0


def matmul(
    const floating[:, ::1] A,           # IN  (m, K)
    const floating[:, ::1] B,           # IN  (K, n)
    floating[:, ::1] out,               # OUT (m, n)
):
    """``out = A @ B`` on the micro-kernel of the recurrent products.

    For the products of the training step outside the recurrent layers (the
    output layer and its gradient): unlike a BLAS call, each output element
    is summed in one fixed order whatever the thread count, so that ``fit``
    gives the same bits under any thread limit, and the work runs in this
    module's OpenMP threads rather than in a second pool.
    """
    cdef intp_t m = A.shape[0], K = A.shape[1], n = B.shape[1]
    cdef intp_t item, r0, rows, cb
    cdef intp_t n_blocks = _column_blocks(n, <floating*>NULL)
    cdef intp_t n_items = (m + _ROW_CHUNK - 1) // _ROW_CHUNK * n_blocks
    cdef int n_threads
    cdef floating* PB = NULL
    if m == 0 or n == 0:
        return 0
    if K == 0:
        out[:, :] = 0
        return 0
    with nogil:
        PB = _packed_columns(&B[0, 0], K, n)
        if PB != NULL:
            n_threads = _threads_for(m * K * n, n_items)
            for item in prange(n_items, num_threads=n_threads, schedule="dynamic"):
                r0 = (item // n_blocks) * _ROW_CHUNK
                rows = min(<intp_t>_ROW_CHUNK, m - r0)
                cb = item % n_blocks
                _columns(rows, True, K, n, cb, &A[r0, 0], K, PB, &out[r0, 0], n)
    free(PB)
    if PB == NULL:
        raise MemoryError("not enough memory to pack a matrix product")
    return 0
