"""The LSTM kernels through sklstm.functional, against tests/_reference.py."""

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from sklstm.functional import LSTMGradients, lstm_backward, lstm_forward

from .. import _reference

RTOL = {np.float32: 1e-5, np.float64: 1e-12}


def rel_err(a, b):
    """max|a - b| / max|b|, the error measure of every comparison here."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.abs(b).max()
    return np.abs(a - b).max() / (scale if scale > 0 else 1.0)


def make_params(rng, D, H, dtype=np.float64, scale=0.5):
    W = rng.normal(scale=scale, size=(4 * H, D)).astype(dtype)
    U = rng.normal(scale=scale, size=(4 * H, H)).astype(dtype)
    b = rng.normal(scale=0.2, size=4 * H).astype(dtype)
    return W, U, b


def valid_mask(lengths, T, width):
    mask = np.zeros((len(lengths), T, width))
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    return mask


# --- forward against the reference -----------------------------------------


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize(
    "B, T, D, H",
    [(1, 1, 1, 1), (3, 6, 4, 5), (8, 12, 7, 16), (17, 9, 3, 40), (2, 40, 2, 3),
     (7, 5, 33, 37), (25, 4, 70, 9)],
)
def test_forward_matches_reference(rng, dtype, reverse, B, T, D, H):
    X = rng.normal(size=(B, T, D)).astype(dtype)
    W, U, b = make_params(rng, D, H, dtype)
    lengths = rng.integers(1, T + 1, size=B)
    h0 = rng.normal(size=(B, H)).astype(dtype)
    c0 = rng.normal(size=(B, H)).astype(dtype)
    out, (h_n, c_n), _ = lstm_forward(
        X, W, U, b, lengths=lengths, h0=h0, c0=c0, reverse=reverse
    )
    ref_out, ref_h, ref_c = _reference.lstm_forward(
        X, W, U, b, lengths=lengths, h0=h0, c0=c0, reverse=reverse
    )
    assert out.dtype == dtype and h_n.dtype == dtype and c_n.dtype == dtype
    assert out.shape == (B, T, H)
    assert rel_err(out, ref_out) < RTOL[dtype]
    assert rel_err(h_n, ref_h) < RTOL[dtype]
    assert rel_err(c_n, ref_c) < RTOL[dtype]
    # zero past each length, exactly
    assert np.all(out * (1 - valid_mask(lengths, T, H)) == 0)


def test_forward_hand_computed_single_step():
    # One unit, one step, from zero state: c = σ(i)·tanh(g), h = σ(o)·tanh(c).
    x = np.array([[[2.0]]])
    W = np.array([[0.5], [-1.0], [0.25], [1.5]])
    U = np.zeros((4, 1))
    b = np.array([0.1, 0.2, -0.3, 0.0])
    out, (h_n, c_n), _ = lstm_forward(x, W, U, b)
    s = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    c = s(1.1) * np.tanh(0.2)
    h = s(3.0) * np.tanh(c)
    assert out[0, 0, 0] == pytest.approx(h, rel=1e-15)
    assert c_n[0, 0] == pytest.approx(c, rel=1e-15)
    assert h_n[0, 0] == pytest.approx(h, rel=1e-15)


def test_list_input_equals_padded_input(rng, dtype):
    lengths = [5, 2, 5, 1, 3]
    seqs = [rng.normal(size=(n, 3)).astype(dtype) for n in lengths]
    padded = np.full((5, 5, 3), np.nan, dtype=dtype)  # padding is never read
    for i, s in enumerate(seqs):
        padded[i, : len(s)] = s
    W, U, b = make_params(rng, 3, 4, dtype)
    out_list, (h_l, c_l), _ = lstm_forward(seqs, W, U, b)
    out_pad, (h_p, c_p), _ = lstm_forward(padded, W, U, b, lengths=lengths)
    np.testing.assert_array_equal(out_list, out_pad)
    np.testing.assert_array_equal(h_l, h_p)
    np.testing.assert_array_equal(c_l, c_p)
    # h_n is each sequence's own last output
    for i, n in enumerate(lengths):
        np.testing.assert_array_equal(h_l[i], out_list[i, n - 1])


def test_reverse_runs_each_sequence_backwards_within_its_length(rng):
    lengths = [4, 2, 3]
    seqs = [rng.normal(size=(n, 2)) for n in lengths]
    W, U, b = make_params(rng, 2, 3)
    out, (h_n, _), _ = lstm_forward(seqs, W, U, b, reverse=True)
    for i, s in enumerate(seqs):
        fwd, (h_f, _), _ = lstm_forward([s[::-1]], W, U, b)
        np.testing.assert_allclose(out[i, : len(s)], fwd[0, ::-1], rtol=1e-14)
        np.testing.assert_allclose(h_n[i], h_f[0], rtol=1e-14)
        np.testing.assert_allclose(h_n[i], out[i, 0], rtol=1e-14)


def test_batching_does_not_change_results(rng):
    # Each sequence's result is the same alone as within a shuffled batch.
    lengths = rng.integers(1, 9, size=11)
    seqs = [rng.normal(size=(n, 3)) for n in lengths]
    W, U, b = make_params(rng, 3, 6)
    out, _, _ = lstm_forward(seqs, W, U, b)
    for i, s in enumerate(seqs):
        alone, _, _ = lstm_forward([s], W, U, b)
        np.testing.assert_allclose(alone[0], out[i, : len(s)], rtol=1e-13, atol=1e-15)


def test_weights_of_other_precision_are_cast(rng):
    X = rng.normal(size=(2, 3, 2)).astype(np.float32)
    W, U, b = make_params(rng, 2, 3, np.float64)
    out, (h_n, c_n), cache = lstm_forward(X, W, U, b)
    assert out.dtype == np.float32 and h_n.dtype == np.float32
    grads = lstm_backward(cache, np.ones_like(out))
    assert grads.dP is None  # no peepholes
    assert all(g.dtype == np.float32 for g in grads[:-1])


def test_read_only_inputs_are_accepted(rng):
    X = rng.normal(size=(3, 4, 2))
    W, U, b = make_params(rng, 2, 3)
    arrays = [X, W, U, b]
    for a in arrays:
        a.setflags(write=False)
    out, _, cache = lstm_forward(X, W, U, b)
    d_out = np.ones_like(out)
    d_out.setflags(write=False)
    lstm_backward(cache, d_out)


# --- gradients ----------------------------------------------------------------


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
    "variable-unsorted": dict(
        lengths=[3, 5, 3, 1, 5, 2], D=3, H=4, reverse=False, states=False
    ),
    "reverse": dict(lengths=[4, 2, 4, 3], D=2, H=3, reverse=True, states=False),
    "random-states": dict(lengths=[2, 4, 1, 4], D=2, H=3, reverse=False, states=True),
    "reverse-states": dict(lengths=[3, 1, 3], D=2, H=2, reverse=True, states=True),
}


@pytest.mark.parametrize("case", list(GRADIENT_CASES), ids=list(GRADIENT_CASES))
def test_gradients_match_finite_differences(rng, case):
    spec = GRADIENT_CASES[case]
    lengths, D, H, reverse = spec["lengths"], spec["D"], spec["H"], spec["reverse"]
    B, T = len(lengths), max(lengths)
    W, U, b = make_params(rng, D, H)
    arrays = dict(X=rng.normal(size=(B, T, D)), W=W, U=U, b=b)
    if spec["states"]:
        arrays["h0"] = rng.normal(size=(B, H))
        arrays["c0"] = rng.normal(size=(B, H))
    d_out = rng.normal(size=(B, T, H))
    d_hn = rng.normal(size=(B, H))
    d_cn = rng.normal(size=(B, H))
    mask = valid_mask(lengths, T, H)

    def loss(X, W, U, b, h0=None, c0=None):
        out, h_n, c_n = _reference.lstm_forward(
            X, W, U, b, lengths=lengths, h0=h0, c0=c0, reverse=reverse
        )
        return (d_out * mask * out).sum() + (d_hn * h_n).sum() + (d_cn * c_n).sum()

    _, _, cache = lstm_forward(
        arrays["X"], W, U, b, lengths=lengths, h0=arrays.get("h0"),
        c0=arrays.get("c0"), reverse=reverse,
    )
    grads = lstm_backward(cache, d_out, d_hn=d_hn, d_cn=d_cn)
    assert isinstance(grads, LSTMGradients)
    for name in ("X", "W", "U", "b", "h0", "c0"):
        if name in ("h0", "c0") and name not in arrays:
            arrays[name] = np.zeros((B, H))
        expected = numerical_gradient(loss, arrays, name)
        got = getattr(grads, "d" + name)
        assert got.shape == expected.shape
        assert rel_err(got, expected) < 1e-6, name
    # padding of dX is exactly zero
    assert np.all(grads.dX * (1 - valid_mask(lengths, T, D)) == 0)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize(
    "B, T, D, H",
    [(1, 7, 3, 2), (5, 6, 4, 5), (17, 9, 33, 37), (4, 3, 70, 64), (10, 4, 1, 65)],
)
def test_backward_matches_reference(rng, dtype, reverse, B, T, D, H):
    # Shapes that cross every block boundary of the kernels (8-unit gate
    # blocks, 32-column panels, 3-row tiles); the reference backward is
    # itself checked against finite differences above (test_reference_*).
    X = rng.normal(size=(B, T, D))
    W, U, b = make_params(rng, D, H, scale=0.3)
    lengths = rng.integers(1, T + 1, size=B)
    h0, c0 = rng.normal(size=(B, H)), rng.normal(size=(B, H))
    d_out, d_hn, d_cn = (rng.normal(size=s) for s in ((B, T, H), (B, H), (B, H)))
    d_out *= valid_mask(lengths, T, H)
    _, _, cache = lstm_forward(X.astype(dtype), W.astype(dtype), U.astype(dtype),
                               b.astype(dtype), lengths=lengths, h0=h0.astype(dtype),
                               c0=c0.astype(dtype), reverse=reverse)
    grads = lstm_backward(cache, d_out.astype(dtype), d_hn=d_hn.astype(dtype),
                          d_cn=d_cn.astype(dtype))
    expected = _reference.lstm_backward(X, W, U, b, d_out, d_hn, d_cn, lengths=lengths,
                                        h0=h0, c0=c0, reverse=reverse)
    tol = {np.float32: 1e-4, np.float64: 1e-12}[dtype]
    for name, got, want in zip(LSTMGradients._fields, grads, expected):
        assert got.dtype == dtype
        assert rel_err(got, want) < tol, name


def test_reference_backward_matches_finite_differences(rng):
    lengths, D, H = [3, 1, 3, 2], 2, 3
    B, T = len(lengths), max(lengths)
    W, U, b = make_params(rng, D, H)
    arrays = dict(X=rng.normal(size=(B, T, D)), W=W, U=U, b=b,
                  h0=rng.normal(size=(B, H)), c0=rng.normal(size=(B, H)))
    d_out = rng.normal(size=(B, T, H)) * valid_mask(lengths, T, H)
    d_hn, d_cn = rng.normal(size=(B, H)), rng.normal(size=(B, H))
    for reverse in (False, True):
        def loss(X, W, U, b, h0, c0):
            out, h_n, c_n = _reference.lstm_forward(
                X, W, U, b, lengths=lengths, h0=h0, c0=c0, reverse=reverse)
            return (d_out * out).sum() + (d_hn * h_n).sum() + (d_cn * c_n).sum()

        grads = _reference.lstm_backward(
            arrays["X"], W, U, b, d_out, d_hn, d_cn, lengths=lengths,
            h0=arrays["h0"], c0=arrays["c0"], reverse=reverse)
        for name, got in zip(("X", "W", "U", "b", "h0", "c0"), grads):
            assert rel_err(got, numerical_gradient(loss, arrays, name)) < 1e-6, name


def test_backward_ignores_d_out_past_lengths(rng):
    lengths = [4, 2]
    X = rng.normal(size=(2, 4, 3))
    W, U, b = make_params(rng, 3, 2)
    _, _, cache = lstm_forward(X, W, U, b, lengths=lengths)
    d_out = rng.normal(size=(2, 4, 2))
    noisy = d_out.copy()
    noisy[1, 2:] = np.nan  # past the length: never read
    a = lstm_backward(cache, d_out * valid_mask(lengths, 4, 2))
    c = lstm_backward(cache, noisy)
    for x, y in zip(a, c):
        np.testing.assert_array_equal(x, y)


def test_backward_without_dX_and_repeatable(rng, dtype):
    X = rng.normal(size=(3, 5, 2)).astype(dtype)
    W, U, b = make_params(rng, 2, 4, dtype)
    out, _, cache = lstm_forward(X, W, U, b, lengths=[5, 3, 4])
    d_out = rng.normal(size=out.shape).astype(dtype)
    full = lstm_backward(cache, d_out)
    lean = lstm_backward(cache, d_out, compute_dX=False)
    assert lean.dX is None
    for name in ("dW", "dU", "db", "dh0", "dc0"):
        np.testing.assert_array_equal(getattr(full, name), getattr(lean, name))


def test_float32_gradients_follow_float64(rng):
    X = rng.normal(size=(4, 6, 3))
    W, U, b = make_params(rng, 3, 5)
    d_out = rng.normal(size=(4, 6, 5))
    grads = {}
    for dt in (np.float32, np.float64):
        _, _, cache = lstm_forward(X.astype(dt), W.astype(dt), U.astype(dt),
                                   b.astype(dt), lengths=[6, 2, 5, 6])
        grads[dt] = lstm_backward(cache, d_out.astype(dt))
    for g32, g64 in zip(grads[np.float32][:-1], grads[np.float64][:-1]):  # no dP
        assert rel_err(g32, g64) < 1e-4


# --- threads --------------------------------------------------------------------


def test_concurrent_calls_are_bit_identical_to_serial(rng):
    jobs = []
    for k in range(4):
        lengths = rng.integers(20, 60, size=24)
        X = [rng.normal(size=(n, 16)).astype(np.float32) for n in lengths]
        W, U, b = make_params(rng, 16, 64, np.float32, scale=0.2)
        jobs.append((X, W, U, b, bool(k % 2)))

    def run(job):
        X, W, U, b, reverse = job
        out, (h_n, c_n), cache = lstm_forward(X, W, U, b, reverse=reverse)
        grads = lstm_backward(cache, out)
        return (out, h_n, c_n) + tuple(grads)

    serial = [run(job) for job in jobs]
    results = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def worker(k):
        barrier.wait()
        for _ in range(3):
            results[k] = run(jobs[k])

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, expected in zip(results, serial):
        for a, e in zip(got, expected):
            np.testing.assert_array_equal(a, e)


@pytest.mark.parametrize("H", [8, 96, 200, 300])
@pytest.mark.parametrize("layout", ["ragged", "one long", "equal", "few"])
def test_one_and_two_threads_agree_bit_for_bit(rng, dtype, H, layout):
    # Threads take pieces of the batch, whose cuts move with the thread
    # count; each output element is still computed by one thread in an order
    # fixed by the batch, so the thread count cannot change a single bit.
    # "one long": a sequence alone for its last steps (a step of one row);
    # 47 sequences: pieces that end inside a register tile. "few" with
    # H = 300 in float64: too few sequences for pieces, each step split by
    # units instead.
    lengths = rng.integers(30, 80, size={"ragged": 48, "few": 20}.get(layout, 47))
    if layout == "one long":
        lengths[5] = 150
    elif layout == "equal":
        lengths[:] = 60
    X = [rng.normal(size=(n, 12)).astype(dtype) for n in lengths]
    W, U, b = make_params(rng, 12, H, dtype, scale=0.2)
    results = {}
    for n_threads in (1, 2):
        with threadpool_limits(limits=n_threads):
            out, (h_n, c_n), cache = lstm_forward(X, W, U, b)
            grads = lstm_backward(cache, out)
        results[n_threads] = (out, h_n, c_n) + tuple(grads)
    for a, e in zip(results[1], results[2]):
        np.testing.assert_array_equal(a, e)
