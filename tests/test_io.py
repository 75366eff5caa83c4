"""Models that travel: skops.io saves and loads every fitted estimator exactly,
sklstm.io trusts sklstm's classes and nothing else, and pickling leaves the
estimator alone."""

import copy
import io
import pickle
import sys

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import sklstm.io
from sklstm import (
    CTCSequenceLabeler,
    LSTMClassifier,
    LSTMRegressor,
    LSTMSequenceRegressor,
    LSTMTagger,
)
from sklstm._optimizers import AdamOptimizer, optimizer_from_state
from sklstm.datasets import make_digit_strings
from sklstm.preprocessing import SequenceScaler

# the fits are a few epochs long on purpose
pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

KINDS = ["classifier", "regressor", "ctc", "tagger", "sequence_regressor"]


@pytest.fixture
def skops_io():
    return pytest.importorskip("skops.io")


def make_problem(kind, seed=0):
    """``(estimator class, X, y, partial_fit keywords)`` of a small problem;
    "ctc_labels" has label sequences of NumPy integers rather than strings."""
    if kind.startswith("ctc"):
        X, y = make_digit_strings(24, max_digits=2, random_state=seed)
        if kind == "ctc_labels":
            y = [np.array([int(c) for c in s]) for s in y]
        return CTCSequenceLabeler, X, y, {}
    rng = np.random.default_rng(seed)
    X = [rng.normal(size=(int(rng.integers(3, 9)), 2)) for _ in range(24)]
    if kind == "classifier":
        y = np.array(["pos" if x[:, 0].sum() > 0 else "neg" for x in X])
        return LSTMClassifier, X, y, {"classes": ["neg", "pos"]}
    if kind == "tagger":
        y = [np.where(np.cumsum(x[:, 0]) > 0, "pos", "neg") for x in X]
        return LSTMTagger, X, y, {"classes": ["neg", "pos"]}
    if kind == "sequence_regressor":
        return LSTMSequenceRegressor, X, [np.c_[np.cumsum(x[:, 0]), 10 * x[:, 1]]
                                          for x in X], {}
    return LSTMRegressor, X, np.array([[x[:, 0].mean(), x[:, 1].max()] for x in X]), {}


def small(cls, **kwargs):
    params = dict(hidden_layer_sizes=(3,), max_iter=2, random_state=0,
                  validation_fraction=0.25)
    params.update(kwargs)
    return cls(**params)


def type_name(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def skops_copy(est, tmp_path):
    """``est`` saved by sklstm.io.dump and loaded by sklstm.io.load."""
    path = tmp_path / "model.skops"
    sklstm.io.dump(est, path)
    return sklstm.io.load(path)


def assert_identical(a, b, where="state"):
    """``a`` and ``b`` are equal bit for bit, of the same types all the way
    down, and their arrays equally writeable."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, np.ndarray):
        assert (a.dtype, a.shape) == (b.dtype, b.shape), where
        assert a.flags.writeable == b.flags.writeable, f"{where}: writeable differs"
        if a.dtype == object:
            for i, (x, y) in enumerate(zip(a.ravel(), b.ravel())):
                assert_identical(x, y, f"{where}[{i}]")
        else:
            assert a.tobytes() == b.tobytes(), f"{where}: values differ"
    elif isinstance(a, dict):
        assert set(a) == set(b), f"{where}: keys {set(a) ^ set(b)} differ"
        for key in a:
            assert_identical(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{where}[{i}]")
    elif isinstance(a, (float, np.generic)):
        assert np.array(a).tobytes() == np.array(b).tobytes(), f"{where}: {a} != {b}"
    elif isinstance(a, (BaseEstimator, np.random.RandomState)):
        state = (lambda r: r.get_state(legacy=False)) \
            if isinstance(a, np.random.RandomState) else vars
        assert_identical(state(a), state(b), where)
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def assert_same_predictions(a, b, X):
    assert_identical(a.predict(X), b.predict(X), "predict")
    if hasattr(a, "predict_proba"):
        assert_identical(a.predict_proba(X), b.predict_proba(X), "predict_proba")


# --- skops.io: every estimator, exactly ----------------------------------------------


@pytest.mark.parametrize("early_stopping", [False, True], ids=["plain", "early"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", ["lstm", "peephole", "gru"])
@pytest.mark.parametrize("kind", KINDS + ["ctc_labels"])
def test_skops_round_trip_is_exact(skops_io, tmp_path, kind, cell, bidirectional,
                                   early_stopping):
    cls, X, y, _ = make_problem(kind)
    est = small(cls, cell=cell, bidirectional=bidirectional,
                early_stopping=early_stopping).fit(X, y)
    path = tmp_path / "model.skops"
    sklstm.io.dump(est, path)
    # nothing but the estimator's own class needs trusting
    assert skops_io.get_untrusted_types(file=path) == [type_name(cls)]
    loaded = sklstm.io.load(path)
    assert "_sklstm_version" not in vars(loaded)
    assert_identical(vars(est), vars(loaded))
    assert_same_predictions(est, loaded, X)


def test_ctc_labels_of_several_types_round_trip(skops_io, tmp_path):
    """An alphabet of Python and NumPy integers and a string: classes_ is an
    object array, and its items keep their types."""
    X, y = make_digit_strings(24, max_digits=2, random_state=0)
    labels = {"0": np.int64(0), "1": "one"}
    y = [[labels.get(c, int(c)) for c in s] for s in y]
    est = small(CTCSequenceLabeler).fit(X, y)
    assert est.classes_.dtype == object
    loaded = skops_copy(est, tmp_path)
    assert_identical(vars(est), vars(loaded))
    assert_same_predictions(est, loaded, X)


SCALERS = [{}, {"with_mean": False}, {"with_std": False},
           {"with_mean": False, "with_std": False}, {"per_sequence": True}]


@pytest.mark.parametrize("params", SCALERS, ids=str)
def test_sequence_scaler_round_trips(skops_io, tmp_path, params):
    _, X, _, _ = make_problem("regressor")
    scaler = SequenceScaler(**params).fit(X)
    path = tmp_path / "scaler.skops"
    sklstm.io.dump(scaler, path)
    assert skops_io.get_untrusted_types(file=path) == [type_name(SequenceScaler)]
    loaded = sklstm.io.load(path)
    assert_identical(vars(scaler), vars(loaded))
    assert_identical(scaler.transform(X), loaded.transform(X))


def test_sequence_scaler_of_a_dataframe_round_trips(skops_io, tmp_path):
    pd = pytest.importorskip("pandas")
    table = pd.DataFrame({"a": [1.0, 2.0, 4.0], "b": [3.0, 5.0, 9.0]})
    scaler = SequenceScaler().set_output(transform="pandas").fit(table)
    loaded = skops_copy(scaler, tmp_path)
    assert_identical(vars(scaler), vars(loaded))  # feature names, output config
    pd.testing.assert_frame_equal(scaler.transform(table), loaded.transform(table))


def test_unfitted_estimators_round_trip(skops_io, tmp_path):
    for est in (LSTMClassifier(hidden_layer_sizes=[5, 2]), LSTMRegressor(),
                CTCSequenceLabeler(), SequenceScaler()):
        assert_identical(vars(est), vars(skops_copy(est, tmp_path)))


def test_pipeline_round_trips(skops_io, tmp_path):
    _, X, y, _ = make_problem("classifier")
    pipe = make_pipeline(SequenceScaler(), small(LSTMClassifier)).fit(X, y)
    path = tmp_path / "pipeline.skops"
    sklstm.io.dump(pipe, path)
    assert skops_io.get_untrusted_types(file=path) == sorted(
        [type_name(LSTMClassifier), type_name(SequenceScaler)])
    loaded = sklstm.io.load(path)
    for (_, a), (_, b) in zip(pipe.steps, loaded.steps, strict=True):
        assert_identical(vars(a), vars(b))
    assert_same_predictions(pipe, loaded, X)


def test_trusted_types_are_the_estimators_and_the_scaler():
    assert sorted(sklstm.io.TRUSTED_TYPES) == sorted(
        type_name(c) for c in (LSTMClassifier, LSTMRegressor, CTCSequenceLabeler,
                               LSTMTagger, LSTMSequenceRegressor, SequenceScaler))


# --- sklstm.io.load refuses what it does not trust -----------------------------------


def double(X):
    return [2 * x for x in X]


BUILT = []


class Recorder(TransformerMixin, BaseEstimator):
    """A class of the user's: loading it would run its code."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X

    def __setstate__(self, state):
        BUILT.append(state)
        self.__dict__.update(state)


def test_load_refuses_a_function_of_the_users(skops_io, tmp_path):
    _, X, y, _ = make_problem("classifier")
    pipe = make_pipeline(FunctionTransformer(double), small(LSTMClassifier)).fit(X, y)
    path = tmp_path / "pipeline.skops"
    sklstm.io.dump(pipe, path)
    with pytest.raises(skops_io.exceptions.UntrustedTypesFoundException,
                       match=r"Untrusted types found in the file: "
                             r"\['tests\.test_io\.double'\]"):
        sklstm.io.load(path)
    # skops itself loads it once told to trust the function
    loaded = skops_io.load(path, trusted=sklstm.io.TRUSTED_TYPES
                           + ["tests.test_io.double"])
    assert_same_predictions(pipe, loaded, X)


def test_load_refuses_a_class_of_the_users_without_building_it(skops_io, tmp_path):
    _, X, y, _ = make_problem("classifier")
    pipe = make_pipeline(Recorder(), small(LSTMClassifier)).fit(X, y)
    path = tmp_path / "pipeline.skops"
    sklstm.io.dump(pipe, path)
    BUILT.clear()
    with pytest.raises(skops_io.exceptions.UntrustedTypesFoundException,
                       match=r"\['tests\.test_io\.Recorder'\]"):
        sklstm.io.load(path)
    assert BUILT == []


def test_load_trusts_no_other_class_of_sklstm(skops_io, tmp_path):
    """Trust is by class: sklstm's optimizer objects are not in the list."""
    path = tmp_path / "optimizer.skops"
    sklstm.io.dump({"optimizer": AdamOptimizer([np.zeros(2)])}, path)
    with pytest.raises(skops_io.exceptions.UntrustedTypesFoundException,
                       match=r"\['sklstm\._optimizers\.AdamOptimizer'\]"):
        sklstm.io.load(path)


def test_without_skops_the_error_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "skops", None)
    monkeypatch.setitem(sys.modules, "skops.io", None)
    for call in (lambda: sklstm.io.dump(SequenceScaler(), tmp_path / "s.skops"),
                 lambda: sklstm.io.load(tmp_path / "s.skops")):
        with pytest.raises(ImportError, match=r'pip install "sklstm\[io\]"'):
            call()


def test_load_reads_a_file_object_and_warns_across_versions(skops_io, monkeypatch):
    buffer = io.BytesIO()
    monkeypatch.setattr("sklstm._base.__version__", "0.0.1")
    sklstm.io.dump(small(LSTMRegressor), buffer)
    monkeypatch.undo()
    buffer.seek(0)
    with pytest.warns(UserWarning, match=r"by sklstm 0\.0\.1 and is loaded by "
                      r"sklstm " + sklstm.__version__):
        sklstm.io.load(buffer)


# --- training continues after loading as it does in memory ---------------------------


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("kind", KINDS)
def test_partial_fit_after_loading_continues_exactly(skops_io, tmp_path, kind,
                                                     solver):
    cls, X, y, kw = make_problem(kind)
    # two layers with dropout: each step draws from the stored random state
    est = small(cls, hidden_layer_sizes=(4, 3), dropout=0.25, solver=solver)
    est.partial_fit(X, y, **kw)
    loaded = skops_copy(est, tmp_path)
    for _ in range(2):
        est.partial_fit(X, y, **kw)
        loaded.partial_fit(X, y, **kw)
    assert len(est.loss_curve_) == 3
    assert_identical(vars(est), vars(loaded))  # curves, weights, optimizer, rng


@pytest.mark.parametrize("seed", ["int", "RandomState"])
@pytest.mark.parametrize("kind", KINDS)
def test_warm_start_fit_after_loading_continues_exactly(skops_io, tmp_path, kind,
                                                        seed):
    cls, X, y, _ = make_problem(kind)
    random_state = 0 if seed == "int" else np.random.RandomState(0)
    est = small(cls, warm_start=True, random_state=random_state).fit(X, y)
    loaded = skops_copy(est, tmp_path)
    est.fit(X, y)
    loaded.fit(X, y)
    assert len(est.loss_curve_) == 4
    assert_identical(vars(est), vars(loaded))


# --- pickle --------------------------------------------------------------------------


def fitted(kind):
    if kind == "scaler":
        return SequenceScaler().fit(make_problem("regressor")[1])
    cls, X, y, _ = make_problem(kind)
    return small(cls).fit(X, y)


@pytest.mark.parametrize("kind", KINDS + ["scaler"])
def test_pickling_leaves_the_estimator_unchanged(kind):
    """On Python >= 3.11 object.__getstate__ returns __dict__ itself: the
    version sklstm adds to the pickle must go into a copy."""
    for est in (fitted(kind), type(fitted(kind))()):
        before = dict(vars(est))
        pickle.dumps(est)
        copy.deepcopy(est)
        joblib.dump(est, io.BytesIO())
        assert vars(est).keys() == before.keys()
        assert all(vars(est)[name] is value for name, value in before.items())


@pytest.mark.parametrize("how", ["pickle", "joblib"])
@pytest.mark.parametrize("kind", KINDS)
def test_pickle_and_joblib_round_trips_are_exact(kind, how):
    cls, X, y, kw = make_problem(kind)
    est = small(cls, dropout=0.25, hidden_layer_sizes=(3, 2)).partial_fit(X, y, **kw)
    if how == "pickle":
        # the default protocol: protocol 5 makes every array it loads read-only
        loaded = pickle.loads(pickle.dumps(est))
    else:
        buffer = io.BytesIO()
        joblib.dump(est, buffer)
        buffer.seek(0)
        loaded = joblib.load(buffer)
    assert_identical(vars(est), vars(loaded))  # read-only weights included
    assert_same_predictions(est, loaded, X)
    est.partial_fit(X, y, **kw)
    loaded.partial_fit(X, y, **kw)
    assert_identical(vars(est), vars(loaded))


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_pickle_holding_an_optimizer_object_still_loads(solver):
    """Pickles made before the optimizer was stored plain hold ``_optimizer``,
    an AdamOptimizer or SGDOptimizer: loading converts it to the dict."""
    cls, X, y, kw = make_problem("classifier")
    est = small(cls, solver=solver).partial_fit(X, y, **kw)
    old = pickle.loads(pickle.dumps(est))
    old.__dict__["_optimizer"] = optimizer_from_state(
        old.__dict__.pop("_optimizer_state"))
    restored = pickle.loads(pickle.dumps(old))
    assert "_optimizer" not in vars(restored)
    assert_identical(vars(est), vars(restored))
    est.partial_fit(X, y, **kw)
    restored.partial_fit(X, y, **kw)
    assert_identical(vars(est), vars(restored))


@pytest.mark.parametrize("kind", ["classifier", "tagger"])
def test_pickle_made_before_label_smoothing_continues_on_the_plain_loss(kind):
    """A classifier pickled before ``label_smoothing`` existed has no such
    attribute: loading gives it 0, the loss it was trained on, so that
    ``get_params``, ``clone`` and ``partial_fit`` work and continue as
    before."""
    cls, X, y, kw = make_problem(kind)
    est = small(cls, label_smoothing=0.0).partial_fit(X, y, **kw)
    old = pickle.loads(pickle.dumps(est))
    del old.__dict__["label_smoothing"]
    restored = pickle.loads(pickle.dumps(old))
    assert restored.get_params()["label_smoothing"] == 0.0
    assert_identical(vars(est), vars(restored))
    est.partial_fit(X, y, **kw)
    restored.partial_fit(X, y, **kw)
    assert_identical(vars(est), vars(restored))


def test_skops_file_holding_an_optimizer_object_loads_when_trusted(skops_io,
                                                                  tmp_path):
    """A skops file written before the optimizer was stored plain holds an
    AdamOptimizer: sklstm.io.load refuses it, skops loads it when told to
    trust that class, and loading converts it."""
    cls, X, y, kw = make_problem("regressor")
    est = small(cls).partial_fit(X, y, **kw)
    old = pickle.loads(pickle.dumps(est))
    old.__dict__["_optimizer"] = optimizer_from_state(
        old.__dict__.pop("_optimizer_state"))
    path = tmp_path / "old.skops"
    skops_io.dump(old, path)
    optimizer = type_name(AdamOptimizer)
    assert skops_io.get_untrusted_types(file=path) == sorted([type_name(cls),
                                                              optimizer])
    with pytest.raises(skops_io.exceptions.UntrustedTypesFoundException):
        sklstm.io.load(path)
    restored = skops_io.load(path, trusted=sklstm.io.TRUSTED_TYPES + [optimizer])
    assert_identical(vars(est), vars(restored))
