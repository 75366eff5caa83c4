"""The CTC kernel's log-space fallback against an extended-precision reference.

Long sequences of strongly peaked logits underflow the rescaled recursions,
so the kernel recomputes them in log space. There the state posteriors of
each frame must be normalised by their own total, not by the sequence's
probability: the loss grows with T (here ~4e4), and exp(log α + log β + loss)
would round at that scale (errors ~1e-10 on gradients in [-1, 1]).
"""

import numpy as np
import pytest

from sklstm.functional import ctc_loss

pytestmark = pytest.mark.skipif(
    np.finfo(np.longdouble).eps > 1e-18,
    reason="np.longdouble is no wider than float64 here")


def _log_sum(a, axis):
    m = a.max(axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):  # log(0) = -inf: unreachable states
        return (m + np.log(np.exp(a - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def _reference(u, labels, blank):
    """(loss, gradient with respect to the logits) of one sequence, by the
    log-space forward-backward recursions in np.longdouble."""
    ld, minus_inf = np.longdouble, np.longdouble(-np.inf)
    u = u.astype(ld)
    n = len(u)
    log_y = u - _log_sum(u, 1)[:, None]
    S = 2 * len(labels) + 1
    cls = np.array([labels[(s - 1) // 2] if s % 2 else blank for s in range(S)])
    skip = np.array([s % 2 == 1 and s >= 3
                     and labels[(s - 1) // 2] != labels[(s - 3) // 2]
                     for s in range(S)])
    pad = np.full(2, minus_inf)
    la = np.full((n, S), minus_inf)
    la[0, :2] = log_y[0, cls[:2]]
    for t in range(1, n):
        p = np.r_[pad, la[t - 1]]
        la[t] = _log_sum(np.stack([p[2:], p[1:-1], np.where(skip, p[:-2], minus_inf)]),
                         0) + log_y[t, cls]
    log_p = _log_sum(la[-1, S - 2:], 0)
    lb = np.full((n, S), minus_inf)
    lb[-1, S - 2:] = 0
    skip_next = np.r_[skip[2:], False, False]
    for t in range(n - 1, 0, -1):
        q = np.r_[lb[t] + log_y[t, cls], pad]
        lb[t - 1] = _log_sum(np.stack([q[:-2], q[1:-1],
                                       np.where(skip_next, q[2:], minus_inf)]), 0)
    gamma = np.exp(la + lb - log_p)
    grad = np.exp(log_y)
    for s in range(S):
        grad[:, cls[s]] -= gamma[:, s]
    return float(-log_p), grad.astype(np.float64)


@pytest.mark.parametrize("seed", [6, 11, 23])
def test_long_peaked_sequence_matches_extended_precision(seed):
    rng = np.random.default_rng(seed)
    T, C = 2000, 6
    best = rng.integers(0, C, size=(2, T))
    logits = rng.normal(size=(2, T, C)) + 40.0 * np.eye(C)[best]
    lengths = [T, 1500]
    targets = [rng.integers(1, C, size=300), rng.integers(1, C, size=40)]
    losses, grad = ctc_loss(logits, targets, input_lengths=lengths, reduction="none")
    assert losses.min() > 1000  # p(l | x) far below the smallest double
    assert not grad[1, 1500:].any()
    for b, n in enumerate(lengths):
        loss, g = _reference(logits[b, :n], [int(k) for k in targets[b]], 0)
        assert abs(losses[b] - loss) <= 1e-12 * loss
        assert np.abs(grad[b, :n] - g).max() <= 1e-12
