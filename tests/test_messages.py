"""Messages that name the problem and the fix, and the input forms the
documentation promises; each failed call leaves the estimator as it was."""

import pickle
import warnings

import numpy as np
import pytest
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

from sklstm import CTCSequenceLabeler, LSTMClassifier, LSTMRegressor
from sklstm._sequences import read_sequences
from sklstm.functional import (
    ctc_beam_search,
    ctc_greedy_decode,
    ctc_loss,
    lstm_forward,
)

from . import _reference


def classifier(**kwargs):
    params = dict(hidden_layer_sizes=(4,), max_iter=3, random_state=0,
                  n_iter_no_change=3)
    return LSTMClassifier(**{**params, **kwargs})


def labeler(**kwargs):
    params = dict(hidden_layer_sizes=(4,), max_iter=2, random_state=0,
                  n_iter_no_change=2)
    return CTCSequenceLabeler(**{**params, **kwargs})


def quiet_fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


@pytest.fixture
def data(rng):
    X = [rng.normal(size=(rng.integers(3, 7), 2)) for _ in range(16)]
    y = np.array([i % 2 for i in range(16)])
    return X, y


@pytest.fixture
def fitted(data):
    return quiet_fit(classifier(), *data)


# --- X and y as generators, dicts, sets -----------------------------------------


@pytest.mark.parametrize("make, match", [
    (lambda X: (x for x in X), r"X is a generator, which can be read only once; "
     r"pass a 3-D array .* \(for example list\(X\)\)"),
    (lambda X: iter(X), r"X is a list_iterator, which can be read only once"),
    (lambda X: dict(enumerate(X)), r"X is a dict; pass a 3-D array .* or a list of "
     r"\(n_timesteps_i, n_features\) arrays, in the order of the sequences "
     r"\(for example list\(X.values\(\)\)"),
])
def test_X_without_order_is_refused(data, fitted, make, match):
    X, y = data
    before = pickle.dumps(fitted)
    for call in (lambda: classifier().fit(make(X), y),
                 lambda: fitted.predict(make(X)),
                 lambda: fitted.set_params(warm_start=True).fit(make(X), y)):
        with pytest.raises(TypeError, match=match):
            call()
    fitted.set_params(warm_start=False)
    assert pickle.dumps(fitted) == before


@pytest.mark.parametrize("make, match", [
    (lambda y: (v for v in y), r"y is a generator, which can be read only once; "
     r"pass a list or 1-D array of one target per sequence \(for example list\(y\)\)"),
    (lambda y: dict(enumerate(y)), r"y is a dict; pass a list or 1-D array of one "
     r"target per sequence, in the order of the sequences"),
    (lambda y: set(y), r"y is a set, which has no order"),
])
@pytest.mark.parametrize("Estimator", [LSTMClassifier, LSTMRegressor])
def test_y_without_order_is_refused(data, make, match, Estimator):
    X, y = data
    model = Estimator(hidden_layer_sizes=(4,), max_iter=1)
    with pytest.raises(TypeError, match=match):
        model.fit(X, make(y))
    assert not hasattr(model, "n_features_in_")


def test_ctc_y_without_order_is_refused(rng):
    X = [rng.normal(size=(6, 2)) for _ in range(4)]
    y = ["12", "3", "21", "1"]
    with pytest.raises(TypeError, match="y is a dict; pass a list"):
        labeler().fit(X, dict(enumerate(y)))
    model = quiet_fit(labeler(), X, y)
    with pytest.raises(TypeError, match="y is a generator"):
        model.score(X, (t for t in y))


# --- forms the documentation promises ------------------------------------------


def test_three_d_object_array_of_numbers_is_a_three_d_array(rng, fitted):
    X = rng.normal(size=(5, 4, 2))
    seqs, kind = read_sequences(LSTMClassifier(), X.astype(object), reset=True)
    assert kind == "sequences" and seqs.dtype == np.float64
    np.testing.assert_array_equal(seqs.data, X.reshape(20, 2))
    np.testing.assert_array_equal(fitted.predict_proba(X.astype(object)),
                                  fitted.predict_proba(X))
    model = quiet_fit(classifier(), X.astype(object), [0, 1, 0, 1, 0])
    assert model.n_features_in_ == 2
    words = np.full((2, 3, 2), "a", dtype=object)
    with pytest.raises(ValueError, match="X holds values that are not numbers"):
        fitted.predict(words)


def test_pandas_series_of_arrays_reads_like_an_object_array(data, fitted):
    pd = pytest.importorskip("pandas")
    X, y = data
    series = pd.Series(X, index=np.arange(100, 116))  # index order is not used
    np.testing.assert_array_equal(fitted.predict_proba(series),
                                  fitted.predict_proba(X))
    from_series = quiet_fit(classifier(), series, pd.Series(y))
    from_list = quiet_fit(classifier(), X, y)
    np.testing.assert_array_equal(from_series.predict_proba(X),
                                  from_list.predict_proba(X))
    # a Series of equal-length 1-D arrays is a table, as a list of them is
    rows = pd.Series([np.arange(3.0) + i for i in range(16)])
    table = quiet_fit(classifier(), rows, y)
    assert table.n_features_in_ == 3
    with pytest.raises(ValueError, match="1-D array of shape \\(16,\\)"):
        fitted.predict(pd.Series(np.arange(16.0)))


def test_list_of_dataframes_keeps_its_column_names(rng, data):
    pd = pytest.importorskip("pandas")
    _, y = data
    frames = [pd.DataFrame(rng.normal(size=(rng.integers(3, 7), 3)),
                           columns=["a", "b", "c"]) for _ in range(16)]
    model = quiet_fit(classifier(), frames, y)
    assert list(model.feature_names_in_) == ["a", "b", "c"]
    expected = model.predict_proba(frames)
    with pytest.warns(UserWarning, match="X does not have valid feature names, but "
                      "LSTMClassifier was fitted with feature names"):
        arrays = model.predict_proba([f.to_numpy() for f in frames])
    np.testing.assert_array_equal(arrays, expected)
    before = pickle.dumps(model)
    reordered = [f[["c", "a", "b"]] for f in frames]
    with pytest.raises(ValueError, match="The feature names should match those that "
                       "were passed during fit"):
        model.predict(reordered)
    renamed = [f.rename(columns={"c": "d"}) for f in frames]
    with pytest.raises(ValueError, match="Feature names unseen at fit time:\n- d"):
        model.predict_proba(renamed)
    mixed = frames[:3] + reordered[3:]
    with pytest.raises(ValueError, match=r"X\[3\] has the columns \['c', 'a', 'b'\] "
                       r"but X\[0\] has \['a', 'b', 'c'\]; every sequence needs the "
                       "same columns, in the same order"):
        model.predict(mixed)
    with pytest.raises(ValueError, match=r"X\[2\] has the columns none \(not a "
                       r"DataFrame\)"):
        classifier().fit(frames[:2] + [f.to_numpy() for f in frames[2:]], y)
    assert pickle.dumps(model) == before
    # refitting on arrays forgets the names
    quiet_fit(model, [f.to_numpy() for f in frames], y)
    assert not hasattr(model, "feature_names_in_")


# --- continuing training with new classes ----------------------------------------


def test_warm_start_with_a_new_class_says_so(data, fitted):
    X, y = data
    model = fitted.set_params(warm_start=True)
    before = pickle.dumps(model)
    y_new = y.copy()
    y_new[:2] = [7, 9]
    with pytest.raises(ValueError, match=r"y contains the classes \[7, 9\], not seen "
                       r"when the model was first fitted \(classes_ = \[0, 1\]\)\. .*"
                       r"refit with warm_start=False to learn new classes, or declare "
                       r"every class up front with partial_fit\(X, y, classes="):
        model.fit(X, y_new)
    assert pickle.dumps(model) == before
    # the advice works
    refit = quiet_fit(model.set_params(warm_start=False), X, y_new)
    assert list(refit.classes_) == [0, 1, 7, 9]


def test_partial_fit_classes_must_cover_y(data):
    X, y = data
    model = classifier()
    with pytest.raises(ValueError, match=r"y contains the classes \[1\], which are "
                       r"not in classes=\[0, 2\]; pass every class"):
        model.partial_fit(X, y, classes=[0, 2])
    assert not hasattr(model, "classes_")


# --- early stopping and CTC feasibility -----------------------------------------


def test_validation_fraction_zero_with_early_stopping(data):
    X, y = data
    model = classifier(early_stopping=True, validation_fraction=0)
    with pytest.raises(ValueError, match="validation_fraction=0 holds out none; pass "
                       r"a fraction in \(0, 1\), such as 0.1, or early_stopping=False"):
        model.fit(X, y)
    assert not hasattr(model, "classes_")
    quiet_fit(model.set_params(early_stopping=False), X, y)  # the advice works


def test_validation_split_that_cannot_stratify(data):
    X, _ = data
    y = np.arange(16) % 4  # 4 classes, 2 held-out sequences
    with pytest.raises(ValueError, match=r"could not hold out validation_fraction="
                       r"0.1 of the 16 training sequences \(stratified by class\): "
                       r".*Change validation_fraction"):
        classifier(early_stopping=True).fit(X, y)


@pytest.mark.parametrize("zero_infinity", [True, False])
def test_every_ctc_sequence_too_short(rng, zero_infinity):
    X = [rng.normal(size=(2, 2)) for _ in range(3)]
    model = labeler(zero_infinity=zero_infinity)
    with pytest.raises(ValueError, match="all 3 sequences are too short for their "
                       "labels .* Pass longer sequences or shorter label sequences"):
        model.fit(X, ["123", "11", "4567"])
    assert not hasattr(model, "classes_")


# --- -inf logits in the CTC loss -------------------------------------------------


def _with_impossible_classes(rng, T, C, share=0.3):
    u = rng.normal(size=(T, C)) * 3
    u[rng.random((T, C)) < share] = -np.inf
    dead = np.isneginf(u).all(axis=1)
    u[dead, 0] = 0.0  # every frame keeps one class of non-zero probability
    return u


def test_ctc_loss_accepts_minus_inf_logits(rng):
    n_finite = n_inf = 0
    for _ in range(60):
        T, C = int(rng.integers(1, 5)), int(rng.integers(2, 4))
        u = _with_impossible_classes(rng, T, C)
        target = list(rng.integers(1, C, size=rng.integers(0, T + 1)))
        loss, grad = ctc_loss(u[None], [target], reduction="sum")
        expected = _reference.ctc_loss(u, target)  # brute force over every path
        if np.isinf(expected):
            n_inf += 1
            assert loss == np.inf and not grad.any()
            continue
        n_finite += 1
        np.testing.assert_allclose(loss, expected, rtol=1e-12)
        assert np.isfinite(grad).all() and not grad[0][np.isneginf(u)].any()
        for t, k in zip(*np.nonzero(np.isfinite(u))):  # central differences
            up, down = u.copy(), u.copy()
            up[t, k] += 1e-6
            down[t, k] -= 1e-6
            numeric = (_reference.ctc_loss(up, target)
                       - _reference.ctc_loss(down, target)) / 2e-6
            assert abs(numeric - grad[0, t, k]) < 1e-6
    assert n_finite > 10 and n_inf > 3  # both kinds were met


@pytest.mark.parametrize("scale", [1.0, 200.0])
def test_ctc_loss_with_minus_inf_on_long_sequences(rng, dtype, scale):
    # scale 200: emissions down to e^-800 underflow a double, so the kernel's
    # log-space path runs too
    T, C = 60, 5
    u = rng.normal(size=(T, C)) * scale
    u[:, 1:][rng.random((T, C - 1)) < 0.5] = -np.inf  # the blank stays possible
    u[:2, 4] = -np.inf  # label 4 impossible in the first frames, not later
    targets = [[1, 2, 2, 3], [4], [], [4, 4]]
    logits = np.stack([u, u[::-1], np.roll(u, 7, axis=0), u[:, [0, 1, 2, 3, 0]]])
    logits[3, :, 4] = -np.inf  # label 4 impossible throughout: infinite loss
    logits = logits.astype(dtype)
    losses, grad = ctc_loss(logits, targets, reduction="none")
    expected = [_reference.ctc_loss_log_space(logits[b].astype(np.float64), t)
                for b, t in enumerate(targets)]
    assert np.isfinite(expected[:3]).all() and expected[3] == np.inf
    rtol = {np.float32: 1e-5, np.float64: 1e-10}[dtype]
    np.testing.assert_allclose(losses, expected, rtol=rtol)
    assert np.isfinite(grad).all() and not grad[np.isneginf(logits)].any()
    # the decoders read the same logits
    decoded = ctc_beam_search(logits, beam_width=4)
    assert len(decoded) == 4 and len(ctc_greedy_decode(logits)) == 4
    assert 4 not in decoded[3]


def test_ctc_loss_impossible_label_is_infinite():
    logits = np.zeros((1, 4, 3))
    logits[0, :, 2] = -np.inf  # label 2 has probability zero everywhere
    loss, grad = ctc_loss(logits, [[1, 2]], reduction="sum")
    assert loss == np.inf and not grad.any()
    assert ctc_loss(logits, [[1, 2]], reduction="sum", zero_infinity=True)[0] == 0
    loss, grad = ctc_loss(logits, [[1, 1]], reduction="sum")
    # paths over {blank, 1} only: softmax of (0, 0, -inf) is 1/2 each
    assert np.isfinite(loss) and np.isfinite(grad).all() and not grad[..., 2].any()
    np.testing.assert_allclose(loss, _reference.ctc_loss_log_space(logits[0], [1, 1]))


@pytest.mark.parametrize("value, t, match", [
    (np.nan, 2, "logits contains NaN at sequence 0, frame 2"),
    (np.inf, 1, r"logits contains \+inf at sequence 0, frame 1"),
    (None, 3, "logits contains -inf for every class .* at sequence 0, frame 3"),
])
def test_ctc_loss_refuses_nan_and_plus_inf(value, t, match):
    logits = np.zeros((1, 5, 3))
    if value is None:
        logits[0, t] = -np.inf
    else:
        logits[0, t, 1] = value
    for call in (lambda: ctc_loss(logits, [[1]]), lambda: ctc_greedy_decode(logits),
                 lambda: ctc_beam_search(logits)):
        with pytest.raises(ValueError, match=match):
            call()
    ctc_loss(logits, [[1]], input_lengths=[t])  # past the input length: not read


# --- booleans are not sizes --------------------------------------------------------


@pytest.mark.parametrize("Estimator, params, name", [
    (CTCSequenceLabeler, dict(beam_width=True), "beam_width"),
    (LSTMClassifier, dict(max_iter=True), "max_iter"),
    (LSTMClassifier, dict(hidden_layer_sizes=True), "hidden_layer_sizes"),
    (LSTMRegressor, dict(batch_size=False), "batch_size"),
    (LSTMRegressor, dict(steps_per_frame=True), "steps_per_frame"),
    (LSTMClassifier, dict(n_iter_no_change=np.True_), "n_iter_no_change"),
    (LSTMClassifier, dict(learning_rate_init=True), "learning_rate_init"),
])
def test_boolean_for_a_number_parameter(data, Estimator, params, name):
    X, y = data
    model = Estimator(**params)
    with pytest.raises(InvalidParameterError, match=f"The '{name}' parameter of "
                       f"{Estimator.__name__} must be .*, not the boolean"):
        model.fit(X, y if Estimator is not CTCSequenceLabeler else ["1"] * len(X))
    assert not hasattr(model, "n_features_in_")


def test_boolean_layer_size(data):
    with pytest.raises(ValueError, match=r"hidden_layer_sizes must be a positive "
                       r"integer or a non-empty sequence of them; got \(4, True\)"):
        LSTMClassifier(hidden_layer_sizes=(4, True), max_iter=1).fit(*data)


@pytest.mark.parametrize("call, match", [
    (lambda u: ctc_loss(u, [[1]], blank=True), r"blank=True must be an integer in "
     r"\[0, 3\) \(a boolean is not an index or a size\)"),
    (lambda u: ctc_greedy_decode(u, blank=np.False_), "blank=np.False_ must be"),
    (lambda u: ctc_beam_search(u, beam_width=True), "beam_width=True must be a "
     "positive integer \\(a boolean"),
    (lambda u: ctc_beam_search(u, n_best=True), "n_best=True must be an integer in "
     r"\[1, beam_width \+ 1 = 17\] \(a boolean"),
])
def test_functional_refuses_booleans_for_integers(call, match):
    with pytest.raises(ValueError, match=match):
        call(np.zeros((1, 4, 3)))


# --- score weights -------------------------------------------------------------------


def test_ctc_score_offers_no_sample_weight(rng):
    X = [rng.normal(size=(6, 2)) for _ in range(4)]
    y = ["12", "3", "21", "1"]
    model = quiet_fit(labeler(), X, y)
    with pytest.raises(ValueError, match="score does not take sample_weight: the "
                       "label error rate counts every label"):
        model.score(X, y, sample_weight=np.ones(4))
    with sklearn.config_context(enable_metadata_routing=True):
        routing = model.get_metadata_routing()
        assert "sample_weight" in routing.fit.requests
        assert "sample_weight" not in routing.score.requests
        assert not hasattr(model, "set_score_request")
        # fit still takes weights through routing
        model.set_fit_request(sample_weight=True)


# --- values a cast cannot hold --------------------------------------------------


def test_weights_beyond_the_precision_of_X():
    X = np.zeros((1, 4, 2), dtype=np.float32)
    W, U, b = np.zeros((8, 2)), np.zeros((8, 2)), np.zeros(8)
    with pytest.raises(ValueError, match=r"h0 holds finite values beyond the range "
                       r"of float32, the precision of the computation \(largest "
                       r"3.4e\+38\); scale them down, or compute in float64"):
        lstm_forward(X, W, U, b, h0=np.full((1, 2), 1e300))
    with pytest.raises(ValueError, match="W contains NaN or infinity"):
        lstm_forward(X, np.full((8, 2), np.inf), U, b)  # infinite already
    out, _, _ = lstm_forward(X.astype(np.float64), W, U, b, h0=np.full((1, 2), 1e300))
    assert out.dtype == np.float64


def test_functional_refuses_one_pass_inputs():
    W, U, b = np.zeros((4, 2)), np.zeros((4, 1)), np.zeros(4)
    X = [np.ones((3, 2)), np.ones((2, 2))]
    with pytest.raises(TypeError, match="X is a generator, which can be read only "
                       "once"):
        lstm_forward((x for x in X), W, U, b)
    with pytest.raises(TypeError, match="targets is a dict; pass a list of integer "
                       "label arrays"):
        ctc_loss(np.zeros((2, 3, 3)), {0: [1], 1: [2]})
    with pytest.raises(TypeError, match="targets is a list_iterator"):
        ctc_loss(np.zeros((2, 3, 3)), iter([[1], [2]]))
