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

from .. import _reference

pytestmark = pytest.mark.skipif(
    np.finfo(np.longdouble).eps > 1e-18,
    reason="np.longdouble is no wider than float64 here")


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
        loss, g = _reference.ctc_extended(logits[b, :n], [int(k) for k in targets[b]],
                                          0)
        assert abs(losses[b] - loss) <= 1e-12 * loss
        assert np.abs(grad[b, :n] - g).max() <= 1e-12
