"""The GPU backend's recurrent layers against the CPU kernels.

One set of test bodies over two engines: the CPU emulation of the CUDA
kernels (``tests/cuda/_emulator.py``: the drivers' host code and the
kernels' arithmetic, in CI) and CuPy on a GPU (skipped without one). Each
compares ``sklstm._cuda._recurrent`` with the packed entry points of
``sklstm.functional`` on the CPU, for every cell form, ragged unsorted
lengths, both directions and both precisions.
"""

import numpy as np
import pytest

from sklstm import functional as F
from sklstm._cuda import _recurrent
from sklstm._packing import PackedPlan

TOL = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-5)}
LSTM_KINDS = list(range(8))


def _problem(rng, dtype, lengths, D, H, kind):
    plan = PackedPlan(np.asarray(lengths))
    n_rows, B = plan.n_rows, len(lengths)
    n_rec = 3 if kind & F._CELL_INPUT else 4
    scale = 0.6
    X = rng.normal(size=(n_rows, D)).astype(dtype)
    W = (scale * rng.normal(size=(4 * H, D))).astype(dtype)
    U = (scale * rng.normal(size=(n_rec * H, H))).astype(dtype)
    b = (0.3 * rng.normal(size=4 * H)).astype(dtype)
    P = (0.5 * rng.normal(size=(3, H))).astype(dtype) if kind & F._PEEPHOLE else None
    h0 = (0.5 * rng.normal(size=(B, H))).astype(dtype)
    c0 = (0.5 * rng.normal(size=(B, H))).astype(dtype)
    return plan, X, W, U, b, P, h0, c0


def _dev(engine, *arrays):
    return [None if a is None else engine.asarray(np.ascontiguousarray(a))
            for a in arrays]


def _close(engine, got, want, dtype, what):
    assert (got is None) == (want is None), what
    if want is not None:
        np.testing.assert_allclose(engine.asnumpy(got), want, err_msg=what,
                                   **TOL[dtype])


CASES = [
    ([5, 2, 7, 7, 1], 3, 4),    # ragged, unsorted, a length-1 sequence
    ([1], 1, 1),                # B = T = D = H = 1
    ([6, 6, 6], 2, 5),          # equal lengths
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", LSTM_KINDS)
@pytest.mark.parametrize("case", range(len(CASES)))
def test_lstm_forward_backward(engine, dtype, kind, case):
    lengths, D, H = CASES[case]
    rng = np.random.default_rng(100 + 10 * kind + case)
    plan, X, W, U, b, P, h0, c0 = _problem(rng, dtype, lengths, D, H, kind)
    for reverse in (False, True):
        want = F._lstm_packed(plan, X, W, U, b, h0, c0, P=P, kind=kind, reverse=reverse)
        got = _recurrent.lstm_packed(engine, plan, *_dev(engine, X, W, U, b, h0, c0),
                                     P=_dev(engine, P)[0], kind=kind, reverse=reverse)
        for name in ("gates", "cells", "hidden"):
            _close(engine, getattr(got, name), getattr(want, name), dtype, name)
        d_hidden = rng.normal(size=want.hidden.shape).astype(dtype)
        dh_n = rng.normal(size=h0.shape).astype(dtype)
        dc_n = rng.normal(size=c0.shape).astype(dtype)
        for carries in ((None, None), (dh_n, dc_n)):
            expected = F._lstm_packed_backward(want, d_hidden, *carries)
            result = _recurrent.lstm_packed_backward(
                engine, got, *_dev(engine, d_hidden, *carries))
            for name, g, w in zip(F.LSTMGradients._fields, result, expected):
                _close(engine, g, w, dtype, f"{name} (kind {kind}, reverse {reverse})")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_gru_forward_backward(engine, dtype, case):
    lengths, D, H = CASES[case]
    rng = np.random.default_rng(7 + case)
    plan = PackedPlan(np.asarray(lengths))
    X = rng.normal(size=(plan.n_rows, D)).astype(dtype)
    W, U = (0.6 * rng.normal(size=(3 * H, D))).astype(dtype), (
        0.6 * rng.normal(size=(3 * H, H))).astype(dtype)
    b_ih, b_hh = (0.3 * rng.normal(size=(2, 3 * H))).astype(dtype)
    h0 = (0.5 * rng.normal(size=(len(lengths), H))).astype(dtype)
    want = F._gru_packed(plan, X, W, U, b_ih, b_hh, h0)
    got = _recurrent.gru_packed(engine, plan, *_dev(engine, X, W, U, b_ih, b_hh, h0))
    _close(engine, got.hidden, want.hidden, dtype, "hidden")
    d_hidden = rng.normal(size=want.hidden.shape).astype(dtype)
    dh_n = rng.normal(size=h0.shape).astype(dtype)
    for carry in (None, dh_n):
        expected = F._gru_packed_backward(want, d_hidden, carry)
        result = _recurrent.gru_packed_backward(engine, got,
                                                *_dev(engine, d_hidden, carry))
        for name, g, w in zip(F.GRUGradients._fields, result, expected):
            _close(engine, g, w, dtype, name)


def test_compute_dX_false_skips_it(engine):
    rng = np.random.default_rng(0)
    plan, X, W, U, b, P, h0, c0 = _problem(rng, np.float64, [3, 2], 2, 3, 0)
    got = _recurrent.lstm_packed(engine, plan, *_dev(engine, X, W, U, b, h0, c0))
    d_hidden = engine.asarray(np.ones((plan.n_rows, 3)))
    assert _recurrent.lstm_packed_backward(engine, got, d_hidden,
                                           compute_dX=False)[0] is None


def test_backward_leaves_its_inputs(engine):
    """The cache and d_hidden are not modified, so backward passes repeat."""
    rng = np.random.default_rng(1)
    plan, X, W, U, b, P, h0, c0 = _problem(rng, np.float64, [4, 1, 3], 2, 3,
                                           F._CELL_INPUT)
    got = _recurrent.lstm_packed(engine, plan, *_dev(engine, X, W, U, b, h0, c0),
                                 kind=F._CELL_INPUT)
    d_hidden, dh_n = _dev(engine, rng.normal(size=(plan.n_rows, 3)),
                          rng.normal(size=(3, 3)))
    before = engine.asnumpy(d_hidden).copy()
    first = _recurrent.lstm_packed_backward(engine, got, d_hidden, dh_n)
    second = _recurrent.lstm_packed_backward(engine, got, d_hidden, dh_n)
    np.testing.assert_array_equal(engine.asnumpy(d_hidden), before)
    for a, b_ in zip(first, second):
        if a is not None:
            np.testing.assert_array_equal(engine.asnumpy(a), engine.asnumpy(b_))


@pytest.mark.parametrize("kind", [0, F._PEEPHOLE, F._GRU])
@pytest.mark.parametrize("reverse", [False, True])
def test_packed_states(engine, kind, reverse):
    """Inference: the hidden states alone, in the forward packing's order."""
    rng = np.random.default_rng(2)
    plan = PackedPlan(np.array([4, 2, 3, 1]))
    H, D = 3, 2
    X = rng.normal(size=(plan.n_rows, D))
    W, U, b = rng.normal(size=(4 * H, D)), rng.normal(size=(4 * H, H)), rng.normal(
        size=4 * H)
    if kind == F._GRU:
        # the kernels' four slots: no recurrent n_x block, no input n_h block
        # (the CPU kernel does not read them)
        U[2 * H : 3 * H] = 0
        W[3 * H :] = 0
    P = rng.normal(size=(3, H)) if kind & F._PEEPHOLE else np.zeros((3, H))
    want = F._packed_states(plan, X, np.empty((plan.n_rows, H)), W, U, b, P, kind,
                            reverse)
    out = engine.asarray(np.empty((plan.n_rows, H)))
    _recurrent.packed_states(engine, plan, *_dev(engine, X), out,
                             *_dev(engine, W, U, b, P), kind, reverse)
    np.testing.assert_allclose(engine.asnumpy(out), want, rtol=1e-12, atol=1e-12)


def test_every_kernel_ran(engine):
    if engine.name != "emulated":
        pytest.skip("launch counts are the emulator's")
    for name in ("lstm_cell_forward", "lstm_cell_backward", "gru_cell_forward",
                 "gru_cell_backward"):
        assert engine.launches.get(name, 0) > 0, name
