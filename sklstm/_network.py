"""The network of the estimators: a stack of recurrent layers and a head.

A *cell* is one layer and direction's part: its parameter layout (shapes,
which arrays the L2 penalty reaches, initialisation) and its packed kernels.
A *head* turns the last layer's packed output into the estimator's outputs
(pooled per sequence, or per step) and back. :class:`Network` stacks them
over one :class:`~sklstm._packing.PackedPlan` per minibatch: every layer and
direction reads and writes packed arrays in the forward direction's row
order, the reverse direction through one gather each way. Pooling reads the
packed rows; the per-step head's outputs are padded by groups of sequences
of similar length (for the CTC loss), at most the data's size at a time.
"""

from collections import namedtuple

import numpy as np

from ._packing import PackedPlan
from ._products import matmul
from .functional import (
    _GRU,
    _gru_packed,
    _gru_packed_backward,
    _gru_packed_states,
    _lstm_kind,
    _lstm_packed,
    _lstm_packed_backward,
    _lstm_packed_states,
)

__all__ = ["GRUCell", "LSTMCell", "Network", "PooledHead", "StepHead", "StepOutputs",
           "make_cell"]


class LSTMCell:
    """The LSTM forms of :func:`sklstm.functional.lstm_forward`.

    Per layer and direction: ``(W, U, b)``, plus ``P`` with peepholes. ``W``
    ``(4H, n_in)``, ``U`` ``(4H, H)`` (``(3H, H)`` with
    ``recurrent_input="cell"``), ``b`` ``(4H,)``, gates (i, f, g, o);
    ``P`` ``(3, H)``, rows for i, f, o. Fresh weights: PyTorch's
    uniform(±1/sqrt(H)) with the forget-gate bias at 1 (Gers et al. 2000;
    Jozefowicz et al. 2015) and peepholes at zero, so that a peephole model
    starts as the plain one. The L2 penalty reaches ``W``, ``U`` and ``P``.
    """

    # PyTorch's nn.LSTM has our gates (i, f, g, o) and two biases, which sum
    # to ours; the ONNX LSTM operator stacks (i, o, f, c): our blocks
    # 0, 3, 1, 2. Its peepholes ``P`` are (i, o, f) too, where ours are
    # (i, f, o).
    onnx_op = "LSTM"
    onnx_gates = (0, 3, 1, 2)
    onnx_peepholes = (0, 2, 1)

    def __init__(self, *, peephole=False, hidden_activation="tanh",
                 recurrent_input="hidden"):
        self.peephole = peephole
        self.hidden_activation = hidden_activation
        self.recurrent_input = recurrent_input
        self.kind = _lstm_kind(peephole, hidden_activation, recurrent_input)

    def shapes(self, n_in, H):
        n_rec = 3 if self.recurrent_input == "cell" else 4
        shapes = [(4 * H, n_in), (n_rec * H, H), (4 * H,)]
        return shapes + [(3, H)] if self.peephole else shapes

    def penalised(self):
        return (True, True, False) + ((True,) if self.peephole else ())

    def init(self, rng, n_in, H, dtype):
        bound = 1 / np.sqrt(H)
        (_, _), (n_rec, _), _ = self.shapes(n_in, H)[:3]
        W = rng.uniform(-bound, bound, (4 * H, n_in)).astype(dtype)
        U = rng.uniform(-bound, bound, (n_rec, H)).astype(dtype)
        b = rng.uniform(-bound, bound, 4 * H).astype(dtype)
        b[H : 2 * H] = 1
        return (W, U, b) + ((np.zeros((3, H), dtype),) if self.peephole else ())

    def forward(self, plan, X, params, reverse):
        """Packed output and the cache of one direction (zero initial states)."""
        W, U, b = params[:3]
        P = params[3] if self.peephole else None
        zeros = np.zeros((plan.lengths.size, U.shape[1]), dtype=X.dtype)
        cache = _lstm_packed(plan, X, W, U, b, zeros, zeros, P=P, kind=self.kind,
                             reverse=reverse)
        return cache.hidden, cache

    def states(self, plan, X, params, reverse, out):
        """The packed output alone, into ``out`` (inference; forward row order)."""
        W, U, b = params[:3]
        P = params[3] if self.peephole else None
        _lstm_packed_states(plan, X, out, W, U, b, P=P, kind=self.kind,
                            reverse=reverse)

    def backward(self, cache, d_hidden, d_final, compute_dX):
        """``(dX, grads)``: ``grads`` in the layout of the parameters."""
        dX, dW, dU, db, _, _, dP = _lstm_packed_backward(
            cache, d_hidden, dh_n=d_final, compute_dX=compute_dX)
        return dX, (dW, dU, db) + ((dP,) if self.peephole else ())

    def torch_refusal(self):
        """Why ``torch.nn.LSTM`` is not this cell: a list of reasons, empty
        when it is."""
        reasons = []
        if self.peephole:
            reasons.append("cell='peephole': torch.nn.LSTM has no peephole "
                           "connections")
        if self.hidden_activation != "tanh":
            reasons.append(f"hidden_activation={self.hidden_activation!r}: "
                           "torch.nn.LSTM's output is o * tanh(c)")
        if self.recurrent_input != "hidden":
            reasons.append(f"recurrent_input={self.recurrent_input!r}: "
                           "torch.nn.LSTM's gates read h_{t-1}, not c_{t-1}")
        return reasons

    def torch_weights(self, params):
        """One direction's ``(weight_ih, weight_hh, bias_ih, bias_hh)``: our
        bias as ``bias_ih``, zeros as ``bias_hh`` (PyTorch adds the two)."""
        W, U, b = params[:3]
        return W, U, b, np.zeros_like(b)

    def from_torch(self, weight_ih, weight_hh, bias_ih, bias_hh):
        """The cell's arrays from PyTorch's: the biases summed (in float64)."""
        b = (bias_ih.astype(np.float64) + bias_hh).astype(bias_ih.dtype)
        return weight_ih, weight_hh, b

    def onnx_weights(self, params):
        """One direction's ``(W, R, B, P)`` as the ONNX LSTM operator reads
        them: gate blocks in its order, ``B = [Wb, Rb]`` with our bias as
        ``Wb`` and zeros as ``Rb`` (it adds both), ``P`` ``(3H,)`` in its
        (i, o, f) order, or None without peepholes."""
        W, U, b = params[:3]
        H, gates = U.shape[1], self.onnx_gates
        B = np.concatenate([_blocks(b, H, gates), np.zeros_like(b)])
        P = None
        if self.peephole:
            P = params[3][list(self.onnx_peepholes)].reshape(-1)
        return _blocks(W, H, gates), _blocks(U, H, gates), B, P

    def onnx_attributes(self, n_directions):
        """The ONNX LSTM operator's attributes that make it this cell.

        Its activations are (f, g, h) = (Sigmoid, Tanh, Tanh), h being our
        σ_h; identity is its Affine(alpha=1, beta=0), given for every
        direction, each Affine consuming one alpha and one beta.
        """
        if self.recurrent_input == "cell":
            raise ValueError(
                "recurrent_input='cell' has no ONNX form: the ONNX LSTM operator's "
                "gates read h_{t-1} through R and its candidate always has a "
                "recurrent term, while this cell's gates read c_{t-1} and its "
                "candidate none. Export a model fitted with "
                "recurrent_input='hidden'; cell='peephole' lets the gates see the "
                "cell state, and exports through the operator's P.")
        if self.hidden_activation == "tanh":
            return {}
        return {"activations": ["Sigmoid", "Tanh", "Affine"] * n_directions,
                "activation_alpha": [1.0] * n_directions,
                "activation_beta": [0.0] * n_directions}


class GRUCell:
    """The GRU of :func:`sklstm.functional.gru_forward` (PyTorch's layout).

    Per layer and direction: ``(W, U, b_ih, b_hh)``: ``W`` ``(3H, n_in)``,
    ``U`` ``(3H, H)``, biases ``(3H,)``, gates (r, z, n). Fresh weights:
    PyTorch's uniform(±1/sqrt(H)) for all four. The L2 penalty reaches ``W``
    and ``U``.
    """

    # PyTorch's nn.GRU has our layout exactly; the ONNX GRU operator stacks
    # (z, r, h), our blocks 1, 0, 2, and with ``linear_before_reset=1`` it
    # computes PyTorch's candidate, r ⊙ (U_n h + b_hn) (0 is another cell).
    onnx_op = "GRU"
    onnx_gates = (1, 0, 2)
    # the kernels' flags, as LSTMCell.kind (the compiled step reads them)
    kind = _GRU

    def shapes(self, n_in, H):
        return [(3 * H, n_in), (3 * H, H), (3 * H,), (3 * H,)]

    def penalised(self):
        return (True, True, False, False)

    def init(self, rng, n_in, H, dtype):
        bound = 1 / np.sqrt(H)
        return tuple(rng.uniform(-bound, bound, shape).astype(dtype)
                     for shape in self.shapes(n_in, H))

    def forward(self, plan, X, params, reverse):
        W, U, b_ih, b_hh = params
        h0 = np.zeros((plan.lengths.size, U.shape[1]), dtype=X.dtype)
        cache = _gru_packed(plan, X, W, U, b_ih, b_hh, h0, reverse=reverse)
        return cache.hidden, cache

    def states(self, plan, X, params, reverse, out):
        _gru_packed_states(plan, X, out, *params, reverse=reverse)

    def backward(self, cache, d_hidden, d_final, compute_dX):
        dX, *grads, _ = _gru_packed_backward(cache, d_hidden, d_final, compute_dX)
        return dX, tuple(grads)

    def torch_refusal(self):
        return []

    def torch_weights(self, params):
        return tuple(params)

    def from_torch(self, weight_ih, weight_hh, bias_ih, bias_hh):
        return weight_ih, weight_hh, bias_ih, bias_hh

    def onnx_weights(self, params):
        """One direction's ``(W, R, B, None)`` as the ONNX GRU operator reads
        them: gate blocks in its order, ``B = [b_ih, b_hh]``."""
        W, U, b_ih, b_hh = params
        H = U.shape[1]
        B = np.concatenate([_blocks(b_ih, H, self.onnx_gates),
                            _blocks(b_hh, H, self.onnx_gates)])
        return _blocks(W, H, self.onnx_gates), _blocks(U, H, self.onnx_gates), B, None

    def onnx_attributes(self, n_directions):
        """The ONNX GRU operator's attributes that make it this cell."""
        return {"linear_before_reset": 1}


def _blocks(a, H, order):
    """The ``H``-row gate blocks of ``a`` (along its first axis) in ``order``."""
    return np.concatenate([a[g * H : (g + 1) * H] for g in order])


def make_cell(cell, hidden_activation="tanh", recurrent_input="hidden"):
    """The cell an estimator's parameters name."""
    if cell in ("lstm", "peephole"):
        return LSTMCell(peephole=cell == "peephole",
                        hidden_activation=hidden_activation,
                        recurrent_input=recurrent_input)
    if cell == "gru":
        return GRUCell()
    raise ValueError(f"cell={cell!r} is not a known cell.")


# Packed rows per reduction of the mean and max pooling.
_POOL_ROWS = 4096


def _pool(plan, out, pooling):
    """The mean or max of packed ``out`` over each sorted slot's steps, read
    from the packed rows (no padding): ``(pooled, arg)``, ``arg`` the step of
    each maximum (the first, on ties) or None for the mean.

    Steps of equal batch size are contiguous rows ``(n_steps, b, F)``; each
    such run, cut into pieces of at most ``_POOL_ROWS`` rows (``argmax``
    along the steps copies its operand), is one reduction.
    """
    B, F = plan.lengths.size, out.shape[1]
    sizes = plan.batch_sizes
    run_starts = np.flatnonzero(np.r_[True, sizes[1:] != sizes[:-1]])
    run_ends = np.r_[run_starts[1:], sizes.size]
    pieces = []
    for t0, t1 in zip(run_starts, run_ends):
        n_steps = max(1, _POOL_ROWS // int(sizes[t0]))
        pieces += [(t, min(t + n_steps, t1)) for t in range(t0, t1, n_steps)]
    if pooling == "mean":
        pooled = np.zeros((B, F), dtype=out.dtype)
    else:
        pooled = np.full((B, F), -np.inf, dtype=out.dtype)
        arg = np.zeros((B, F), dtype=np.intp)
    for t0, t1 in pieces:
        b = sizes[t0]
        run = out[plan.offsets[t0] : plan.offsets[t1]].reshape(t1 - t0, b, F)
        if pooling == "mean":
            pooled[:b] += run.sum(axis=0)
            continue
        at = run.argmax(axis=0)
        top = np.take_along_axis(run, at[None], axis=0)[0]
        better = top > pooled[:b]
        np.copyto(pooled[:b], top, where=better)
        np.copyto(arg[:b], at + t0, where=better)
    if pooling == "mean":
        pooled /= plan.sorted_lengths[:, None].astype(out.dtype)
        return pooled, None
    return pooled, arg


class PooledHead:
    """One output row per sequence: a pooling of the last layer's output over
    the sequence's steps, then a dense layer. ``"last"`` reads each
    direction's final state (the reverse direction's is at step 0)."""

    per_step = False

    def __init__(self, pooling):
        self.pooling = pooling

    def features(self, plan, out, finals):
        """``(features, arg)``: the dense layer's input, a row per sequence in
        the minibatch's order, and :func:`_pool`'s ``arg``."""
        if self.pooling == "last":
            pooled, arg = np.concatenate(finals, axis=1), None
        else:
            pooled, arg = _pool(plan, out, self.pooling)
        features = np.empty_like(pooled)
        features[plan.order] = pooled
        return features, arg

    def forward(self, plan, out, finals, coef, intercept):
        features, arg = self.features(plan, out, finals)
        return matmul(features, coef.T) + intercept, (features, arg)

    def backward(self, plan, memo, d_logits, coef, out_shape, n_directions):
        """``(d_coef, d_intercept, d_out or None, d_finals)``."""
        features, arg = memo
        d_coef = matmul(d_logits.T, features)
        d_intercept = d_logits.sum(axis=0)
        d_pooled = matmul(d_logits, coef)[plan.order]
        if self.pooling == "last":
            H = d_pooled.shape[1] // n_directions
            return d_coef, d_intercept, None, [
                np.ascontiguousarray(d_pooled[:, d * H : (d + 1) * H])
                for d in range(n_directions)]
        if self.pooling == "mean":
            d_pooled = d_pooled / plan.sorted_lengths[:, None].astype(d_pooled.dtype)
            d_out = d_pooled[plan.slot]
        else:
            d_out = np.zeros(out_shape, dtype=d_pooled.dtype)
            rows = plan.offsets[arg] + np.arange(arg.shape[0])[:, None]
            d_out[rows, np.arange(arg.shape[1])[None, :]] = d_pooled
        return d_coef, d_intercept, d_out, [None] * n_directions


StepGroup = namedtuple("StepGroup", ["positions", "lengths", "padded", "rows", "cells"])
StepGroup.__doc__ = """Sequences of similar length of a minibatch's per-step outputs.

``positions`` in the minibatch's order, their ``lengths``; ``padded``
``(n, longest, n_outputs)``, zero past each length; packed row ``rows[k]``
is ``padded[cells[0][k], cells[1][k]]``.
"""


class StepOutputs:
    """Per-step outputs of a minibatch: ``rows`` packed like ``plan``, read by
    the loss and the decoders in groups padded to their longest
    (:meth:`groups`), never the whole minibatch padded to its longest."""

    def __init__(self, plan, rows):
        self.plan = plan
        self.rows = rows

    def groups(self):
        """:class:`StepGroup` of consecutive sorted slots, each ``n``
        sequences with ``n * longest`` at most the minibatch's packed rows
        (or one sequence): padding at most the data, one group at a time."""
        plan, start = self.plan, 0
        while start < plan.lengths.size:
            stop = start + max(1, plan.n_rows // int(plan.sorted_lengths[start]))
            rows = np.flatnonzero((plan.slot >= start) & (plan.slot < stop))
            cells = (plan.slot[rows] - start, plan.step[rows])
            padded = np.zeros((min(stop, plan.lengths.size) - start,
                               plan.sorted_lengths[start], self.rows.shape[1]),
                              dtype=self.rows.dtype)
            padded[cells] = self.rows[rows]
            yield StepGroup(plan.order[start:stop], plan.sorted_lengths[start:stop],
                            padded, rows, cells)
            start = stop


class StepHead:
    """One output row per step (CTC): a dense layer on every step; the loss
    reads the rows as :class:`StepOutputs` and gives their gradient packed
    like them."""

    per_step = True

    def features(self, plan, out, finals):
        """``(out, None)``: the dense layer reads every packed row."""
        return out, None

    def forward(self, plan, out, finals, coef, intercept):
        logits = matmul(out, coef.T) + intercept
        return StepOutputs(plan, logits), out

    def backward(self, plan, memo, d_logits, coef, out_shape, n_directions):
        out, d_rows = memo, d_logits
        return (matmul(d_rows.T, out), d_rows.sum(axis=0), matmul(d_rows, coef),
                [None] * n_directions)


class Network:
    """A stack of recurrent layers (each with ``n_directions`` directions of
    one cell) and a head; its parameters travel as one flat list:
    per layer, per direction, the cell's arrays, then the head's ``coef``
    ``(n_outputs, n_in)`` and ``intercept`` ``(n_outputs,)`` (Glorot's
    uniform at first, as scikit-learn's MLP)."""

    def __init__(self, cell, hidden_sizes, n_directions, head, dropout=0.0):
        self.cell = cell
        self.hidden_sizes = list(hidden_sizes)
        self.n_directions = n_directions
        self.head = head
        self.dropout = dropout

    # --- parameters --------------------------------------------------------------

    def shapes(self, n_features, n_outputs):
        shapes, n_in = [], n_features
        for H in self.hidden_sizes:
            shapes += self.cell.shapes(n_in, H) * self.n_directions
            n_in = H * self.n_directions
        return shapes + [(n_outputs, n_in), (n_outputs,)]

    def init(self, rng, n_features, n_outputs, dtype):
        flat, n_in = [], n_features
        for H in self.hidden_sizes:
            for _ in range(self.n_directions):
                flat += self.cell.init(rng, n_in, H, dtype)
            n_in = H * self.n_directions
        bound = np.sqrt(6 / (n_in + n_outputs))
        flat.append(rng.uniform(-bound, bound, (n_outputs, n_in)).astype(dtype))
        flat.append(rng.uniform(-bound, bound, n_outputs).astype(dtype))
        return flat

    def penalised(self, flat):
        """Indices in ``flat`` of the arrays under the L2 penalty."""
        per_cell = self.cell.penalised()
        n_recurrent = len(self.hidden_sizes) * self.n_directions * len(per_cell)
        return [k for k in range(n_recurrent) if per_cell[k % len(per_cell)]] + [
            len(flat) - 2]

    def split(self, flat):
        """``(recurrent, coef, intercept)``: ``recurrent[layer][direction]`` a
        tuple of the cell's arrays."""
        n = len(self.cell.penalised())
        recurrent, k = [], 0
        for _ in self.hidden_sizes:
            layer = []
            for _ in range(self.n_directions):
                layer.append(tuple(flat[k : k + n]))
                k += n
            recurrent.append(layer)
        return recurrent, flat[k], flat[k + 1]

    @staticmethod
    def join(recurrent, coef, intercept):
        return [a for layer in recurrent for d in layer for a in d] + [coef, intercept]

    # --- passes ------------------------------------------------------------------

    @staticmethod
    def pack(seqs, idx):
        """The plan of the minibatch ``idx`` of ``seqs`` and its packed input."""
        plan = PackedPlan(seqs.lengths[idx])
        return plan, seqs.data[plan.source_rows(seqs.starts[idx])]

    def forward(self, flat, plan, X, rng=None):
        """The head's outputs for packed ``X``; with ``rng``, a training pass
        (dropout between layers) that also returns what :meth:`backward` needs.
        The pass runs in the precision of ``X``; weights of the other are cast."""
        if flat[0].dtype != X.dtype:
            flat = [a.astype(X.dtype) for a in flat]
        recurrent, coef, intercept = self.split(flat)
        training = rng is not None
        if not training:
            out, finals = self._states(recurrent, plan, X)
            return self.head.forward(plan, out, finals, coef, intercept)[0]
        layers, inputs = [], X
        for depth, layer in enumerate(recurrent):
            outs, finals, caches = [], [], []
            for d, params in enumerate(layer):
                x = inputs if d == 0 else inputs[plan.reverse_rows]
                hidden, cache = self.cell.forward(plan, np.ascontiguousarray(x),
                                                  params, reverse=d == 1)
                finals.append(hidden[plan.last_rows])
                if d == 1:
                    hidden = _from_reverse(plan, hidden)
                outs.append(hidden)
                caches.append(cache)
            out = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=1)
            mask = None
            if training and self.dropout > 0 and depth < len(recurrent) - 1:
                keep = rng.random(out.shape) >= self.dropout
                mask = keep.astype(out.dtype) / (1 - self.dropout)
                out = out * mask
            layers.append((caches, mask))
            inputs = out
        outputs, head_memo = self.head.forward(plan, inputs, finals, coef, intercept)
        if not training:
            return outputs
        return outputs, (plan, layers, head_memo, inputs.shape)

    def features(self, flat, plan, X):
        """The head's input for packed ``X`` (inference): a row per sequence in
        the minibatch's order (pooled head), or the last layer's packed rows
        (per-step head). ``flat``'s head arrays are not read."""
        if flat[0].dtype != X.dtype:
            flat = [a.astype(X.dtype) for a in flat]
        recurrent, _, _ = self.split(flat)
        out, finals = self._states(recurrent, plan, X)
        return self.head.features(plan, out, finals)[0]

    def _states(self, recurrent, plan, X):
        """The last layer's packed output and each direction's final states,
        keeping nothing for backpropagation (inference): a layer holds its
        input and its output, both directions writing into one array."""
        inputs = X
        for H, layer in zip(self.hidden_sizes, recurrent):
            out = np.empty((plan.n_rows, H * self.n_directions), dtype=X.dtype)
            for d, params in enumerate(layer):
                self.cell.states(plan, inputs, params, reverse=d == 1,
                                 out=out[:, d * H : (d + 1) * H])
            inputs = out
        # a direction's final state is its last packed row: the reverse
        # direction's is the sequence's first step
        H = self.hidden_sizes[-1]
        finals = [inputs[plan.last_rows, :H]]
        if self.n_directions == 2:
            finals.append(inputs[plan.reverse_rows[plan.last_rows], H:])
        return inputs, finals

    def backward(self, flat, memory, d_outputs):
        """Gradients of every array of ``flat``, in the same order."""
        recurrent, coef, _ = self.split(flat)
        plan, layers, head_memo, out_shape = memory
        d_coef, d_intercept, d_out, d_finals = self.head.backward(
            plan, head_memo, d_outputs, coef, out_shape, self.n_directions)
        grads = []
        for depth in range(len(recurrent) - 1, -1, -1):
            caches, _ = layers[depth]
            H = self.hidden_sizes[depth]
            layer_grads, d_inputs = [], None
            for d, cache in enumerate(caches):
                if d_out is None:
                    d_hidden = np.zeros((plan.n_rows, H), dtype=coef.dtype)
                else:
                    d_hidden = d_out[:, d * H : (d + 1) * H]
                    if d == 1:
                        d_hidden = d_hidden[plan.reverse_rows]
                dX, g = self.cell.backward(cache, np.ascontiguousarray(d_hidden),
                                           d_finals[d], compute_dX=depth > 0)
                layer_grads.extend(g)
                if depth > 0:
                    dX = _from_reverse(plan, dX) if d == 1 else dX
                    d_inputs = dX if d_inputs is None else d_inputs + dX
            grads = layer_grads + grads
            if depth > 0:
                below_mask = layers[depth - 1][1]
                d_out = d_inputs if below_mask is None else d_inputs * below_mask
                d_finals = [None] * self.n_directions
        return grads + [d_coef, d_intercept]


def _from_reverse(plan, rows):
    """Rows of the reverse direction's packing in the forward packing's order."""
    out = np.empty_like(rows)
    out[plan.reverse_rows] = rows
    return out
