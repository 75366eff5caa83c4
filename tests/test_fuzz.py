"""Fuzzing the input readers and the functional API with Hypothesis: any
shape, dtype, length, NaN or infinity and label sequence either works or
raises a ValueError or TypeError, never another exception, a crash or a hang.

Inputs are drawn valid and then, most of the time, broken in one place (a
dtype, a shape, a length, a value), so that both the checks and the kernels
behind them are reached. The examples are derandomized and no database is
kept, so that every run (CI's included) tries the same inputs; sizes are
small, so that the file takes a few seconds. A bug found here is fixed where
it lives, and its input stays below as an ``@example``.
"""

import os
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning

from sklstm import LSTMClassifier
from sklstm._sequences import read_arrays, read_sequences
from sklstm.functional import (
    ctc_beam_search,
    ctc_greedy_decode,
    ctc_loss,
    gru_backward,
    gru_forward,
    lstm_backward,
    lstm_forward,
)

# SKLSTM_FUZZ_EXAMPLES=2000 searches longer (still derandomized)
FUZZ = settings(max_examples=int(os.environ.get("SKLSTM_FUZZ_EXAMPLES", "40")),
                deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
REFUSED = (ValueError, TypeError)

# numpy's overflow and invalid-value warnings in the checks are bugs too
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

FLOATS = [np.float64, np.float32]
OTHER_DTYPES = [np.bool_, np.int8, np.int64, np.uint16, np.float16, np.complex128,
                object, "U2"]
SPECIAL = [np.nan, np.inf, -np.inf, 1e300, -1e300, 1e-310, -0.0]


def outcome(call):
    """Run ``call``: its value, or None when it refuses with a ValueError or
    TypeError (recorded as a Hypothesis event, for --hypothesis-show-statistics)."""
    try:
        value = call()
    except REFUSED as exc:
        event(f"refused: {type(exc).__name__}: {str(exc)[:50]}")
        return None
    event("accepted")
    return value


def moderate(*values):
    """Whether every number in ``values`` (arrays, lists of them, None) is
    below 1e6 in magnitude: then outputs and gradients must be finite (huge
    finite inputs may overflow them, as IEEE arithmetic does)."""
    for v in values:
        if v is None:
            continue
        parts = v if isinstance(v, (list, tuple)) or (
            isinstance(v, np.ndarray) and v.dtype == object) else [v]
        for p in parts:
            p = np.asarray(p)
            magnitude = np.abs(p).astype(float) if p.dtype.kind in "biufc" else 0
            if np.max(magnitude, initial=0) >= 1e6:
                return False
    return True


@st.composite
def arrays(draw, shape, dtype=np.float64, salt=False):
    """An array of ``shape`` and ``dtype`` (strings too); with ``salt``, one
    value of a float array is NaN, infinite, huge or subnormal."""
    n = int(np.prod(shape))
    a = np.asarray(draw(st.lists(st.floats(-3, 3, width=32), min_size=n,
                                 max_size=n))).reshape(shape)
    if np.dtype(dtype).kind == "U":
        return a.astype(str).astype(dtype)
    a = a.astype(dtype)
    if salt and a.size and a.dtype.kind == "f":
        with np.errstate(over="ignore"):  # 1e300 is inf in float32
            a.reshape(-1)[draw(st.integers(0, a.size - 1))] = draw(
                st.sampled_from(SPECIAL))
    return a


# What one input is broken by, when it is (a third of the examples): one of these.
BREAKS = ["dtype", "values", "rank", "empty", "width", "length", "not_a_batch"]


@st.composite
def sequence_inputs(draw, allow_lengths=True):
    """``(X, lengths)``: a batch in one of the sequence forms (float64 or
    float32), in a third of the examples broken in one way (``BREAKS``);
    ``lengths`` for a padded batch, right or wrong."""
    B, T, D = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    form = draw(st.sampled_from(["3d", "list", "tuple", "object", "ragged1d",
                                 "nested", "table"]))
    broken = draw(st.sampled_from([None, None] + BREAKS))
    dtype = draw(st.sampled_from(OTHER_DTYPES if broken == "dtype" else FLOATS))
    salt = broken == "values"
    lengths = None
    if form in ("3d", "table"):
        shape = (B, T, D) if form == "3d" else (B, T)
        if broken == "rank":
            shape = draw(st.sampled_from([(), (B,), (B, T, D, 2)]))
        elif broken in ("empty", "width"):
            shape = draw(st.sampled_from([(0, T, D), (B, 0, D), (B, T, 0)]))
        X = draw(arrays(shape, dtype, salt))
        if allow_lengths and X.ndim == 3 and draw(st.booleans()):
            good = st.lists(st.integers(1, T), min_size=B, max_size=B)
            lengths = draw(good if broken != "length" else st.one_of(
                st.lists(st.integers(-1, T + 1), min_size=B, max_size=B),
                st.lists(st.integers(1, T), max_size=B + 1),
                st.lists(st.floats(1, T), min_size=B, max_size=B),
                st.lists(st.booleans(), min_size=B, max_size=B), st.just(T)))
        return X, lengths
    steps = draw(st.lists(st.integers(1, 5), min_size=B, max_size=B))
    if broken in ("empty", "length"):
        steps[draw(st.integers(0, B - 1))] = 0
    i = draw(st.integers(0, B - 1))  # the sequence that is broken
    X = [draw(arrays((n,) if form == "ragged1d" else (n, D),
                     dtype if k == i else np.float64, salt and k == i))
         for k, n in enumerate(steps)]
    if broken == "width":
        X[i] = draw(arrays((2, D + 1), np.float64))
    elif broken == "rank":
        X[i] = draw(arrays(draw(st.sampled_from([(2,), (2, D, 1), ()])), dtype))
    if form == "nested":
        X = [x.tolist() for x in X]
        if broken == "values":
            X[i] = [[None] * D] if draw(st.booleans()) else ["x"]
    elif form == "tuple":
        X = tuple(X)
    elif form == "object":
        parts = X
        X = np.empty(len(parts), dtype=object)
        for k, part in enumerate(parts):
            X[k] = part
    if broken == "not_a_batch":
        X = draw(st.sampled_from([None, 3, "abc", {0: X}, iter(X), []]))
    return X, lengths


@FUZZ
@given(args=sequence_inputs(), strict=st.booleans())
@example(args=(np.ones((2, 3, 1)), [3, 4]), strict=True)
@example(args=([np.ones((0, 2))], None), strict=False)
@example(args=(np.ones((2, 3, 1), dtype=object), None), strict=False)
def test_read_arrays(args, strict):
    X, lengths = args
    read = outcome(lambda: read_arrays(X, lengths if strict else None,
                                       strict=strict))
    if read is None:
        return
    data, starts, read_lengths, n_timesteps = read
    assert data.ndim == 2 and data.shape[1] >= 1
    assert data.dtype in (np.float32, np.float64)
    assert read_lengths.size >= 1 and (read_lengths >= 1).all()
    assert (read_lengths <= n_timesteps).all()
    assert (starts + read_lengths <= data.shape[0]).all()
    if lengths is None:
        assert np.isfinite(data).all()


class Holder(BaseEstimator):
    pass


@FUZZ
@given(fit=sequence_inputs(allow_lengths=False),
       later=sequence_inputs(allow_lengths=False))
@example(fit=(np.ones((2, 3, 2), dtype=object), None), later=(np.ones((1, 2, 2)), None))
def test_read_sequences(fit, later):
    holder = Holder()
    read = outcome(lambda: read_sequences(holder, fit[0], reset=True))
    if read is None:
        assert not hasattr(holder, "n_features_in_")
        return
    seqs, kind = read
    assert np.isfinite(seqs.data).all() and (seqs.lengths >= 1).all()
    assert seqs.data.shape[0] == seqs.lengths.sum()
    read = outcome(lambda: read_sequences(holder, later[0], reset=False,
                                          fitted_kind=kind,
                                          n_features=seqs.n_features))
    if read is not None:
        assert read[0].n_features == seqs.n_features


@pytest.fixture(scope="module")
def fitted():
    """A small classifier on sequences of 2 features, read in frames of 2 steps."""
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(rng.integers(1, 6), 2)) for _ in range(12)]
    model = LSTMClassifier(hidden_layer_sizes=(3,), max_iter=1, steps_per_frame=2,
                           random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, np.arange(12) % 3)


@FUZZ
@given(args=sequence_inputs(allow_lengths=False))
def test_estimator_predict(fitted, args):
    before = pickle.dumps(fitted)
    proba = outcome(lambda: fitted.predict_proba(args[0]))
    assert pickle.dumps(fitted) == before
    if proba is not None:
        assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1)


@st.composite
def recurrent_inputs(draw, n_gates, n_recurrent):
    """``(X, lengths, weights, reverse)`` of a small layer: X from
    :func:`sequence_inputs` (lists of 2-D sequences only: the functional API
    has no 1-D form); the weights and ``h0`` of the right shapes and float
    dtypes, except, sometimes, one of them (shape off by one, another dtype,
    a NaN)."""
    X, lengths = draw(sequence_inputs().filter(
        lambda a: not isinstance(a[0], (list, tuple)) or all(
            np.ndim(x) == 2 for x in a[0])))
    if isinstance(X, np.ndarray) and X.ndim == 3:
        B, D = X.shape[0], X.shape[2]
    elif (isinstance(X, (list, tuple)) or getattr(X, "ndim", None) == 1) and len(X) \
            and np.ndim(X[0]) == 2:
        B, D = len(X), np.shape(X[0])[1]
    else:
        B, D = 1, 1
    H = draw(st.integers(1, 3))
    shapes = {"W": (n_gates * H, D), "U": (n_recurrent * H, H), "b": (n_gates * H,),
              "b_hh": (n_gates * H,), "h0": (B, H)}
    broken = draw(st.sampled_from([None] * 8 + list(shapes)))
    how = draw(st.sampled_from(["shape", "dtype", "values"]))
    weights = {}
    for name, shape in shapes.items():
        dtype = draw(st.sampled_from(FLOATS))
        if name == broken and how == "shape":
            shape = tuple(max(0, n + draw(st.sampled_from([-1, 1]))) for n in shape)
        if name == broken and how == "dtype":
            dtype = draw(st.sampled_from(OTHER_DTYPES))
        weights[name] = draw(arrays(shape, dtype, name == broken and how == "values"))
    if broken != "h0" and draw(st.booleans()):
        weights["h0"] = None
    return X, lengths, weights, draw(st.booleans())


@FUZZ
@given(inputs=recurrent_inputs(4, 4), peephole=st.booleans())
@example(inputs=([np.ones((2, 1))], None,
                 {"W": np.ones((4, 1)), "U": np.ones((4, 1)), "b": np.ones(4),
                  "b_hh": None, "h0": None}, False), peephole=False)
def test_lstm_forward_backward(inputs, peephole):
    X, lengths, p, reverse = inputs
    H = p["U"].shape[1] if p["U"].ndim == 2 else 1
    P = np.full((3, H), 0.5) if peephole else None
    result = outcome(lambda: lstm_forward(X, p["W"], p["U"], p["b"], lengths=lengths,
                                          h0=p["h0"], c0=p["h0"], reverse=reverse,
                                          peephole=P))
    if result is None:
        return
    out, (h_n, c_n), cache = result
    grads = lstm_backward(cache, np.ones_like(out), d_hn=h_n, d_cn=c_n)
    assert grads.dW.shape == p["W"].shape
    if moderate(X, *p.values()):
        assert np.isfinite(out).all() and np.isfinite(h_n).all()
        assert all(np.isfinite(g).all() for g in grads if g is not None)


@FUZZ
@given(inputs=recurrent_inputs(4, 3))
def test_lstm_cell_input_forward_backward(inputs):
    X, lengths, p, reverse = inputs
    result = outcome(lambda: lstm_forward(X, p["W"], p["U"], p["b"], lengths=lengths,
                                          c0=p["h0"], reverse=reverse,
                                          recurrent_input="cell"))
    if result is None:
        return
    out, _, cache = result
    grads = lstm_backward(cache, np.ones_like(out))
    assert grads.dU.shape == p["U"].shape
    if moderate(X, *p.values()):
        assert np.isfinite(out).all() and np.isfinite(grads.dU).all()


@FUZZ
@given(inputs=recurrent_inputs(3, 3))
# found: a float64 h0 of 1e300 for float32 X overflowed in the cast, and was
# then called "NaN or infinity"
@example(inputs=(np.zeros((1, 4, 2), np.float32), None,
                 {"W": np.zeros((3, 2)), "U": np.zeros((3, 1)), "b": np.zeros(3),
                  "b_hh": np.zeros(3), "h0": np.array([[1e300]])}, False))
def test_gru_forward_backward(inputs):
    X, lengths, p, reverse = inputs
    result = outcome(lambda: gru_forward(X, p["W"], p["U"], p["b"], p["b_hh"],
                                         lengths=lengths, h0=p["h0"],
                                         reverse=reverse))
    if result is None:
        return
    out, h_n, cache = result
    grads = gru_backward(cache, np.ones_like(out), d_hn=h_n)
    assert grads.dU.shape == p["U"].shape
    if moderate(X, *p.values()):
        assert np.isfinite(out).all()
        assert all(np.isfinite(g).all() for g in grads if g is not None)


# integer arguments (blank, beam_width, n_best): mostly the default, else in
# range, out of it, or not integers at all
def integer_arg(default):
    return st.one_of(st.just(default), st.just(default), st.just(default),
                     st.integers(-2, 8), st.booleans(), st.floats(0, 3),
                     st.sampled_from([np.int8(1), np.True_, "1"]))


@st.composite
def ctc_inputs(draw):
    """``(logits, input_lengths, targets, target_lengths)``: a padded or listed
    batch of float logits, with columns of -inf (classes of probability zero)
    half the time, targets in each accepted form; in a third of the examples
    one thing broken."""
    B, T, C = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(2, 4))
    broken = draw(st.sampled_from([None, None, "logits_shape", "logits_dtype",
                                   "values", "dead_frame", "input_lengths",
                                   "labels", "targets", "target_lengths"]))
    shape = (B, T, C)
    if broken == "logits_shape":
        shape = draw(st.sampled_from([(), (B, T), (0, T, C), (B, 0, C), (B, T, 0),
                                      (B, T, 1), (B, T, C, 1)]))
    dtype = OTHER_DTYPES if broken == "logits_dtype" else FLOATS
    logits = draw(arrays(shape, draw(st.sampled_from(dtype)), broken == "values"))
    if logits.ndim == 3 and logits.size and logits.dtype.kind == "f":
        if draw(st.booleans()):
            logits[:, :, draw(st.integers(0, logits.shape[2] - 1))] = -np.inf
        if broken == "dead_frame":
            logits[0, draw(st.integers(0, T - 1))] = -np.inf  # no class possible
    input_lengths = None
    if logits.ndim == 3 and logits.shape[:2] == (B, T) and draw(st.booleans()):
        lengths = draw(st.lists(st.integers(1, T), min_size=B, max_size=B))
        if broken == "input_lengths":
            input_lengths = draw(st.one_of(
                st.lists(st.integers(-1, T + 1), min_size=B, max_size=B),
                st.lists(st.integers(1, T), max_size=B + 1),
                st.lists(st.floats(1, T), min_size=B, max_size=B)))
        elif draw(st.booleans()):
            input_lengths = lengths
        else:  # the list form
            logits = [logits[b, :n] for b, n in enumerate(lengths)]
    label = st.integers(-1, C + 1) if broken == "labels" else st.integers(1, C - 1)
    labels = draw(st.lists(st.lists(label, max_size=T + 1), min_size=B, max_size=B))
    form = draw(st.sampled_from(["list", "arrays", "padded", "concatenated"]))
    target_lengths = None
    if form == "list":
        targets = labels
    elif form == "arrays":
        targets = [np.array(t, dtype=np.int64) for t in labels]
    else:
        target_lengths = [len(t) for t in labels]
        if form == "padded":
            targets = np.zeros((B, max(target_lengths + [1])), dtype=np.intp)
            for b, t in enumerate(labels):
                targets[b, : len(t)] = t
        else:
            targets = np.array(sum(labels, []), dtype=np.intp)
        if broken == "target_lengths":
            target_lengths = draw(st.lists(st.integers(-1, T + 2), max_size=B + 1))
    if broken == "targets":
        targets = draw(st.sampled_from([labels[:-1], [["a"]] * B, [1.5] * B,
                                        ["ab"] * B, None, 3,
                                        np.ones((B, 2), dtype=float),
                                        iter(labels), {0: labels}]))
    return logits, input_lengths, targets, target_lengths


@FUZZ
@given(inputs=ctc_inputs(), blank=integer_arg(0),
       reduction=st.sampled_from(["mean", "mean", "sum", "none", "avg"]),
       zero_infinity=st.booleans())
@example(inputs=(np.full((1, 3, 3), -np.inf), None, [[1]], None), blank=0,
         reduction="sum", zero_infinity=False)
def test_ctc_loss(inputs, blank, reduction, zero_infinity):
    logits, input_lengths, targets, target_lengths = inputs
    result = outcome(lambda: ctc_loss(logits, targets, input_lengths=input_lengths,
                                      target_lengths=target_lengths, blank=blank,
                                      reduction=reduction,
                                      zero_infinity=zero_infinity))
    if result is None:
        return
    loss, grad = result
    assert np.isfinite(grad).all()
    assert not np.isnan(loss).any() and (np.asarray(loss) >= -1e-6).all()
    if zero_infinity:
        assert np.isfinite(loss).all()


@FUZZ
@given(inputs=ctc_inputs(), blank=integer_arg(0), beam_width=integer_arg(4),
       n_best=integer_arg(1), log_probs=st.booleans())
def test_ctc_decoders(inputs, blank, beam_width, n_best, log_probs):
    logits, input_lengths = inputs[:2]
    greedy = outcome(lambda: ctc_greedy_decode(logits, input_lengths=input_lengths,
                                               blank=blank))
    found = outcome(lambda: ctc_beam_search(
        logits, input_lengths=input_lengths, blank=blank, beam_width=beam_width,
        n_best=n_best, return_log_probs=log_probs))
    if found is None:
        return
    assert greedy is not None  # what the search reads, greedy decoding reads too
    labellings, scores = found if log_probs else (found, None)
    assert len(labellings) == len(greedy)
    if scores is not None:
        assert not np.isnan(scores).any() and (scores <= 1e-9).all()


@pytest.mark.parametrize("fn", [ctc_greedy_decode, ctc_beam_search])
def test_decoders_read_minus_inf(fn):
    logits = np.array([[[0.0, 0.0, -np.inf], [-np.inf, 0.0, -np.inf]]])
    assert [list(map(int, s)) for s in fn(logits)] == [[1]]
