"""A failed call leaves the estimator as it was, incremental training keeps its
optimizer, and a pickle holds no ``numpy.random`` object."""

import os
import pickle
import pickletools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sklstm import CTCSequenceLabeler, LSTMClassifier, LSTMRegressor
from sklstm._base import _rng_from_state
from sklstm._optimizers import AdamOptimizer
from sklstm.datasets import make_digit_strings

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

KINDS = ["classifier", "regressor", "ctc"]


def make_problem(kind, seed=0):
    """``(estimator class, X, y, partial_fit keywords)`` of a small problem."""
    if kind == "ctc":
        X, y = make_digit_strings(24, max_digits=2, random_state=seed)
        return CTCSequenceLabeler, X, y, {}
    rng = np.random.default_rng(seed)
    X = [rng.normal(size=(int(rng.integers(3, 9)), 2)) for _ in range(24)]
    if kind == "classifier":
        y = np.array(["pos" if x[:, 0].sum() > 0 else "neg" for x in X])
        return LSTMClassifier, X, y, {"classes": ["neg", "pos"]}
    return LSTMRegressor, X, np.array([x[:, 0].mean() for x in X]), {}


def make_estimator(cls, **kwargs):
    # two layers with dropout: the random state is drawn from in every step
    params = dict(hidden_layer_sizes=(4, 3), dropout=0.25, max_iter=2,
                  random_state=0)
    params.update(kwargs)
    return cls(**params)


def weights(est):
    """The fitted weights and curves, for exact comparisons."""
    arrays = list(est._fitted_flat())
    return arrays + [np.array(est.loss_curve_), np.array([est.t_, est.n_iter_])]


def assert_same_model(a, b):
    wa, wb = weights(a), weights(b)
    assert len(wa) == len(wb)
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(x, y)


def snapshot(est):
    """Everything the estimator holds, the state of a RandomState passed as
    random_state included."""
    return pickle.dumps(vars(est))


def outputs(est, X):
    if isinstance(est, LSTMClassifier):
        return est.predict_proba(X)
    if isinstance(est, CTCSequenceLabeler):
        return np.concatenate(est.predict_proba(X))
    return est.predict(X)


# --- a failed call leaves the estimator as it was ------------------------------------

MODES = ["fit", "warm_start_fit", "first_partial_fit", "later_partial_fit"]


def prepared(kind, mode):
    """An estimator ready for the call ``mode`` names, and that call. The
    random_state is a RandomState, which fit and a first partial_fit advance."""
    cls, X, y, kw = make_problem(kind)
    est = make_estimator(cls, random_state=np.random.RandomState(0),
                         warm_start=mode == "warm_start_fit")
    if mode == "warm_start_fit":
        est.fit(X, y)
    elif mode == "later_partial_fit":
        est.partial_fit(X, y, **kw)
        est.partial_fit(X, y, **kw)
    if mode.endswith("partial_fit"):
        return est, lambda Xc, yc: est.partial_fit(Xc, yc, **kw)
    return est, est.fit


def fail_in_update(monkeypatch):
    """The second optimizer update of the call raises, after writing the weights
    and the optimizer's moments in place."""
    calls, update = [], AdamOptimizer.update

    def failing(self, params, grads):
        update(self, params, grads)
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("stopped inside an epoch")

    monkeypatch.setattr(AdamOptimizer, "update", failing)
    return RuntimeError, "stopped inside an epoch"


def diverge(monkeypatch, cls):
    """The loss of the call's second minibatch is nan."""
    calls, loss = [], cls._loss

    def diverging(self, *args):
        value, grad = loss(self, *args)
        calls.append(1)
        return (np.nan if len(calls) == 2 else value), grad

    monkeypatch.setattr(cls, "_loss", diverging)
    return ValueError, "The training loss became nan"


@pytest.mark.parametrize("failure", ["input", "update", "divergence"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_failed_call_then_success_equals_success_alone(kind, mode, failure):
    cls, X, y, kw = make_problem(kind)
    failed, call = prepared(kind, mode)
    clean, clean_call = prepared(kind, mode)
    before = snapshot(failed)
    X_bad = X
    with pytest.MonkeyPatch.context() as mp:
        if failure == "input":
            X_bad = [x.copy() for x in X]
            X_bad[5][1, 0] = np.nan
            error, match = ValueError, "NaN"
        elif failure == "update":
            error, match = fail_in_update(mp)
        else:
            error, match = diverge(mp, cls)
        with pytest.raises(error, match=match):
            call(X_bad, y)
    assert snapshot(failed) == before
    call(X, y)
    clean_call(X, y)
    assert_same_model(failed, clean)
    # and the next call continues alike: same random state, same optimizer
    failed.partial_fit(X, y, **kw)
    clean.partial_fit(X, y, **kw)
    assert_same_model(failed, clean)


# --- partial_fit keeps its optimizer; the divergence advice fits the call ----------


@pytest.mark.parametrize("kind", KINDS)
def test_partial_fit_keeps_its_optimizer_after_set_params(kind):
    """As MLPClassifier's: set_params of the optimizer's parameters applies at the
    next fit, not to a partial_fit that continues training."""
    cls, X, y, kw = make_problem(kind)
    plain, changed = make_estimator(cls), make_estimator(cls)
    for est in (plain, changed):
        est.partial_fit(X, y, **kw)
    changed.set_params(solver="sgd", learning_rate_init=0.5, momentum=0.1,
                       beta_1=0.5, beta_2=0.5, epsilon=1.0)
    plain.partial_fit(X, y, **kw)
    changed.partial_fit(X, y, **kw)
    assert_same_model(plain, changed)
    assert changed._optimizer_state["solver"] == "adam"
    assert changed._optimizer_state["learning_rate"] == 1e-2
    assert changed._optimizer_state["beta_1"] == 0.9
    # the next fit (warm or cold) makes the optimizer the parameters name
    changed.set_params(warm_start=True).fit(X, y)
    assert changed._optimizer_state["solver"] == "sgd"
    assert changed._optimizer_state["learning_rate"] == 0.5
    # and partial_fit after a fit keeps that fit's optimizer
    changed.set_params(solver="adam", learning_rate_init=1e-3)
    changed.partial_fit(X, y, **kw)
    assert changed._optimizer_state["solver"] == "sgd"
    assert changed._optimizer_state["learning_rate"] == 0.5


FIT_ADVICE = (r"lower learning_rate_init or max_grad_norm, or scale the data\. "
              r"The estimator was left as it was before this call\.$")
PARTIAL_FIT_ADVICE = (r"partial_fit continues with the optimizer and learning rate "
                      r"of the call that started training, .*: refit with a lower "
                      r"learning_rate_init .*, lower max_grad_norm, or scale the "
                      r"data\. The estimator was left")


@pytest.mark.parametrize("kind", KINDS)
def test_divergence_advice_fits_the_call(monkeypatch, kind):
    cls, X, y, kw = make_problem(kind)
    continuing = make_estimator(cls).partial_fit(X, y, **kw)
    before = snapshot(continuing)
    loss = cls._loss
    monkeypatch.setattr(cls, "_loss",
                        lambda self, *args: (np.inf, loss(self, *args)[1]))
    with pytest.raises(ValueError, match="The training loss became inf; "
                       + FIT_ADVICE) as info:
        make_estimator(cls).fit(X, y)
    assert "partial_fit" not in str(info.value)
    # a first partial_fit makes its optimizer from the parameters: fit's advice
    with pytest.raises(ValueError, match="became inf; " + FIT_ADVICE):
        make_estimator(cls).partial_fit(X, y, **kw)
    # a later one keeps it: learning_rate_init only applies to a refit
    with pytest.raises(ValueError, match="became inf; " + PARTIAL_FIT_ADVICE):
        continuing.partial_fit(X, y, **kw)
    # a warm-started fit makes a new optimizer: fit's advice
    with pytest.raises(ValueError, match="became inf; " + FIT_ADVICE):
        continuing.set_params(warm_start=True).fit(X, y)
    continuing.set_params(warm_start=False)
    assert snapshot(continuing) == before


def test_non_finite_weights_get_the_same_advice(monkeypatch):
    """The last update writes inf: no loss sees it, the weights' check does."""
    cls, X, y, kw = make_problem("classifier")
    est = make_estimator(cls, batch_size=len(X)).partial_fit(X, y, **kw)
    update = AdamOptimizer.update

    def poisoning(self, params, grads):
        update(self, params, grads)
        params[0][0, 0] = np.inf

    monkeypatch.setattr(AdamOptimizer, "update", poisoning)
    with pytest.raises(ValueError, match="produced non-finite weights; "
                       + PARTIAL_FIT_ADVICE):
        est.partial_fit(X, y, **kw)
    with pytest.raises(ValueError, match="produced non-finite weights; "
                       + FIT_ADVICE):
        make_estimator(cls, batch_size=len(X), max_iter=1).fit(X, y)


# --- persistence: plain random state, across processes ------------------------------


def numpy_random_references(blob):
    """The names of ``numpy.random`` a pickle refers to (modules and classes)."""
    found = {arg for _, arg, _ in pickletools.genops(blob)
             if isinstance(arg, str) and "numpy.random" in arg}
    if b"numpy.random" in blob:
        found.add("numpy.random (in the bytes)")
    return found


def test_the_scan_sees_a_random_state():
    assert numpy_random_references(pickle.dumps(np.random.RandomState(0)))
    assert numpy_random_references(pickle.dumps(np.random.default_rng(0), protocol=2))


@pytest.mark.parametrize("kind", KINDS)
def test_pickle_holds_no_numpy_random_object(kind):
    cls, X, y, kw = make_problem(kind)
    fitted = make_estimator(cls).fit(X, y)
    incremental = make_estimator(cls).partial_fit(X, y, **kw)
    for est in (fitted, incremental, fitted.partial_fit(X, y, **kw)):
        for protocol in (2, pickle.HIGHEST_PROTOCOL):
            assert numpy_random_references(pickle.dumps(est, protocol=protocol)) \
                == set()


@pytest.mark.parametrize("bit_generator", ["MT19937", "PCG64", "Philox"])
def test_random_state_on_any_bit_generator_is_stored_plain(bit_generator):
    cls, X, y, kw = make_problem("regressor")
    seed = np.random.RandomState(getattr(np.random, bit_generator)(3))
    est = make_estimator(cls, random_state=seed).fit(X, y)
    assert est._rng_state["bit_generator"] == bit_generator
    est.set_params(random_state=0)  # the user's object is theirs to pickle
    assert numpy_random_references(pickle.dumps(est)) == set()
    copy = pickle.loads(pickle.dumps(est))
    est.partial_fit(X, y, **kw)
    copy.partial_fit(X, y, **kw)
    assert_same_model(copy, est)


def test_pickle_with_a_random_state_object_still_loads():
    """Pickles made before the random state was stored plain hold ``_rng``, a
    RandomState: loading converts it, and training continues alike."""
    cls, X, y, kw = make_problem("classifier")
    est = make_estimator(cls).partial_fit(X, y, **kw)
    old = pickle.loads(pickle.dumps(est))
    old.__dict__["_rng"] = _rng_from_state(old.__dict__.pop("_rng_state"))
    restored = pickle.loads(pickle.dumps(old))
    assert "_rng" not in vars(restored)
    est.partial_fit(X, y, **kw)
    restored.partial_fit(X, y, **kw)
    assert_same_model(restored, est)


# The writer: fit, pickle, then what it would do next (predict, partial_fit).
WRITER = """
import pickle, sys
import warnings
import numpy as np
from tests.test_reliability_state import make_estimator, make_problem, outputs, weights
warnings.simplefilter("ignore")
kind, path = sys.argv[1], sys.argv[2]
cls, X, y, kw = make_problem(kind)
est = make_estimator(cls).fit(X, y).partial_fit(X, y, **kw)
blob = pickle.dumps(est)
predicted = outputs(est, X)
est.partial_fit(X, y, **kw)
with open(path, "wb") as f:
    pickle.dump((blob, predicted, weights(est)), f)
"""


@pytest.mark.parametrize("kind", KINDS)
def test_pickle_from_another_process_predicts_and_continues_alike(tmp_path, kind):
    root = Path(__file__).resolve().parents[1]
    path_entries = [str(root), os.environ.get("PYTHONPATH", "")]
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(path_entries))
    path = tmp_path / "written.pkl"
    subprocess.run([sys.executable, "-c", WRITER, kind, str(path)], cwd=root,
                   env=env, check=True, capture_output=True, timeout=300)
    with open(path, "rb") as f:
        blob, predicted, written_next = pickle.load(f)
    cls, X, y, kw = make_problem(kind)
    est = pickle.loads(blob)
    np.testing.assert_array_equal(outputs(est, X), predicted)
    est.partial_fit(X, y, **kw)
    for a, b in zip(weights(est), written_next, strict=True):
        np.testing.assert_array_equal(a, b)
