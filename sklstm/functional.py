"""The functional API over sklstm's kernels: check, allocate, dispatch.

Array conventions
-----------------
- ``X`` (public): ``(n_sequences, n_timesteps, n_features)``, samples first
  as in scikit-learn, or a list of ``(T_i, n_features)`` arrays;
- ``lengths``: ``(n_sequences,)`` integers, ``1 <= lengths[b] <= T``;
- ``W``, ``U``, ``b``: ``(4H, D)``, ``(4H, H)``, ``(4H,)``, gates stacked
  **i, f, g, o** (the GRU: ``(3H, D)``, ``(3H, H)`` and two ``(3H,)`` biases,
  gates r, z, n);
- ``out``: ``(n_sequences, n_timesteps, H)``, zero past each length;
- ``h0``, ``c0``: ``(n_sequences, H)``, zeros by default.

``D`` is ``n_features`` and ``H`` is ``n_hidden``. The parameter layout is
PyTorch's ``torch.nn.LSTM`` layout for one layer and direction:
``W = weight_ih_l0``, ``U = weight_hh_l0`` and ``b = bias_ih_l0 + bias_hh_l0``.

Inside, a batch is packed time-major and sorted by length, descending (the
layout of cuDNN and PyTorch's ``PackedSequence``), so that no work is spent on
padding; see ``sklstm._core._lstm``. Values of ``X`` past a sequence's length
are ignored and never read for validation.

Results are computed in the precision of ``X`` (float32 or float64); weights
of the other float precision are cast to it.
"""

from collections import namedtuple
from numbers import Integral

import numpy as np

from sklstm import _cuda
from sklstm._core import _ctc, _lstm, _step
from sklstm._packing import PackedPlan
from sklstm._products import dot
from sklstm._sequences import as_float_array as _as_float_array
from sklstm._sequences import read_arrays, refuse_one_pass

__all__ = [
    "GRUCache",
    "GRUGradients",
    "LSTMCache",
    "LSTMGradients",
    "ctc_beam_search",
    "ctc_greedy_decode",
    "ctc_loss",
    "gru_backward",
    "gru_forward",
    "lstm_backward",
    "lstm_forward",
]


LSTMGradients = namedtuple("LSTMGradients",
                           ["dX", "dW", "dU", "db", "dh0", "dc0", "dP"])
LSTMGradients.__doc__ = """Gradients returned by :func:`lstm_backward`.

Attributes
----------
dX : ndarray of shape (n_sequences, n_timesteps, n_features) or None
    Gradient with respect to ``X``, zero past each length; ``None`` when
    ``compute_dX=False``.
dW : ndarray of shape (4 * n_hidden, n_features)
dU : ndarray of shape (4 * n_hidden, n_hidden), or (3 * n_hidden, n_hidden)
    with ``recurrent_input="cell"``
db : ndarray of shape (4 * n_hidden,)
dh0 : ndarray of shape (n_sequences, n_hidden)
    Zero with ``recurrent_input="cell"``, where ``h0`` is not read.
dc0 : ndarray of shape (n_sequences, n_hidden)
dP : ndarray of shape (3, n_hidden) or None
    Gradient with respect to the peephole weights; ``None`` without them.
    (New in this release, as the last field: code that unpacks six fields
    must take seven.)

Examples
--------
>>> import numpy as np
>>> from sklstm.functional import lstm_backward, lstm_forward
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(2, 4, 3))
>>> W, U, b = rng.normal(size=(8, 3)), rng.normal(size=(8, 2)), np.zeros(8)
>>> out, _, cache = lstm_forward(X, W, U, b)
>>> grads = lstm_backward(cache, np.ones_like(out))
>>> grads._fields
('dX', 'dW', 'dU', 'db', 'dh0', 'dc0', 'dP')
>>> grads.dX.shape, grads.dU.shape, grads.dP is None
((2, 4, 3), (8, 2), True)
"""

# The forms of an LSTM step: the SKLSTM_ flags of _core/src/lstm_tile.h.
_PEEPHOLE, _IDENTITY, _CELL_INPUT = 1, 2, 4
_HIDDEN_ACTIVATIONS = ("tanh", "identity")
_RECURRENT_INPUTS = ("hidden", "cell")


class LSTMCache:
    """What :func:`lstm_backward` needs from one :func:`lstm_forward` call.

    Treat it as opaque: it holds the packed input, the parameters, every
    step's gate activations, cell and hidden states (memory linear in the
    total length), and the packing plan between the caller's order and the
    packed, length-sorted order.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm.functional import LSTMCache, lstm_backward, lstm_forward
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(5, 3)), rng.normal(size=(2, 3))]
    >>> W, U, b = rng.normal(size=(8, 3)), rng.normal(size=(8, 2)), np.zeros(8)
    >>> out, _, cache = lstm_forward(X, W, U, b)
    >>> isinstance(cache, LSTMCache), cache.dtype
    (True, dtype('float64'))
    >>> lstm_backward(cache, np.ones_like(out)).dW.shape
    (8, 3)
    """

    __slots__ = (
        "X", "plan", "reverse", "W", "U", "P", "kind", "h0", "c0", "gates",
        "cells", "hidden", "scatter", "n_timesteps",
    )

    def __init__(self, **fields):
        for name in LSTMCache.__slots__:
            setattr(self, name, fields.pop(name, None))
        if fields:
            raise TypeError(f"unknown LSTMCache fields {sorted(fields)}")

    @property
    def dtype(self):
        return self.X.dtype


GRUGradients = namedtuple("GRUGradients",
                          ["dX", "dW", "dU", "db_ih", "db_hh", "dh0"])
GRUGradients.__doc__ = """Gradients returned by :func:`gru_backward`.

Attributes
----------
dX : ndarray of shape (n_sequences, n_timesteps, n_features) or None
    Gradient with respect to ``X``, zero past each length; ``None`` when
    ``compute_dX=False``.
dW : ndarray of shape (3 * n_hidden, n_features)
dU : ndarray of shape (3 * n_hidden, n_hidden)
db_ih, db_hh : ndarray of shape (3 * n_hidden,)
dh0 : ndarray of shape (n_sequences, n_hidden)

Examples
--------
>>> import numpy as np
>>> from sklstm.functional import gru_backward, gru_forward
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(2, 4, 3))
>>> W, U = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
>>> out, _, cache = gru_forward(X, W, U, np.zeros(6), np.zeros(6))
>>> grads = gru_backward(cache, np.ones_like(out), compute_dX=False)
>>> grads._fields
('dX', 'dW', 'dU', 'db_ih', 'db_hh', 'dh0')
>>> grads.dX is None, grads.dh0.shape
(True, (2, 2))
"""

_GRU = 8  # SKLSTM_GRU of _core/src/lstm_tile.h


class GRUCache(LSTMCache):
    """What :func:`gru_backward` needs from one :func:`gru_forward` call; opaque.

    The kernel runs the GRU in four gate slots, (r, z, n_x, n_h); the cache
    holds its weights in that layout.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm.functional import GRUCache, gru_backward, gru_forward
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2, 4, 3))
    >>> W, U = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    >>> out, h_n, cache = gru_forward(X, W, U, np.zeros(6), np.zeros(6))
    >>> isinstance(cache, GRUCache)
    True
    >>> gru_backward(cache, None, d_hn=np.ones_like(h_n)).dW.shape
    (6, 3)
    """

    __slots__ = ()


# ---------------------------------------------------------------------------
# Validation helpers


def _check_finite(array, name):
    if not _cuda.namespace(array).isfinite(array).all():
        raise ValueError(
            f"{name} contains NaN or infinity; remove or impute these values first."
        )


def _as_array(value, name, dtype=None):
    """``value`` as a float32/float64 array: a NumPy one (see
    ``_sequences.as_float_array``), or a CuPy one when it is on the GPU."""
    if not _cuda.is_device_array(value):
        return _as_float_array(value, name, dtype)
    if value.dtype.kind != "f" or value.dtype.itemsize not in (4, 8):
        raise TypeError(f"{name} has dtype {value.dtype}; pass float32 or float64 "
                        "values.")
    return value if dtype is None else value.astype(dtype, copy=False)


def _index(index, like):
    """A host index array, on the device of ``like`` when that is a GPU array."""
    return _cuda.to_device(index, _cuda.namespace(like))


def _check_param(value, name, shape, dtype, expected):
    array = _as_array(value, name, dtype)
    if array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}; expected {expected}.")
    _check_finite(array, name)
    return _cuda.namespace(array).ascontiguousarray(array)


def _lstm_kind(peephole, hidden_activation, recurrent_input):
    """The step form's flags (``peephole``: whether there are peephole
    weights), after checking the two options by name."""
    if hidden_activation not in _HIDDEN_ACTIVATIONS:
        raise ValueError(
            f"hidden_activation={hidden_activation!r} is not supported; choose one of "
            f"{_HIDDEN_ACTIVATIONS}."
        )
    if recurrent_input not in _RECURRENT_INPUTS:
        raise ValueError(
            f"recurrent_input={recurrent_input!r} is not supported; choose one of "
            f"{_RECURRENT_INPUTS}."
        )
    return ((_PEEPHOLE if peephole else 0)
            | (_IDENTITY if hidden_activation == "identity" else 0)
            | (_CELL_INPUT if recurrent_input == "cell" else 0))


def _kernel_recurrent(U, kind):
    """``U`` as the kernel multiplies it: (4H, H), with a zero candidate block
    for the cell-input form, whose candidate has no recurrent term."""
    if not kind & _CELL_INPUT:
        return U
    H = U.shape[1]
    U4 = _cuda.namespace(U).zeros((4 * H, H), dtype=U.dtype)
    U4[: 2 * H] = U[: 2 * H]
    U4[3 * H :] = U[2 * H :]
    return U4


# ---------------------------------------------------------------------------
# Packed entry points: inputs already checked, packed by a PackedPlan, states
# in sorted order. The network runs layer after layer through these.


def _lstm_packed(plan, X, W, U, b, h0, c0, P=None, kind=0, reverse=False):
    """One layer and direction over packed ``X``; returns its :class:`LSTMCache`
    (``cache.hidden`` is the packed output). ``U`` is in the caller's layout."""
    if _cuda.is_device_array(X):
        from sklstm._cuda import _recurrent

        return _recurrent.lstm_packed(_cuda.engine(), plan, X, W, U, b, h0, c0, P=P,
                                      kind=kind, reverse=reverse)
    dtype = X.dtype
    n_rows, H = X.shape[0], U.shape[1]
    P_kernel = np.zeros((3, H), dtype=dtype) if P is None else P
    U_kernel = _kernel_recurrent(U, kind)
    gates = np.empty((n_rows, 4 * H), dtype=dtype)
    cells = np.empty((n_rows, H), dtype=dtype)
    hidden = np.empty((n_rows, H), dtype=dtype)
    _lstm.lstm_forward(X, plan.batch_sizes, W, U_kernel, b, h0, c0, P_kernel, kind,
                       gates, cells, hidden)
    return LSTMCache(X=X, plan=plan, reverse=reverse, W=W, U=U_kernel, P=P_kernel,
                     kind=kind, h0=h0, c0=c0, gates=gates, cells=cells,
                     hidden=hidden)


def _lstm_packed_backward(cache, d_hidden, dh_n=None, dc_n=None, compute_dX=True):
    """Gradients of one :func:`_lstm_packed` call: ``d_hidden`` packed like its
    output (it is not modified), ``dh_n``, ``dc_n`` in sorted order or None.

    Returns ``(dX, dW, dU, db, dh0, dc0, dP)``, packed and sorted like the
    forward call (``dX`` None without ``compute_dX``, ``dP`` None without
    peepholes, ``dU`` in the caller's layout).
    """
    if _cuda.is_device_array(cache.X):
        from sklstm._cuda import _recurrent

        return _recurrent.lstm_packed_backward(_cuda.engine(), cache, d_hidden, dh_n,
                                               dc_n, compute_dX)
    dtype = cache.dtype
    plan, kind = cache.plan, cache.kind
    n_rows, n_features = cache.X.shape
    B, H = plan.lengths.size, cache.U.shape[1]
    G = 4 * H
    cell_input = bool(kind & _CELL_INPUT)
    dh_carry = np.zeros((B, H), dtype=dtype)
    dc_carry = np.zeros((B, H), dtype=dtype) if dc_n is None else dc_n.astype(
        dtype, copy=True)
    if dh_n is not None:
        if cell_input:  # the carry holds the product into c_{t-1}; see the kernel
            d_hidden = d_hidden.copy()
            d_hidden[plan.last_rows] += dh_n
        else:
            dh_carry[...] = dh_n
    d_hidden = np.ascontiguousarray(d_hidden, dtype=dtype)
    dgates = np.empty((n_rows, G), dtype=dtype)
    dX = np.empty((n_rows if compute_dX else 0, n_features), dtype=dtype)
    dW = np.empty((G, n_features), dtype=dtype)
    dU = np.empty((G, H), dtype=dtype)
    db = np.empty(G, dtype=dtype)
    _lstm.lstm_backward(
        cache.X, plan.batch_sizes, cache.W, cache.U, cache.h0, cache.c0, cache.P,
        kind, cache.gates, cache.cells, cache.hidden, d_hidden, dh_carry, dc_carry,
        dgates, dX, dW, dU, db,
    )
    dP = None
    if kind & _PEEPHOLE:
        # c_{t-1} of every row: c0 for step 0, the row one step back otherwise.
        later = plan.step > 0
        cprev = np.concatenate([cache.c0, cache.cells[
            plan.offsets[plan.step[later] - 1] + plan.slot[later]]])
        dP = np.stack([
            np.einsum("rh,rh->h", dgates[:, :H], cprev),
            np.einsum("rh,rh->h", dgates[:, H : 2 * H], cprev),
            np.einsum("rh,rh->h", dgates[:, 3 * H :], cache.cells),
        ])
    if cell_input:
        dU = np.concatenate([dU[: 2 * H], dU[3 * H :]])
        dc0, dh0 = dc_carry + dh_carry, np.zeros_like(dh_carry)
    else:
        dh0, dc0 = dh_carry, dc_carry
    return (dX if compute_dX else None), dW, dU, db, dh0, dc0, dP


class _RecurrentCall:
    """A public recurrent call's input, checked and packed: the plan, the
    packed ``X``, the checked ``U`` and the shapes, with the conversions of
    states and outputs between the caller's padded order and the packing."""

    def __init__(self, X, U, lengths, reverse, n_rec, layout, params=()):
        padded = lengths is not None
        parts = X if isinstance(X, (list, tuple)) else [X]
        self.xp = xp = _cuda.namespace(*parts, U, *params)
        if xp is np:
            flat, starts, lengths, self.n_timesteps = read_arrays(X, lengths,
                                                                  strict=True)
        else:
            flat, starts, lengths, self.n_timesteps = _cuda.read_device_arrays(
                X, lengths)
            padded = True  # its rows are checked once packed
        self.dtype = dtype = flat.dtype.type
        self.n_sequences, self.n_features = lengths.size, flat.shape[1]
        U = _as_array(U, "U", dtype)
        if U.ndim != 2 or U.shape[0] != n_rec * U.shape[1] or U.shape[1] == 0:
            raise ValueError(
                f"U has shape {U.shape}; expected ({n_rec} * n_hidden, n_hidden) "
                f"with n_hidden >= 1, {layout}."
            )
        self.U = _check_param(U, "U", U.shape, dtype, "")
        self.n_hidden = U.shape[1]
        self.plan = PackedPlan(lengths)
        self.reverse = reverse
        self.X = xp.ascontiguousarray(
            flat[_index(self.plan.source_rows(starts, reverse), flat)], dtype=dtype)
        if padded:  # the reader checked every row but the padding's
            _check_finite(self.X, "X")

    def state(self, value, name):
        """An initial state, sorted like the packing; zeros when None."""
        shape = (self.n_sequences, self.n_hidden)
        if value is None:
            return self.xp.zeros(shape, dtype=self.dtype)
        value = _check_param(value, name, shape, self.dtype,
                             f"{shape} = (n_sequences, n_hidden)")
        return self.xp.ascontiguousarray(value[_index(self.plan.order, value)])

    def unpack(self, cache, hidden):
        """The padded output and the final hidden state, in the caller's order;
        records in ``cache`` what the backward call needs to read ``d_out``."""
        plan, xp = self.plan, self.xp
        cache.n_timesteps = self.n_timesteps
        cache.scatter = _index(plan.padded_index(self.n_timesteps, self.reverse),
                               hidden)
        out = xp.zeros((self.n_sequences, self.n_timesteps, self.n_hidden),
                       dtype=self.dtype)
        out.reshape(-1, self.n_hidden)[cache.scatter] = hidden
        return out, self.final(hidden)

    def final(self, rows):
        """The rows of each sequence's last step, in the caller's order."""
        plan = self.plan
        last = self.xp.empty((self.n_sequences, rows.shape[1]), dtype=self.dtype)
        last[_index(plan.order, rows)] = rows[_index(plan.last_rows, rows)]
        return last


def _read_backward_call(cache, cache_type, forward_name, d_out, states):
    """``d_hidden`` packed like the forward call's output and the final-state
    gradients sorted like it (None where not given), after checking them."""
    if type(cache) is not cache_type or cache.scatter is None:
        raise TypeError(
            f"cache must be the third value returned by {forward_name}, not "
            f"{type(cache).__name__}."
        )
    dtype = cache.dtype.type
    plan, xp = cache.plan, _cuda.namespace(cache.X)
    _cuda.namespace(cache.X, d_out, *(value for value, _ in states))
    n_sequences, n_hidden = plan.lengths.size, cache.hidden.shape[1]
    out_shape = (n_sequences, cache.n_timesteps, n_hidden)
    if d_out is None:
        d_hidden = xp.zeros((cache.X.shape[0], n_hidden), dtype=dtype)
    else:
        d_out = _as_array(d_out, "d_out", dtype)
        if d_out.shape != out_shape:
            raise ValueError(
                f"d_out has shape {d_out.shape}; expected {out_shape}, the shape of "
                "out."
            )
        d_hidden = xp.ascontiguousarray(d_out.reshape(-1, n_hidden)[cache.scatter])
        _check_finite(d_hidden, "d_out")
    carries = []
    for value, name in states:
        if value is not None:
            value = _check_param(
                value, name, (n_sequences, n_hidden), dtype,
                f"{(n_sequences, n_hidden)} = (n_sequences, n_hidden)",
            )[_index(plan.order, value)]
        carries.append(value)
    return d_hidden, carries


def _padded_gradients(cache, dX_packed, states):
    """``dX`` padded (or None) and the initial-state gradients in the caller's
    order."""
    plan, xp = cache.plan, _cuda.namespace(cache.X)
    dX = None
    if dX_packed is not None:
        n_features = cache.X.shape[1]
        dX = xp.zeros((plan.lengths.size, cache.n_timesteps, n_features),
                      dtype=cache.dtype)
        dX.reshape(-1, n_features)[cache.scatter] = dX_packed
    unsorted = []
    for sorted_state in states:
        state = xp.empty_like(sorted_state)
        state[_index(plan.order, state)] = sorted_state
        unsorted.append(state)
    return dX, unsorted


def _gru_slots(W, U, b_ih, b_hh):
    """The GRU's weights in the kernel's four slots (r, z, n_x, n_h): the n
    gate's input and recurrent parts stay apart, since r multiplies only the
    second (``W`` has a zero n_h block, ``U`` a zero n_x block; the kernels
    pack the three nonzero blocks of each and never multiply the zeros)."""
    H, xp = U.shape[1], _cuda.namespace(U)
    W4 = xp.zeros((4 * H, W.shape[1]), dtype=W.dtype)
    W4[: 3 * H] = W
    U4 = xp.zeros((4 * H, H), dtype=U.dtype)
    U4[: 2 * H] = U[: 2 * H]
    U4[3 * H :] = U[2 * H :]
    b4 = xp.concatenate([b_ih[: 2 * H] + b_hh[: 2 * H], b_ih[2 * H :], b_hh[2 * H :]])
    return W4, U4, b4


def _gru_packed(plan, X, W, U, b_ih, b_hh, h0, reverse=False):
    """One GRU layer and direction over packed ``X``; returns its
    :class:`GRUCache` (``cache.hidden`` is the packed output). The state is h
    alone, so the kernel's cell-state arguments are h too."""
    if _cuda.is_device_array(X):
        from sklstm._cuda import _recurrent

        return _recurrent.gru_packed(_cuda.engine(), plan, X, W, U, b_ih, b_hh, h0,
                                     reverse=reverse)
    n_rows, H = X.shape[0], U.shape[1]
    W4, U4, b4 = _gru_slots(W, U, b_ih, b_hh)
    P = np.zeros((3, H), dtype=X.dtype)
    gates = np.empty((n_rows, 4 * H), dtype=X.dtype)
    hidden = np.empty((n_rows, H), dtype=X.dtype)
    _lstm.lstm_forward(X, plan.batch_sizes, W4, U4, b4, h0, h0, P, _GRU, gates,
                       hidden, hidden)
    return GRUCache(X=X, plan=plan, reverse=reverse, W=W4, U=U4, P=P, kind=_GRU,
                    h0=h0, c0=h0, gates=gates, cells=hidden, hidden=hidden)


def _gru_packed_backward(cache, d_hidden, dh_n=None, compute_dX=True):
    """Gradients of one :func:`_gru_packed` call, as
    :func:`_lstm_packed_backward`: ``(dX, dW, dU, db_ih, db_hh, dh0)``."""
    if _cuda.is_device_array(cache.X):
        from sklstm._cuda import _recurrent

        return _recurrent.gru_packed_backward(_cuda.engine(), cache, d_hidden, dh_n,
                                              compute_dX)
    dtype = cache.dtype
    n_rows, n_features = cache.X.shape
    B, H = cache.plan.lengths.size, cache.U.shape[1]
    dh_carry = np.zeros((B, H), dtype=dtype) if dh_n is None else dh_n.astype(
        dtype, copy=True)
    dc_carry = np.zeros((B, H), dtype=dtype)  # the path z ⊙ dh into h_{t-1}
    dgates = np.empty((n_rows, 4 * H), dtype=dtype)
    dX = np.empty((n_rows if compute_dX else 0, n_features), dtype=dtype)
    dW = np.empty((4 * H, n_features), dtype=dtype)
    dU = np.empty((4 * H, H), dtype=dtype)
    db = np.empty(4 * H, dtype=dtype)
    # the backward pass's slots: the forward's n_x and n_h swapped, so that
    # the three that reach h_{t-1} come first (sk_gru_cell_backward)
    def swapped(M):
        return np.concatenate([M[: 2 * H], M[3 * H :], M[2 * H : 3 * H]])

    _lstm.lstm_backward(
        cache.X, cache.plan.batch_sizes, swapped(cache.W), swapped(cache.U),
        cache.h0, cache.h0,
        cache.P, _GRU, cache.gates, cache.hidden, cache.hidden,
        np.ascontiguousarray(d_hidden, dtype=dtype), dh_carry, dc_carry, dgates, dX,
        dW, dU, db,
    )
    # b_hn's gradient: the kernel skips the zero W block that would sum it
    db[2 * H : 3 * H] = dgates[:, 2 * H : 3 * H].sum(axis=0)
    return ((dX if compute_dX else None),
            np.concatenate([dW[: 2 * H], dW[3 * H :]]), dU[: 3 * H],
            np.concatenate([db[: 2 * H], db[3 * H :]]), db[: 3 * H],
            dh_carry + dc_carry)



# The inference pass calls the kernel on runs of steps of at most an eighth
# of the packed rows, so that its scratch (gates, cells and hidden states, 6H
# values a row) is at most 0.75H values a row, or on _STATES_VALUES gate
# values (4 MiB in float64) where that is fewer calls: each call is at least
# one OpenMP parallel region, which on a busy machine costs a scheduler time
# slice (DESIGN.md). On an idle machine the run length hardly matters
# (2000 sequences of 50-500 steps, 32 units: 1.4-1.7 s in runs of 2**17
# gate values, 1.4-1.9 s in runs of 2**20).
_STATES_VALUES = 2**19


def _packed_states(plan, X, out, W, U, b, P, kind, reverse):
    """The hidden states alone of one layer and direction (inference): written
    into ``out`` ``(n_rows, H)`` (a view may have any strides) in the forward
    packing's row order, whichever the direction; ``X`` is forward-packed.

    The kernel runs over runs of consecutive steps (contiguous packed rows)
    of at most ``max(n_rows / 8, _STATES_VALUES / 4H)`` rows (or one step),
    the states carried from one run to the next, so that the gates and cells
    are kept for one run only: the same recurrence as one call over every
    step. ``W, U, b,
    P, kind`` are as the kernel takes them (``U`` ``(4H, H)``; the GRU in its
    four slots).
    """
    if _cuda.is_device_array(X):
        from sklstm._cuda import _recurrent

        return _recurrent.packed_states(_cuda.engine(), plan, X, out, W, U, b, P,
                                        kind, reverse)
    dtype, H = X.dtype, U.shape[1]
    offsets, batch_sizes = plan.offsets, plan.batch_sizes
    n_cap = max(min(_STATES_VALUES // (4 * H), -(-plan.n_rows // 8)),
                int(batch_sizes[0]))
    gates = np.empty((n_cap, 4 * H), dtype=dtype)
    hidden = np.empty((n_cap, H), dtype=dtype)
    cells = hidden if kind & _GRU else np.empty((n_cap, H), dtype=dtype)
    h = np.zeros((batch_sizes[0], H), dtype=dtype)
    c = h if kind & _GRU else np.zeros_like(h)
    t0 = 0
    while t0 < plan.n_steps:
        # the longest run from t0 within the cap (at least one step)
        t1 = max(t0 + 1, int(np.searchsorted(offsets, offsets[t0] + n_cap,
                                             "right")) - 1)
        r0, r1 = offsets[t0], offsets[t1]
        rows = plan.reverse_rows[r0:r1] if reverse else slice(r0, r1)
        n, b0 = r1 - r0, batch_sizes[t0]
        _lstm.lstm_forward(np.ascontiguousarray(X[rows]), batch_sizes[t0:t1], W, U,
                           b, h[:b0], c[:b0], P, kind, gates[:n], cells[:n],
                           hidden[:n])
        out[rows] = hidden[:n]
        last, b1 = offsets[t1 - 1] - r0, batch_sizes[t1 - 1]
        h[:b1] = hidden[last : last + b1]
        if c is not h:
            c[:b1] = cells[last : last + b1]
        t0 = t1
    return out


def _lstm_packed_states(plan, X, out, W, U, b, P=None, kind=0, reverse=False):
    """:func:`_packed_states` of an LSTM layer (``U`` in the caller's layout)."""
    xp = _cuda.namespace(X)
    P = xp.zeros((3, U.shape[1]), dtype=X.dtype) if P is None else P
    return _packed_states(plan, X, out, W, _kernel_recurrent(U, kind), b, P, kind,
                          reverse)


def _gru_packed_states(plan, X, out, W, U, b_ih, b_hh, reverse=False):
    """:func:`_packed_states` of a GRU layer (PyTorch's layout)."""
    W4, U4, b4 = _gru_slots(W, U, b_ih, b_hh)
    return _packed_states(plan, X, out, W4, U4, b4,
                          _cuda.namespace(X).zeros((3, U.shape[1]), dtype=X.dtype),
                          _GRU, reverse)


# ---------------------------------------------------------------------------
# Streaming: one step of a stack of layers at a time (sklstm._core._step).


def _pack_step_layers(layers, dtype):
    """The packed weights of a stack of unidirectional layers for
    :func:`_network_step`: ``layers`` is a list of ``(kind, params)``, the
    ``kind`` flags of :func:`_lstm_kind` (or ``_GRU``) and the cell's arrays in
    the caller's layout. Returns ``(weights, layout)``: one flat array of the
    gate panels of every ``W`` and ``U`` (in the kernel's layout, see
    :func:`_kernel_recurrent` and :func:`_gru_slots`), biases and peepholes,
    and the ``(n_layers, LAYOUT_COLUMNS)`` rows that find them."""
    single = np.dtype(dtype) == np.float32
    parts, rows, at = [], [], 0
    for kind, params in layers:
        params = [np.ascontiguousarray(a, dtype=dtype) for a in params]
        if kind & _GRU:
            W, U, b = _gru_slots(*params)
            P = np.zeros((3, U.shape[1]), dtype=dtype)
        else:
            W, U, b = params[0], _kernel_recurrent(params[1], kind), params[2]
            P = params[3] if kind & _PEEPHOLE else np.zeros((3, U.shape[1]), dtype)
        H, D = U.shape[1], W.shape[1]
        PW = np.empty(_step.gate_panel_size(H, D, single, kind, False), dtype=dtype)
        PU = np.empty(_step.gate_panel_size(H, H, single, kind, True), dtype=dtype)
        _step.pack_gates(np.ascontiguousarray(W), kind, False, PW)
        _step.pack_gates(np.ascontiguousarray(U), kind, True, PU)
        blocks = [PW, PU, np.ascontiguousarray(b), np.ascontiguousarray(P).ravel()]
        offsets = np.cumsum([at] + [a.size for a in blocks])
        rows.append([H, D, kind, *offsets[:4]])
        parts += blocks
        at = int(offsets[4])
    layout = np.array(rows, dtype=np.intp).reshape(-1, _step.LAYOUT_COLUMNS)
    return np.concatenate(parts), layout


# The kernel entry point itself, called as it is (each call costs a few
# microseconds; an indirection would be a noticeable part of them).
_network_step = _step.network_step
_POOL_CODES = {"last": _step.POOL_LAST, "mean": _step.POOL_MEAN,
               "max": _step.POOL_MAX}


# ---------------------------------------------------------------------------
# Public API


def lstm_forward(X, W, U, b, *, lengths=None, h0=None, c0=None, reverse=False,
                 peephole=None, hidden_activation="tanh", recurrent_input="hidden"):
    """Run one LSTM layer and direction over a batch of sequences.

    Computes, for every sequence and step ``t`` (gates stacked i, f, g, o)::

        i_t = σ(W_i x_t + U_i h_{t-1} + b_i)     c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        f_t = σ(W_f x_t + U_f h_{t-1} + b_f)     h_t = o_t ⊙ tanh(c_t)
        g_t = tanh(W_g x_t + U_g h_{t-1} + b_g)
        o_t = σ(W_o x_t + U_o h_{t-1} + b_o)

    Parameters
    ----------
    X : ndarray of shape (n_sequences, n_timesteps, n_features) or list of ndarray
        A padded batch (with ``lengths``), or a list of ``(T_i, n_features)``
        arrays of any lengths. float32 or float64; the output has the same
        precision. Values past a sequence's length are ignored.
    W : ndarray of shape (4 * n_hidden, n_features)
        Input weights, gates stacked (i, f, g, o).
    U : ndarray of shape (4 * n_hidden, n_hidden)
        Recurrent weights, gates stacked (i, f, g, o); ``(3 * n_hidden,
        n_hidden)``, gates (i, f, o), with ``recurrent_input="cell"``.
    b : ndarray of shape (4 * n_hidden,)
        Bias (PyTorch's ``bias_ih + bias_hh``).
    lengths : array-like of int of shape (n_sequences,), default=None
        Length of each sequence of a padded ``X``, in ``[1, n_timesteps]``;
        all ``n_timesteps`` by default. Not allowed with a list ``X``.
    h0, c0 : ndarray of shape (n_sequences, n_hidden), default=None
        Initial hidden and cell states; zeros by default.
    reverse : bool, default=False
        Read each sequence backwards within its own length (the second
        direction of a bidirectional layer): ``out[b, t]`` is then the state
        after reading steps ``lengths[b] - 1, ..., t``.
    peephole : ndarray of shape (3, n_hidden), default=None
        Peephole weights ``P`` (Gers & Schmidhuber 2000; ONNX's ``P``), rows
        for the i, f and o gates: ``i_t`` and ``f_t`` add ``P[0] ⊙ c_{t-1}``
        and ``P[1] ⊙ c_{t-1}`` to their pre-activations, ``o_t`` adds
        ``P[2] ⊙ c_t``. None: no peephole connections.
    hidden_activation : {"tanh", "identity"}, default="tanh"
        σ_h in ``h_t = o_t ⊙ σ_h(c_t)``; "identity" gives ``h_t = o_t ⊙ c_t``,
        as the peephole LSTM paper suggests. The candidate ``g_t`` keeps tanh.
    recurrent_input : {"hidden", "cell"}, default="hidden"
        What the gates read from the previous step. "cell" is the peephole
        LSTM as the seed article writes it: ``i_t, f_t, o_t`` see
        ``U_q c_{t-1}`` instead of ``U_q h_{t-1}``, the candidate has no
        recurrent term (``g_t = tanh(W_g x_t + b_g)``), ``U`` has shape
        ``(3 * n_hidden, n_hidden)`` with rows for i, f and o, and ``h0`` is
        not read.

    Returns
    -------
    out : ndarray of shape (n_sequences, n_timesteps, n_hidden)
        ``h_t`` of every step, zero past each sequence's length;
        ``n_timesteps`` is the longest length for a list ``X``.
    (h_n, c_n) : tuple of ndarray of shape (n_sequences, n_hidden)
        The states after each sequence's last step read (step 0 when
        ``reverse=True``).
    cache : LSTMCache
        Everything :func:`lstm_backward` needs; opaque.

    See Also
    --------
    lstm_backward : Gradients of a function of ``out``, ``h_n`` and ``c_n``.

    Notes
    -----
    The input projection of every step is one matrix product; each step then
    adds ``h_{t-1} U^T`` over the sequences still running and applies one
    fused element-wise pass. The kernels release the GIL and are re-entrant;
    they use as many threads as OpenMP allows at call time (``threadpoolctl``
    and ``OMP_NUM_THREADS`` control it).

    References
    ----------
    .. [1] F. A. Gers, J. Schmidhuber and F. Cummins, "Learning to forget:
       continual prediction with LSTM", Neural Computation 12(10), 2000.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm.functional import lstm_forward
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(5, 3)), rng.normal(size=(2, 3))]
    >>> W, U, b = rng.normal(size=(8, 3)), rng.normal(size=(8, 2)), np.zeros(8)
    >>> out, (h_n, c_n), cache = lstm_forward(X, W, U, b)
    >>> out.shape, h_n.shape
    ((2, 5, 2), (2, 2))
    >>> bool(np.all(out[1, 2:] == 0)) and bool(np.all(h_n[1] == out[1, 1]))
    True
    """
    kind = _lstm_kind(peephole is not None, hidden_activation, recurrent_input)
    n_rec = 3 if kind & _CELL_INPUT else 4
    call = _RecurrentCall(
        X, U, lengths, reverse, n_rec,
        f"gates stacked {'(i, f, o)' if n_rec == 3 else '(i, f, g, o)'} for "
        f"recurrent_input={recurrent_input!r}", (W, b, h0, c0, peephole))
    plan, X_packed, U, dtype = call.plan, call.X, call.U, call.dtype
    G = 4 * call.n_hidden
    W = _check_param(W, "W", (G, call.n_features), dtype,
                     f"({G}, {call.n_features}) = (4 * n_hidden, n_features)")
    b = _check_param(b, "b", (G,), dtype, f"({G},) = (4 * n_hidden,)")
    if peephole is not None:
        peephole = _check_param(
            peephole, "peephole", (3, call.n_hidden), dtype,
            f"(3, {call.n_hidden}) = (3, n_hidden), rows for the i, f and o gates")
    h0, c0 = (call.state(value, name) for value, name in ((h0, "h0"), (c0, "c0")))
    cache = _lstm_packed(plan, X_packed, W, U, b, h0, c0, P=peephole, kind=kind,
                         reverse=reverse)
    out, h_n = call.unpack(cache, cache.hidden)
    return out, (h_n, call.final(cache.cells)), cache


def lstm_backward(cache, d_out, *, d_hn=None, d_cn=None, compute_dX=True):
    """Backpropagation through time for one :func:`lstm_forward` call.

    Returns the exact gradients of
    ``L = sum(d_out * out) + sum(d_hn * h_n) + sum(d_cn * c_n)`` with respect
    to every input of the forward call.

    Parameters
    ----------
    cache : LSTMCache
        The third value returned by :func:`lstm_forward`. It is not modified,
        so several backward passes may share it.
    d_out : ndarray of shape (n_sequences, n_timesteps, n_hidden) or None
        Gradient of the loss with respect to ``out``; values past each length
        have no effect. ``None`` means zeros.
    d_hn, d_cn : ndarray of shape (n_sequences, n_hidden), default=None
        Gradients with respect to the final states; zeros by default.
    compute_dX : bool, default=True
        Whether to compute ``dX``. The first layer of a network does not need
        it, which saves one matrix product.

    Returns
    -------
    grads : LSTMGradients
        Named tuple ``(dX, dW, dU, db, dh0, dc0, dP)``, in the precision of the
        forward call. ``dX`` is padded ``(n_sequences, n_timesteps,
        n_features)``, zero past each length, or ``None``; ``dh0`` and ``dc0``
        are returned even when ``h0`` and ``c0`` were left at zero.

    See Also
    --------
    lstm_forward : The forward pass whose cache this consumes.

    Notes
    -----
    Per step, only the element-wise gate derivatives and ``dh_{t-1} =
    dgates_t U`` are computed; ``dW``, ``dU`` and ``dX`` are single matrix
    products over every step after the time loop.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm.functional import lstm_forward, lstm_backward
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2, 4, 3))
    >>> W, U, b = rng.normal(size=(8, 3)), rng.normal(size=(8, 2)), np.zeros(8)
    >>> out, (h_n, c_n), cache = lstm_forward(X, W, U, b, lengths=[4, 2])
    >>> grads = lstm_backward(cache, np.ones_like(out))
    >>> grads.dW.shape, grads.dX.shape
    ((8, 3), (2, 4, 3))
    """
    d_hidden, carries = _read_backward_call(
        cache, LSTMCache, "lstm_forward", d_out, ((d_hn, "d_hn"), (d_cn, "d_cn")))
    dX, dW, dU, db, dh0, dc0, dP = _lstm_packed_backward(
        cache, d_hidden, *carries, compute_dX=compute_dX)
    dX, (dh0, dc0) = _padded_gradients(cache, dX, (dh0, dc0))
    return LSTMGradients(dX, dW, dU, db, dh0, dc0, dP)


def gru_forward(X, W, U, b_ih, b_hh, *, lengths=None, h0=None, reverse=False):
    """Run one GRU layer and direction over a batch of sequences.

    The gated recurrent unit (Cho et al. 2014) in PyTorch's variant and
    layout (``torch.nn.GRU``), gates stacked r, z, n::

        r_t = σ(W_r x_t + b_ir + U_r h_{t-1} + b_hr)
        z_t = σ(W_z x_t + b_iz + U_z h_{t-1} + b_hz)
        n_t = tanh(W_n x_t + b_in + r_t ⊙ (U_n h_{t-1} + b_hn))
        h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    The n gate's recurrent bias sits inside the reset product, so the two
    biases cannot be merged as the LSTM's are.

    Parameters
    ----------
    X : ndarray of shape (n_sequences, n_timesteps, n_features) or list of ndarray
        As in :func:`lstm_forward`.
    W : ndarray of shape (3 * n_hidden, n_features)
        Input weights (``weight_ih_l0``).
    U : ndarray of shape (3 * n_hidden, n_hidden)
        Recurrent weights (``weight_hh_l0``).
    b_ih, b_hh : ndarray of shape (3 * n_hidden,)
        Input and recurrent biases (``bias_ih_l0``, ``bias_hh_l0``).
    lengths : array-like of int of shape (n_sequences,), default=None
        As in :func:`lstm_forward`.
    h0 : ndarray of shape (n_sequences, n_hidden), default=None
        Initial state; zeros by default.
    reverse : bool, default=False
        Read each sequence backwards within its own length.

    Returns
    -------
    out : ndarray of shape (n_sequences, n_timesteps, n_hidden)
        ``h_t`` of every step, zero past each sequence's length.
    h_n : ndarray of shape (n_sequences, n_hidden)
        The state after each sequence's last step read.
    cache : GRUCache
        Everything :func:`gru_backward` needs; opaque.

    Notes
    -----
    The GRU runs on the LSTM's kernels with four gate slots, the n gate's
    input and recurrent parts in two of them: a step costs what an LSTM step
    of the same size costs.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm.functional import gru_forward
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(5, 3)), rng.normal(size=(2, 3))]
    >>> W, U = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    >>> out, h_n, cache = gru_forward(X, W, U, np.zeros(6), np.zeros(6))
    >>> out.shape, bool(np.all(h_n[1] == out[1, 1]))
    ((2, 5, 2), True)
    """
    call = _RecurrentCall(X, U, lengths, reverse, 3, "gates stacked (r, z, n)",
                          (W, b_ih, b_hh, h0))
    dtype, G = call.dtype, 3 * call.n_hidden
    W = _check_param(W, "W", (G, call.n_features), dtype,
                     f"({G}, {call.n_features}) = (3 * n_hidden, n_features)")
    b_ih = _check_param(b_ih, "b_ih", (G,), dtype, f"({G},) = (3 * n_hidden,)")
    b_hh = _check_param(b_hh, "b_hh", (G,), dtype, f"({G},) = (3 * n_hidden,)")
    cache = _gru_packed(call.plan, call.X, W, call.U, b_ih, b_hh,
                        call.state(h0, "h0"), reverse=reverse)
    out, h_n = call.unpack(cache, cache.hidden)
    return out, h_n, cache


def gru_backward(cache, d_out, *, d_hn=None, compute_dX=True):
    """Backpropagation through time for one :func:`gru_forward` call.

    Returns the exact gradients of ``L = sum(d_out * out) + sum(d_hn * h_n)``
    with respect to every input of the forward call.

    Parameters
    ----------
    cache : GRUCache
        The third value returned by :func:`gru_forward`; not modified.
    d_out : ndarray of shape (n_sequences, n_timesteps, n_hidden) or None
        Gradient with respect to ``out``; ``None`` means zeros.
    d_hn : ndarray of shape (n_sequences, n_hidden), default=None
        Gradient with respect to the final state; zeros by default.
    compute_dX : bool, default=True
        Whether to compute ``dX``.

    Returns
    -------
    grads : GRUGradients
        Named tuple ``(dX, dW, dU, db_ih, db_hh, dh0)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm.functional import gru_forward, gru_backward
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2, 4, 3))
    >>> W, U = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    >>> out, h_n, cache = gru_forward(X, W, U, np.zeros(6), np.zeros(6))
    >>> grads = gru_backward(cache, np.ones_like(out))
    >>> grads.dW.shape, grads.db_hh.shape
    ((6, 3), (6,))
    """
    d_hidden, (dh_n,) = _read_backward_call(cache, GRUCache, "gru_forward", d_out,
                                            ((d_hn, "d_hn"),))
    dX, dW, dU, db_ih, db_hh, dh0 = _gru_packed_backward(cache, d_hidden, dh_n,
                                                          compute_dX)
    dX, (dh0,) = _padded_gradients(cache, dX, (dh0,))
    return GRUGradients(dX, dW, dU, db_ih, db_hh, dh0)


# ---------------------------------------------------------------------------
# CTC


def _read_logits(logits, input_lengths):
    """``logits`` as a padded C-contiguous ``(B, T, C)`` array, and its lengths."""
    parts = logits if isinstance(logits, (list, tuple)) else [logits]
    if parts and _cuda.namespace(*parts) is not np:
        flat, starts, lengths, T = _cuda.read_device_arrays(logits, input_lengths,
                                                            name="logits")
        if isinstance(logits, (list, tuple)):
            xp = _cuda.namespace(flat)
            array = xp.zeros((lengths.size, T, flat.shape[1]), dtype=flat.dtype)
            plan = PackedPlan(lengths)
            array.reshape(-1, flat.shape[1])[_index(plan.padded_index(T), flat)] = \
                flat[_index(plan.source_rows(starts), flat)]
        else:
            array = flat.reshape(lengths.size, T, flat.shape[1])
    elif isinstance(logits, np.ndarray) and logits.dtype != object:
        array = _as_float_array(logits, "logits")
        if array.ndim != 3 or 0 in array.shape:
            raise ValueError(
                f"logits has shape {array.shape}; expected a non-empty (n_sequences, "
                "n_timesteps, n_classes) array or a list of (n_timesteps_i, n_classes) "
                "arrays."
            )
        B, T, _ = array.shape
        if input_lengths is None:
            lengths = np.full(B, T, dtype=np.intp)
        else:
            lengths = np.asarray(input_lengths)
            if lengths.dtype.kind not in "iu":
                raise TypeError(
                    f"input_lengths must hold integers, not dtype {lengths.dtype}.")
            if lengths.shape != (B,):
                raise ValueError(
                    f"input_lengths has shape {lengths.shape}; expected ({B},).")
            bad = np.flatnonzero((lengths < 1) | (lengths > T))
            if bad.size:
                raise ValueError(
                    f"input_lengths[{bad[0]}]={lengths[bad[0]]} is outside [1, {T}] "
                    f"for logits of shape {array.shape}.")
            lengths = lengths.astype(np.intp)
        array = np.ascontiguousarray(array)
    elif isinstance(logits, (list, tuple, np.ndarray)):
        if input_lengths is not None:
            raise ValueError("input_lengths must not be passed with a list of logits.")
        if len(logits) == 0:
            raise ValueError("logits is an empty list; pass at least one sequence.")
        parts = [_as_float_array(x, f"logits[{i}]") for i, x in enumerate(logits)]
        for i, x in enumerate(parts):
            if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] != parts[0].shape[1]:
                raise ValueError(
                    f"logits[{i}] has shape {x.shape}; expected (n_timesteps_i >= 1, "
                    f"{parts[0].shape[1] if parts[0].ndim == 2 else 'n_classes'}).")
        lengths = np.array([len(x) for x in parts], dtype=np.intp)
        dtype = np.result_type(*parts)
        array = np.zeros((len(parts), lengths.max(), parts[0].shape[1]), dtype=dtype)
        for i, x in enumerate(parts):
            array[i, : len(x)] = x
    else:
        raise TypeError(
            "logits must be a (n_sequences, n_timesteps, n_classes) array or a list "
            f"of (n_timesteps_i, n_classes) arrays; got {type(logits).__name__}.")
    if array.shape[2] < 2:
        raise ValueError(
            f"logits has {array.shape[2]} class; CTC needs the blank and at least "
            "one label.")
    _check_logit_values(array, lengths)
    return array, lengths


def _check_logit_values(array, lengths):
    """Refuse NaN and +inf in the frames read, and frames whose every logit is
    -inf; -inf alone is a class of probability zero, which is legitimate."""
    xp = _cuda.namespace(array)
    read = np.arange(array.shape[1])[None, :] < lengths[:, None]
    frames = array[_index(read, array)]  # (sum of lengths, C)
    if xp.isfinite(frames).all():
        return
    where = np.flatnonzero(read)
    for bad, what in ((xp.isnan(frames).any(axis=1), "NaN"),
                      ((frames == np.inf).any(axis=1), "+inf"),
                      ((frames == -np.inf).all(axis=1),
                       "-inf for every class (a softmax needs one class of non-zero "
                       "probability)")):
        bad = _cuda.to_host(bad)
        if bad.any():
            b, t = divmod(int(where[np.flatnonzero(bad)[0]]), array.shape[1])
            raise ValueError(
                f"logits contains {what} at sequence {b}, frame {t}; check the "
                "network's output (-inf alone is allowed: a class of probability "
                "zero).")


def _check_int(value, name, low, high, expected):
    """``value`` as an int in ``[low, high]`` (``high`` None: no bound), or a
    ValueError saying it must be ``expected``; a boolean is not an integer."""
    is_bool = isinstance(value, (bool, np.bool_))
    if (not isinstance(value, Integral) or is_bool or value < low
            or (high is not None and value > high)):
        raise ValueError(
            f"{name}={value!r} must be {expected}"
            + (" (a boolean is not an index or a size)." if is_bool else "."))
    return int(value)


def _check_blank(blank, n_classes):
    return _check_int(blank, "blank", 0, n_classes - 1,
                      f"an integer in [0, {n_classes})")


def _read_targets(targets, target_lengths, n_sequences, n_classes, blank):
    """Concatenated labels ``(sum L,)`` and their offsets ``(B + 1,)``, checked."""
    refuse_one_pass(targets, "targets", "a list of integer label arrays, or an "
                    "integer array with target_lengths")
    if isinstance(targets, (list, tuple)) or (
            isinstance(targets, np.ndarray) and targets.dtype == object):
        if target_lengths is not None:
            raise ValueError(
                "target_lengths must not be passed with a list of targets.")
        parts = [np.asarray(t) for t in targets]
        for i, t in enumerate(parts):
            if t.size and (t.ndim != 1 or t.dtype.kind not in "iu"):
                raise ValueError(f"targets[{i}] must be a 1-D array of integer labels.")
        if len(parts) != n_sequences:
            raise ValueError(
                f"targets has {len(parts)} sequences but logits has {n_sequences}.")
        lengths = np.array([t.size for t in parts], dtype=np.intp)
        flat = (np.concatenate([t.astype(np.intp).ravel() for t in parts])
                if lengths.sum() else np.zeros(0, dtype=np.intp))
    else:
        array = np.asarray(targets)
        if array.dtype.kind not in "iu":
            raise ValueError(
                f"targets must hold integer labels, not dtype {array.dtype}.")
        if target_lengths is None:
            raise ValueError(
                "target_lengths is required with an array of targets (padded "
                "(n_sequences, max_length) or concatenated (sum of lengths,)).")
        lengths = np.asarray(target_lengths)
        if lengths.dtype.kind not in "iu" or lengths.shape != (n_sequences,):
            raise ValueError(
                f"target_lengths must be {n_sequences} integers; got shape "
                f"{lengths.shape} and dtype {lengths.dtype}.")
        lengths = lengths.astype(np.intp)
        if np.any(lengths < 0):
            raise ValueError("target_lengths must not be negative.")
        if array.ndim == 2:
            if array.shape[0] != n_sequences or np.any(lengths > array.shape[1]):
                raise ValueError(
                    f"targets of shape {array.shape} do not hold {n_sequences} "
                    f"sequences of target_lengths up to {lengths.max()}.")
            cols = np.arange(array.shape[1])
            flat = array[cols[None, :] < lengths[:, None]].astype(np.intp)
        elif array.ndim == 1:
            if array.size < lengths.sum():
                raise ValueError(
                    f"targets has {array.size} labels but target_lengths sum to "
                    f"{lengths.sum()}.")
            flat = array[: lengths.sum()].astype(np.intp)
        else:
            raise ValueError(f"targets has shape {array.shape}; expected 1-D or 2-D.")
    offsets = np.zeros(n_sequences + 1, dtype=np.intp)
    np.cumsum(lengths, out=offsets[1:])
    bad = np.flatnonzero((flat < 0) | (flat >= n_classes) | (flat == blank))
    if bad.size:
        b = int(np.searchsorted(offsets, bad[0], side="right") - 1)
        raise ValueError(
            f"targets of sequence {b} contain the label {flat[bad[0]]}; labels must be "
            f"in [0, {n_classes}) and differ from blank={blank}.")
    return _with_spare(flat), offsets, lengths


def _with_spare(flat):
    """Labels plus one spare entry, so that the kernels' ``&targets[offset]`` of
    an empty last target stays inside the array."""
    return np.concatenate([np.asarray(flat, dtype=np.intp), np.zeros(1, np.intp)])


def ctc_loss(logits, targets, *, input_lengths=None, target_lengths=None, blank=0,
             reduction="mean", zero_infinity=False):
    """Connectionist temporal classification loss and its gradient.

    The negative log-probability of each target labelling given the frames'
    class scores, summed over every alignment by the forward-backward
    algorithm (Graves et al. 2006), with the log-softmax fused in.

    .. warning::
       ``logits`` are *unnormalised* scores, and ``grad`` is the gradient with
       respect to them. PyTorch's ``ctc_loss`` takes log-probabilities and
       differentiates with respect to those: log-probabilities are valid
       logits here (they give the same loss), but the gradients differ —
       ours already includes the softmax.

    Parameters
    ----------
    logits : ndarray of shape (n_sequences, n_timesteps, n_classes) or list
        Class scores of every frame, before softmax, blank included; or a list
        of ``(T_i, n_classes)`` arrays. float32 or float64. ``-inf`` is a
        class of probability zero (its gradient is zero); NaN, ``+inf`` and
        frames of ``-inf`` only are refused.
    targets : list of int arrays, or ndarray
        A list of label sequences; or a padded ``(n_sequences, max_length)``
        array, or the concatenation of every sequence's labels, both with
        ``target_lengths``. Entries past a target length are ignored (zero
        padding is fine even with ``blank=0``).
    input_lengths : array-like of int of shape (n_sequences,), default=None
        Frames of each sequence of a padded ``logits``, in ``[1, T]``.
    target_lengths : array-like of int of shape (n_sequences,), default=None
        Labels of each target; required with an array of targets.
    blank : int, default=0
        The index of the blank class.
    reduction : {"mean", "sum", "none"}, default="mean"
        ``"none"``: one loss per sequence; ``"sum"``; ``"mean"``: each loss
        divided by ``max(target_length, 1)``, then averaged over the batch
        (PyTorch's definition).
    zero_infinity : bool, default=False
        Whether infeasible pairs (a target that needs more frames than the
        input has) count as zero loss instead of infinity. Their gradient is
        zero either way.

    Returns
    -------
    loss : float or ndarray of shape (n_sequences,)
        In float64, whatever the precision of ``logits``.
    grad : ndarray of shape (n_sequences, n_timesteps, n_classes)
        The gradient of the reduced loss (of the sum for ``"none"``) with
        respect to ``logits``, in their precision; zero past each input length.

    Notes
    -----
    The recursions run in double precision, rescaled at every frame, with a
    log-space fallback for frames whose emissions underflow; a target of
    ``L`` labels needs ``L`` frames plus one per pair of equal adjacent
    labels. Sequences are processed in parallel over OpenMP threads.

    References
    ----------
    .. [1] A. Graves, S. Fernández, F. Gomez and J. Schmidhuber,
       "Connectionist temporal classification", ICML 2006.
    .. [2] A. Graves, "Supervised sequence labelling with recurrent neural
       networks", Springer 2012, chapter 7.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm.functional import ctc_loss
    >>> logits = np.zeros((1, 2, 2))          # two frames, uniform over {blank, a}
    >>> loss, grad = ctc_loss(logits, [[1]], reduction="sum")
    >>> round(float(np.exp(-loss)), 4)        # paths "a-", "-a", "aa": 3/4
    0.75
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction={reduction!r} must be 'mean', 'sum' or 'none'.")
    array, lengths = _read_logits(logits, input_lengths)
    B, T, C = array.shape
    blank = _check_blank(blank, C)
    flat, offsets, target_lengths = _read_targets(targets, target_lengths, B, C, blank)
    if reduction == "mean":
        weights = 1.0 / (B * np.maximum(target_lengths, 1))
    else:
        weights = np.ones(B)
    if _cuda.is_device_array(array):
        from sklstm._cuda import _ctc as _gpu_ctc

        losses, grad = _gpu_ctc.ctc_loss(_cuda.engine(), array, lengths, flat, offsets,
                                         blank, weights)
    else:
        losses = np.empty(B, dtype=np.float64)
        grad = np.empty_like(array)  # the kernel writes every entry, scaled
        _ctc.ctc_loss(array, lengths, flat, offsets, blank, weights, losses, grad)
    if zero_infinity:
        losses[np.isinf(losses)] = 0
    if reduction == "none":
        return losses, grad
    if reduction == "sum":
        return float(losses.sum()), grad
    return dot(weights, losses), grad


def ctc_greedy_decode(logits, *, input_lengths=None, blank=0):
    """Best-path decoding: the most probable class of each frame, with repeats
    merged and blanks removed (Graves et al. 2006, section 3.2).

    Parameters
    ----------
    logits : ndarray of shape (n_sequences, n_timesteps, n_classes) or list
        Class scores (or log-probabilities) of every frame.
    input_lengths : array-like of int of shape (n_sequences,), default=None
    blank : int, default=0

    Returns
    -------
    labellings : list of ndarray of int
        One label sequence per input sequence.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm.functional import ctc_greedy_decode
    >>> frames = np.eye(3)[[1, 1, 0, 1, 2, 2]]        # a a - a b b
    >>> [list(map(int, l)) for l in ctc_greedy_decode(frames[None])]
    [[1, 1, 2]]
    """
    array, lengths = _read_logits(logits, input_lengths)
    blank = _check_blank(blank, array.shape[2])
    best = array.argmax(axis=2)
    out = []
    for b, n in enumerate(lengths):
        path = best[b, :n]
        keep = (path != blank) & np.r_[True, path[1:] != path[:-1]]
        out.append(path[keep].astype(np.intp))
    return out


def _rescore(array, lengths, sequence_of, targets, blank, log_z, finishing_only):
    """log p(l | x) of each target (one per entry of ``sequence_of``)."""
    offsets = np.zeros(len(targets) + 1, dtype=np.intp)
    np.cumsum([len(t) for t in targets], out=offsets[1:])
    flat = _with_spare(np.concatenate(targets) if offsets[-1] else [])
    log_probs = np.empty(len(targets), dtype=np.float64)
    _ctc.ctc_log_prob(array, lengths, np.ascontiguousarray(sequence_of, dtype=np.intp),
                      flat, offsets, blank, log_z, log_probs, finishing_only)
    return log_probs


def ctc_beam_search(logits, *, input_lengths=None, beam_width=16, blank=0, n_best=1,
                    return_log_probs=False):
    """Prefix beam search decoding (Hannun et al. 2014), rescored exactly.

    The search keeps the ``beam_width`` most probable prefixes at every frame,
    merging the paths that collapse to the same prefix. Its final prefixes,
    and the best-path (greedy) labelling, are then rescored with their exact
    probability ``p(l | x)`` by the CTC forward recursion and ranked by it:
    the answer is never less probable than greedy decoding's (plain prefix
    beam search can be, with narrow beams), and with a beam wide enough it
    is the most probable labelling.

    Parameters
    ----------
    logits : ndarray of shape (n_sequences, n_timesteps, n_classes) or list
        Class scores (or log-probabilities) of every frame.
    input_lengths : array-like of int of shape (n_sequences,), default=None
    beam_width : int, default=16
        Prefixes kept per frame; 1 still returns greedy decoding's answer or
        better.
    blank : int, default=0
    n_best : int, default=1
        Labellings returned per sequence, most probable first; at most
        ``beam_width + 1``.
    return_log_probs : bool, default=False
        Also return their exact log-probabilities.

    Returns
    -------
    labellings : list
        With ``n_best=1``, one integer array per sequence; otherwise one list
        of up to ``n_best`` arrays per sequence, best first.
    log_probs : ndarray of shape (n_sequences, n_best)
        With ``return_log_probs=True``; ``-inf`` where fewer labellings exist.

    Notes
    -----
    The search keeps a trie of at most ``beam_width`` new prefixes a frame.
    Rescoring runs the forward recursion with two rows of the lattice per
    thread, so its memory is that of the longest candidate, whatever the
    number of frames, and it runs in two passes: every candidate over the
    lattice states that can still finish, then, exactly, the few whose
    probability can rank among the ``n_best`` once rounding is allowed for.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm.functional import ctc_beam_search
    >>> y = np.log([[0.4, 0.6], [0.4, 0.6]])  # greedy says "a" (p = 0.6**2 + 2*.4*.6)
    >>> best = ctc_beam_search(y[None], beam_width=4)
    >>> [list(map(int, l)) for l in best]
    [[1]]
    """
    array, lengths = _read_logits(logits, input_lengths)
    B, T, C = array.shape
    blank = _check_blank(blank, C)
    W = _check_int(beam_width, "beam_width", 1, None, "a positive integer")
    _check_int(n_best, "n_best", 1, W + 1,
               f"an integer in [1, beam_width + 1 = {W + 1}]")
    labels = np.empty((B, W, T), dtype=np.intp)
    found_lengths = np.zeros((B, W), dtype=np.intp)
    n_found = np.empty(B, dtype=np.intp)
    _ctc.ctc_beam_search(array, lengths, blank, W, labels, found_lengths, n_found)
    greedy = ctc_greedy_decode(array, input_lengths=lengths, blank=blank)
    candidates = []
    for b in range(B):
        seen = {greedy[b].tobytes()}  # both intp: equal bytes, equal labellings
        cands = [greedy[b]]
        for n in range(n_found[b]):
            prefix = labels[b, n, : found_lengths[b, n]]
            if prefix.tobytes() not in seen:
                seen.add(prefix.tobytes())
                cands.append(prefix.copy())
        candidates.append(cands)
    sequence_of = np.repeat(np.arange(B, dtype=np.intp), [len(c) for c in candidates])
    flat_cands = [c for cands in candidates for c in cands]
    log_z = np.empty(B, dtype=np.float64)
    _ctc.ctc_log_normalizers(array, lengths, log_z)  # once, not per candidate
    # Two passes. The first skips the lattice states that can no longer
    # finish, the same log p but for rounding; the second computes exactly
    # (as a single full pass would, bit for bit) the candidates that can
    # rank among the n_best: those within a margin of the n_best-th. Rounding
    # moves either pass's log p by about T eps (1 + |log p|) at most (T
    # frames of rescaled sums of positive terms, or of log-sum-exps), far
    # inside the margin, so the candidates left out rank strictly below the
    # n_best in both.
    first = _rescore(array, lengths, sequence_of, flat_cands, blank, log_z, True)
    exact = []
    start = 0
    for b, cands in enumerate(candidates):
        lp = first[start : start + len(cands)]
        k = min(n_best, len(lp))
        threshold = -np.partition(-lp, k - 1)[k - 1]   # the k-th largest
        margin = 1e-6 * (1 + abs(threshold)) + 1e-9 * lengths[b]
        exact.extend(start + np.flatnonzero(~(lp < threshold - margin)))
        start += len(cands)
    exact = np.asarray(exact, dtype=np.intp)
    log_probs = np.full(len(flat_cands), -np.inf)
    log_probs[exact] = _rescore(array, lengths, sequence_of[exact],
                                [flat_cands[j] for j in exact], blank, log_z, False)
    results, scores = [], np.full((B, n_best), -np.inf)
    start = 0
    for b, cands in enumerate(candidates):
        lp = log_probs[start : start + len(cands)]
        start += len(cands)
        order = np.argsort(-lp, kind="stable")[:n_best]
        scores[b, : len(order)] = lp[order]
        best = [cands[i] for i in order]
        results.append(best[0] if n_best == 1 else best)
    return (results, scores) if return_log_probs else results
