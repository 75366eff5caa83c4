"""The CTC loss kernel against brute force, finite differences and float32."""

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from sklstm.functional import ctc_loss

from .. import _reference


def rel_err(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.abs(b).max()
    return np.abs(a - b).max() / (scale if scale > 0 else 1.0)


def all_targets(C, max_len, blank):
    import itertools

    labels = [k for k in range(C) if k != blank]
    for n in range(max_len + 1):
        yield from itertools.product(labels, repeat=n)


@pytest.mark.parametrize("T, C, blank", [(1, 2, 0), (3, 2, 0), (4, 3, 0), (5, 3, 2),
                                         (6, 3, 1)])
def test_loss_equals_brute_force_sum_over_alignments(rng, T, C, blank):
    logits = rng.normal(scale=2.0, size=(T, C))
    probs = _reference.ctc_labelling_probs(logits, blank)
    targets = list(all_targets(C, 3, blank))
    losses, _ = ctc_loss(np.repeat(logits[None], len(targets), axis=0),
                         [list(t) for t in targets], blank=blank, reduction="none")
    for target, loss in zip(targets, losses):
        expected = probs.get(target, 0.0)
        if expected == 0:
            assert loss == np.inf, target  # infeasible: too few frames
        else:
            assert loss == pytest.approx(-np.log(expected), rel=1e-12, abs=1e-12)
    # the feasible labellings' probabilities add up to one
    assert np.exp(-losses[np.isfinite(losses)]).sum() <= 1 + 1e-12


def test_hand_computed_two_frames():
    # y = (0.2, 0.8) on both frames, target "a": paths a-, -a, aa
    logits = np.log([[0.2, 0.8], [0.2, 0.8]])[None]
    loss, grad = ctc_loss(logits, [[1]], reduction="sum")
    p = 0.8 * 0.2 + 0.2 * 0.8 + 0.8 * 0.8
    assert loss == pytest.approx(-np.log(p), rel=1e-14)
    # frame 0: P(label a | target) = (a- + aa) / p
    gamma_a = (0.8 * 0.2 + 0.8 * 0.8) / p
    np.testing.assert_allclose(grad[0, 0], [0.2 - (1 - gamma_a), 0.8 - gamma_a],
                               rtol=1e-13)


@pytest.mark.parametrize("case", ["plain", "repeats", "empty", "blank-last", "padded"])
def test_gradient_matches_finite_differences(rng, case):
    T, C = 6, 4
    blank = 3 if case == "blank-last" else 0
    targets = {"plain": [[1, 2], [2]], "repeats": [[1, 1, 2], [2, 2]],
               "empty": [[], [1]], "blank-last": [[0, 2, 1], [1]],
               "padded": [[1, 2, 1], [2, 1]]}[case]
    logits = rng.normal(size=(2, T, C))
    input_lengths = [T, 4] if case == "padded" else None
    _, grad = ctc_loss(logits, targets, blank=blank, input_lengths=input_lengths,
                       reduction="mean")
    eps = 1e-6
    numeric = np.zeros_like(logits)
    for idx in np.ndindex(logits.shape):
        saved = logits[idx]
        logits[idx] = saved + eps
        up, _ = ctc_loss(logits, targets, blank=blank, input_lengths=input_lengths)
        logits[idx] = saved - eps
        down, _ = ctc_loss(logits, targets, blank=blank, input_lengths=input_lengths)
        logits[idx] = saved
        numeric[idx] = (up - down) / (2 * eps)
    assert rel_err(grad, numeric) < 1e-6
    if case == "padded":
        assert np.all(grad[1, 4:] == 0)


def test_reductions(rng):
    logits = rng.normal(size=(3, 7, 5))
    targets = [[1, 2, 3], [4], []]
    losses, grad_none = ctc_loss(logits, targets, reduction="none")
    total, grad_sum = ctc_loss(logits, targets, reduction="sum")
    mean, grad_mean = ctc_loss(logits, targets, reduction="mean")
    assert total == pytest.approx(losses.sum())
    np.testing.assert_allclose(grad_sum, grad_none)
    weights = 1 / (3 * np.array([3, 1, 1]))
    assert mean == pytest.approx(np.dot(weights, losses))
    np.testing.assert_allclose(grad_mean, grad_none * weights[:, None, None])


def test_target_forms_agree(rng):
    logits = rng.normal(size=(3, 8, 6))
    as_list = [[1, 2, 2], [5], [3, 4]]
    lengths = [3, 1, 2]
    padded = np.zeros((3, 4), dtype=int)
    for i, t in enumerate(as_list):
        padded[i, : len(t)] = t
    concatenated = np.array([1, 2, 2, 5, 3, 4, 0, 0])  # trailing entries ignored
    a, ga = ctc_loss(logits, as_list, reduction="none")
    b, gb = ctc_loss(logits, padded, target_lengths=lengths, reduction="none")
    c, gc = ctc_loss(logits, concatenated, target_lengths=lengths, reduction="none")
    d, gd = ctc_loss([x for x in logits], as_list, reduction="none")
    for x, g in ((b, gb), (c, gc), (d, gd)):
        np.testing.assert_array_equal(x, a)
        np.testing.assert_array_equal(g, ga)


def test_infeasible_targets(rng):
    logits = rng.normal(size=(2, 3, 3))
    # "aa" needs a blank between the two a: 3 frames; "aaa" needs 5
    losses, grad = ctc_loss(logits, [[1, 1], [1, 1, 1]], reduction="none")
    assert np.isfinite(losses[0]) and losses[1] == np.inf
    assert np.all(grad[1] == 0) and np.any(grad[0] != 0)
    losses, grad = ctc_loss(logits, [[1, 1], [1, 1, 1]], reduction="none",
                            zero_infinity=True)
    assert losses[1] == 0 and np.all(grad[1] == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_on_long_sequences_with_extreme_logits(rng, dtype):
    T, C = 5000, 6
    logits = rng.choice([-50.0, 50.0], size=(1, T, C)) * rng.random((1, T, C))
    target = rng.integers(1, C, size=1000)
    loss, grad = ctc_loss(logits.astype(dtype), [target], reduction="sum")
    assert np.isfinite(loss) and np.isfinite(grad).all()
    # each frame's gradient is a difference of two distributions: sums to 0
    # (to the precision of log-probabilities of magnitude ~1e5 here)
    np.testing.assert_allclose(grad.sum(axis=2), 0, atol=1e-4 if dtype == np.float32
                               else 1e-8)
    assert np.all(grad.min(axis=2) >= -1 - 1e-6)
    assert np.all(grad.max(axis=2) <= 1 + 1e-6)


def test_log_space_fallback_for_underflowing_frames():
    # logit gaps of 2000 make every label emission underflow exp(): the
    # rescaled recursion alone would lose the only alignment
    T, C = 6, 3
    logits = np.full((1, T, C), -1000.0)
    path = [1, 0, 2, 2, 0, 1]
    logits[0, np.arange(T), path] = 1000.0
    loss, grad = ctc_loss(logits, [[1, 2, 1]], reduction="sum")
    assert loss == pytest.approx(0, abs=1e-9) and np.isfinite(grad).all()
    loss, _ = ctc_loss(logits, [[1, 2]], reduction="sum")
    assert loss > 1000 and np.isfinite(loss)


def test_float32_follows_float64_on_long_inputs(rng):
    T, C = 2000, 20
    logits = rng.normal(scale=3.0, size=(2, T, C))
    targets = [rng.integers(1, C, size=300), rng.integers(1, C, size=50)]
    l64, g64 = ctc_loss(logits, targets, reduction="none")
    l32, g32 = ctc_loss(logits.astype(np.float32), targets, reduction="none")
    assert g32.dtype == np.float32
    np.testing.assert_allclose(l32, l64, rtol=1e-5)
    assert rel_err(g32, g64) < 1e-4


def test_threads_agree_and_calls_are_reentrant(rng):
    logits = rng.normal(size=(16, 60, 12))
    targets = [rng.integers(1, 12, size=int(rng.integers(0, 20))) for _ in range(16)]
    with threadpool_limits(limits=1):
        expected = ctc_loss(logits, targets, reduction="none")
    with threadpool_limits(limits=2):
        got = ctc_loss(logits, targets, reduction="none")
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    results = [None] * 4

    def worker(k):
        for _ in range(3):
            results[k] = ctc_loss(logits, targets, reduction="none")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r[0], expected[0])
        np.testing.assert_array_equal(r[1], expected[1])


@pytest.mark.parametrize("kwargs, match", [
    (dict(targets=[[1, 0]]), "contain the label 0; labels must be in \\[0, 4\\) and "
     "differ from blank=0"),
    (dict(targets=[[1, 4]]), "contain the label 4"),
    (dict(targets=[[1]], blank=4), "blank=4 must be an integer in \\[0, 4\\)"),
    (dict(targets=[[1]], input_lengths=[0]), "input_lengths\\[0\\]=0 is outside"),
    (dict(targets=[[1], [2]]), "targets has 2 sequences but logits has 1"),
    (dict(targets=np.array([[1, 2]])), "target_lengths is required"),
    (dict(targets=[[1]], reduction="avg"), "reduction='avg'"),
    (dict(targets=[[1.5]]), "integer labels"),
])
def test_bad_arguments(kwargs, match):
    logits = np.zeros((1, 5, 4))
    targets = kwargs.pop("targets")
    with pytest.raises(ValueError, match=match):
        ctc_loss(logits, targets, **kwargs)


def test_nan_logits():
    logits = np.zeros((1, 5, 4))
    logits[0, 2, 1] = np.nan
    with pytest.raises(ValueError, match="logits contains NaN"):
        ctc_loss(logits, [[1]])
    logits[0, 2, 1] = 0
    logits[0, 4, 1] = np.nan  # past the input length: ignored
    ctc_loss(logits, [[1]], input_lengths=[4])
