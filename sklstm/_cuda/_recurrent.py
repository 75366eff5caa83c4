"""The recurrent layers on the GPU: the packed entry points of
:mod:`sklstm.functional` over an engine (``sklstm._cuda._engine``).

The same packed layout, plan and cache as the CPU kernels (see
``sklstm._packing``): the input projection ``X W^T + b`` of every step is one
cuBLAS product; each step then accumulates ``h_{t-1} U^T`` onto its rows
(``gemm`` with ``beta=1``) and runs one element-wise kernel of
``kernels/recurrent.cu``. Backward, each step's gate derivatives come from
one kernel and ``dh_{t-1} = dgates_t U`` from one product; ``dX``, ``dW``,
``dU`` and ``db`` are then one product (or sum) each over every row.

Every array argument is of ``engine.xp`` (CuPy on the GPU), C-contiguous,
packed and sorted as the plan says; the plan itself stays on the host.
"""

from sklstm._cuda._engine import elementwise_grid

__all__ = ["gru_packed", "gru_packed_backward", "lstm_packed", "lstm_packed_backward",
           "packed_states"]

# The kind flags of sklstm.functional (its _PEEPHOLE, _IDENTITY, _CELL_INPUT,
# _GRU); repeated here so that this module imports nothing of the CPU side
# at load time.
_PEEPHOLE, _IDENTITY, _CELL_INPUT, _GRU = 1, 2, 4, 8


def _launch(engine, name, targs, rows, H, *args):
    grid, block = elementwise_grid(rows * H)
    engine.launch(name, args[0].dtype, targs, grid, block, rows * H, H, *args)


def _previous_rows(engine, plan):
    """Device index of the row one step back of every row past step 0 (the
    same sequence), cached on the plan."""
    cache = plan.__dict__.setdefault("_device", {})
    key = (engine.name, "previous")
    if key not in cache:
        later = plan.step >= 1
        cache[key] = engine.asarray(
            plan.offsets[plan.step[later] - 1] + plan.slot[later], dtype="int64")
    return cache[key]


def _operands(engine, plan, first, rows):
    """What the recurrent product read at every row, ``(n_rows, H)``: the
    initial state's rows for step 0, ``rows`` one step back after it."""
    xp = engine.xp
    out = xp.empty((plan.n_rows, first.shape[1]), dtype=first.dtype)
    B = plan.lengths.size
    out[:B] = first
    if plan.n_rows > B:
        out[B:] = xp.take(rows, _previous_rows(engine, plan), axis=0)
    return out


def _forward(engine, plan, X, W, U4, b, h0, c0, P, kind, gates, cells, hidden):
    """The time loop: gates, cells and hidden of every packed row (for the GRU
    ``cells`` is ``hidden`` and ``c0`` is ``h0``)."""
    gru, cell_input = bool(kind & _GRU), bool(kind & _CELL_INPUT)
    H = U4.shape[1]
    gates[...] = b
    engine.gemm(X, W, gates, transb="T", beta=1.0)
    offsets, batch_sizes = plan.offsets, plan.batch_sizes
    for t in range(plan.n_steps):
        n, r0 = int(batch_sizes[t]), int(offsets[t])
        if t == 0:
            hp, cp = h0[:n], c0[:n]
        else:
            p0 = int(offsets[t - 1])
            hp, cp = hidden[p0 : p0 + n], cells[p0 : p0 + n]
        g = gates[r0 : r0 + n]
        engine.gemm(cp if cell_input else hp, U4, g, transb="T", beta=1.0)
        if gru:
            _launch(engine, "gru_cell_forward", (), n, H, g, hp, hidden[r0 : r0 + n])
        else:
            _launch(engine, "lstm_cell_forward", (kind & 7,), n, H, g, cp, P,
                    cells[r0 : r0 + n], hidden[r0 : r0 + n])


def _backward(engine, plan, U4, h0, c0, P, kind, gates, cells, hidden, d_hidden,
              dh_carry, dc_carry, dgates):
    """Backpropagation through time: every row's gate derivatives; the
    carries (sorted slots) updated in place to the gradients at step 0."""
    gru = bool(kind & _GRU)
    H = U4.shape[1]
    offsets, batch_sizes = plan.offsets, plan.batch_sizes
    for t in range(plan.n_steps - 1, -1, -1):
        n, r0 = int(batch_sizes[t]), int(offsets[t])
        if t == 0:
            cp = c0[:n]
        else:
            p0 = int(offsets[t - 1])
            cp = cells[p0 : p0 + n]
        rows = slice(r0, r0 + n)
        if gru:
            _launch(engine, "gru_cell_backward", (), n, H, gates[rows], cp,
                    d_hidden[rows], dh_carry[:n], dc_carry[:n], dgates[rows])
        else:
            _launch(engine, "lstm_cell_backward", (kind & 7,), n, H, gates[rows], cp,
                    cells[rows], d_hidden[rows], dh_carry[:n], dc_carry[:n], P,
                    dgates[rows])
        # dh_{t-1} of the rows still running at step t; the others keep the
        # carry they started with (their sequences end at t - 1)
        engine.gemm(dgates[rows], U4, dh_carry[:n])


def _weight_gradients(engine, plan, X, W, dgates, operands, compute_dX):
    xp = engine.xp
    n_rows, G = dgates.shape
    dX = None
    if compute_dX:
        dX = engine.gemm(dgates, W, xp.empty((n_rows, W.shape[1]), dtype=X.dtype))
    dW = engine.gemm(dgates, X, xp.empty((G, X.shape[1]), dtype=X.dtype), transa="T")
    dU = engine.gemm(dgates, operands,
                     xp.empty((G, operands.shape[1]), dtype=X.dtype), transa="T")
    return dX, dW, dU, dgates.sum(axis=0)


def lstm_packed(engine, plan, X, W, U, b, h0, c0, P=None, kind=0, reverse=False):
    """``sklstm.functional._lstm_packed`` on the engine's arrays."""
    from sklstm.functional import LSTMCache, _kernel_recurrent

    xp, dtype = engine.xp, X.dtype
    n_rows, H = X.shape[0], U.shape[1]
    P_kernel = xp.zeros((3, H), dtype=dtype) if P is None else P
    U_kernel = _kernel_recurrent(U, kind)
    gates = xp.empty((n_rows, 4 * H), dtype=dtype)
    cells = xp.empty((n_rows, H), dtype=dtype)
    hidden = xp.empty((n_rows, H), dtype=dtype)
    _forward(engine, plan, X, W, U_kernel, b, h0, c0, P_kernel, kind, gates, cells,
             hidden)
    return LSTMCache(X=X, plan=plan, reverse=reverse, W=W, U=U_kernel, P=P_kernel,
                     kind=kind, h0=h0, c0=c0, gates=gates, cells=cells, hidden=hidden)


def lstm_packed_backward(engine, cache, d_hidden, dh_n=None, dc_n=None,
                         compute_dX=True):
    """``sklstm.functional._lstm_packed_backward`` on the engine's arrays:
    ``(dX, dW, dU, db, dh0, dc0, dP)``."""
    xp = engine.xp
    plan, kind, dtype = cache.plan, cache.kind, cache.X.dtype
    B, H = plan.lengths.size, cache.U.shape[1]
    cell_input = bool(kind & _CELL_INPUT)
    dh_carry = xp.zeros((B, H), dtype=dtype)
    dc_carry = (xp.zeros((B, H), dtype=dtype) if dc_n is None
                else xp.array(dc_n, dtype=dtype))
    d_hidden = xp.array(d_hidden, dtype=dtype)  # a copy: the caller's stays
    if dh_n is not None:
        if cell_input:  # the carry holds the product into c_{t-1}
            d_hidden[engine.asarray(plan.last_rows, dtype="int64")] += dh_n
        else:
            dh_carry[...] = dh_n
    dgates = xp.empty((plan.n_rows, 4 * H), dtype=dtype)
    _backward(engine, plan, cache.U, cache.h0, cache.c0, cache.P, kind, cache.gates,
              cache.cells, cache.hidden, d_hidden, dh_carry, dc_carry, dgates)
    operands = _operands(engine, plan, cache.c0 if cell_input else cache.h0,
                         cache.cells if cell_input else cache.hidden)
    dX, dW, dU, db = _weight_gradients(engine, plan, cache.X, cache.W, dgates,
                                       operands, compute_dX)
    dP = None
    if kind & _PEEPHOLE:
        cprev = operands if cell_input else _operands(engine, plan, cache.c0,
                                                      cache.cells)
        dP = xp.stack([(dgates[:, :H] * cprev).sum(axis=0),
                       (dgates[:, H : 2 * H] * cprev).sum(axis=0),
                       (dgates[:, 3 * H :] * cache.cells).sum(axis=0)])
    if cell_input:
        dU = xp.concatenate([dU[: 2 * H], dU[3 * H :]])
        dc0, dh0 = dc_carry + dh_carry, xp.zeros_like(dh_carry)
    else:
        dh0, dc0 = dh_carry, dc_carry
    return dX, dW, dU, db, dh0, dc0, dP


def gru_packed(engine, plan, X, W, U, b_ih, b_hh, h0, reverse=False):
    """``sklstm.functional._gru_packed`` on the engine's arrays."""
    from sklstm.functional import GRUCache, _gru_slots

    xp, dtype = engine.xp, X.dtype
    n_rows, H = X.shape[0], U.shape[1]
    W4, U4, b4 = _gru_slots(W, U, b_ih, b_hh)
    P = xp.zeros((3, H), dtype=dtype)
    gates = xp.empty((n_rows, 4 * H), dtype=dtype)
    hidden = xp.empty((n_rows, H), dtype=dtype)
    _forward(engine, plan, X, W4, U4, b4, h0, h0, P, _GRU, gates, hidden, hidden)
    return GRUCache(X=X, plan=plan, reverse=reverse, W=W4, U=U4, P=P, kind=_GRU,
                    h0=h0, c0=h0, gates=gates, cells=hidden, hidden=hidden)


def gru_packed_backward(engine, cache, d_hidden, dh_n=None, compute_dX=True):
    """``sklstm.functional._gru_packed_backward`` on the engine's arrays:
    ``(dX, dW, dU, db_ih, db_hh, dh0)``."""
    xp = engine.xp
    plan, dtype = cache.plan, cache.X.dtype
    B, H = plan.lengths.size, cache.U.shape[1]
    dh_carry = (xp.zeros((B, H), dtype=dtype) if dh_n is None
                else xp.array(dh_n, dtype=dtype))
    dc_carry = xp.zeros((B, H), dtype=dtype)  # the path z dh into h_{t-1}
    dgates = xp.empty((plan.n_rows, 4 * H), dtype=dtype)
    _backward(engine, plan, cache.U, cache.h0, cache.h0, cache.P, _GRU, cache.gates,
              cache.hidden, cache.hidden, xp.ascontiguousarray(d_hidden, dtype=dtype),
              dh_carry, dc_carry, dgates)
    operands = _operands(engine, plan, cache.h0, cache.hidden)
    dX, dW, dU, db = _weight_gradients(engine, plan, cache.X, cache.W, dgates,
                                       operands, compute_dX)
    return (dX, dW[: 3 * H], xp.concatenate([dU[: 2 * H], dU[3 * H :]]), db[: 3 * H],
            xp.concatenate([db[: 2 * H], db[3 * H :]]), dh_carry + dc_carry)


def packed_states(engine, plan, X, out, W, U, b, P, kind, reverse):
    """``sklstm.functional._packed_states`` (inference) on the engine's arrays:
    the hidden states of one layer and direction written into ``out`` in the
    forward packing's row order; ``X`` is forward-packed and ``W, U, b, P``
    are in the kernels' layout. One call over every step: GPU memory, not the
    CPU's cache, bounds it."""
    xp = engine.xp
    n_rows, H = X.shape[0], U.shape[1]
    rows = None
    if reverse:
        cached = plan.__dict__.setdefault("_device", {})
        key = (engine.name, "reverse")
        if key not in cached:
            cached[key] = engine.asarray(plan.reverse_rows, dtype="int64")
        rows = cached[key]
        X = xp.ascontiguousarray(X[rows])
    gates = xp.empty((n_rows, 4 * H), dtype=X.dtype)
    hidden = xp.empty((n_rows, H), dtype=X.dtype)
    cells = hidden if kind & _GRU else xp.empty((n_rows, H), dtype=X.dtype)
    h0 = xp.zeros((plan.lengths.size, H), dtype=X.dtype)
    c0 = h0 if kind & _GRU else xp.zeros_like(h0)
    _forward(engine, plan, X, W, U, b, h0, c0, P, kind, gates, cells, hidden)
    if reverse:
        out[rows] = hidden
    else:
        out[...] = hidden
    return out
