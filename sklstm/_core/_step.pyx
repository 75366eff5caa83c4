"""One time step of a stack of recurrent layers, for a batch of streams.

Streaming prediction (``sklstm._streaming``) carries the recurrent state of
``n`` streams from one call to the next; each call here advances every
stream by one frame, on the calling thread (no OpenMP region: a parallel
region per step costs more than the step at these sizes, DESIGN.md) and
without allocating.

The arithmetic is the batch kernels' own: the same register-tiled products
over weights packed once, when the stream is created, into the gate panels
of ``src/lstm_tile_impl.h``, and the same fused gate pass
(``sklstm_forward_block``), so that a step gives what ``_lstm.lstm_forward``
gives for that step, up to the order of the sums of a single-row step.
Layer ``l`` (``H`` units, ``D`` inputs, ``kind`` the ``SKLSTM_`` flags of
``lstm_tile.h``) runs::

    gates = x W^T + b                      (the input projection, W (4H, D))
    gates += r U^T                         (r = h_{t-1}, or c_{t-1} with the
                                            cell-input flag; U (4H, H))
    (i, f, g, o) activations, c_t, h_t     (Gers et al. 2000; peepholes P
                                            (3, H) rows i, f, o; identity σ_h)

``W``, ``U`` and ``b`` are in the kernel's layout (``functional._kernel_
recurrent``: the cell-input form's ``U`` has a zero candidate block; the GRU
runs in four slots (r, z, n_x, n_h), ``functional._gru_slots``, its state
``h`` alone). Then the pooling of the last layer's ``h_t`` into an
accumulator (a running sum for the mean, a running maximum), and the dense
head.

State layout, per call: ``state`` is flat; for each layer ``l`` the block
``h (n, H_l)`` then ``c (n, H_l)`` (unused by the GRU), then the pooling
accumulator ``(n, H_last)``. Row ``r`` of every block is stream ``r``.
"""
from libc.math cimport isfinite

from ._typedefs cimport float32_t, float64_t, floating, intp_t


cdef extern from "lstm_tile.h" nogil:
    enum:
        SKLSTM_CELL_INPUT
        SKLSTM_GRU
    int sklstm_wide()
    int sklstm_recurrent_panel(int kind)
    int sklstm_input_panel(int kind)
    intp_t sklstm_unit_blocks_f32(intp_t H)
    intp_t sklstm_unit_blocks_f64(intp_t H)
    intp_t sklstm_gate_panel_size_f32(intp_t H, intp_t K, int panel)
    intp_t sklstm_gate_panel_size_f64(intp_t H, intp_t K, int panel)
    void sklstm_pack_gates_f32(const float32_t* M, intp_t H, intp_t K, int panel,
                               float32_t* P)
    void sklstm_pack_gates_f64(const float64_t* M, intp_t H, intp_t K, int panel,
                               float64_t* P)
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


# The vector width, decided once at import, before any packing: the panels'
# layout depends on it.
_WIDE = bool(sklstm_wide())

cdef enum:
    # Columns of a row of ``layout``: H, D, kind, then the offsets in
    # ``weights`` of the gate panels of W and of U, of b (4H,) and of P (3, H).
    _LAYOUT_COLUMNS = 7
    # The pooling codes of ``network_step``.
    _POOL_LAST = 0
    _POOL_MEAN = 1
    _POOL_MAX = 2

LAYOUT_COLUMNS = _LAYOUT_COLUMNS
POOL_LAST, POOL_MEAN, POOL_MAX = _POOL_LAST, _POOL_MEAN, _POOL_MAX


cdef inline int _panel(int kind, bint recurrent) noexcept nogil:
    """The gate panel form of a layer's ``U`` (``recurrent``) or ``W`` (those of
    the GRU and the cell-input form skip their zero blocks)."""
    return sklstm_recurrent_panel(kind) if recurrent else sklstm_input_panel(kind)


def gate_panel_size(intp_t H, intp_t K, bint single, int kind, bint recurrent):
    """Values of the gate panels of a ``(4H, K)`` matrix (``single``: float32),
    ``U`` (``recurrent``) or ``W`` of a layer of the given kind."""
    cdef int panel = _panel(kind, recurrent)
    if single:
        return sklstm_gate_panel_size_f32(H, K, panel)
    return sklstm_gate_panel_size_f64(H, K, panel)


def pack_gates(
    const floating[:, ::1] M,           # IN  (4H, K), gates stacked
    int kind,                           # IN  the layer's SKLSTM_ flags
    bint recurrent,                     # IN  M is U (else W)
    floating[::1] out,                  # OUT (gate_panel_size(H, K, ...),)
):
    """``M`` in gate panels, as the step products read it."""
    cdef intp_t H = M.shape[0] // 4, K = M.shape[1]
    cdef int panel = _panel(kind, recurrent)
    with nogil:
        if floating is float:
            sklstm_pack_gates_f32(&M[0, 0], H, K, panel, &out[0])
        else:
            sklstm_pack_gates_f64(&M[0, 0], H, K, panel, &out[0])


cdef inline intp_t _unit_blocks(intp_t H, floating* tag) noexcept nogil:
    if floating is float:
        return sklstm_unit_blocks_f32(H)
    else:
        return sklstm_unit_blocks_f64(H)


cdef void _layer_step(
    intp_t n, intp_t D, intp_t H, int kind, const floating* x,
    const floating* PW, const floating* PU, const floating* b, const floating* P,
    const floating* h_in, const floating* c_in, floating* gates, floating* c_out,
    floating* h_out,
) noexcept nogil:
    """One step of one layer for ``n`` rows: ``x (n, D)`` in, ``h_in``,
    ``c_in`` the previous states, ``h_out``, ``c_out`` the new ones (they must
    not alias the previous ones: every unit block reads all of ``h_in``)."""
    cdef intp_t ub, n_blocks = _unit_blocks(H, <floating*>NULL)
    cdef const floating* operand = c_in if kind & SKLSTM_CELL_INPUT else h_in
    for ub in range(n_blocks):
        if floating is float:
            sklstm_project_block_f32(n, D, H, ub, kind, x, PW, b, gates)
        else:
            sklstm_project_block_f64(n, D, H, ub, kind, x, PW, b, gates)
    # pair: a single row sums as the batch kernel sums a step of one row
    for ub in range(n_blocks):
        if floating is float:
            sklstm_forward_block_f32(n, n == 1, H, ub, kind, operand, PU, gates, c_in,
                                     P, c_out, h_out)
        else:
            sklstm_forward_block_f64(n, n == 1, H, ub, kind, operand, PU, gates, c_in,
                                     P, c_out, h_out)


cdef intp_t _network_step(
    intp_t n, intp_t F, const float64_t* x, const float64_t* mean,
    const float64_t* scale, floating* frame, intp_t width, intp_t slot,
    const floating* weights, const intp_t* layout, intp_t n_layers,
    const floating* state_in, floating* state_out, floating* scratch, int pooling,
    intp_t count, const floating* coef, const floating* intercept, intp_t n_out,
    floating* decision,
) noexcept nogil:
    cdef intp_t i, r, j, k, layer, H = 0, D, at = 0
    cdef int kind
    cdef const intp_t* row
    cdef const floating* inp = frame
    cdef const floating* h_in
    cdef const floating* c_in
    cdef floating* h_out = NULL
    cdef floating* c_out
    cdef const floating* features
    cdef floating* acc_out
    cdef const floating* acc_in
    cdef floating total, divisor = <floating>(count + 1)
    # Nothing is written before the step is known to be finite: a refused
    # call leaves every buffer as it was.
    for i in range(n * F):
        if not isfinite(x[i]):
            return i + 1
    # The step's slot of the frame, standardised in double as
    # _sequences.standardize does, then rounded to the precision.
    for r in range(n):
        for j in range(F):
            frame[r * width + slot * F + j] = <floating>(
                (x[r * F + j] - mean[j]) / scale[j])
    D = width
    for layer in range(n_layers):
        row = layout + layer * _LAYOUT_COLUMNS
        H, kind = row[0], <int>row[2]
        h_in = state_in + at
        h_out = state_out + at
        if kind & SKLSTM_GRU:
            c_in, c_out = h_in, h_out
        else:
            c_in, c_out = h_in + n * H, h_out + n * H
        _layer_step(n, D, H, kind, inp, weights + row[3], weights + row[4],
                    weights + row[5], weights + row[6], h_in, c_in, scratch, c_out,
                    h_out)
        inp, D = h_out, H
        at += 2 * n * H
    # The pooling accumulator, then the head on the pooled features.
    acc_in, acc_out = state_in + at, state_out + at
    features = h_out
    if pooling == _POOL_MEAN:
        for i in range(n * H):
            acc_out[i] = acc_in[i] + h_out[i]
            scratch[i] = acc_out[i] / divisor
        features = scratch
    elif pooling == _POOL_MAX:
        for i in range(n * H):
            acc_out[i] = h_out[i] if h_out[i] > acc_in[i] else acc_in[i]
        features = acc_out
    for r in range(n):
        for j in range(n_out):
            total = 0
            for k in range(H):
                total = total + features[r * H + k] * coef[j * H + k]
            decision[r * n_out + j] = total + intercept[j]
    # A complete frame: the next step starts a new one, zero-padded.
    if (slot + 1) * F == width:
        for i in range(n * width):
            frame[i] = 0
    return 0


def network_step(
    const float64_t[:, ::1] x,          # IN  (n, F) the raw step of every stream
    const float64_t[::1] mean,          # IN  (F,) the input standardisation
    const float64_t[::1] scale,         # IN  (F,)
    floating[:, ::1] frame,             # IN/OUT (n, k * F) the frame so far
    intp_t slot,                        # IN  the step's position in its frame
    const floating[::1] weights,        # IN  every layer's packed arrays
    const intp_t[:, ::1] layout,        # IN  (n_layers, LAYOUT_COLUMNS)
    const floating[::1] state_in,       # IN  the state before the step
    floating[::1] state_out,            # OUT the state after it
    floating[::1] scratch,              # scratch (n * 4 * max H,)
    int pooling,                        # IN  POOL_LAST, POOL_MEAN or POOL_MAX
    intp_t count,                       # IN  frames pooled in state_in
    const floating[:, ::1] coef,        # IN  (n_outputs, H_last) the head
    const floating[::1] intercept,      # IN  (n_outputs,)
    floating[:, ::1] decision,          # OUT (n, n_outputs) the head's outputs
):
    """Advance ``n`` streams by one step of ``F`` values; see the module
    docstring for ``state`` and ``layout``.

    The step is standardised into slot ``slot`` of ``frame`` (whose other
    slots hold the frame's earlier steps, zeros after them), the layers run on
    the frame from ``state_in`` into ``state_out`` (which must not overlap),
    the last layer's ``h_t`` is pooled (``count + 1`` frames for the mean)
    and the head gives ``decision``. When the step completes the frame (the
    last slot), ``frame`` is zeroed for the next one. Returns 0, or ``1 + i``
    for the first non-finite value ``x.flat[i]``, in which case nothing was
    written.
    """
    cdef intp_t status
    with nogil:
        status = _network_step(
            x.shape[0], x.shape[1], &x[0, 0], &mean[0], &scale[0], &frame[0, 0],
            frame.shape[1], slot, &weights[0], &layout[0, 0], layout.shape[0],
            &state_in[0], &state_out[0], &scratch[0], pooling, count, &coef[0, 0],
            &intercept[0], coef.shape[0], &decision[0, 0])
    return status
