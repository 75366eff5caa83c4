"""The GPU backend's CTC loss against the CPU kernel.

One set of test bodies over two engines: the CPU emulation of the CUDA
kernels (``tests/cuda/_emulator.py``: the driver's host code and the
kernels' arithmetic, in CI) and CuPy on a GPU (skipped without one). Each
compares ``sklstm._cuda._ctc.ctc_loss`` with ``sklstm._core._ctc.ctc_loss``
(the kernel behind ``sklstm.functional.ctc_loss``) given the same
arguments and weights: ragged batches, repeated labels, empty and
infeasible targets, ``-inf`` logits, a blank other than 0, a long sequence
of peaked logits, both precisions; and the GPU path's gradient against
finite differences of its loss.
"""

import numpy as np
import pytest

from sklstm import functional as F
from sklstm._core import _ctc as cpu_ctc
from sklstm._cuda import _ctc

from .. import _reference

# Relative to the largest loss or gradient entry (gradients lie in [-1, 1]).
TOL = {np.float64: 1e-12, np.float32: 1e-5}


def _pack(targets):
    offsets = np.zeros(len(targets) + 1, dtype=np.intp)
    np.cumsum([len(t) for t in targets], out=offsets[1:])
    flat = np.concatenate([np.asarray(t, dtype=np.intp) for t in targets]
                          + [np.zeros(1, np.intp)])  # the CPU kernel's spare entry
    return flat, offsets


def _cpu(logits, lengths, targets, blank, weights):
    flat, offsets = _pack(targets)
    losses = np.empty(len(targets))
    grad = np.empty_like(logits)
    cpu_ctc.ctc_loss(logits, np.asarray(lengths, dtype=np.intp), flat, offsets,
                     blank, np.asarray(weights, dtype=np.float64), losses, grad)
    return losses, grad


def _gpu(engine, logits, lengths, targets, blank, weights):
    flat, offsets = _pack(targets)
    losses, grad = _ctc.ctc_loss(engine, engine.asarray(logits), np.asarray(lengths),
                                 flat, offsets, blank, np.asarray(weights))
    assert isinstance(losses, np.ndarray) and losses.dtype == np.float64
    grad = engine.asnumpy(grad)
    assert grad.dtype == logits.dtype and grad.shape == logits.shape
    return losses, grad


def _errors(got, want):
    """(relative error of the finite losses, of the gradient), after checking
    that both agree on which losses are infinite."""
    (lg, gg), (lw, gw) = got, want
    np.testing.assert_array_equal(np.isinf(lg), np.isinf(lw))
    finite = np.isfinite(lw)
    assert np.all(np.isfinite(gg))
    loss_err = 0.0
    if finite.any():
        scale = max(1.0, np.abs(lw[finite]).max())
        loss_err = np.abs(lg[finite] - lw[finite]).max() / scale
    grad_err = np.abs(gg.astype(np.float64) - gw).max() / max(1.0, np.abs(gw).max())
    return loss_err, grad_err


def _check(engine, logits, lengths, targets, blank=0, weights=None):
    """Compare both paths within the precision's tolerance; the errors."""
    if weights is None:
        weights = np.ones(len(targets))
    got = _gpu(engine, logits, lengths, targets, blank, weights)
    want = _cpu(logits, lengths, targets, blank, weights)
    loss_err, grad_err = _errors(got, want)
    tol = TOL[logits.dtype.type]
    assert loss_err <= tol, f"loss error {loss_err:.3g}"
    assert grad_err <= tol, f"gradient error {grad_err:.3g}"
    for b, n in enumerate(lengths):  # nothing past the lengths
        assert not np.any(got[1][b, n:])
    return got, loss_err, grad_err


def _random_targets(rng, lengths, C, blank, repeats=False):
    """A feasible target for each length, some empty; with repeats, runs of
    equal labels (each pair needing a blank frame between)."""
    labels = [k for k in range(C) if k != blank]
    out = []
    for n in lengths:
        L = int(rng.integers(0, max(1, n // 2) + 1))
        if repeats and L:
            t = np.repeat(rng.choice(labels, size=L), 2)[:L]
        else:
            t = rng.choice(labels, size=L)
        while L and len(t) + np.count_nonzero(t[1:] == t[:-1]) > n:
            t = t[:-1]
            L -= 1
        out.append(np.asarray(t, dtype=np.intp))
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(6))
def test_random_ragged_batches(engine, dtype, seed):
    rng = np.random.default_rng(seed)
    B, T, C = int(rng.integers(1, 7)), int(rng.integers(2, 41)), int(rng.integers(2, 8))
    lengths = rng.integers(1, T, size=B) if T > 1 else np.ones(B, dtype=int)
    lengths[0] = T  # one sequence uses every frame
    blank = int(rng.integers(0, C))
    targets = _random_targets(rng, lengths, C, blank, repeats=seed % 2 == 1)
    logits = (2 * rng.normal(size=(B, T, C))).astype(dtype)
    weights = rng.uniform(0.2, 2.0, size=B)
    weights[-1] = 1.0  # the CPU kernel's unscaled branch too
    _check(engine, logits, lengths, targets, blank, weights)


def test_repeated_labels_need_extra_frames(engine):
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4, 6, 3))
    # "1 1 1" needs 5 frames (a blank between each pair): feasible in 5 and 6,
    # not in 4; "1 2 1" needs 3
    lengths = [5, 6, 4, 3]
    targets = [[1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 2, 1]]
    (losses, grad), _, _ = _check(engine, logits, lengths, targets)
    assert np.isfinite(losses[[0, 1, 3]]).all() and np.isinf(losses[2])
    assert not grad[2].any()


def test_empty_targets(engine):
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(3, 7, 4))
    (losses, _), _, _ = _check(engine, logits, [7, 1, 4], [[], [], [3]],
                               blank=0, weights=[0.5, 1.0, 2.0])
    # an empty target is the blank at every frame
    log_y = logits - np.log(np.exp(logits).sum(axis=2, keepdims=True))
    np.testing.assert_allclose(losses[:2], [-log_y[0, :, 0].sum(), -log_y[1, 0, 0]],
                               rtol=1e-13)


def test_infeasible_target_has_infinite_loss_and_zero_gradient(engine):
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(2, 5, 4))
    (losses, grad), _, _ = _check(engine, logits, [3, 5], [[1, 2, 3, 1], [2, 3]],
                                  weights=[0.3, 0.7])
    assert losses[0] == np.inf and np.isfinite(losses[1])
    assert not grad[0].any() and grad[1].any()


def test_minus_inf_logits(engine):
    rng = np.random.default_rng(4)
    B, T, C = 4, 9, 5
    logits = rng.normal(size=(B, T, C))
    logits[:, ::2, 4] = -np.inf                     # class 4 impossible at even frames
    logits[1, 3, :3] = -np.inf                      # a frame with two classes left
    logits[2, :, 2] = -np.inf                       # label 2 impossible everywhere
    logits[3, 4:, 0] = -np.inf                      # no blank in the second half
    targets = [[4, 1, 4], [1, 3], [1, 2], [1, 1, 3]]
    (losses, grad), _, _ = _check(engine, logits, [9, 8, 9, 9], targets,
                                  weights=[1.0, 0.5, 1.0, 2.0])
    assert np.isfinite(losses[[0, 1]]).all()
    assert losses[2] == np.inf and not grad[2].any()   # blocked by -inf
    # a class of probability zero has zero gradient
    assert not grad[0][::2, 4].any() and not grad[1][3, :3].any()


@pytest.mark.parametrize("blank", [2, 6])
def test_blank_not_zero(engine, blank):
    rng = np.random.default_rng(5 + blank)
    logits = rng.normal(size=(3, 12, 7))
    labels = [k for k in range(7) if k != blank]
    targets = [rng.choice(labels, size=n) for n in (4, 0, 5)]
    _check(engine, logits, [12, 10, 11], targets, blank=blank)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_long_sequence_of_peaked_logits(engine, dtype):
    """T = 2000 frames whose emissions span hundreds of orders of magnitude:
    the recursions must neither overflow nor underflow. The CPU kernel takes
    its log-space fallback here; both shift each frame's log alpha and log
    beta', so neither rounds at the scale of the loss (~4e4), and both are
    held to 1e-12 of each other and of an extended-precision reference."""
    rng = np.random.default_rng(6)
    T, C = 2000, 6
    best = rng.integers(0, C, size=(2, T))
    logits = (rng.normal(size=(2, T, C)) + 40.0 * np.eye(C)[best]).astype(dtype)
    lengths, weights = [T, 1500], [1.0, 0.25]
    targets = [rng.integers(1, C, size=300), rng.integers(1, C, size=40)]
    got = _gpu(engine, logits, lengths, targets, 0, weights)
    want = _cpu(logits, lengths, targets, 0, weights)
    loss_err, grad_err = _errors(got, want)
    losses, grad = got
    assert np.isfinite(losses).all() and losses.min() > 1000  # far beyond exp's range
    assert not grad[1, 1500:].any() and np.abs(grad).max() > 0.5
    assert loss_err <= TOL[dtype]
    assert grad_err <= TOL[dtype]
    if dtype == np.float32:
        return
    if np.finfo(np.longdouble).eps > 1e-18:
        pytest.skip("np.longdouble is no wider than float64 here")
    for b, n in enumerate(lengths):
        loss, g = _reference.ctc_extended(logits[b, :n], list(targets[b]), 0)
        assert abs(losses[b] - loss) <= 1e-12 * loss
        assert np.abs(grad[b, :n] - weights[b] * g).max() <= 1e-12


def test_padding_frames_are_not_read(engine):
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(2, 6, 3))
    logits[0, 4:] = np.nan
    logits[1, 2:] = np.inf
    (_, grad), _, _ = _check(engine, logits, [4, 2], [[1, 2], [2]])
    assert np.isfinite(grad).all()


def test_gradient_matches_finite_differences(engine):
    """The gradient of sum_b w_b loss_b, by central differences of the GPU
    path's own losses."""
    rng = np.random.default_rng(8)
    logits = rng.normal(size=(2, 4, 3))
    lengths, targets, weights = [4, 3], [[1, 2], [1, 1]], np.array([0.7, 1.3])
    _, grad = _gpu(engine, logits, lengths, targets, 0, weights)
    h = 1e-5
    numeric = np.zeros_like(logits)
    for idx in np.ndindex(logits.shape):
        up, down = logits.copy(), logits.copy()
        up[idx] += h
        down[idx] -= h
        numeric[idx] = weights @ (_gpu(engine, up, lengths, targets, 0, weights)[0]
                                  - _gpu(engine, down, lengths, targets, 0, weights)[0])
    numeric /= 2 * h
    np.testing.assert_allclose(grad, numeric, atol=1e-9)
    assert not grad[1, 3:].any()


def test_functional_reduction_none_agrees(engine):
    """The public entry point's unreduced losses and gradient, for reference."""
    rng = np.random.default_rng(9)
    logits = rng.normal(size=(3, 10, 5))
    targets = [np.array([1, 2, 3]), np.array([4]), np.array([], dtype=int)]
    want = F.ctc_loss(logits, targets, input_lengths=[10, 7, 5], reduction="none")
    got = _gpu(engine, logits, [10, 7, 5], targets, 0, np.ones(3))
    loss_err, grad_err = _errors(got, want)
    assert loss_err <= 1e-12 and grad_err <= 1e-12
