"""The fit recipe's levers: input map, frames of steps, patience, schedule, targets."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklstm import LSTMClassifier, LSTMRegressor
from sklstm._base import auto_batch_size
from sklstm._optimizers import AdamOptimizer
from sklstm._schedule import _DECAY, _N_DECAYS, PlateauSchedule
from sklstm._sequences import (
    Sequences,
    auto_steps_per_frame,
    group_steps,
    ungroup_steps,
)


def make_data(rng, n=40, n_features=2, low=5, high=20):
    X = [rng.normal(size=(int(rng.integers(low, high)), n_features)) for _ in range(n)]
    y = np.array([int(x[:, 0].sum() > 0) for x in X])
    return X, y


def quiet(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def small(cls=LSTMClassifier, **kwargs):
    params = dict(hidden_layer_sizes=(6,), max_iter=5, random_state=0)
    params.update(kwargs)
    return cls(**params)


# --- frames of steps ---------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3, 7])
def test_group_steps_round_trips_any_length(rng, k):
    lengths = [1, 2, 3, 5, 7, 8, 13]  # multiples of k and not
    data = rng.normal(size=(sum(lengths), 3))
    seqs = Sequences(data, lengths)
    framed = group_steps(seqs, k)
    np.testing.assert_array_equal(framed.lengths, -(-np.array(lengths) // k))
    assert framed.n_features == 3 * k
    for i, T in enumerate(lengths):
        frames = framed.batch([i])[0]
        steps = frames.reshape(-1, 3)
        np.testing.assert_array_equal(steps[:T], seqs.batch([i])[0])
        np.testing.assert_array_equal(steps[T:], 0)  # the last frame's padding
    back = ungroup_steps(framed, k, lengths)
    np.testing.assert_array_equal(back.data, data)
    np.testing.assert_array_equal(back.lengths, lengths)


def test_auto_batch_size_gives_small_sets_several_updates():
    assert [auto_batch_size(n) for n in (1, 3, 16, 23, 128, 129, 600)] == [
        1, 1, 4, 6, 32, 32, 32]


def test_auto_steps_per_frame_rule():
    assert auto_steps_per_frame(np.array([24, 24])) == 1
    assert auto_steps_per_frame(np.array([64])) == 1
    assert auto_steps_per_frame(np.array([65])) == 2
    assert auto_steps_per_frame(np.array([577] * 3)) == 10
    assert auto_steps_per_frame(np.array([10, 200, 300])) == 4  # the median


def test_steps_per_frame_is_the_network_reading_frames(rng):
    """A model with steps_per_frame=k trains exactly as a model with k=1 on the
    sequences framed (and zero-padded) by hand."""
    X, y = make_data(rng)
    k = 3
    framed = []
    for x in X:
        T = -(-len(x) // k) * k
        padded = np.zeros((T, x.shape[1]))
        padded[: len(x)] = x
        framed.append(padded.reshape(-1, k * x.shape[1]))
    a = quiet(small(steps_per_frame=k, scale_inputs=False), X, y)
    b = quiet(small(steps_per_frame=1, scale_inputs=False), framed, y)
    assert a.steps_per_frame_ == k and b.steps_per_frame_ == 1
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-12)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(framed),
                               rtol=1e-10)
    assert a.n_features_in_ == 2 and a.recurrent_params_[0][0][0].shape[1] == 2 * k


def test_auto_frames_follow_the_training_lengths(rng):
    X, y = make_data(rng, low=130, high=150)
    clf = quiet(small(), X, y)
    assert clf.steps_per_frame_ == auto_steps_per_frame([len(x) for x in X]) > 1
    # predicting a sequence shorter than a frame works: one padded frame
    assert clf.predict_proba([X[0][:1]]).shape == (1, 2)


# --- input standardisation ---------------------------------------------------------


def test_input_statistics_are_fitted_and_used_at_predict(rng):
    X, y = make_data(rng)
    X = [x * [3.0, 0.01] + [40.0, -2.0] for x in X]
    clf = quiet(small(steps_per_frame=1), X, y)
    frames = np.concatenate(X)
    np.testing.assert_allclose(clf.input_mean_, frames.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(clf.input_scale_, frames.std(axis=0), rtol=1e-12)
    # the same weights with the inputs standardised by hand
    raw = small(steps_per_frame=1, scale_inputs=False)
    quiet(raw, [(x - clf.input_mean_) / clf.input_scale_ for x in X], y)
    raw.recurrent_params_ = clf.recurrent_params_
    raw.output_coef_, raw.output_intercept_ = clf.output_coef_, clf.output_intercept_
    X_new = [x + 1.0 for x in X[:5]]
    np.testing.assert_allclose(
        clf.predict_proba(X_new),
        raw.predict_proba([(x - clf.input_mean_) / clf.input_scale_ for x in X_new]),
        rtol=1e-12)
    off = quiet(small(scale_inputs=False), X, y)
    np.testing.assert_array_equal(off.input_mean_, 0)
    np.testing.assert_array_equal(off.input_scale_, 1)
    # predict follows the fitted map, not a parameter changed since
    proba = clf.predict_proba(X_new)
    clf.set_params(scale_inputs=False, steps_per_frame=2)
    np.testing.assert_array_equal(clf.predict_proba(X_new), proba)


@pytest.mark.parametrize("cls", [LSTMClassifier, LSTMRegressor])
def test_units_do_not_matter(rng, cls):
    X, y = make_data(rng, low=30, high=50)
    a = quiet(small(cls), X, y)
    b = quiet(small(cls), [100 * x + 50 for x in X], y)
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-6)
    np.testing.assert_allclose(a.predict(X[:10]),
                               b.predict([100 * x + 50 for x in X[:10]]),
                               rtol=1e-6, atol=1e-9)


def test_constant_feature_gets_unit_scale(rng):
    X, y = make_data(rng)
    X = [np.column_stack([x[:, 0], np.full(len(x), 7.0)]) for x in X]
    clf = quiet(small(), X, y)
    assert clf.input_scale_[1] == 1.0 and clf.input_mean_[1] == pytest.approx(7.0)


# --- targets -----------------------------------------------------------------------


def test_targets_are_unscaled_on_the_way_out(rng):
    X, _ = make_data(rng)
    y = np.array([[x[:, 0].mean(), len(x) / 20] for x in X])
    a = quiet(small(LSTMRegressor), X, y)
    b = quiet(small(LSTMRegressor), X, 1000 * y + 7)
    np.testing.assert_allclose(b.target_mean_, 1000 * a.target_mean_ + 7, rtol=1e-12)
    np.testing.assert_allclose(1000 * a.predict(X) + 7, b.predict(X), rtol=1e-6)
    np.testing.assert_allclose(a.target_scale_, y.std(axis=0), rtol=1e-12)
    off = quiet(small(LSTMRegressor, scale_targets=False), X, y)
    np.testing.assert_array_equal(off.target_scale_, 1)


# --- patience and the schedule -----------------------------------------------------


def schedule(**kwargs):
    params = dict(n_iter_no_change=2, n_updates_no_change=0, updates_per_epoch=1,
                  tol=0.0, adaptive=False, higher_is_better=False)
    params.update(kwargs)
    return PlateauSchedule(**params)


def test_patience_in_updates_counts_updates():
    assert schedule(n_updates_no_change=7, updates_per_epoch=1).patience == 7
    assert schedule(n_updates_no_change=7, updates_per_epoch=4).patience == 2
    assert schedule(n_updates_no_change=100, updates_per_epoch=10).patience == 10
    # the epoch rule wins where it is longer
    assert schedule(n_iter_no_change=5, n_updates_no_change=8,
                    updates_per_epoch=4).patience == 5


def test_patience_in_updates_stops_the_fit(rng):
    X, y = make_data(rng)  # 40 sequences, batches of 10: 4 updates an epoch
    clf = quiet(small(max_iter=100, tol=1e9, n_iter_no_change=1, batch_size=10,
                      n_updates_no_change=12, learning_rate="constant"), X, y)
    # epoch 1 improves on infinity, then 3 epochs (12 updates) of patience
    assert clf.n_iter_ == 1 + 3 + 1
    clf = quiet(small(max_iter=100, tol=1e9, n_iter_no_change=1, batch_size=40,
                      n_updates_no_change=12, learning_rate="constant"), X, y)
    assert clf.n_iter_ == 1 + 12 + 1  # one update an epoch


def test_schedule_lowers_the_rate_on_a_plateau():
    opt = AdamOptimizer([np.zeros(3)], learning_rate_init=0.1)
    s = schedule(adaptive=True)
    events = [s.update(v, opt) for v in [5.0, 4.0, 4.0, 4.0, 4.0]]
    assert events == ["improved", "improved", "wait", "wait", "decayed"]
    assert opt.learning_rate == pytest.approx(0.1 / _DECAY)
    assert s.update(3.0, opt) == "improved"
    events = [s.update(3.0, opt) for _ in range(3 * (_N_DECAYS + 1))]
    assert events.count("decayed") == _N_DECAYS - 1 and events[-1] == "stop"
    assert opt.learning_rate == pytest.approx(0.1 / _DECAY**_N_DECAYS)
    # constant: the first plateau stops
    opt = AdamOptimizer([np.zeros(3)], learning_rate_init=0.1)
    s = schedule(adaptive=False)
    assert [s.update(v, opt) for v in [1.0, 1.0, 1.0, 1.0]][-1] == "stop"
    assert opt.learning_rate == 0.1


def test_adaptive_fit_lowers_the_rate_then_stops(rng):
    X, y = make_data(rng)
    clf = quiet(small(max_iter=200, tol=1e9, n_iter_no_change=1,
                      n_updates_no_change=0), X, y)
    # a forced plateau: every epoch after the first fails to improve by tol
    assert clf._optimizer_state["learning_rate"] == pytest.approx(
        clf.learning_rate_init / _DECAY**_N_DECAYS)
    assert clf.n_iter_ == 1 + (_N_DECAYS + 1) * 2


def test_scores_watch_higher_values():
    opt = AdamOptimizer([np.zeros(1)], learning_rate_init=0.1)
    s = schedule(higher_is_better=True, n_iter_no_change=1)
    assert [s.update(v, opt) for v in [0.5, 0.6, 0.4, 0.4]] == [
        "improved", "improved", "wait", "stop"]
    assert s.best == 0.6


def test_input_map_folds_into_the_first_layer(rng):
    """The fold docs/estimators.rst states: W' = W / scale, b' = b - W' @ mean."""
    X, y = make_data(rng)
    X = [x * [3.0, 0.01] + [40.0, -2.0] for x in X]
    clf = quiet(small(steps_per_frame=1), X, y)
    raw = quiet(small(steps_per_frame=1, scale_inputs=False), X, y)
    folded = []
    for depth, layer in enumerate(clf.recurrent_params_):
        if depth == 0:
            layer = [(W / clf.input_scale_, U,
                      b - (W / clf.input_scale_) @ clf.input_mean_)
                     for W, U, b in layer]
        folded.append(layer)
    raw.recurrent_params_ = folded
    raw.output_coef_, raw.output_intercept_ = clf.output_coef_, clf.output_intercept_
    np.testing.assert_allclose(raw.predict_proba(X), clf.predict_proba(X), rtol=1e-9)


@pytest.mark.parametrize("cls", [LSTMClassifier, LSTMRegressor])
def test_a_fit_ending_in_a_spike_keeps_the_lowest_loss(rng, monkeypatch, cls):
    """Without early stopping, a fit whose last epoch's loss is more than twice
    the lowest ends with the weights of the epoch of lowest loss; any other
    fit, and partial_fit, with the last epoch's."""
    losses = iter([3.0, 1.0, 2.0, 5.0, 4.0])
    seen = []

    def scripted_epoch(self, network, flat, *args):
        for a in flat:  # every epoch moves every weight
            a += 1.0
        seen.append([a.copy() for a in flat])
        return next(losses)

    monkeypatch.setattr(cls, "_epoch", scripted_epoch)
    X, y = make_data(rng)
    # the plain loss, whose floor is 0 (smoothed targets: the next test)
    plain = {"label_smoothing": 0.0} if cls is LSTMClassifier else {}
    est = quiet(small(cls, max_iter=5, learning_rate="constant", **plain), X, y)
    assert est.loss_curve_ == [3.0, 1.0, 2.0, 5.0, 4.0] and est.best_loss_ == 1.0
    for got, want in zip(est._fitted_flat(), seen[1]):
        np.testing.assert_array_equal(got, want)
    # no spike: the last epoch above the lowest, by less than twice
    losses, seen = iter([3.0, 1.0, 2.0, 5.0, 1.9]), []
    est = quiet(small(cls, max_iter=5, learning_rate="constant", **plain), X, y)
    assert est.best_loss_ == 1.0
    for got, want in zip(est._fitted_flat(), seen[4]):
        np.testing.assert_array_equal(got, want)
    # partial_fit: one epoch, whose weights stay whatever its loss
    losses = iter([9.0])
    seen.clear()
    est.partial_fit(X, y)
    for got, want in zip(est._fitted_flat(), seen[0]):
        np.testing.assert_array_equal(got, want)


def test_a_spike_is_measured_from_the_smoothed_losss_floor(rng, monkeypatch):
    """With smoothed targets the loss cannot fall below their entropy (0.4227
    for two classes at 0.3), so the spike guard measures both losses from
    there: 0.6 after a lowest of 0.5 is a spike (0.177 above the floor against
    0.077), though not twice 0.5; 0.55 is not."""
    from sklstm._base import smoothed_targets_entropy

    floor = smoothed_targets_entropy(0.3, 2)
    assert floor == pytest.approx(-(0.85 * np.log(0.85) + 0.15 * np.log(0.15)))
    X, y = make_data(rng)
    for last, spike in ((0.6, True), (0.55, False)):
        losses, seen = iter([3.0, 0.5, 0.7, 0.8, last]), []

        def scripted_epoch(self, network, flat, *args):
            for a in flat:
                a += 1.0
            seen.append([a.copy() for a in flat])
            return next(losses)

        monkeypatch.setattr(LSTMClassifier, "_epoch", scripted_epoch)
        est = quiet(small(max_iter=5, learning_rate="constant",
                          label_smoothing=0.3), X, y)
        assert est.best_loss_ == 0.5
        for got, want in zip(est._fitted_flat(), seen[1 if spike else 4]):
            np.testing.assert_array_equal(got, want)


def test_validation_scores_belong_to_early_stopped_fits(rng):
    X, y = make_data(rng)
    clf = quiet(small(early_stopping=True, warm_start=True), X, y)
    assert len(clf.validation_scores_) == clf.n_iter_
    quiet(clf.set_params(early_stopping=False), X, y)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    assert clf.best_loss_ is not None


def test_blas_runs_on_one_thread_inside_fit_and_predict_only(rng, monkeypatch):
    # OpenBLAS's spinning threads took the cores from the kernels' OpenMP
    # threads; fit and predict hold BLAS at one thread, and give it back.
    from threadpoolctl import threadpool_info, threadpool_limits

    from sklstm import LSTMClassifier
    from sklstm._network import Network

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info()
                if i["user_api"] == "blas"]

    if not blas_threads():
        pytest.skip("numpy has no BLAS threadpoolctl can see")
    seen = []
    forward = Network.forward

    def spy(self, *args, **kwargs):
        seen.append(set(blas_threads()))
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(Network, "forward", spy)
    X = [rng.normal(size=(int(n), 2)) for n in rng.integers(3, 8, size=20)]
    y = np.array([0, 1] * 10)
    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = LSTMClassifier(4, max_iter=2, random_state=0).fit(X, y)
        clf.predict(X)
        after = blas_threads()
    assert seen and all(s == {1} for s in seen)
    assert after == before
