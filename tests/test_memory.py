"""Memory proportional to the data: packed pooling, the inference pass, batches
of bounded steps outside training, and the peaks of fit and predict."""

import itertools
import tracemalloc
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import sklstm._base as base
import sklstm._network as network_module
import sklstm.functional as functional
from sklstm import CTCSequenceLabeler, LSTMClassifier, LSTMRegressor
from sklstm._base import pass_batches, predict_batches
from sklstm._network import (
    Network,
    PooledHead,
    StepHead,
    StepOutputs,
    _pool,
    make_cell,
)
from sklstm._packing import PackedPlan
from sklstm._sequences import Sequences


def quiet(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def ragged(rng, n, low, high, n_features=2, dtype=np.float64):
    return [rng.normal(size=(int(rng.integers(low, high)), n_features)).astype(dtype)
            for _ in range(n)]


# --- pooling from the packed rows -----------------------------------------------


@pytest.mark.parametrize("pool_rows", [3, 4096])
def test_pooling_reads_the_packed_rows_as_a_padded_reduction(rng, monkeypatch,
                                                             pool_rows):
    monkeypatch.setattr(network_module, "_POOL_ROWS", pool_rows)
    lengths = np.array([4, 9, 1, 9, 6, 2])
    plan = PackedPlan(lengths)
    out = rng.normal(size=(plan.n_rows, 5))
    padded = np.full((lengths.size, plan.n_steps, 5), np.nan)
    padded[plan.slot, plan.step] = out
    valid = np.arange(plan.n_steps)[None, :, None] < plan.sorted_lengths[:, None, None]

    mean, arg = _pool(plan, out, "mean")
    assert arg is None
    np.testing.assert_allclose(
        mean, np.where(valid, padded, 0).sum(axis=1) / plan.sorted_lengths[:, None],
        rtol=1e-13)
    top, arg = _pool(plan, out, "max")
    masked = np.where(valid, padded, -np.inf)
    np.testing.assert_array_equal(top, masked.max(axis=1))
    np.testing.assert_array_equal(arg, masked.argmax(axis=1))


def test_max_pooling_keeps_the_first_of_equal_maxima(monkeypatch):
    monkeypatch.setattr(network_module, "_POOL_ROWS", 2)
    plan = PackedPlan([5])
    out = np.array([[0.0], [2.0], [1.0], [2.0], [2.0]])
    top, arg = _pool(plan, out, "max")
    assert top[0, 0] == 2.0 and arg[0, 0] == 1


# --- the inference pass -------------------------------------------------------------

CASES = [case for case in itertools.product(
    ["lstm", "peephole", "gru"], ["hidden", "cell"],
    ["last", "mean", "max", "step"], [1, 2], [(5,), (4, 6)])
    if not (case[0] == "gru" and case[1] == "cell")]


@pytest.mark.parametrize("cell,recurrent_input,pooling,n_directions,sizes", CASES)
def test_inference_pass_equals_the_training_pass(rng, monkeypatch, cell,
                                                 recurrent_input, pooling,
                                                 n_directions, sizes):
    # runs of about 30 rows: the kernel is called many times, carrying states
    monkeypatch.setattr(functional, "_STATES_VALUES", 30 * 4 * 6)
    lengths = rng.integers(1, 30, 15)
    lengths[3] = 200
    seqs = Sequences(rng.normal(size=(lengths.sum(), 3)), lengths)
    head = StepHead() if pooling == "step" else PooledHead(pooling)
    net = Network(make_cell(cell, "tanh", recurrent_input), sizes, n_directions, head)
    flat = net.init(np.random.RandomState(0), 3, 4, np.float64)
    flat = [a + 0.1 * rng.normal(size=a.shape) for a in flat]  # peepholes too
    plan, X = net.pack(seqs, np.arange(len(seqs)))
    inferred = net.forward(flat, plan, X)
    trained, _ = net.forward(flat, plan, X, rng=np.random.default_rng(0))
    if pooling == "step":  # packed rows of per-step logits
        inferred, trained = inferred.rows, trained.rows
    np.testing.assert_allclose(inferred, trained, rtol=1e-12, atol=1e-14)


def test_step_outputs_come_in_groups_padded_to_their_longest(rng):
    lengths = np.array([3, 40, 38, 2, 39, 1, 5])
    plan = PackedPlan(lengths)
    rows = rng.normal(size=(plan.n_rows, 3))
    groups = list(StepOutputs(plan, rows).groups())
    assert len(groups) > 1
    np.testing.assert_array_equal(
        np.sort(np.concatenate([g.positions for g in groups])), np.arange(7))
    np.testing.assert_array_equal(
        np.sort(np.concatenate([g.rows for g in groups])), np.arange(plan.n_rows))
    for g in groups:
        assert g.padded.size <= max(plan.n_rows, g.lengths.max()) * 3
        for k, (i, n) in enumerate(zip(g.positions, g.lengths)):
            assert n == lengths[i]
            sequence = rows[plan.offsets[:n] + np.flatnonzero(plan.order == i)[0]]
            np.testing.assert_array_equal(g.padded[k, :n], sequence)
            assert not g.padded[k, n:].any()
        np.testing.assert_array_equal(g.padded[g.cells], rows[g.rows])


# --- batches of a pass ----------------------------------------------------------------


def test_predict_batches_are_sorted_bounded_and_cover_every_sequence(rng):
    lengths = rng.integers(1, 50, 300)
    lengths[[7, 100]] = [400, 1000]
    batches = predict_batches(lengths, 500)
    order = np.concatenate(batches)
    np.testing.assert_array_equal(np.sort(order), np.arange(lengths.size))
    assert np.all(np.diff(lengths[order]) <= 0)
    for idx in batches:
        assert len(idx) == 1 or len(idx) * lengths[idx].max() <= 500
    assert [len(b) for b in batches[:2]] == [1, 1]  # the two longer ones alone
    # and never more than _PASS_SEQUENCES sequences, however short
    assert [len(b) for b in predict_batches(np.ones(1200, int), 10**6)] == [
        512, 512, 176]


def budgets(network_width):
    """``_PASS_VALUES`` that cut the test data below differently: one
    sequence a batch, a few a batch, all in one."""
    return [1, 60 * network_width, 2**30]


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_classifier_predictions_do_not_depend_on_the_pass_budget(rng, monkeypatch,
                                                                 pooling):
    X = ragged(rng, 40, 2, 40)
    y = [int(x[:, 0].sum() > 0) for x in X]
    clf = quiet(LSTMClassifier((5,), pooling=pooling, max_iter=3, random_state=0), X,
                y)
    results, n_batches = [], []
    for values in budgets(10):
        monkeypatch.setattr(base, "_PASS_VALUES", values)
        n_batches.append(len(pass_batches(clf._fitted_network(), clf._fitted_flat(),
                                          np.array([len(x) for x in X]))))
        results.append(clf.predict_proba(X))
    assert n_batches[0] == 40 and n_batches[-1] == 1 and 1 < n_batches[1] < 40
    for proba in results[1:]:
        np.testing.assert_allclose(proba, results[0], rtol=1e-12, atol=1e-15)
    # the caller's order: each sequence alone gives its own row
    np.testing.assert_allclose(clf.predict_proba(X[5:6]), results[0][5:6], rtol=1e-12)


def test_regressor_and_labeler_predictions_do_not_depend_on_the_pass_budget(
        rng, monkeypatch):
    X = ragged(rng, 30, 4, 40)
    reg = quiet(LSTMRegressor((5,), max_iter=3, random_state=0), X,
                [x[:, 0].sum() for x in X])
    labels = ["ab"[int(x[0, 0] > 0)] + "ba"[int(x[-1, 1] > 0)] for x in X]
    ctc = quiet(CTCSequenceLabeler((5,), max_iter=3, random_state=0), X, labels)
    runs = []
    for values in budgets(10):
        monkeypatch.setattr(base, "_PASS_VALUES", values)
        runs.append((reg.predict(X), ctc.predict_proba(X), ctc.predict(X)))
    for pred, proba, decoded in runs[1:]:
        np.testing.assert_allclose(pred, runs[0][0], rtol=1e-12)
        assert [p.shape for p in proba] == [(len(x), 3) for x in X]
        for p, q in zip(proba, runs[0][1]):
            np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-15)
        assert decoded == runs[0][2]


def test_validation_pass_does_not_depend_on_the_pass_budget(rng, monkeypatch):
    X = ragged(rng, 60, 2, 30)
    y = [int(x[:, 0].sum() > 0) for x in X]
    fits = []
    for values in (1, 2**30):
        monkeypatch.setattr(base, "_PASS_VALUES", values)
        fits.append(quiet(LSTMClassifier(
            (4,), max_iter=4, early_stopping=True, validation_fraction=0.3,
            random_state=0), X, y))
    assert fits[0].validation_scores_ == fits[1].validation_scores_
    np.testing.assert_array_equal(fits[0].output_coef_, fits[1].output_coef_)


# --- peaks (short versions of benchmarks/bench_memory.py) ---------------------------


def traced_peak(call):
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        call()
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


def largest_minibatch(monkeypatch, call):
    """``call()``, and the most packed rows of one of its training passes."""
    rows, forward = [], Network.forward

    def recording(self, flat, plan, X, rng=None):
        if rng is not None:
            rows.append(plan.n_rows)
        return forward(self, flat, plan, X, rng)

    with monkeypatch.context() as mp:
        mp.setattr(Network, "forward", recording)
        call()
    return max(rows)


def mixed(rng, n_long):
    """One sequence of ``n_long`` steps and 511 of 20-99: predict padded each
    batch of 512 to the longest (24.4 GiB at 100 000 steps)."""
    return [rng.normal(size=(n_long, 2))] + ragged(rng, 511, 20, 100)


def fit_reference(monkeypatch, clf, X, y):
    """What backpropagation keeps for the largest minibatch (6H values a step
    for each layer and direction), plus the input data, in bytes."""
    rows = largest_minibatch(monkeypatch, lambda: quiet(clf, X, y))
    n_directions = 2 if clf.bidirectional else 1
    return 8 * (rows * 6 * sum(clf.hidden_layer_sizes) * n_directions
                + sum(x.size for x in X))


@pytest.mark.slow
@pytest.mark.parametrize("pooling", ["last", "max"])
def test_predict_peak_within_twice_the_widest_outputs(rng, pooling):
    clf = quiet(LSTMClassifier((16,), pooling=pooling, max_iter=1, random_state=0),
                ragged(rng, 64, 20, 100), rng.integers(0, 2, 64))
    X = mixed(rng, 20_000)
    widest = 8 * sum(len(x) for x in X) * 2 * 16
    peak = traced_peak(lambda: clf.predict_proba(X))
    assert peak < 2 * widest, (peak, widest)


@pytest.mark.slow
@pytest.mark.parametrize("pooling", ["last", "max"])
def test_fit_peak_within_twice_what_backpropagation_keeps(rng, monkeypatch, pooling):
    X = mixed(rng, 10_000)
    y = rng.integers(0, 2, len(X))
    clf = LSTMClassifier((16,), pooling=pooling, max_iter=1, random_state=0,
                         steps_per_frame=1)
    reference = fit_reference(monkeypatch, clf, X, y)
    peak = traced_peak(lambda: quiet(clf, X, y))
    assert peak < 2 * reference, (peak, reference)


@pytest.mark.slow
def test_fit_with_early_stopping_peak_within_twice_what_backpropagation_keeps(
        rng, monkeypatch):
    # the validation pass ran in one piece: +176 MiB on 10 000 sequences
    X = ragged(rng, 600, 50, 500)
    y = rng.integers(0, 2, len(X))
    clf = LSTMClassifier((16,), max_iter=1, early_stopping=True, random_state=0,
                         steps_per_frame=1)
    reference = fit_reference(monkeypatch, clf, X, y)
    peak = traced_peak(lambda: quiet(clf, X, y))
    assert peak < 2 * reference, (peak, reference)


@pytest.mark.slow
def test_ctc_fit_peak_within_twice_what_backpropagation_keeps(rng, monkeypatch):
    # the minibatch's logits padded to its longest: 3.3 times the reference
    X = mixed(rng, 10_000)
    y = ["".join(rng.choice(list("abcdefghij"), 5)) for _ in X]
    est = CTCSequenceLabeler((32,), max_iter=1, random_state=0)
    reference = fit_reference(monkeypatch, est, X, y)
    peak = traced_peak(lambda: quiet(est, X, y))
    assert peak < 2 * reference, (peak, reference)


@pytest.mark.slow
def test_fit_memory_is_linear_in_the_length(rng):
    per_step = []
    for T in (3_000, 12_000):
        X = [rng.normal(size=(T, 2)), rng.normal(size=(T, 2))]
        clf = LSTMClassifier((32,), max_iter=1, batch_size=1, random_state=0,
                             steps_per_frame=1)
        per_step.append(traced_peak(lambda clf=clf, X=X: quiet(clf, X, [0, 1])) / T)
    assert per_step[1] == pytest.approx(per_step[0], rel=0.1)
    # what backpropagation keeps: 6H values a step and direction, in float64
    assert per_step[1] < 2 * 8 * 6 * 32 * 2
