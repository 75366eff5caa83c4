"""Streaming prediction: Stream, predict_step and the step kernel under them.

Every output of a stream is checked against the whole-sequence ``predict``
(and ``predict_proba``, and the head's outputs, ``_decision``) on the prefix
seen so far.
"""

import pickle
import threading

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from sklstm import LSTMClassifier, LSTMRegressor, LSTMSequenceRegressor, LSTMTagger
from sklstm._streaming import Stream

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

RTOL = {np.float32: 1e-5, np.float64: 1e-12}
ATOL = {np.float32: 1e-6, np.float64: 1e-13}

CELLS = {
    "lstm": {"cell": "lstm"},
    "peephole": {"cell": "peephole"},
    "peephole-identity": {"cell": "peephole", "hidden_activation": "identity"},
    "cell-input": {"cell": "lstm", "recurrent_input": "cell"},
    "gru": {"cell": "gru"},
}

N_FEATURES = 3
LENGTH = 7  # prefixes 1..7: with frames of 3 steps, most are partial frames


def _data(rng, n=24, dtype=np.float64, n_outputs=None):
    X = [(rng.normal(size=(int(rng.integers(4, 10)), N_FEATURES)) * [1, 5, 0.2]
          + [0, 10, -3]).astype(dtype) for _ in range(n)]
    if n_outputs is None:
        y = np.array([int(x[:, 0].sum() > 0) for x in X])
        y[:2] = [0, 1]
    else:
        y = np.stack([[x[:, 0].sum() * 100 + 1000, x[:, 1].mean()]
                      for x in X])[:, :n_outputs]
    return X, y


def _fit(estimator_class, rng, dtype=np.float64, n_outputs=1, **params):
    """A briefly trained model; ``n_outputs`` applies to the regressor."""
    if estimator_class is LSTMClassifier:
        n_outputs = None
    X, y = _data(rng, dtype=dtype, n_outputs=n_outputs)
    if estimator_class is LSTMRegressor and n_outputs == 1:
        y = y[:, 0]
    defaults = dict(hidden_layer_sizes=(5, 3), bidirectional=False, max_iter=2,
                    random_state=0)
    return estimator_class(**{**defaults, **params}).fit(X, y)


def _streams(rng, n_streams, dtype=np.float64, length=LENGTH):
    return rng.normal(size=(n_streams, length, N_FEATURES)).astype(dtype) * \
        [1, 5, 0.2] + np.array([0, 10, -3], dtype=dtype)


def _check_stream(est, seqs, dtype=np.float64):
    """Push ``seqs`` (n_streams, T, F) step by step; compare every step with
    the batch pass on the prefixes."""
    seqs = seqs.astype(dtype)
    stream = est.stream(n_streams=seqs.shape[0])
    assert stream.dtype == dtype
    proba = hasattr(est, "predict_proba")
    for t in range(seqs.shape[1]):
        prefixes = [s[: t + 1] for s in seqs]
        decision = stream._push(seqs[:, t]).copy()
        expected = est._decision(est._read_predict_input(prefixes))
        np.testing.assert_allclose(decision, expected, rtol=RTOL[dtype],
                                   atol=ATOL[dtype], err_msg=f"step {t}")
        if proba:
            np.testing.assert_allclose(
                est._proba_from_decision(decision), est.predict_proba(prefixes),
                rtol=RTOL[dtype], atol=ATOL[dtype])
            np.testing.assert_array_equal(est._predictions_from_decision(decision),
                                          est.predict(prefixes))
        else:
            np.testing.assert_allclose(
                est._predictions_from_decision(decision), est.predict(prefixes),
                rtol=RTOL[dtype], atol=ATOL[dtype] * 1e3)
    assert stream.n_steps_ == seqs.shape[1]
    return stream


@pytest.mark.parametrize("steps_per_frame", [1, 3])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("estimator_class", [LSTMClassifier, LSTMRegressor])
def test_stream_equals_predict_on_every_prefix(estimator_class, cell, pooling,
                                               steps_per_frame, rng):
    est = _fit(estimator_class, rng, pooling=pooling,
               steps_per_frame=steps_per_frame, **CELLS[cell])
    assert est.steps_per_frame_ == steps_per_frame
    _check_stream(est, _streams(rng, 3))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_float32_model_streams_in_float32(cell, pooling, rng):
    est = _fit(LSTMClassifier, rng, dtype=np.float32, pooling=pooling,
               steps_per_frame=3, **CELLS[cell])
    assert est.output_coef_.dtype == np.float32
    _check_stream(est, _streams(rng, 2, length=8), dtype=np.float32)


def test_multi_output_regression_with_target_scaling(rng):
    reg = _fit(LSTMRegressor, rng, n_outputs=2, pooling="mean", steps_per_frame=2)
    assert reg.target_scale_[0] > 10  # the outputs are on different scales
    stream = _check_stream(reg, _streams(rng, 2))
    assert stream.push(np.ones((2, N_FEATURES))).shape == (2, 2)


def test_one_layer_and_wide_layers(rng):
    est = _fit(LSTMRegressor, rng, n_outputs=1, hidden_layer_sizes=(37,))
    _check_stream(est, _streams(rng, 5))
    est = _fit(LSTMClassifier, rng, hidden_layer_sizes=(20, 9, 4), cell="gru")
    _check_stream(est, _streams(rng, 1))


def test_push_returns_predictions_and_probabilities(rng):
    clf = _fit(LSTMClassifier, rng, pooling="max")
    seqs = _streams(rng, 2)
    a, b = clf.stream(2), clf.stream(2)
    for t in range(LENGTH):
        labels = a.push(seqs[:, t])
        proba = b.push_proba(seqs[:, t])
    prefixes = list(seqs)
    np.testing.assert_array_equal(labels, clf.predict(prefixes))
    np.testing.assert_allclose(proba, clf.predict_proba(prefixes), rtol=1e-12)
    assert labels.dtype == clf.classes_.dtype


def test_one_stream_takes_a_row_or_a_vector(rng):
    reg = _fit(LSTMRegressor, rng, n_outputs=1, pooling="last")
    seq = _streams(rng, 1)[0]
    a, b = reg.stream(), reg.stream()
    for x_t in seq:
        out_a, out_b = a.push(x_t), b.push(x_t[None, :])
        np.testing.assert_array_equal(out_a, out_b)
    assert out_a.shape == (1,)
    np.testing.assert_allclose(out_a, reg.predict([seq]), rtol=1e-12)


def test_predict_step_does_not_change_its_state(rng):
    clf = _fit(LSTMClassifier, rng, pooling="mean", steps_per_frame=3)
    seqs = _streams(rng, 2)
    proba, state = clf.predict_proba_step(seqs[:, 0])
    labels, state = clf.predict_step(seqs[:, 1], state)
    snapshot = pickle.dumps({k: v for k, v in vars(state).items() if k != "_model"})
    # two branches from one state
    left, left_state = clf.predict_proba_step(seqs[:, 2], state)
    right, right_state = clf.predict_proba_step(seqs[:, 2] + 1, state)
    again, _ = clf.predict_proba_step(seqs[:, 2], state)
    assert pickle.dumps({k: v for k, v in vars(state).items()
                         if k != "_model"}) == snapshot
    assert state.n_steps_ == 2 and left_state.n_steps_ == 3
    np.testing.assert_array_equal(left, again)
    assert not np.allclose(left, right)
    np.testing.assert_allclose(left, clf.predict_proba(list(seqs[:, :3])),
                               rtol=1e-12)
    np.testing.assert_allclose(
        right, clf.predict_proba([np.vstack([s[:2], s[2:3] + 1]) for s in seqs]),
        rtol=1e-12)
    # and the step after a branch continues it
    proba, _ = clf.predict_proba_step(seqs[:, 3], left_state)
    np.testing.assert_allclose(proba, clf.predict_proba(list(seqs[:, :4])),
                               rtol=1e-12)


def test_predict_step_from_none_and_regressor_has_no_proba(rng):
    reg = _fit(LSTMRegressor, rng, n_outputs=1)
    seqs = _streams(rng, 3)
    state = None
    for t in range(LENGTH):
        y_t, state = reg.predict_step(seqs[:, t], state)
    np.testing.assert_allclose(y_t, reg.predict(list(seqs)), rtol=1e-12)
    assert isinstance(state, Stream) and state.n_streams == 3
    assert not hasattr(reg, "predict_proba_step")
    assert hasattr(LSTMClassifier(), "predict_proba_step")
    with pytest.raises(AttributeError, match="no class probabilities"):
        reg.stream().push_proba(seqs[0, 0])
    with pytest.raises(TypeError, match="state must be None"):
        reg.predict_step(seqs[:, 0], state={"h": 0})
    other = _fit(LSTMRegressor, rng, n_outputs=1)
    with pytest.raises(ValueError, match="another model"):
        other.predict_step(seqs[:, 0], state)


def test_streams_are_independent_and_thread_safe(rng):
    reg = _fit(LSTMRegressor, rng, n_outputs=1, hidden_layer_sizes=(64,),
               pooling="mean", steps_per_frame=3)
    long = [_streams(rng, 2, length=300) for _ in range(2)]

    def run(seqs, stream, out):
        for t in range(seqs.shape[1]):
            out.append(stream.push(seqs[:, t]))

    alone = []
    for seqs in long:
        out = []
        run(seqs, reg.stream(2), out)
        alone.append(np.array(out))
    # interleaved on one thread
    streams, outs = [reg.stream(2), reg.stream(2)], [[], []]
    for t in range(long[0].shape[1]):
        for seqs, stream, out in zip(long, streams, outs):
            out.append(stream.push(seqs[:, t]))
    for out, ref in zip(outs, alone):
        np.testing.assert_array_equal(np.array(out), ref)
    # on two threads at once
    outs = [[], []]
    threads = [threading.Thread(target=run, args=(seqs, reg.stream(2), out))
               for seqs, out in zip(long, outs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for out, ref in zip(outs, alone):
        np.testing.assert_array_equal(np.array(out), ref)


def test_reset_and_copy(rng):
    clf = _fit(LSTMClassifier, rng, pooling="max", steps_per_frame=3)
    seqs = _streams(rng, 2)
    stream = clf.stream(2)
    for t in range(4):
        stream.push(seqs[:, t])
    twin = stream.copy()
    first = stream.push_proba(seqs[:, 4])
    np.testing.assert_array_equal(twin.push_proba(seqs[:, 4]), first)
    assert twin.n_steps_ == stream.n_steps_ == 5
    stream.reset()
    assert stream.n_steps_ == 0
    proba = stream.push_proba(seqs[:, 0])
    np.testing.assert_allclose(proba, clf.predict_proba(list(seqs[:, :1])),
                               rtol=1e-12)
    assert "n_streams=2" in repr(stream)


@pytest.mark.parametrize("estimator_class", [LSTMClassifier, LSTMRegressor])
def test_bidirectional_refused(estimator_class, rng):
    est = _fit(estimator_class, rng, n_outputs=1, bidirectional=True)
    x_t = np.zeros((1, N_FEATURES))
    calls = [lambda: est.stream(), lambda: est.predict_step(x_t)]
    if estimator_class is LSTMClassifier:
        calls.append(lambda: est.predict_proba_step(x_t))
    for call in calls:
        with pytest.raises(ValueError, match="bidirectional=True.*whole sequence.*"
                                             "bidirectional=False"):
            call()


def test_unfitted_and_bad_n_streams():
    for est in (LSTMClassifier(bidirectional=False), LSTMRegressor()):
        with pytest.raises(NotFittedError):
            est.stream()
        with pytest.raises(NotFittedError):
            est.predict_step(np.zeros((1, 2)))


@pytest.mark.parametrize("bad, error, match", [
    (np.zeros((2, N_FEATURES + 1)), ValueError, "4 features per step.*expecting 3"),
    (np.zeros((3, N_FEATURES)), ValueError, "3 rows.*n_streams=2"),
    (np.zeros((2, 1, N_FEATURES)), ValueError, r"shape \(2, 1, 3\).*\(2, 3\)"),
    (np.zeros(N_FEATURES), ValueError, r"shape \(3,\)"),
    (np.full((2, N_FEATURES), "a"), TypeError, "dtype <U1"),
    (np.zeros((2, N_FEATURES), dtype=complex), TypeError, "complex"),
    ([[0, 0, 0], [0, np.nan, 0]], ValueError, "NaN or infinity.*stream 1, feature 1"),
    ([[0, 0, np.inf], [0, 0, 0]], ValueError, "NaN or infinity.*stream 0, feature 2"),
])
def test_bad_steps_refused_and_state_unchanged(bad, error, match, rng):
    clf = _fit(LSTMClassifier, rng, pooling="mean", steps_per_frame=3)
    seqs = _streams(rng, 2)
    stream, clean = clf.stream(2), clf.stream(2)
    for t in range(2):  # within a frame: the partial frame is state too
        stream.push(seqs[:, t])
        clean.push(seqs[:, t])
    with pytest.raises(error, match=match):
        stream.push(bad)
    with pytest.raises(error, match=match):
        clf.predict_step(bad, stream)
    assert stream.n_steps_ == 2
    for t in range(2, LENGTH):
        np.testing.assert_array_equal(stream.push_proba(seqs[:, t]),
                                      clean.push_proba(seqs[:, t]))


def test_pickled_estimator_streams(rng):
    clf = _fit(LSTMClassifier, rng, cell="peephole", pooling="max", steps_per_frame=3)
    loaded = pickle.loads(pickle.dumps(clf))
    seqs = _streams(rng, 2)
    a, b = clf.stream(2), loaded.stream(2)
    for t in range(LENGTH):
        np.testing.assert_array_equal(a.push_proba(seqs[:, t]),
                                      b.push_proba(seqs[:, t]))
    _check_stream(loaded, seqs)


def test_stream_keeps_the_model_it_was_made_from(rng):
    X, y = _data(rng)
    clf = LSTMClassifier(hidden_layer_sizes=(4,), bidirectional=False, max_iter=2,
                         random_state=0).fit(X, y)
    seqs = _streams(rng, 1)
    stream = clf.stream()
    before = clf.predict_proba([seqs[0]])
    clf.set_params(random_state=1).fit(X, y)
    for t in range(LENGTH):
        proba = stream.push_proba(seqs[:, t])
    np.testing.assert_allclose(proba, before, rtol=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "peephole", "gru"])
@pytest.mark.parametrize("estimator_class", [LSTMTagger, LSTMSequenceRegressor])
def test_per_step_estimators_stream_their_step_outputs(estimator_class, cell, rng):
    X, _ = _data(rng)
    if estimator_class is LSTMTagger:
        y = [(x[:, 0] > 0).astype(int) for x in X]
    else:
        y = [np.cumsum(x[:, :2], axis=0) * [100, 1] for x in X]
    est = estimator_class(hidden_layer_sizes=(5, 3), bidirectional=False, cell=cell,
                          max_iter=2, random_state=0).fit(X, y)
    seqs = _streams(rng, 2)
    stream = est.stream(2)
    for t in range(LENGTH):
        prefixes = [s[: t + 1] for s in seqs]
        out = stream.push(seqs[:, t])
        expected = np.stack([p[-1] for p in est.predict(prefixes)])
        if estimator_class is LSTMTagger:
            np.testing.assert_array_equal(out, expected)
            proba = est._proba_from_decision(stream._decision.copy())
            np.testing.assert_allclose(
                proba, np.stack([p[-1] for p in est.predict_proba(prefixes)]),
                rtol=1e-12, atol=1e-13)
        else:
            np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-10)
    assert out.shape == expected.shape
    with pytest.raises(ValueError, match="bidirectional=False"):
        estimator_class(bidirectional=True, hidden_layer_sizes=(3,), max_iter=1,
                        random_state=0).fit(X, y).stream()
