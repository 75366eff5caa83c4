"""The LSTM variants (peepholes, identity output, cell-fed gates) and the GRU of
sklstm.functional, against tests/_reference.py, central differences, PyTorch,
and themselves under threads.

The new names are looked up when a test runs, never at import time, so this
module imports whatever sklstm.functional holds.
"""

import itertools
import math
import threading
from dataclasses import dataclass

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import sklstm.functional as F

from . import _reference

RTOL = {np.float32: 1e-5, np.float64: 1e-12}


def api(name):
    """``sklstm.functional.<name>``, looked up at call time (AttributeError if
    it is not there yet)."""
    return getattr(F, name)


def rel_err(a, b):
    """max|a - b| / max|b|: the error measure of the gradient comparisons."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.abs(b).max() if b.size else 0.0
    return np.abs(a - b).max() / (scale if scale > 0 else 1.0)


def valid_mask(lengths, T, width):
    mask = np.zeros((len(lengths), T, width))
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    return mask


# --- the cells under test -------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One recurrent cell: how to make its parameters, and how to call the
    library and the reference on them."""

    name: str
    peephole: bool = False
    hidden_activation: str = "tanh"
    recurrent_input: str = "hidden"

    @property
    def is_gru(self):
        return self.name == "gru"

    @property
    def state_names(self):
        return ("h0",) if self.is_gru else ("h0", "c0")

    def param_shapes(self, D, H):
        if self.is_gru:
            return {"W": (3 * H, D), "U": (3 * H, H), "b_ih": (3 * H,),
                    "b_hh": (3 * H,)}
        n_rows = 4 * H if self.recurrent_input == "hidden" else 3 * H
        shapes = {"W": (4 * H, D), "U": (n_rows, H), "b": (4 * H,)}
        if self.peephole:
            shapes["P"] = (3, H)
        return shapes

    def make_params(self, rng, D, H, dtype=np.float64, scale=0.5):
        return {name: rng.normal(scale=0.2 if name.startswith("b") else scale,
                                 size=shape).astype(dtype)
                for name, shape in self.param_shapes(D, H).items()}

    def options(self, params):
        """The LSTM keywords that differ from the defaults (so that the plain
        LSTM is called exactly as before the new options existed)."""
        options = {}
        if self.peephole:
            options["peephole"] = params["P"]
        if self.hidden_activation != "tanh":
            options["hidden_activation"] = self.hidden_activation
        if self.recurrent_input != "hidden":
            options["recurrent_input"] = self.recurrent_input
        return options

    def forward(self, X, params, *, lengths=None, h0=None, c0=None, reverse=False):
        """The library's ``out, h_n, c_n, cache`` (``c_n`` None for the GRU)."""
        kwargs = dict(reverse=reverse)
        if lengths is not None:
            kwargs["lengths"] = lengths
        if h0 is not None:
            kwargs["h0"] = h0
        if self.is_gru:
            out, h_n, cache = api("gru_forward")(
                X, params["W"], params["U"], params["b_ih"], params["b_hh"], **kwargs)
            return out, h_n, None, cache
        if c0 is not None:
            kwargs["c0"] = c0
        out, (h_n, c_n), cache = api("lstm_forward")(
            X, params["W"], params["U"], params["b"], **kwargs, **self.options(params))
        return out, h_n, c_n, cache

    def backward(self, cache, d_out, d_hn=None, d_cn=None, compute_dX=True):
        if self.is_gru:
            return api("gru_backward")(cache, d_out, d_hn=d_hn, compute_dX=compute_dX)
        return api("lstm_backward")(cache, d_out, d_hn=d_hn, d_cn=d_cn,
                                    compute_dX=compute_dX)

    def reference(self, X, params, *, lengths=None, h0=None, c0=None, reverse=False):
        """The oracle's ``out, h_n, c_n`` in float64 (``c_n`` None for the GRU)."""
        if self.is_gru:
            out, h_n = _reference.gru_forward(
                X, params["W"], params["U"], params["b_ih"], params["b_hh"],
                lengths=lengths, h0=h0, reverse=reverse)
            return out, h_n, None
        return _reference.lstm_forward(
            X, params["W"], params["U"], params["b"], lengths=lengths, h0=h0, c0=c0,
            reverse=reverse, peephole=params["P"] if self.peephole else None,
            hidden_activation=self.hidden_activation,
            recurrent_input=self.recurrent_input)


def _lstm_cell(peephole, activation, recurrent):
    name = f"lstm-{recurrent}-{activation}" + ("-peephole" if peephole else "")
    return Cell(name, peephole, activation, recurrent)


LSTM_CELLS = [_lstm_cell(*options) for options in itertools.product(
    (False, True), ("tanh", "identity"), ("hidden", "cell"))]
GRU = Cell("gru")
CELLS = {cell.name: cell for cell in LSTM_CELLS + [GRU]}
ALL_CELLS = pytest.mark.parametrize("cell", list(CELLS.values()), ids=list(CELLS))
LSTM_ONLY = pytest.mark.parametrize("cell", LSTM_CELLS,
                                    ids=[c.name for c in LSTM_CELLS])


def cell_inputs(rng, cell, lengths, D, H, dtype=np.float64, states=True, scale=0.5):
    B, T = len(lengths), max(lengths)
    X = rng.normal(size=(B, T, D)).astype(dtype)
    params = cell.make_params(rng, D, H, dtype, scale)
    states = {name: rng.normal(size=(B, H)).astype(dtype) if states else None
              for name in cell.state_names}
    return X, params, states


def grad_arrays(cell, grads):
    """``{input name: gradient}`` from an LSTMGradients / GRUGradients."""
    names = ["X"] + list(cell.param_shapes(1, 1)) + list(cell.state_names)
    return {name: getattr(grads, "d" + name) for name in names}


# --- the oracle itself (these pass without the new kernels) ----------------------


def _plain_lstm_loop(X, W, U, b, lengths, h0, c0, reverse):
    # tests/_reference.lstm_forward as it was before the new options, verbatim.
    H = U.shape[1]
    out = np.zeros(X.shape[:2] + (H,))
    h_n, c_n = np.zeros((len(X), H)), np.zeros((len(X), H))
    sig = _reference._sigmoid
    for s in range(len(X)):
        h, c = h0[s].astype(np.float64), c0[s].astype(np.float64)
        n = lengths[s]
        for t in (range(n - 1, -1, -1) if reverse else range(n)):
            z = W @ X[s, t] + U @ h + b
            i_t, f_t = sig(z[:H]), sig(z[H : 2 * H])
            g_t, o_t = np.tanh(z[2 * H : 3 * H]), sig(z[3 * H :])
            c = f_t * c + i_t * g_t
            h = o_t * np.tanh(c)
            out[s, t] = h
        h_n[s], c_n[s] = h, c
    return out, h_n, c_n


@pytest.mark.parametrize("reverse", [False, True])
def test_reference_defaults_are_the_plain_lstm(rng, reverse):
    lengths = [3, 7, 1, 5]
    X, params, states = cell_inputs(rng, CELLS["lstm-hidden-tanh"], lengths, 3, 4)
    W, U, b = params["W"], params["U"], params["b"]
    h0, c0 = states["h0"], states["c0"]
    expected = _plain_lstm_loop(X, W, U, b, lengths, h0, c0, reverse)
    calls = [
        _reference.lstm_forward(X, W, U, b, lengths, h0, c0, reverse),  # positional
        _reference.lstm_forward(X, W, U, b, lengths=lengths, h0=h0, c0=c0,
                                reverse=reverse, peephole=None,
                                hidden_activation="tanh", recurrent_input="hidden"),
        _reference.lstm_forward([X[i, :n] for i, n in enumerate(lengths)], W, U, b,
                                h0=h0, c0=c0, reverse=reverse),
    ]
    for got in calls:
        for a, e in zip(got, expected):
            np.testing.assert_array_equal(a, e)


@pytest.mark.parametrize("activation", ["tanh", "identity"])
@pytest.mark.parametrize("recurrent", ["hidden", "cell"])
def test_reference_zero_peephole_is_no_peephole(rng, activation, recurrent):
    cell = _lstm_cell(True, activation, recurrent)
    lengths = [3, 7, 1, 5]
    X, params, states = cell_inputs(rng, cell, lengths, 2, 3)
    params["P"] = np.zeros_like(params["P"])
    with_p = cell.reference(X, params, lengths=lengths, **states)
    without = _lstm_cell(False, activation, recurrent).reference(
        X, params, lengths=lengths, **states)
    for a, e in zip(with_p, without):
        np.testing.assert_array_equal(a, e)


def test_reference_options_change_the_result(rng):
    lengths = [3, 7, 1, 5]
    X, params, states = cell_inputs(rng, CELLS["lstm-hidden-tanh"], lengths, 2, 3)
    plain = CELLS["lstm-hidden-tanh"].reference(X, params, lengths=lengths, **states)
    params["P"] = rng.normal(scale=0.5, size=(3, 3))
    cell_params = dict(params, U=rng.normal(scale=0.5, size=(9, 3)))
    variants = {
        "peephole": CELLS["lstm-hidden-tanh-peephole"].reference(
            X, params, lengths=lengths, **states),
        "identity": CELLS["lstm-hidden-identity"].reference(
            X, params, lengths=lengths, **states),
        "cell": CELLS["lstm-cell-tanh"].reference(
            X, cell_params, lengths=lengths, **states),
    }
    for name, (out, h_n, c_n) in variants.items():
        assert not np.allclose(out, plain[0], rtol=1e-3, atol=1e-3), name
        assert not np.allclose(h_n, plain[1], rtol=1e-3, atol=1e-3), name
    # identity changes h only: with U = 0 (no feedback of h) the cells agree
    params0 = dict(params, U=np.zeros_like(params["U"]))
    tanh0 = CELLS["lstm-hidden-tanh"].reference(X, params0, lengths=lengths, **states)
    ident0 = CELLS["lstm-hidden-identity"].reference(X, params0, lengths=lengths,
                                                     **states)
    np.testing.assert_array_equal(tanh0[2], ident0[2])


@pytest.mark.parametrize("activation", ["tanh", "identity"])
def test_reference_cell_form_without_recurrence(rng, activation):
    # With U = 0 neither form has a recurrent term: the cell form then equals
    # the hidden form, and h0 is read by neither.
    lengths = [3, 7, 1, 5]
    hidden, cell = _lstm_cell(True, activation, "hidden"), _lstm_cell(True, activation,
                                                                      "cell")
    X, params, states = cell_inputs(rng, hidden, lengths, 2, 3)
    a = hidden.reference(X, dict(params, U=np.zeros((12, 3))), lengths=lengths,
                         **states)
    b = cell.reference(X, dict(params, U=np.zeros((9, 3))), lengths=lengths, **states)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-15, atol=1e-15)


def test_reference_cell_form_ignores_h0(rng):
    cell = CELLS["lstm-cell-identity-peephole"]
    lengths = [3, 7, 1, 5]
    X, params, states = cell_inputs(rng, cell, lengths, 2, 3)
    a = cell.reference(X, params, lengths=lengths, **states)
    b = cell.reference(X, params, lengths=lengths, h0=None, c0=states["c0"])
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def _sigma(v):
    return 1.0 / (1.0 + math.exp(-v))


# One unit, one feature, one step from (h0, c0) = (-0.3, 0.5), every option
# combination written out in scalars; h0 != c0 tells which state feeds the
# gates, and c0 != c_1 which cell the output peephole reads.
HAND = dict(x=1.2, h0=-0.3, c0=0.5, W=(0.5, -1.0, 0.25, 1.5), b=(0.1, 0.2, -0.3, 0.0),
            U_hidden=(0.2, 0.1, -0.4, 0.3), U_cell=(0.2, 0.1, 0.3),
            P=(0.7, -0.6, 0.9))


def _hand_lstm(peephole, activation, recurrent):
    x, h0, c0 = HAND["x"], HAND["h0"], HAND["c0"]
    wi, wf, wg, wo = HAND["W"]
    bi, bf, bg, bo = HAND["b"]
    pi, pf, po = HAND["P"] if peephole else (0.0, 0.0, 0.0)
    if recurrent == "hidden":
        ui, uf, ug, uo = HAND["U_hidden"]
        r = h0
    else:
        (ui, uf, uo), ug = HAND["U_cell"], 0.0
        r = c0
    i = _sigma(wi * x + ui * r + bi + pi * c0)
    f = _sigma(wf * x + uf * r + bf + pf * c0)
    g = math.tanh(wg * x + ug * h0 + bg)
    c = f * c0 + i * g
    o = _sigma(wo * x + uo * r + bo + po * c)
    h = o * (math.tanh(c) if activation == "tanh" else c)
    return h, c


def _hand_arrays(cell):
    U = HAND["U_hidden"] if cell.recurrent_input == "hidden" else HAND["U_cell"]
    params = dict(W=np.array(HAND["W"])[:, None], U=np.array(U)[:, None],
                  b=np.array(HAND["b"]))
    if cell.peephole:
        params["P"] = np.array(HAND["P"])[:, None]
    return np.array([[[HAND["x"]]]]), params, np.array([[HAND["h0"]]]), np.array(
        [[HAND["c0"]]])


@LSTM_ONLY
def test_reference_single_step_by_hand(cell):
    X, params, h0, c0 = _hand_arrays(cell)
    out, h_n, c_n = cell.reference(X, params, h0=h0, c0=c0)
    h, c = _hand_lstm(cell.peephole, cell.hidden_activation, cell.recurrent_input)
    assert out[0, 0, 0] == pytest.approx(h, rel=1e-14)
    assert h_n[0, 0] == pytest.approx(h, rel=1e-14)
    assert c_n[0, 0] == pytest.approx(c, rel=1e-14)


def _hand_gru():
    # x = 1.2, h0 = -0.3; W, U, b_ih, b_hh per gate (r, z, n)
    x, h0 = 1.2, -0.3
    r = _sigma(0.5 * x + 0.1 + 0.2 * h0 - 0.05)
    z = _sigma(-1.0 * x + 0.2 + 0.1 * h0 + 0.3)
    n = math.tanh(0.25 * x - 0.3 + r * (-0.4 * h0 + 0.15))
    return (1 - z) * n + z * h0


def _hand_gru_arrays():
    params = dict(W=np.array([[0.5], [-1.0], [0.25]]), U=np.array([[0.2], [0.1],
                                                                   [-0.4]]),
                  b_ih=np.array([0.1, 0.2, -0.3]), b_hh=np.array([-0.05, 0.3, 0.15]))
    return np.array([[[1.2]]]), params, np.array([[-0.3]])


def test_reference_gru_single_step_by_hand():
    X, params, h0 = _hand_gru_arrays()
    out, h_n, _ = GRU.reference(X, params, h0=h0)
    assert out[0, 0, 0] == pytest.approx(_hand_gru(), rel=1e-14)
    assert h_n[0, 0] == pytest.approx(_hand_gru(), rel=1e-14)


# --- PyTorch -------------------------------------------------------------------


def _torch_rnn(torch, kind, params, reverse_params=None):
    """A float64 ``torch.nn.GRU``/``LSTM`` holding ``params`` (and, when
    ``reverse_params`` is given, a bidirectional one whose reverse direction
    holds them and whose forward direction holds ``reverse_params``)."""
    D, H = params["W"].shape[1], params["U"].shape[1]
    module = getattr(torch.nn, kind)(D, H, batch_first=True, dtype=torch.float64,
                                     bidirectional=reverse_params is not None)
    if kind == "LSTM":
        params = dict(params, b_ih=params["b"], b_hh=np.zeros_like(params["b"]))
        if reverse_params is not None:
            reverse_params = dict(reverse_params, b_ih=reverse_params["b"],
                                  b_hh=np.zeros_like(reverse_params["b"]))
    directions = [("", params)] if reverse_params is None else [
        ("", reverse_params), ("_reverse", params)]
    with torch.no_grad():
        for suffix, p in directions:
            for torch_name, name in (("weight_ih", "W"), ("weight_hh", "U"),
                                     ("bias_ih", "b_ih"), ("bias_hh", "b_hh")):
                getattr(module, f"{torch_name}_l0{suffix}").copy_(
                    torch.from_numpy(np.asarray(p[name], dtype=np.float64)))
    return module


def _torch_run(torch, module, X, lengths, h0, c0, reverse, packed):
    """``out (B, T, H)``, ``h_n (B, H)`` (and ``c_n``) of the direction under
    test, with X and the states as leaf tensors."""
    B, T, _ = X.shape
    H = module.hidden_size
    n_dir = 2 if reverse else 1
    Xt = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    states = []
    for s in (h0, c0):
        if s is None:
            continue
        full = np.zeros((n_dir, B, H))
        full[-1] = s
        states.append(torch.tensor(full, dtype=torch.float64, requires_grad=True))
    hx = (states[0] if len(states) == 1 else tuple(states))
    if packed:
        seq = torch.nn.utils.rnn.pack_padded_sequence(
            Xt, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
        out, hn = module(seq, hx)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True,
                                                        total_length=T)
    else:
        out, hn = module(Xt, hx)
    out = out[..., H:] if reverse else out
    if isinstance(hn, tuple):
        hn = tuple(s[-1] for s in hn)
    else:
        hn = (hn[-1],)
    return out, hn, Xt, states


TORCH_CASES = {
    "padded": dict(lengths=[6, 6, 6, 6], packed=False, reverse=False),
    "packed": dict(lengths=[3, 7, 1, 5], packed=True, reverse=False),
    "packed-reverse": dict(lengths=[3, 7, 1, 5], packed=True, reverse=True),
    "padded-reverse": dict(lengths=[5, 5, 5], packed=False, reverse=True),
}
TORCH = pytest.mark.parametrize("case", list(TORCH_CASES), ids=list(TORCH_CASES))


@TORCH
@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
def test_reference_matches_torch(rng, case, kind):
    torch = pytest.importorskip("torch")
    spec = TORCH_CASES[case]
    lengths, reverse = spec["lengths"], spec["reverse"]
    cell = GRU if kind == "GRU" else CELLS["lstm-hidden-tanh"]
    X, params, states = cell_inputs(rng, cell, lengths, 3, 4)
    other = cell.make_params(rng, 3, 4) if reverse else None
    module = _torch_rnn(torch, kind, params, other)
    t_out, t_states, _, _ = _torch_run(torch, module, X, lengths, states["h0"],
                                       states.get("c0"), reverse, spec["packed"])
    out, h_n, c_n = cell.reference(X, params, lengths=lengths, reverse=reverse,
                                   **states)
    tol = dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out, t_out.detach().numpy(), **tol)
    np.testing.assert_allclose(h_n, t_states[0].detach().numpy(), **tol)
    if c_n is not None:
        np.testing.assert_allclose(c_n, t_states[1].detach().numpy(), **tol)


@TORCH
def test_gru_forward_matches_torch(rng, case):
    torch = pytest.importorskip("torch")
    spec = TORCH_CASES[case]
    lengths, reverse = spec["lengths"], spec["reverse"]
    X, params, states = cell_inputs(rng, GRU, lengths, 3, 4)
    other = GRU.make_params(rng, 3, 4) if reverse else None
    module = _torch_rnn(torch, "GRU", params, other)
    t_out, (t_hn,), _, _ = _torch_run(torch, module, X, lengths, states["h0"], None,
                                      reverse, spec["packed"])
    out, h_n, _, _ = GRU.forward(X, params, lengths=lengths, reverse=reverse,
                                 **states)
    tol = dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out, t_out.detach().numpy(), **tol)
    np.testing.assert_allclose(h_n, t_hn.detach().numpy(), **tol)


@TORCH
def test_gru_gradients_match_torch_autograd(rng, case):
    torch = pytest.importorskip("torch")
    spec = TORCH_CASES[case]
    lengths, reverse = spec["lengths"], spec["reverse"]
    B, T, D, H = len(lengths), max(lengths), 3, 4
    X, params, states = cell_inputs(rng, GRU, lengths, D, H)
    other = GRU.make_params(rng, D, H) if reverse else None
    module = _torch_rnn(torch, "GRU", params, other)
    A = rng.normal(size=(B, T, H)) * valid_mask(lengths, T, H)
    a = rng.normal(size=(B, H))
    t_out, (t_hn,), Xt, (h0t,) = _torch_run(torch, module, X, lengths, states["h0"],
                                            None, reverse, spec["packed"])
    loss = (torch.from_numpy(A) * t_out).sum() + (torch.from_numpy(a) * t_hn).sum()
    loss.backward()
    suffix = "_reverse" if reverse else ""
    expected = {
        "X": Xt.grad.numpy(), "h0": h0t.grad.numpy()[-1],
        "W": getattr(module, f"weight_ih_l0{suffix}").grad.numpy(),
        "U": getattr(module, f"weight_hh_l0{suffix}").grad.numpy(),
        "b_ih": getattr(module, f"bias_ih_l0{suffix}").grad.numpy(),
        "b_hh": getattr(module, f"bias_hh_l0{suffix}").grad.numpy(),
    }
    _, _, _, cache = GRU.forward(X, params, lengths=lengths, reverse=reverse,
                                 **states)
    got = grad_arrays(GRU, GRU.backward(cache, A, d_hn=a))
    for name, want in expected.items():
        np.testing.assert_allclose(got[name], want, rtol=1e-10, atol=1e-10,
                                   err_msg=name)


# --- forward against the reference ----------------------------------------------


FORWARD_SIZES = {
    "small": dict(lengths=[3, 7, 1, 5], D=3, H=5),
    # crosses the kernels' block boundaries (8-unit blocks, 32-column panels)
    "blocks": dict(lengths=[4, 12, 1, 9, 12, 6, 2, 11, 7], D=33, H=37),
}


@ALL_CELLS
@pytest.mark.parametrize("size", list(FORWARD_SIZES), ids=list(FORWARD_SIZES))
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("states", [False, True], ids=["zero-states", "states"])
def test_forward_matches_reference(rng, dtype, cell, size, reverse, states):
    spec = FORWARD_SIZES[size]
    lengths, D, H = spec["lengths"], spec["D"], spec["H"]
    B, T = len(lengths), max(lengths)
    X, params, init = cell_inputs(rng, cell, lengths, D, H, dtype, states=states,
                                  scale=0.5 if size == "small" else 0.2)
    padded = X.copy()
    padded[valid_mask(lengths, T, D) == 0] = np.nan  # padding is never read
    seqs = [X[i, :n] for i, n in enumerate(lengths)]
    ref = cell.reference(X, params, lengths=lengths, reverse=reverse, **init)
    got_pad = cell.forward(padded, params, lengths=lengths, reverse=reverse, **init)
    got_list = cell.forward(seqs, params, reverse=reverse, **init)
    tol = dict(rtol=RTOL[dtype], atol=RTOL[dtype])
    for got in (got_pad, got_list):
        out, h_n, c_n, _ = got
        assert out.dtype == dtype and h_n.dtype == dtype
        assert out.shape == (B, T, H) and h_n.shape == (B, H)
        np.testing.assert_allclose(out, ref[0], **tol)
        np.testing.assert_allclose(h_n, ref[1], **tol)
        if cell.is_gru:
            assert c_n is None
        else:
            assert c_n.dtype == dtype and c_n.shape == (B, H)
            np.testing.assert_allclose(c_n, ref[2], **tol)
        # zero past each length, exactly; h_n is the state after the last
        # step read (step 0 when reverse)
        assert np.all(out[valid_mask(lengths, T, H) == 0] == 0)
        for i, n in enumerate(lengths):
            np.testing.assert_array_equal(h_n[i], out[i, 0 if reverse else n - 1])
    for a, e in zip(got_pad[:3], got_list[:3]):
        np.testing.assert_array_equal(a, e)


@LSTM_ONLY
def test_forward_single_step_by_hand(cell):
    X, params, h0, c0 = _hand_arrays(cell)
    out, h_n, c_n, _ = cell.forward(X, params, h0=h0, c0=c0)
    h, c = _hand_lstm(cell.peephole, cell.hidden_activation, cell.recurrent_input)
    assert out[0, 0, 0] == pytest.approx(h, rel=1e-14)
    assert h_n[0, 0] == pytest.approx(h, rel=1e-14)
    assert c_n[0, 0] == pytest.approx(c, rel=1e-14)


def test_gru_forward_single_step_by_hand():
    X, params, h0 = _hand_gru_arrays()
    out, h_n, _, _ = GRU.forward(X, params, h0=h0)
    assert out[0, 0, 0] == pytest.approx(_hand_gru(), rel=1e-14)
    assert h_n[0, 0] == pytest.approx(_hand_gru(), rel=1e-14)


def test_explicit_default_options_change_nothing(rng):
    cell = CELLS["lstm-hidden-tanh"]
    lengths = [3, 7, 1, 5]
    X, params, states = cell_inputs(rng, cell, lengths, 3, 4)
    W, U, b = params["W"], params["U"], params["b"]
    lstm_forward = api("lstm_forward")
    plain = lstm_forward(X, W, U, b, lengths=lengths, **states)
    explicit = lstm_forward(X, W, U, b, lengths=lengths, **states, peephole=None,
                            hidden_activation="tanh", recurrent_input="hidden")
    np.testing.assert_array_equal(plain[0], explicit[0])
    for a, e in zip(plain[1], explicit[1]):
        np.testing.assert_array_equal(a, e)


@pytest.mark.parametrize("cell", [c for c in LSTM_CELLS if c.recurrent_input == "cell"],
                         ids=lambda c: c.name)
def test_cell_form_does_not_read_h0(rng, cell):
    lengths = [3, 7, 1, 5]
    X, params, states = cell_inputs(rng, cell, lengths, 2, 3)
    a = cell.forward(X, params, lengths=lengths, **states)
    b = cell.forward(X, params, lengths=lengths, h0=-states["h0"], c0=states["c0"])
    for x, y in zip(a[:3], b[:3]):
        np.testing.assert_array_equal(x, y)
    grads = cell.backward(a[3], np.ones_like(a[0]), d_hn=np.ones_like(a[1]),
                          d_cn=np.ones_like(a[2]))
    np.testing.assert_array_equal(grads.dh0, np.zeros_like(states["h0"]))


# --- gradients against central differences --------------------------------------


def numerical_gradient(f, arrays, name, eps=1e-6):
    base = arrays[name]
    grad = np.zeros_like(base)
    for idx in np.ndindex(base.shape):
        saved = base[idx]
        base[idx] = saved + eps
        up = f(**arrays)
        base[idx] = saved - eps
        down = f(**arrays)
        base[idx] = saved
        grad[idx] = (up - down) / (2 * eps)
    return grad


GRADIENT_CASES = {
    "tiny": dict(lengths=[1], D=1, H=1, reverse=False, states=False),
    "tiny-states": dict(lengths=[1], D=1, H=1, reverse=False, states=True),
    "ragged-unsorted": dict(lengths=[3, 5, 1, 4], D=2, H=3, reverse=False,
                            states=False),
    "reverse": dict(lengths=[4, 2, 4, 1], D=2, H=3, reverse=True, states=False),
    "random-states": dict(lengths=[2, 4, 1, 3], D=2, H=3, reverse=False, states=True),
    "reverse-states": dict(lengths=[3, 1, 3], D=2, H=2, reverse=True, states=True),
}


@ALL_CELLS
@pytest.mark.parametrize("case", list(GRADIENT_CASES), ids=list(GRADIENT_CASES))
def test_gradients_match_finite_differences(rng, cell, case):
    spec = GRADIENT_CASES[case]
    lengths, D, H, reverse = spec["lengths"], spec["D"], spec["H"], spec["reverse"]
    B, T = len(lengths), max(lengths)
    X, params, states = cell_inputs(rng, cell, lengths, D, H, states=spec["states"])
    A = rng.normal(size=(B, T, H))  # also past the lengths: must have no effect
    a, c = rng.normal(size=(B, H)), rng.normal(size=(B, H))

    def loss(X, h0=None, c0=None, **params):
        out, h_n, c_n = cell.reference(X, params, lengths=lengths, h0=h0, c0=c0,
                                       reverse=reverse)
        total = (A * out).sum() + (a * h_n).sum()
        return total if c_n is None else total + (c * c_n).sum()

    _, _, _, cache = cell.forward(X, params, lengths=lengths, reverse=reverse,
                                  **states)
    grads = cell.backward(cache, A, d_hn=a, d_cn=None if cell.is_gru else c)
    expected_type = "GRUGradients" if cell.is_gru else "LSTMGradients"
    assert type(grads).__name__ == expected_type
    arrays = dict(X=X, **params)
    for name in cell.state_names:  # the gradient at zero states when none given
        arrays[name] = states[name] if spec["states"] else np.zeros((B, H))
    got = grad_arrays(cell, grads)
    for name in arrays:
        expected = numerical_gradient(loss, arrays, name)
        assert got[name] is not None, name
        assert got[name].shape == expected.shape, name
        assert got[name].dtype == np.float64, name
        assert rel_err(got[name], expected) < 1e-6, name
    assert np.all(grads.dX[valid_mask(lengths, T, D) == 0] == 0)
    if cell.recurrent_input == "cell":
        np.testing.assert_array_equal(grads.dh0, np.zeros((B, H)))


@pytest.mark.parametrize("cell", [c for c in LSTM_CELLS if not c.peephole],
                         ids=lambda c: c.name)
def test_dP_is_None_without_peephole(rng, cell):
    X, params, _ = cell_inputs(rng, cell, [3, 1, 2], 2, 3)
    out, _, _, cache = cell.forward(X, params, lengths=[3, 1, 2])
    grads = cell.backward(cache, np.ones_like(out))
    assert grads.dP is None


def test_gradient_field_names():
    assert api("LSTMGradients")._fields == (
        "dX", "dW", "dU", "db", "dh0", "dc0", "dP")
    assert api("GRUGradients")._fields == ("dX", "dW", "dU", "db_ih", "db_hh", "dh0")


@ALL_CELLS
def test_float32_gradients_and_compute_dX(rng, cell):
    lengths = [3, 5, 1, 4]
    X, params, states = cell_inputs(rng, cell, lengths, 2, 3, np.float32)
    out, h_n, c_n, cache = cell.forward(X, params, lengths=lengths, **states)
    d_out = rng.normal(size=out.shape).astype(np.float32)
    d_hn = rng.normal(size=h_n.shape).astype(np.float32)
    d_cn = None if cell.is_gru else rng.normal(size=h_n.shape).astype(np.float32)
    full = cell.backward(cache, d_out, d_hn, d_cn)
    lean = cell.backward(cache, d_out, d_hn, d_cn, compute_dX=False)
    assert lean.dX is None
    for name, g in grad_arrays(cell, full).items():
        assert g.dtype == np.float32, name
        if name != "X":
            np.testing.assert_array_equal(getattr(lean, "d" + name), g)
    # float32 follows float64
    params64 = {k: v.astype(np.float64) for k, v in params.items()}
    states64 = {k: v.astype(np.float64) for k, v in states.items()}
    _, _, _, cache64 = cell.forward(X.astype(np.float64), params64, lengths=lengths,
                                    **states64)
    as64 = [None if v is None else v.astype(np.float64) for v in (d_out, d_hn, d_cn)]
    full64 = cell.backward(cache64, *as64)
    for name, g in grad_arrays(cell, full).items():
        assert rel_err(g, getattr(full64, "d" + name)) < 1e-4, name


# --- threads --------------------------------------------------------------------


def _forward_backward(cell, job):
    X, params, states, lengths, reverse, d_out, d_hn, d_cn = job
    out, h_n, c_n, cache = cell.forward(X, params, lengths=lengths, reverse=reverse,
                                        **states)
    grads = cell.backward(cache, d_out, d_hn, d_cn)
    return [out, h_n, c_n] + [g for g in grads]


def _job(rng, cell, B, T, D, H, dtype, reverse, min_length):
    lengths = rng.integers(min_length, T + 1, size=B)
    X, params, states = cell_inputs(rng, cell, lengths, D, H, dtype, scale=0.2)
    X = np.concatenate([X, np.zeros((B, T - X.shape[1], D), dtype=dtype)], axis=1)
    d_out = rng.normal(size=(B, T, H)).astype(dtype)
    d_hn = rng.normal(size=(B, H)).astype(dtype)
    d_cn = None if cell.is_gru else rng.normal(size=(B, H)).astype(dtype)
    return X, params, states, lengths, reverse, d_out, d_hn, d_cn


def _assert_all_equal(got, expected):
    assert len(got) == len(expected)
    for a, e in zip(got, expected):
        if e is None:
            assert a is None
        else:
            np.testing.assert_array_equal(a, e)


@ALL_CELLS
def test_one_and_two_threads_agree_bit_for_bit(rng, dtype, cell):
    # Big enough for the kernels to split the work over two threads; each
    # output element must still be computed by one thread in a fixed order.
    job = _job(rng, cell, B=64, T=12, D=32, H=128, dtype=dtype,
               reverse=dtype is np.float64, min_length=6)
    results = {}
    for n_threads in (1, 2):
        with threadpool_limits(limits=n_threads):
            results[n_threads] = _forward_backward(cell, job)
    _assert_all_equal(results[2], results[1])


def _run_concurrently(cells, jobs, repeats=2):
    results = [None] * len(jobs)
    errors = []
    barrier = threading.Barrier(len(jobs))

    def worker(k):
        try:
            barrier.wait()
            for _ in range(repeats):
                results[k] = _forward_backward(cells[k], jobs[k])
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


@ALL_CELLS
def test_concurrent_calls_are_bit_identical_to_serial(rng, cell):
    cells = [cell] * 4
    jobs = [_job(rng, cell, B=16, T=16, D=8, H=40, dtype=np.float32,
                 reverse=bool(k % 2), min_length=4) for k in range(4)]
    serial = [_forward_backward(c, job) for c, job in zip(cells, jobs)]
    for got, expected in zip(_run_concurrently(cells, jobs), serial):
        _assert_all_equal(got, expected)


def test_concurrent_mixed_cells_are_bit_identical_to_serial(rng):
    cells = [CELLS[name] for name in ("gru", "lstm-hidden-tanh-peephole",
                                      "lstm-cell-identity", "lstm-hidden-tanh")]
    jobs = [_job(rng, c, B=24, T=30, D=16, H=64, dtype=np.float64, reverse=bool(k % 2),
                 min_length=10) for k, c in enumerate(cells)]
    serial = [_forward_backward(c, job) for c, job in zip(cells, jobs)]
    for got, expected in zip(_run_concurrently(cells, jobs), serial):
        _assert_all_equal(got, expected)


# --- errors ---------------------------------------------------------------------

B_, T_, D_, H_ = 3, 4, 2, 5


def _lstm_args(rng, recurrent="hidden"):
    n_rows = 4 * H_ if recurrent == "hidden" else 3 * H_
    return (rng.normal(size=(B_, T_, D_)), rng.normal(size=(4 * H_, D_)),
            rng.normal(size=(n_rows, H_)), np.zeros(4 * H_))


def _gru_args(rng):
    return (rng.normal(size=(B_, T_, D_)), rng.normal(size=(3 * H_, D_)),
            rng.normal(size=(3 * H_, H_)), np.zeros(3 * H_), np.zeros(3 * H_))


P_NAME = r"\bP\b|peephole"


@pytest.mark.parametrize("recurrent", ["hidden", "cell"])
@pytest.mark.parametrize("shape", [(4, H_), (3, H_ + 1), (3, H_ - 1), (H_, 3), (3,),
                                   (3 * H_,), (3, H_, 1)])
def test_peephole_shape(rng, recurrent, shape):
    X, W, U, b = _lstm_args(rng, recurrent)
    with pytest.raises(ValueError, match=P_NAME):
        api("lstm_forward")(X, W, U, b, peephole=np.zeros(shape),
                            recurrent_input=recurrent)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_peephole(rng, bad):
    X, W, U, b = _lstm_args(rng)
    P = np.zeros((3, H_))
    P[1, 2] = bad
    with pytest.raises(ValueError, match=P_NAME) as excinfo:
        api("lstm_forward")(X, W, U, b, peephole=P)
    assert "NaN" in str(excinfo.value) or "finite" in str(excinfo.value)


@pytest.mark.parametrize("recurrent, n_rows", [("cell", 4 * H_), ("hidden", 3 * H_)])
def test_U_shape_must_follow_recurrent_input(rng, recurrent, n_rows):
    X, W, _, b = _lstm_args(rng)
    with pytest.raises(ValueError, match=r"\bU\b"):
        api("lstm_forward")(X, W, np.zeros((n_rows, H_)), b, recurrent_input=recurrent)


@pytest.mark.parametrize("value", ["relu", "sigmoid", ""])
def test_unknown_hidden_activation(rng, value):
    with pytest.raises(ValueError, match="hidden_activation"):
        api("lstm_forward")(*_lstm_args(rng), hidden_activation=value)


@pytest.mark.parametrize("value", ["output", "input", "c"])
def test_unknown_recurrent_input(rng, value):
    with pytest.raises(ValueError, match="recurrent_input"):
        api("lstm_forward")(*_lstm_args(rng), recurrent_input=value)


@pytest.mark.parametrize("shape", [(4 * H_, H_), (3 * H_, H_ + 1), (H_, H_),
                                   (3 * H_,)])
def test_gru_U_shape(rng, shape):
    X, W, _, b_ih, b_hh = _gru_args(rng)
    with pytest.raises(ValueError, match=r"\bU\b"):
        api("gru_forward")(X, W, np.zeros(shape), b_ih, b_hh)


def test_gru_W_shape(rng):
    X, _, U, b_ih, b_hh = _gru_args(rng)
    with pytest.raises(ValueError, match=r"\bW\b"):
        api("gru_forward")(X, np.zeros((3 * H_, D_ + 1)), U, b_ih, b_hh)
    with pytest.raises(ValueError, match=r"\bW\b"):
        api("gru_forward")(X, np.zeros((4 * H_, D_)), U, b_ih, b_hh)


@pytest.mark.parametrize("name", ["b_ih", "b_hh"])
@pytest.mark.parametrize("shape", [(3 * H_ + 1,), (4 * H_,), (3 * H_, 1), ()])
def test_gru_bias_shape(rng, name, shape):
    X, W, U, b_ih, b_hh = _gru_args(rng)
    biases = dict(b_ih=b_ih, b_hh=b_hh)
    biases[name] = np.zeros(shape)
    with pytest.raises(ValueError, match=name):
        api("gru_forward")(X, W, U, biases["b_ih"], biases["b_hh"])


def test_gru_h0_shape(rng):
    with pytest.raises(ValueError, match="h0"):
        api("gru_forward")(*_gru_args(rng), h0=np.zeros((B_, H_ - 1)))


@pytest.mark.parametrize("name", ["W", "U", "b_ih", "b_hh", "h0"])
def test_gru_non_finite_parameters(rng, name):
    X, W, U, b_ih, b_hh = _gru_args(rng)
    values = dict(W=W, U=U, b_ih=b_ih, b_hh=b_hh, h0=np.zeros((B_, H_)))
    values[name] = values[name].copy()
    values[name].flat[0] = np.nan
    with pytest.raises(ValueError, match=name):
        api("gru_forward")(X, values["W"], values["U"], values["b_ih"],
                           values["b_hh"], h0=values["h0"])


def test_backward_rejects_the_other_cells_cache(rng):
    X, W, U, b = _lstm_args(rng)
    out, _, lstm_cache = api("lstm_forward")(X, W, U, b)
    gru_out, _, gru_cache = api("gru_forward")(*_gru_args(rng))
    with pytest.raises(TypeError):
        api("lstm_backward")(gru_cache, gru_out)
    with pytest.raises(TypeError):
        api("gru_backward")(lstm_cache, out)
    with pytest.raises(TypeError):
        api("gru_backward")((gru_out, None), gru_out)
