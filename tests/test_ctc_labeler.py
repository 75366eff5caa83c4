"""CTCSequenceLabeler: learning, the scikit-learn API, errors."""

import pickle
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from sklstm import CTCSequenceLabeler
from sklstm.datasets import make_digit_strings


@pytest.fixture(scope="module")
def digits():
    X, y = make_digit_strings(600, max_digits=3, random_state=0)
    return X, y


def small(**kwargs):
    params = dict(hidden_layer_sizes=(16,), max_iter=8, random_state=0,
                  n_iter_no_change=8)
    params.update(kwargs)
    return CTCSequenceLabeler(**params)


def quiet_fit(est, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kwargs)


@pytest.fixture(scope="module")
def fitted(digits):
    X, y = digits
    return quiet_fit(small(hidden_layer_sizes=(32,), max_iter=15, n_iter_no_change=15),
                     X, y)


def test_learns_digit_strings(digits, fitted):
    X, y = digits
    X_test, y_test = make_digit_strings(100, max_digits=3, subset="test",
                                        random_state=1)
    assert fitted.loss_curve_[-1] < 0.2 * fitted.loss_curve_[0]
    assert fitted.score(X_test, y_test) > 0.8
    predictions = fitted.predict(X_test[:5])
    assert all(isinstance(p, str) for p in predictions)
    assert list(fitted.classes_) == list("0123456789")
    assert fitted.output_coef_.shape == (11, 64)  # blank + 10, two directions


def test_predict_proba_columns(fitted, digits):
    X, _ = digits
    proba = fitted.predict_proba(X[:4])
    assert len(proba) == 4
    for p, x in zip(proba, X[:4]):
        assert p.shape == (len(x), 11)
        np.testing.assert_allclose(p.sum(axis=1), 1)
    # the blank (last column) dominates most frames: CTC's spikes
    assert np.mean(np.concatenate(proba).argmax(axis=1) == 10) > 0.5


def test_beam_search_predictions(fitted, digits):
    X, y = digits
    greedy = fitted.predict(X[:40])
    wide = pickle.loads(pickle.dumps(fitted)).set_params(beam_width=8).predict(X[:40])
    assert len(wide) == 40 and all(isinstance(p, str) for p in wide)
    # beam search is never less probable than greedy; on a trained model they
    # mostly agree
    assert np.mean([a == b for a, b in zip(greedy, wide)]) > 0.8


def test_any_hashable_labels(rng):
    X = [rng.normal(size=(int(rng.integers(6, 10)), 2)) for _ in range(30)]
    y = [["up", "down"][: int(rng.integers(1, 3))] for _ in range(30)]
    model = quiet_fit(small(max_iter=2), X, y)
    assert list(model.classes_) == ["down", "up"]
    assert all(isinstance(p, list) for p in model.predict(X[:3]))


def test_infeasible_sequences_are_named_or_skipped(digits):
    X, y = digits
    X = list(X[:20])
    X[3], X[7] = X[3][:1], X[7][:1]
    y = list(y[:20])
    y[3], y[7] = "12", "11"
    with pytest.raises(ValueError, match="2 sequences are shorter than their labels "
                       "need .* indices 3, 7"):
        small().fit(X, y)
    with pytest.warns(UserWarning, match="Skipping 2 of 20 sequences"):
        quiet_fit(small(max_iter=1, zero_infinity=True), X, y)


def test_errors_leave_the_model(fitted, digits):
    X, y = digits
    model = pickle.loads(pickle.dumps(fitted))
    before = pickle.dumps(model)
    with pytest.raises(ValueError, match="'x', which is not in the alphabet classes_ "
                       "of the first fit.* refit with warm_start=False"):
        model.set_params(warm_start=True).fit(X[:5], ["1x", "2", "3", "4", "5"])
    model.set_params(warm_start=False)
    assert pickle.dumps(model) == before
    with pytest.raises(ValueError, match="X has 10 sequences but y has 9"):
        small().fit(X[:10], y[:9])
    with pytest.raises(ValueError, match="contains NaN"):
        bad = [x.copy() for x in X[:5]]
        bad[2][0, 0] = np.nan
        small().fit(bad, y[:5])


def test_reproducible_subset_and_order_invariant(digits, fitted):
    X, y = digits
    a = quiet_fit(small(max_iter=2), X[:60], y[:60])
    b = quiet_fit(small(max_iter=2), X[:60], y[:60])
    assert a.loss_curve_ == b.loss_curve_
    proba = fitted.predict_proba(X[:30])
    order = np.random.default_rng(0).permutation(30)
    shuffled = fitted.predict_proba([X[i] for i in order])
    for k, i in enumerate(order):
        np.testing.assert_allclose(shuffled[k], proba[i], rtol=1e-12)
    np.testing.assert_allclose(fitted.predict_proba(X[5:6])[0], proba[5], rtol=1e-12)


def test_partial_fit_warm_start_early_stopping(digits):
    X, y = digits
    model = small()
    for _ in range(3):
        model.partial_fit(X[:80], y[:80])
    assert model.n_iter_ == 3 and model.loss_curve_[-1] < model.loss_curve_[0]
    stopped = quiet_fit(small(early_stopping=True, max_iter=30, n_iter_no_change=2,
                              n_updates_no_change=0, learning_rate="constant"), X, y)
    assert stopped.best_validation_score_ == max(stopped.validation_scores_)
    assert stopped.n_iter_ < 30


def test_model_selection_and_persistence(tmp_path, digits, fitted):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(small(max_iter=1), X[:90], y[:90], cv=KFold(3))
        search = GridSearchCV(small(max_iter=1), {"hidden_layer_sizes": [(4,), (8,)]},
                              cv=KFold(2), n_jobs=2).fit(X[:60], y[:60])
    assert scores.shape == (3,) and search.best_params_ is not None
    expected = fitted.predict_proba(X[:10])
    for restored in (pickle.loads(pickle.dumps(fitted)),
                     joblib.load(joblib.dump(fitted, tmp_path / "m.joblib")[0])):
        for a, b in zip(restored.predict_proba(X[:10]), expected):
            np.testing.assert_array_equal(a, b)
    assert clone(fitted).get_params() == fitted.get_params()


def test_fit_is_idempotent_and_keeps_parameters(digits):
    X, y = digits
    model = small(max_iter=2)
    params = model.get_params()
    quiet_fit(model, X[:80], y[:80])
    first = model.predict_proba(X[:5])
    quiet_fit(model, X[:80], y[:80])
    for a, b in zip(model.predict_proba(X[:5]), first):
        np.testing.assert_array_equal(a, b)
    assert model.get_params() == params


def stretched(X, k):
    """Each step of each sequence repeated k times: the same strings, k times
    as long."""
    return [np.repeat(x, k, axis=0) for x in X]


def test_auto_frames_follow_length_and_leave_labels_room(rng):
    def frames_chosen(T, n_labels):
        X = [rng.normal(size=(T, 2)) for _ in range(6)]
        y = [[i % 2 for i in range(n_labels)] for _ in range(6)]  # no repeats
        return quiet_fit(small(max_iter=1), X, y).steps_per_frame_

    assert frames_chosen(64, 2) == 1
    assert frames_chosen(65, 2) == 2
    assert frames_chosen(400, 2) == 7     # ceil(400 / 64)
    # 30 labels need 30 frames; the rule keeps twice that: 400 // 60 steps
    assert frames_chosen(400, 30) == 6
    assert frames_chosen(400, 150) == 1


def test_frames_of_steps_give_a_row_per_step(digits):
    X, y = digits
    X = stretched(X[:120], 3)
    model = quiet_fit(small(max_iter=3, steps_per_frame=4), X, y[:120])
    assert model.steps_per_frame_ == 4
    assert model.recurrent_params_[0][0][0].shape[1] == 4 * X[0].shape[1]
    lengths = [len(x) for x in X[:12]]
    assert any(n % 4 for n in lengths)
    proba = model.predict_proba(X[:12])
    for p, n in zip(proba, lengths):
        assert p.shape == (n, 11)
        np.testing.assert_allclose(p.sum(axis=1), 1)
        # every step of a frame has the frame's row
        frames = np.repeat(np.arange(-(-n // 4)), 4)[:n]
        for f in range(frames[-1] + 1):
            assert np.all(p[frames == f] == p[frames == f][0])
    # decoding the per-step rows reads what predict reads from the frames
    best = [p.argmax(axis=1) for p in proba]
    from_rows = ["".join(str(c) for c, prev in zip(b, np.r_[-1, b[:-1]])
                         if c != prev and c != 10) for b in best]
    assert from_rows == model.predict(X[:12])


def test_frames_learn_long_sequences(digits):
    X, y = digits
    X_test, y_test = make_digit_strings(100, max_digits=3, subset="test",
                                        random_state=1)
    model = quiet_fit(small(hidden_layer_sizes=(32,), max_iter=15,
                            n_iter_no_change=15), stretched(X, 8), y)
    # ceil(median 27 * 8 steps / 64) = 4, lowered to 3 by the densest string
    assert model.steps_per_frame_ == 3
    assert model.score(stretched(X_test, 8), y_test) > 0.8


def test_frames_too_few_for_the_labels_are_named(digits):
    X, y = digits
    with pytest.raises(ValueError, match=r"a label per frame of 12 steps "
                       r"\(steps_per_frame_=12\).* or fit with a smaller "
                       "steps_per_frame"):
        small(steps_per_frame=12).fit(X[:40], y[:40])
    # warm starts keep the fitted frames, and check the labels against them
    model = quiet_fit(small(max_iter=1, steps_per_frame=12), stretched(X[:40], 8),
                      y[:40])
    before = pickle.dumps(model)
    with pytest.raises(ValueError, match="frame of 12 steps"):
        model.partial_fit(X[:40], y[:40])
    assert pickle.dumps(model) == before


def test_from_weights_reads_frames(rng):
    H, D, k = 3, 2, 2
    weights = {"layers.0.weight_ih_l0": rng.normal(size=(4 * H, k * D)),
               "layers.0.weight_hh_l0": rng.normal(size=(4 * H, H)),
               "layers.0.bias_ih_l0": np.zeros(4 * H),
               "layers.0.bias_hh_l0": np.zeros(4 * H),
               "head.weight": rng.normal(size=(3, H)), "head.bias": np.zeros(3)}
    model = CTCSequenceLabeler.from_weights(weights, classes="ab", steps_per_frame=k)
    assert model.steps_per_frame_ == k and model.n_features_in_ == D
    (p,) = model.predict_proba([rng.normal(size=(5, D))])
    # frames of 2 steps: steps (0, 1), (2, 3), and 4 alone
    assert p.shape == (5, 3)
    assert np.array_equal(p[0], p[1]) and np.array_equal(p[2], p[3])
    assert not np.array_equal(p[1], p[2])


def test_frames_are_the_network_reading_frames(digits):
    """steps_per_frame=k trains exactly as k=1 on the sequences framed (and
    zero-padded) by hand, and predicts the same labels."""
    X, y = digits
    X, y, k = stretched(X[:80], 2), y[:80], 3
    framed = []
    for x in X:
        padded = np.zeros((-(-len(x) // k) * k, x.shape[1]))
        padded[: len(x)] = x
        framed.append(padded.reshape(-1, k * x.shape[1]))
    a = quiet_fit(small(max_iter=2, steps_per_frame=k, scale_inputs=False), X, y)
    b = quiet_fit(small(max_iter=2, steps_per_frame=1, scale_inputs=False), framed, y)
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-12)
    assert a.predict(X) == b.predict(framed)
    for p, q in zip(a.predict_proba(X[:10]), b.predict_proba(framed[:10])):
        np.testing.assert_allclose(p, np.repeat(q, k, axis=0)[: len(p)], rtol=1e-10)
