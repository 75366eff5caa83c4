"""LSTMClassifier: learning, training options, persistence, errors."""

import pickle
import threading
import warnings

import joblib
import numpy as np
import pytest
from scipy.special import entr
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.class_weight import compute_class_weight
from threadpoolctl import threadpool_limits

import sklstm
from sklstm import LSTMClassifier


def make_data(rng, n=80, n_features=2, dtype=np.float64):
    """Label: is the first feature's sum over the sequence positive?"""
    X = [rng.normal(size=(int(rng.integers(3, 12)), n_features)).astype(dtype)
         for _ in range(n)]
    y = np.array(["pos" if x[:, 0].sum() > 0 else "neg" for x in X])
    return X, y


def small(**kwargs):
    params = dict(hidden_layer_sizes=(8,), max_iter=40, random_state=0,
                  learning_rate_init=1e-2)
    params.update(kwargs)
    return LSTMClassifier(**params)


def fitted_state(est):
    """Everything fitted, for comparing an estimator before and after a call."""
    state = {}
    for key, value in vars(est).items():
        if key.endswith("_") or key.startswith("_"):
            state[key] = pickle.dumps(value)
    return state


@pytest.fixture
def data(rng):
    return make_data(rng)


def test_learns_and_loss_decreases(rng, data):
    X, y = data
    clf = small(max_iter=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    # the loss falls at least halfway to its floor, the entropy of the
    # smoothed targets (0 without smoothing)
    high = 1 - clf.label_smoothing / 2
    floor = entr(high) + entr(1 - high)
    assert clf.loss_curve_[-1] - floor < 0.5 * (clf.loss_curve_[0] - floor)
    X_test, y_test = make_data(rng, n=100)
    # chance is 0.5; over data seeds 0-9 the model scores 0.82-0.95
    assert clf.score(X_test, y_test) > 0.8
    assert list(clf.classes_) == ["neg", "pos"]
    assert clf.predict(X_test).dtype == y.dtype
    proba = clf.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_allclose(np.log(proba), clf.predict_log_proba(X_test), atol=1e-12)
    assert clf.n_iter_ == len(clf.loss_curve_) and clf.t_ == clf.n_iter_ * len(X)
    assert clf.best_loss_ == pytest.approx(min(clf.loss_curve_))
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None


def test_multiclass_bidirectional_mean_pooling(rng):
    X = [rng.normal(size=(int(rng.integers(4, 10)), 3)) for _ in range(90)]
    y = np.array([int(np.argmax(x.mean(axis=0))) for x in X])
    clf = small(bidirectional=True, pooling="mean", max_iter=80, n_iter_no_change=80)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.score(X, y) > 0.9
    assert clf.predict_proba(X).shape == (90, 3)
    assert len(clf.recurrent_params_) == 1 and len(clf.recurrent_params_[0]) == 2
    W, U, b = clf.recurrent_params_[0][1]
    assert W.shape == (32, 3) and U.shape == (32, 8) and b.shape == (32,)
    assert clf.output_coef_.shape == (3, 16) and clf.output_intercept_.shape == (3,)


def test_attributes_of_stacked_layers(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = small(hidden_layer_sizes=(5, 4), bidirectional=True, dropout=0.2,
                    max_iter=2).fit(X, y)
    shapes = [[tuple(a.shape for a in d) for d in layer]
              for layer in clf.recurrent_params_]
    assert shapes == [[((20, 2), (20, 5), (20,))] * 2, [((16, 10), (16, 4), (16,))] * 2]
    assert clf.output_coef_.shape == (2, 8)
    # fitted weights are read-only: nothing writes into a fitted model
    assert not clf.output_coef_.flags.writeable


def test_reproducible_and_thread_count_independent(data):
    X, y = data
    results = []
    for n_threads in (1, 2, 2):
        with threadpool_limits(limits=n_threads), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = small(max_iter=5).fit(X, y)
        results.append((clf.loss_curve_, clf.predict_proba(X)))
    for curve, proba in results[1:]:
        assert curve == results[0][0]
        np.testing.assert_array_equal(proba, results[0][1])


def test_predictions_do_not_depend_on_batching_or_order(rng, data):
    X, y = data
    clf = small(max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    full = clf.predict_proba(X)
    np.testing.assert_allclose(clf.predict_proba(X[:7]), full[:7], rtol=1e-12)
    order = rng.permutation(len(X))
    np.testing.assert_allclose(clf.predict_proba([X[i] for i in order]), full[order],
                               rtol=1e-12)
    for i in (0, 5):
        np.testing.assert_allclose(clf.predict_proba([X[i]])[0], full[i], rtol=1e-12)


def test_float32_input_gives_a_float32_model(data):
    X, y = data
    X32 = [x.astype(np.float32) for x in X]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = small(max_iter=2).fit(X32, y)
    assert clf.output_coef_.dtype == np.float32
    assert clf.recurrent_params_[0][0][0].dtype == np.float32
    assert clf.predict_proba(X32).dtype == np.float32


def test_early_stopping_keeps_the_best_epoch(monkeypatch, data):
    import sklstm._base as base

    X, y = data
    splits = []
    original = base.train_test_split

    def recording_split(*args, **kwargs):
        result = original(*args, **kwargs)
        splits.append(result)
        return result

    monkeypatch.setattr(base, "train_test_split", recording_split)
    clf = small(early_stopping=True, validation_fraction=0.25, max_iter=60,
                n_iter_no_change=4, learning_rate_init=3e-2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert len(clf.validation_scores_) == clf.n_iter_ == len(clf.loss_curve_)
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None
    _, val_idx = splits[0]
    # the kept weights are those of the best epoch
    assert clf.score([X[i] for i in val_idx], y[val_idx]) == pytest.approx(
        clf.best_validation_score_)
    # stratified: both classes in the validation split
    assert set(y[val_idx]) == set(y)


def test_max_iter_warns_and_tol_stops(data):
    X, y = data
    with pytest.warns(ConvergenceWarning, match="maximum iterations"):
        small(max_iter=2).fit(X, y)
    clf = small(max_iter=500, tol=10.0, n_iter_no_change=2, n_updates_no_change=0,
                learning_rate="constant").fit(X, y)
    # epoch 1 improves on infinity; the next three do not improve by tol, and
    # stopping comes once more than n_iter_no_change have not (as in MLP)
    assert clf.n_iter_ == 4


def test_partial_fit(data):
    X, y = data
    clf = small()
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    assert not hasattr(clf, "classes_")
    for _ in range(15):
        clf.partial_fit(X, y, classes=["neg", "pos"])
    assert clf.n_iter_ == 15 and len(clf.loss_curve_) == 15
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    before = fitted_state(clf)
    with pytest.raises(ValueError, match=r"classes \['other'\], not seen when"):
        clf.partial_fit(X[:3], ["neg", "pos", "other"])
    assert fitted_state(clf) == before
    # the optimizer state carries over: 2 calls equal ... themselves, reproducibly
    a = small()
    b = small()
    for est in (a, b):
        for _ in range(2):
            est.partial_fit(X, y, classes=["neg", "pos"])
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_partial_fit_classes_are_fixed_by_the_first_call(data):
    """As scikit-learn's _check_partial_fit_first_call: other classes raise."""
    X, y = data
    clf = small().partial_fit(X, y, classes=["neg", "pos"])
    before = fitted_state(clf)
    with pytest.raises(ValueError, match=r"`classes=\['neg', 'pos', 'other'\]` is "
                       r"not the same as on last call to partial_fit, was: "
                       r"array\(\['neg', 'pos'\]"):
        clf.partial_fit(X, y, classes=["neg", "pos", "other"])
    with pytest.raises(ValueError, match="is not the same as on last call"):
        clf.partial_fit(X, y, classes=["neg"])
    assert fitted_state(clf) == before
    clf.partial_fit(X, y, classes=["pos", "neg"])  # the same set, in any order
    clf.partial_fit(X, y)
    assert clf.n_iter_ == 3
    # after fit too: fit fixes the classes partial_fit continues with
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = small(max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match="is not the same as on last call"):
        fitted.partial_fit(X, y, classes=["a", "b"])


def test_partial_fit_refuses_balanced_class_weight(data):
    """Balanced weights from each call's own batch would change from call to
    call; SGDClassifier refuses them too."""
    X, y = data
    clf = small(class_weight="balanced")
    with pytest.raises(ValueError, match=r"class_weight='balanced' is not supported "
                       r"for partial_fit: .*compute_class_weight\('balanced', "
                       r"classes=classes, y=y\)"):
        clf.partial_fit(X, y, classes=["neg", "pos"])
    assert fitted_state(clf) == {} and not hasattr(clf, "classes_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.set_params(max_iter=1).fit(X, y)  # fit computes them on all of y
    before = fitted_state(clf)
    with pytest.raises(ValueError, match="'balanced' is not supported for partial_fit"):
        clf.partial_fit(X, y)
    assert fitted_state(clf) == before
    # the advice works: the weights as a dict
    classes = np.array(["neg", "pos"])
    weights = compute_class_weight("balanced", classes=classes, y=y)
    clf.set_params(class_weight=dict(zip(classes, weights))).partial_fit(X, y)
    assert clf.n_iter_ == 2


def test_warm_start_continues(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = small(max_iter=3, warm_start=True).fit(X, y)
        first = clf.output_coef_.copy()
        clf.fit(X, y)
    assert clf.n_iter_ == 6 and len(clf.loss_curve_) == 6
    assert not np.array_equal(first, clf.output_coef_)
    cold = clone(clf).set_params(warm_start=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cold.fit(X, y)
        cold.fit(X, y)
    assert cold.n_iter_ == 3


def test_warm_start_needs_the_same_architecture(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = small(max_iter=1, warm_start=True).fit(X, y)
    before = fitted_state(clf)
    clf.set_params(hidden_layer_sizes=(5,))
    with pytest.raises(ValueError, match="keep the architecture"):
        clf.fit(X, y)
    assert fitted_state(clf) == before


def test_class_weight_shifts_predictions(rng):
    X = [rng.normal(size=(5, 1)) for _ in range(120)]
    y = np.array([1] * 100 + [0] * 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = small(max_iter=20).fit(X, y)
        weighted = small(max_iter=20, class_weight={0: 20.0, 1: 1.0}).fit(X, y)
    assert np.mean(weighted.predict(X) == 0) > np.mean(plain.predict(X) == 0) + 0.2


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.35])
def test_label_smoothing_loss_and_its_gradient(rng, eps):
    """The loss is the weighted mean cross-entropy against targets of
    ``1 - eps + eps / K`` and ``eps / K``; its gradient matches central
    differences (float64)."""
    n, K = 7, 4
    logits = rng.normal(size=(n, K)) * 3
    Y = rng.integers(0, K, size=n)
    weights = rng.uniform(0.2, 2.0, size=n)
    clf = LSTMClassifier(label_smoothing=eps)
    loss, grad = clf._loss(logits, Y, weights, None)

    targets = np.full((n, K), eps / K)
    targets[np.arange(n), Y] += 1 - eps
    log_p = logits - logits.max(1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))
    expected = -np.sum(weights[:, None] * targets * log_p) / weights.sum()
    np.testing.assert_allclose(loss, expected, rtol=1e-12)
    if eps == 0:  # the plain cross-entropy: scikit-learn's log_loss
        from sklearn.metrics import log_loss
        np.testing.assert_allclose(loss, log_loss(Y, np.exp(log_p), labels=range(K),
                                                  sample_weight=weights), rtol=1e-12)

    h = 1e-6
    numeric = np.zeros_like(logits)
    for i in range(n):
        for k in range(K):
            up, down = logits.copy(), logits.copy()
            up[i, k] += h
            down[i, k] -= h
            numeric[i, k] = (clf._loss(up, Y, weights, None)[0]
                             - clf._loss(down, Y, weights, None)[0]) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_label_smoothing_keeps_the_probabilities_off_one(rng):
    """On data it separates, the plain model's probabilities near one; with
    smoothing they stay near the smoothed target, ``1 - eps + eps / K``."""
    X = [rng.normal(size=(6, 1)) + (2.0 if i % 2 else -2.0) for i in range(40)]
    y = np.arange(40) % 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = small(max_iter=150, label_smoothing=0.0).fit(X, y)
        smoothed = small(max_iter=150, label_smoothing=0.2).fit(X, y)
    assert plain.score(X, y) == smoothed.score(X, y) == 1.0
    assert plain.predict_proba(X).max(axis=1).min() > 0.99
    top = smoothed.predict_proba(X).max(axis=1)
    assert np.all(np.abs(top - 0.9) < 0.05)
    # the smoothed loss cannot fall below the smoothed targets' entropy
    floor = -(0.9 * np.log(0.9) + 0.1 * np.log(0.1))
    assert min(smoothed.loss_curve_) > floor - 1e-3


def test_calibration_lifts_the_smoothed_probabilities(rng):
    """The default's probabilities stop near the smoothed target (0.85 on two
    classes); CalibratedClassifierCV, as the docs advise, fits on ragged
    lists and maps them back towards the data's certainty."""
    from sklearn.calibration import CalibratedClassifierCV

    X = [rng.normal(size=(rng.integers(4, 9), 1)) + (2.0 if i % 2 else -2.0)
         for i in range(60)]
    y = np.arange(60) % 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = small(max_iter=100)
        assert model.label_smoothing == LSTMClassifier().label_smoothing == 0.3
        raw = clone(model).fit(X, y)
        calibrated = CalibratedClassifierCV(model, cv=3).fit(X, y)
    assert raw.score(X, y) == calibrated.score(X, y) == 1.0
    top = raw.predict_proba(X).max(axis=1)
    assert np.all(np.abs(top - 0.85) < 0.05)
    assert calibrated.predict_proba(X).max(axis=1).min() > top.max()


@pytest.mark.parametrize("K", [2, 3, 26])
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_smoothed_targets_entropy_is_the_least_loss(eps, K):
    """The floor the spike guard measures from: the loss at logits equal to
    the targets' logarithms, where its gradient vanishes."""
    from sklstm._base import smoothed_targets_entropy, softmax_cross_entropy

    codes = np.arange(5) % K
    targets = np.full((5, K), eps / K)
    targets[np.arange(5), codes] += 1 - eps
    logits = np.log(np.maximum(targets, 1e-300))
    weights = np.linspace(0.5, 2.0, 5)
    loss, grad = softmax_cross_entropy(logits, codes, weights, eps)
    assert smoothed_targets_entropy(eps, K) == pytest.approx(loss, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(grad, 0, atol=1e-12)


@pytest.mark.parametrize("value", [1.0, -0.1, 1.5])
def test_label_smoothing_out_of_range_is_refused(data, value):
    X, y = data
    with pytest.raises(ValueError, match="label_smoothing"):
        small(label_smoothing=value).fit(X, y)


def test_diverging_loss_raises_and_leaves_the_model(data):
    X, y = data

    class Diverging(LSTMClassifier):
        def _loss(self, logits, Y, weights, lengths):
            loss, d_logits = super()._loss(logits, Y, weights, lengths)
            return (np.nan if self.warm_start else loss), d_logits

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = Diverging(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    before = fitted_state(clf)
    clf.set_params(warm_start=True)
    with pytest.raises(ValueError, match="The training loss became nan"):
        clf.fit(X, y)
    assert fitted_state(clf) == before
    unfitted = Diverging(warm_start=True, max_iter=2)
    with pytest.raises(ValueError, match="loss became nan"):
        unfitted.fit(X, y)
    assert not hasattr(unfitted, "classes_") and not hasattr(unfitted, "n_features_in_")


@pytest.mark.parametrize("bad, error, match", [
    ("nan", ValueError, "contains NaN or infinity"),
    ("inf", ValueError, "contains NaN or infinity"),
    ("empty", ValueError, "X is empty"),
    ("zero-length", ValueError, r"X\[2\] is a sequence of length zero"),
    ("ragged-features", ValueError, r"X\[1\] has 3 features but X\[0\] has 2"),
    ("1d", ValueError, "1-D array .* one sequence or many scalars"),
    ("y-length", ValueError, "X has 10 sequences but y has 9 values"),
    ("one-class", ValueError, "only one class"),
    ("strings", ValueError, r"X\[0\] has dtype <U1; pass numbers"),
    ("y-none", ValueError, "requires y to be passed"),
])
def test_bad_input_raises_and_leaves_the_model(data, bad, error, match):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = small(max_iter=1).fit(X, y)
    before = fitted_state(clf)
    Xb, yb = [x.copy() for x in X[:10]], y[:10].copy()
    if bad == "nan":
        Xb[3][1, 0] = np.nan
    elif bad == "inf":
        Xb[3][0, 1] = -np.inf
    elif bad == "empty":
        Xb = []
    elif bad == "zero-length":
        Xb[2] = np.zeros((0, 2))
    elif bad == "ragged-features":
        Xb[1] = np.zeros((4, 3))
    elif bad == "1d":
        Xb = np.arange(5.0)
    elif bad == "y-length":
        yb = yb[:9]
    elif bad == "one-class":
        yb = np.array(["neg"] * 10)
    elif bad == "strings":
        Xb = [["a", "b"], ["c"]]
    elif bad == "y-none":
        yb = None
    with pytest.raises(error, match=match):
        clf.fit(Xb, yb)
    assert fitted_state(clf) == before
    fresh = small()
    with pytest.raises(error, match=match):
        fresh.fit(Xb, yb)
    assert fitted_state(fresh) == {}


def test_predict_input_checks(data):
    X, y = data
    with pytest.raises(NotFittedError):
        small().predict(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = small(max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features per step, but LSTMClassifier"
                       " is expecting 2"):
        clf.predict([np.zeros((4, 3))])
    with pytest.raises(ValueError, match="X is a 2-D table, but LSTMClassifier was "
                       "fitted on sequences of 2 features"):
        clf.predict(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="contains NaN"):
        clf.predict([np.full((3, 2), np.nan)])
    # padding of a 3-D array is part of the data: every step counts
    assert clf.predict(np.zeros((2, 5, 2))).shape == (2,)


def test_tables_and_univariate_sequences(rng):
    # a 2-D table is read as univariate sequences of length n_columns
    X = rng.normal(size=(60, 6))
    y = (X.sum(axis=1) > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        table = small(max_iter=3).fit(X, y)
        seqs = small(max_iter=3).fit([row[:, None] for row in X], y)
    assert table.n_features_in_ == 6 and seqs.n_features_in_ == 1
    np.testing.assert_allclose(table.predict_proba(X), seqs.predict_proba(X),
                               rtol=1e-12)
    np.testing.assert_allclose(seqs.predict_proba(list(X)), seqs.predict_proba(X),
                               rtol=1e-12)
    with pytest.raises(ValueError, match="X has 5 features, but LSTMClassifier is "
                       "expecting 6 features"):
        table.predict(X[:, :5])
    with pytest.raises(ValueError, match="fitted on a table of 6 columns"):
        table.predict([row[:, None] for row in X])
    # ragged univariate lists, as 1-D rows
    ragged = [rng.normal(size=int(rng.integers(2, 9))) for _ in range(20)]
    assert seqs.predict(ragged).shape == (20,)


def test_pipeline_grid_search_and_cross_validation(rng):
    X, y = make_data(rng, n=60)
    scale = FunctionTransformer(lambda seqs: [2 * s for s in seqs])
    pipe = make_pipeline(scale, small(max_iter=5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, y)
        assert pipe.predict(X).shape == (60,)
        search = GridSearchCV(
            small(max_iter=3),
            {"hidden_layer_sizes": [(4,), (6,)], "learning_rate_init": [1e-2, 3e-2]},
            cv=KFold(3), n_jobs=2).fit(X, y)
        scores = cross_val_score(small(max_iter=3), X, y, cv=3)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_estimator_.n_features_in_ == 2
    assert scores.shape == (3,) and np.all((0 <= scores) & (scores <= 1))


def test_clone_pickle_joblib_round_trips(tmp_path, data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = small(max_iter=2, bidirectional=True).fit(X, y)
    expected = clf.predict_proba(X)
    clone_ = clone(clf)
    assert clone_.get_params() == clf.get_params() and not hasattr(clone_, "classes_")
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), expected)
    path = tmp_path / "model.joblib"
    joblib.dump(clf, path)
    np.testing.assert_array_equal(joblib.load(path).predict_proba(X), expected)
    # memory-mapped, read-only weights
    mapped = joblib.load(path, mmap_mode="r")
    np.testing.assert_array_equal(mapped.predict_proba(X), expected)


def test_pickle_carries_the_version(monkeypatch, data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = small(max_iter=1).fit(X, y)
    blob = pickle.dumps(clf)
    assert clf.__getstate__()["_sklstm_version"] == sklstm.__version__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pickle.loads(blob)  # same version: silent
    monkeypatch.setattr("sklstm._base.__version__", "999.0")
    with pytest.warns(UserWarning,
                      match=r"pickled by sklstm .* loaded by sklstm 999.0"):
        pickle.loads(blob)


def test_two_threads_predict_at_once(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = small(max_iter=2).fit(X, y)
    expected = clf.predict_proba(X)
    results, barrier = [None, None], threading.Barrier(2)

    def worker(k):
        barrier.wait()
        for _ in range(5):
            results[k] = clf.predict_proba(X)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, expected)


def test_verbose_prints_one_line_per_epoch(capsys, data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        small(max_iter=3, verbose=True, early_stopping=True).fit(X, y)
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert len(lines) == 3
    assert lines[0].startswith("Epoch    1: loss ") and "validation score" in lines[0]
