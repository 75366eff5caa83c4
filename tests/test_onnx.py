"""The ONNX export (``sklstm.onnx``) run in onnxruntime: ragged batches padded
with garbage give the estimators' own answers, for every cell, pooling,
direction and estimator, through ``sklstm.onnx.to_onnx`` and through
skl2onnx's pipelines.

The estimators are fitted on float64 data and predict in float64; the ONNX
models compute in float32 (onnxruntime runs LSTM and GRU in float32 only),
so the comparison is of the float32 graph with the float64 estimator: 1e-5
on probabilities and log-probabilities, 1e-5 relative on regression
outputs. Each model is checked twice: as fitted (two epochs), and with its
recurrent and output weights replaced by uniform(-1, 1) values, which a
wrong gate or peephole order, or a misread bias, would not survive (fitted
peepholes barely leave zero in two epochs).
"""

import sys

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline, make_pipeline

from sklstm import (
    CTCSequenceLabeler,
    LSTMClassifier,
    LSTMRegressor,
    LSTMSequenceRegressor,
    LSTMTagger,
)
from sklstm.datasets import make_digit_strings
from sklstm.functional import ctc_greedy_decode
from sklstm.preprocessing import SequenceScaler

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
sklstm_onnx = pytest.importorskip("sklstm.onnx")

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

ATOL = 1e-5  # float32 graph against the float64 estimator

N_FEATURES = 3


def ragged(seed, n=24, n_features=N_FEATURES, shortest=1, longest=11):
    """Sequences of mean 2 and standard deviation 3 (the standardisation
    folded into the first layer is not the identity)."""
    rng = np.random.default_rng(seed)
    return [rng.normal(2.0, 3.0, size=(int(rng.integers(shortest, longest + 1)),
                                       n_features))
            for _ in range(n)]


def padded(X, extra=3):
    """``(X (batch, time, F) float32, lengths int32)``: every step past a
    length garbage, NaN in even rows and ±1e30 in odd rows."""
    lengths = np.array([len(x) for x in X], dtype=np.int32)
    out = np.full((len(X), lengths.max() + extra, X[0].shape[1]), np.nan,
                  dtype=np.float32)
    out[1::2] = 1e30
    out[3::4] = -1e30
    for b, x in enumerate(X):
        out[b, : len(x)] = x
    return out, lengths


def session(model):
    return ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"])


def run(model, X, lengths):
    return session(model).run(None, {"X": X, "lengths": lengths})


def shaken(est, seed):
    """``est`` with its recurrent and output weights drawn from
    uniform(-1, 1), its input map (standardisation, step grouping, target
    scaling) kept."""
    rng = np.random.default_rng(seed)
    est.recurrent_params_ = [[tuple(rng.uniform(-1, 1, a.shape) for a in params)
                              for params in layer]
                             for layer in est.recurrent_params_]
    est.output_coef_ = rng.uniform(-1, 1, est.output_coef_.shape)
    est.output_intercept_ = rng.uniform(-1, 1, est.output_intercept_.shape)
    return est


def labels_of(X):
    return np.array([int(x[:, 0].mean() > 2) + int(x[:, 1].mean() > 2) for x in X])


# configurations: (cell, hidden_activation, bidirectional, pooling, layers,
# steps_per_frame)
NETWORKS = {
    "lstm-bi-max": ("lstm", "tanh", True, "max", (4,), 1),
    "lstm-uni-last": ("lstm", "tanh", False, "last", (4,), 1),
    "lstm-bi-last": ("lstm", "tanh", True, "last", (4,), 1),
    "peephole-bi-mean": ("peephole", "tanh", True, "mean", (4,), 1),
    "peephole-uni-max": ("peephole", "tanh", False, "max", (4,), 1),
    "identity-bi-last": ("lstm", "identity", True, "last", (4,), 1),
    "identity-peephole-uni-mean": ("peephole", "identity", False, "mean", (4,), 1),
    "gru-bi-last": ("gru", "tanh", True, "last", (4,), 1),
    "gru-uni-mean": ("gru", "tanh", False, "mean", (4,), 1),
    "gru-bi-max": ("gru", "tanh", True, "max", (4,), 1),
    "stacked-lstm-bi-max": ("lstm", "tanh", True, "max", (5, 3), 1),
    "stacked-gru-uni-last": ("gru", "tanh", False, "last", (3, 5), 1),
    "frames3-lstm-bi-mean": ("lstm", "tanh", True, "mean", (4,), 3),
    "frames2-peephole-bi-last": ("peephole", "tanh", True, "last", (4,), 2),
}


def network_params(name):
    cell, activation, bidirectional, pooling, layers, k = NETWORKS[name]
    return dict(cell=cell, hidden_activation=activation, bidirectional=bidirectional,
                pooling=pooling, hidden_layer_sizes=layers, steps_per_frame=k,
                max_iter=2, random_state=0)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_classifier_ragged(name):
    X = ragged(0)
    clf = LSTMClassifier(**network_params(name)).fit(X, labels_of(X))
    Xp, lengths = padded(X)
    for seed in (None, 1):
        if seed is not None:
            shaken(clf, seed)
        label, proba = run(sklstm_onnx.to_onnx(clf), Xp, lengths)
        assert label.dtype == np.int64 and proba.dtype == np.float32
        np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=ATOL)
        np.testing.assert_array_equal(label, clf.predict(X))


REGRESSORS = {
    "lstm-bi-max-1d": ("lstm-bi-max", 1),
    "gru-uni-mean-2d": ("gru-uni-mean", 2),
    "frames3-lstm-bi-mean-2d": ("frames3-lstm-bi-mean", 2),
    "identity-peephole-uni-mean-1d": ("identity-peephole-uni-mean", 1),
}


@pytest.mark.parametrize("name", list(REGRESSORS))
def test_regressor_ragged(name):
    network, n_outputs = REGRESSORS[name]
    X = ragged(2)
    # targets far from zero mean and unit scale: the target scaling folded
    # into the head is not the identity
    y = np.stack([[100 + 30 * x[:, 0].mean(), -5 + 0.1 * x[:, 1].max()] for x in X])
    y = y[:, 0] if n_outputs == 1 else y
    reg = LSTMRegressor(**network_params(network)).fit(X, y)
    Xp, lengths = padded(X)
    for seed in (None, 3):
        if seed is not None:
            shaken(reg, seed)
        (pred,) = run(sklstm_onnx.to_onnx(reg), Xp, lengths)
        expected = reg.predict(X)
        assert pred.shape == expected.shape
        np.testing.assert_allclose(pred, expected, rtol=ATOL,
                                   atol=ATOL * np.abs(expected).max())


@pytest.mark.parametrize("name", ["lstm-bi-max", "identity-peephole-uni-mean",
                                  "stacked-gru-uni-last", "frames3-lstm-bi-mean"])
def test_ctc_log_probabilities(name):
    X, y = make_digit_strings(16, max_digits=2, random_state=0)
    params = network_params(name)
    params.pop("pooling")  # a per-step head; frames repeated over their steps
    ctc = CTCSequenceLabeler(**params).fit(X, y)
    assert ctc.steps_per_frame_ == params["steps_per_frame"]
    Xp, lengths = padded(X)
    for seed in (None, 4):
        if seed is not None:
            shaken(ctc, seed)
        (log_p,) = run(sklstm_onnx.to_onnx(ctc), Xp, lengths)
        assert log_p.shape == Xp.shape[:2] + (len(ctc.classes_) + 1,)
        for b, proba in enumerate(ctc.predict_proba(X)):
            np.testing.assert_allclose(log_p[b, : lengths[b]], np.log(proba),
                                       rtol=0, atol=ATOL)
            assert np.all(log_p[b, lengths[b]:] == 0)
        # decoding stays in Python: predict's greedy decoding of the output
        paths = ctc_greedy_decode(log_p, input_lengths=lengths,
                                  blank=len(ctc.classes_))
        assert ["".join(ctc.classes_[p]) for p in paths] == ctc.predict(X)


def per_step_params(name):
    params = network_params(name)
    for key in ("pooling", "steps_per_frame"):  # a per-step head, every frame
        params.pop(key)
    return params


@pytest.mark.parametrize("name", ["lstm-bi-max", "identity-peephole-uni-mean",
                                  "stacked-gru-uni-last"])
def test_tagger_per_step_probabilities_and_labels(name):
    X = ragged(5)
    y = [np.where(x[:, 0] > 2, "hi", np.where(x[:, 1] > 2, "mid", "lo")) for x in X]
    tagger = LSTMTagger(**per_step_params(name)).fit(X, y)
    Xp, lengths = padded(X)
    for seed in (None, 6):
        if seed is not None:
            shaken(tagger, seed)
        label, proba = run(sklstm_onnx.to_onnx(tagger), Xp, lengths)
        assert proba.shape == Xp.shape[:2] + (3,) and label.shape == Xp.shape[:2]
        for b, (p, labels) in enumerate(zip(tagger.predict_proba(X),
                                            tagger.predict(X))):
            np.testing.assert_allclose(proba[b, : lengths[b]], p, rtol=0, atol=ATOL)
            assert np.all(proba[b, lengths[b]:] == 0)
            np.testing.assert_array_equal(label[b, : lengths[b]], labels)


@pytest.mark.parametrize("n_outputs", [1, 2])
def test_sequence_regressor_per_step_predictions(n_outputs):
    X = ragged(7)
    y = [np.c_[100 + 30 * np.cumsum(x[:, 0]), -5 + 0.1 * x[:, 1]] for x in X]
    y = [t[:, 0] for t in y] if n_outputs == 1 else y
    reg = LSTMSequenceRegressor(**per_step_params("stacked-lstm-bi-max")).fit(X, y)
    Xp, lengths = padded(X)
    for seed in (None, 8):
        if seed is not None:
            shaken(reg, seed)
        (pred,) = run(sklstm_onnx.to_onnx(reg), Xp, lengths)
        assert pred.shape == Xp.shape[:2] + ((2,) if n_outputs == 2 else ())
        for b, expected in enumerate(reg.predict(X)):
            np.testing.assert_allclose(pred[b, : lengths[b]], expected, rtol=ATOL,
                                       atol=ATOL * np.abs(expected).max())


SCALERS = [dict(), dict(with_mean=False), dict(with_std=False),
           dict(with_mean=False, with_std=False), dict(per_sequence=True),
           dict(per_sequence=True, with_mean=False),
           dict(per_sequence=True, with_std=False)]


@pytest.mark.parametrize("params", SCALERS, ids=lambda p: str(p) or "default")
def test_scaler_ragged(params):
    X = ragged(5)
    # a constant feature and a sequence of one step: the zero variances that
    # safe_scale maps to a scale of 1
    X[0][:, 2] = 7.0
    X[1] = X[1][:1]
    scaler = SequenceScaler(**params).fit(X)
    Xp, lengths = padded(X)
    (out,) = run(sklstm_onnx.to_onnx(scaler), Xp, lengths)
    # the scaler on float32 input computes in float64 and gives float32, as
    # the graph does: they agree to a float32 rounding
    X32 = [x.astype(np.float32) for x in X]
    for b, expected in enumerate(scaler.transform(X32)):
        np.testing.assert_allclose(out[b, : lengths[b]], expected, rtol=1e-6,
                                   atol=1e-6)
        assert np.all(out[b, lengths[b]:] == 0)


def test_pipeline_ragged():
    X = ragged(6)
    pipe = make_pipeline(SequenceScaler(per_sequence=True), SequenceScaler(),
                         "passthrough",
                         LSTMClassifier(**network_params("lstm-bi-max")))
    pipe.fit(X, labels_of(X))
    label, proba = run(sklstm_onnx.to_onnx(pipe), *padded(X))
    np.testing.assert_allclose(proba, pipe.predict_proba(X), rtol=0, atol=ATOL)
    np.testing.assert_array_equal(label, pipe.predict(X))


def test_labels_keep_their_type():
    X = ragged(7)
    y = labels_of(X)
    Xp, lengths = padded(X)
    for classes in (np.array(["neg", "mid", "pos"]), np.array([-1.0, 0.0, 2.0])):
        clf = LSTMClassifier(**network_params("lstm-uni-last")).fit(X, classes[y])
        label, _ = run(sklstm_onnx.to_onnx(clf), Xp, lengths)
        np.testing.assert_array_equal(label, clf.predict(X))


def test_table_model_reads_univariate_sequences():
    rng = np.random.default_rng(8)
    T = rng.normal(size=(20, 6))
    clf = LSTMClassifier(**network_params("lstm-bi-max")).fit(T, T[:, 0] > 0)
    lengths = np.full(len(T), T.shape[1], dtype=np.int32)
    _, proba = run(sklstm_onnx.to_onnx(clf), T[:, :, None].astype(np.float32),
                   lengths)
    np.testing.assert_allclose(proba, clf.predict_proba(T), rtol=0, atol=ATOL)


@pytest.mark.parametrize("opset", [14, 17, onnx.defs.onnx_opset_version()])
def test_opsets(opset):
    X = ragged(9)
    clf = LSTMClassifier(**network_params("gru-bi-max")).fit(X, labels_of(X))
    model = sklstm_onnx.to_onnx(clf, opset=opset)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == opset
    try:
        _, proba = run(model, *padded(X))
    except Exception as exc:  # an opset newer than this onnxruntime runs
        if opset <= 21:
            raise
        pytest.skip(f"onnxruntime {ort.__version__} does not run opset {opset}: "
                    f"{exc}")
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=ATOL)


def test_default_model():
    X = ragged(10)
    clf = LSTMClassifier(**network_params("lstm-bi-max")).fit(X, labels_of(X))
    model = sklstm_onnx.to_onnx(clf)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == sklstm_onnx.DEFAULT_OPSET
    assert [i.name for i in model.graph.input] == ["X", "lengths"]
    assert [o.name for o in model.graph.output] == ["label", "probabilities"]
    assert "LSTM" in {node.op_type for node in model.graph.node}


# --- refusals ---------------------------------------------------------------------


def test_cell_input_refused():
    X = ragged(11)
    clf = LSTMClassifier(recurrent_input="cell", hidden_layer_sizes=(3,),
                         max_iter=2, random_state=0).fit(X, labels_of(X))
    with pytest.raises(ValueError, match="recurrent_input='cell' has no ONNX form"):
        sklstm_onnx.to_onnx(clf)


def test_refusals():
    with pytest.raises(NotFittedError):
        sklstm_onnx.to_onnx(LSTMClassifier())
    with pytest.raises(NotFittedError):
        sklstm_onnx.to_onnx(make_pipeline(SequenceScaler(), LSTMRegressor()))
    with pytest.raises(TypeError, match="Cannot export LinearRegression"):
        from sklearn.linear_model import LinearRegression

        sklstm_onnx.to_onnx(LinearRegression())
    X = ragged(12)
    clf = LSTMClassifier(hidden_layer_sizes=(3,), max_iter=2,
                         random_state=0).fit(X, labels_of(X))
    for opset in (13, 10_000, 18.0, True):
        with pytest.raises(ValueError, match="is not an opset this export can write"):
            sklstm_onnx.to_onnx(clf, opset=opset)


def test_missing_onnx_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` raises
    with pytest.raises(ImportError, match=r'pip install "sklstm\[onnx\]"'):
        sklstm_onnx.to_onnx(LSTMClassifier())


# --- skl2onnx: one input, every sequence full length -----------------------------


@pytest.fixture(scope="module")
def skl2onnx():
    return pytest.importorskip("skl2onnx")


@pytest.mark.parametrize("per_sequence", [False, True])
@pytest.mark.parametrize("form", ["3-D", "table"])
def test_skl2onnx_pipeline(skl2onnx, form, per_sequence):
    rng = np.random.default_rng(13)
    X = rng.normal(2.0, 3.0, size=(24, 7, N_FEATURES))
    y = np.array(["a", "b"])[(X[:, :, 0].mean(axis=1) > 2).astype(int)]
    if form == "table":
        X = X[:, :, 0]
    clf = LSTMClassifier(**network_params("peephole-bi-mean"))
    pipe = Pipeline([("scale", SequenceScaler(per_sequence=per_sequence)),
                     ("clf", clf)]).fit(X, y)
    shaken(clf, 14)
    X32 = X.astype(np.float32)
    plain = skl2onnx.to_onnx(pipe, X32[:1], options={id(clf): {"zipmap": False}})
    label, proba = session(plain).run(None, {"X": X32})
    np.testing.assert_allclose(proba, pipe.predict_proba(X), rtol=0, atol=ATOL)
    np.testing.assert_array_equal(label, pipe.predict(X))
    # by default, skl2onnx's ZipMap: one {class: probability} per sequence
    zipped = skl2onnx.to_onnx(pipe, X32[:1])
    label, maps = session(zipped).run(None, {"X": X32})
    np.testing.assert_array_equal(label, pipe.predict(X))
    assert sorted(maps[0]) == ["a", "b"]
    np.testing.assert_allclose([m["b"] for m in maps], proba[:, 1], atol=1e-7)


def test_skl2onnx_regressor_and_ctc(skl2onnx):
    X = np.stack([x[:7] for x in ragged(15, shortest=7)])
    y = X[:, :, 0].sum(axis=1) * 10
    # frames of 3 steps, the last of them partial
    reg = make_pipeline(SequenceScaler(), LSTMRegressor(
        **network_params("frames3-lstm-bi-mean"))).fit(X, y)
    X32 = X.astype(np.float32)
    (pred,) = session(skl2onnx.to_onnx(reg, X32[:1])).run(None, {"X": X32})
    expected = reg.predict(X)
    np.testing.assert_allclose(pred, expected, rtol=ATOL,
                               atol=ATOL * np.abs(expected).max())
    Xc, yc = make_digit_strings(12, max_digits=2, random_state=1)
    Xc = np.stack([x[: min(map(len, Xc))] for x in Xc])
    ctc = CTCSequenceLabeler(hidden_layer_sizes=(4,), max_iter=2,
                             random_state=0).fit(Xc, yc)
    Xc32 = Xc.astype(np.float32)
    (log_p,) = session(skl2onnx.to_onnx(ctc, Xc32[:1])).run(None, {"X": Xc32})
    np.testing.assert_allclose(np.exp(log_p), np.stack(ctc.predict_proba(Xc)),
                               rtol=0, atol=ATOL)
    seq = LSTMSequenceRegressor(hidden_layer_sizes=(4,), max_iter=2,
                                random_state=0).fit(X, 10 * np.cumsum(X, axis=1))
    (pred,) = session(skl2onnx.to_onnx(seq, X32[:1])).run(None, {"X": X32})
    expected = np.stack(seq.predict(X))
    np.testing.assert_allclose(pred, expected, rtol=ATOL,
                               atol=ATOL * np.abs(expected).max())


def test_skl2onnx_refuses_old_opsets_and_cell_input(skl2onnx):
    X = ragged(16, shortest=5, longest=5)
    X3 = np.stack(X).astype(np.float32)
    clf = LSTMClassifier(hidden_layer_sizes=(3,), max_iter=2,
                         random_state=0).fit(X, labels_of(X))
    with pytest.raises(ValueError, match="target_opset=13 is too old"):
        skl2onnx.to_onnx(clf, X3[:1], target_opset=13)
    clf.set_params(recurrent_input="cell").fit(X, labels_of(X))
    with pytest.raises(ValueError, match="recurrent_input='cell' has no ONNX form"):
        skl2onnx.to_onnx(clf, X3[:1])
