"""SequenceScaler: statistics, every input form, and scikit-learn's contracts."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklstm import LSTMClassifier
from sklstm.preprocessing import SequenceScaler


def ragged(rng, n=6, d=3, dtype=np.float64):
    """Sequences of lengths 1.., with features in very different units."""
    units = np.array([1.0, 100.0, 0.01][:d])
    return [(units * rng.uniform(5, 10, (int(T), d))).astype(dtype)
            for T in rng.integers(1, 9, n)]


@parametrize_with_checks([SequenceScaler(), SequenceScaler(per_sequence=True)])
def test_sklearn_compatible_transformer(estimator, check):
    check(estimator)


def test_statistics_are_those_of_the_concatenated_steps(rng, dtype):
    X = ragged(rng, dtype=dtype)
    frames = np.concatenate(X).astype(np.float64)
    scaler = SequenceScaler().fit(X)
    assert scaler.n_features_in_ == 3 and scaler.n_samples_seen_ == len(frames)
    assert scaler.mean_.dtype == np.float64 and scaler.mean_.shape == (3,)
    assert_allclose(scaler.mean_, frames.mean(axis=0), rtol=1e-12)
    assert_allclose(scaler.var_, frames.var(axis=0), rtol=1e-10)
    assert_allclose(scaler.scale_, frames.std(axis=0), rtol=1e-10)
    reference = StandardScaler().fit_transform(frames)
    assert_allclose(np.concatenate(scaler.transform(X)), reference,
                    rtol=1e-6, atol=1e-6)


def test_round_trip_on_ragged_input(rng, dtype):
    X = ragged(rng, dtype=dtype)
    scaler = SequenceScaler().fit(X)
    Xt = scaler.transform(X)
    assert all(x.dtype == dtype for x in Xt)
    back = scaler.inverse_transform(Xt)
    assert isinstance(back, list) and all(b.dtype == dtype for b in back)
    for x, b in zip(X, back):
        assert_allclose(b, x, rtol=1e-6)


def test_per_sequence_gives_each_sequence_zero_mean_unit_std(rng, dtype):
    X = ragged(rng, dtype=dtype)
    X = [x for x in X if len(x) > 1] + [np.full((4, 3), 7.0, dtype)]
    scaler = SequenceScaler(per_sequence=True).fit(X)
    assert not hasattr(scaler, "mean_") and scaler.n_features_in_ == 3
    Xt = scaler.transform(X)
    for x in Xt[:-1]:
        assert x.dtype == dtype
        assert_allclose(x.mean(axis=0), 0, atol=1e-5)
        assert_allclose(x.std(axis=0), 1, rtol=1e-5)
    assert_array_equal(Xt[-1], 0)  # a constant sequence: scale 1
    # the statistics are per sequence: transforming one alone changes nothing
    assert_allclose(scaler.transform(X[:1])[0], Xt[0])
    with pytest.raises(AttributeError, match="inverse_transform"):
        scaler.inverse_transform(Xt)
    assert not hasattr(scaler, "inverse_transform")


def test_zero_variance_feature_gets_scale_one():
    X = [np.array([[1.0, 5.0], [3.0, 5.0]]), np.array([[2.0, 5.0]])]
    scaler = SequenceScaler().fit(X)
    assert_array_equal(scaler.var_[1], 0)
    assert_array_equal(scaler.scale_[1], 1)
    assert_array_equal(np.concatenate(scaler.transform(X))[:, 1], 0)


def _object_array(parts):
    out = np.empty(len(parts), dtype=object)
    for i, p in enumerate(parts):
        out[i] = p
    return out


@pytest.mark.parametrize("per_sequence", [False, True])
def test_output_has_the_form_of_the_input(rng, per_sequence):
    scaler = SequenceScaler(per_sequence=per_sequence)
    cube = rng.normal(size=(4, 5, 2))
    out = scaler.fit_transform(cube)
    assert isinstance(out, np.ndarray) and out.shape == cube.shape

    for X in (ragged(rng, d=2), [rng.normal(size=(3, 2))] * 2):  # equal shapes too
        for form in (list, tuple, _object_array):
            out = scaler.fit_transform(form(X))
            assert type(out) is type(form(X)) and len(out) == len(X)
            assert [o.shape for o in out] == [x.shape for x in X]
            if form is _object_array:
                assert out.dtype == object and out.ndim == 1

    univariate = [rng.normal(size=T) for T in (3, 1, 4)]
    out = scaler.fit_transform(univariate)
    assert isinstance(out, list) and [o.shape for o in out] == [(3,), (1,), (4,)]
    # fitted on univariate sequences, a table is read as such and stays one
    assert scaler.transform(rng.normal(size=(2, 6))).shape == (2, 6)

    for table in (rng.normal(size=(4, 3)), [[1, 2, 3], [4, 5, 7]]):
        out = scaler.fit_transform(table)
        assert isinstance(out, np.ndarray) and out.shape == np.shape(table)


def test_a_table_is_univariate_sequences_one_mean_for_all_columns(rng):
    table = rng.normal(size=(10, 4)) * [1, 2, 3, 4] + [0, 10, 20, 30]
    scaler = SequenceScaler().fit(table)
    assert scaler.n_features_in_ == 4 and scaler.n_samples_seen_ == 40
    assert_allclose(scaler.mean_, [table.mean()])
    assert_allclose(scaler.scale_, [table.std()])
    out = scaler.transform(table)
    assert_allclose(out, (table - table.mean()) / table.std())
    # unlike StandardScaler, the columns keep their differences
    assert_allclose(StandardScaler().fit_transform(table).mean(axis=0), 0, atol=1e-12)
    assert np.ptp(out.mean(axis=0)) > 1
    assert_array_equal(scaler.get_feature_names_out(), ["x0", "x1", "x2", "x3"])
    assert_allclose(scaler.inverse_transform(out), table)
    # per_sequence=True standardises each row: the UCR z-normalisation
    rows = SequenceScaler(per_sequence=True).fit_transform(table)
    assert_allclose(rows, StandardScaler().fit_transform(table.T).T)


def test_dataframes_and_set_output():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(np.arange(12.0).reshape(4, 3), columns=["a", "b", "c"],
                      index=list("pqrs"))
    scaler = SequenceScaler().fit(df)
    assert_array_equal(scaler.feature_names_in_, ["a", "b", "c"])
    assert_array_equal(scaler.get_feature_names_out(), ["a", "b", "c"])
    assert isinstance(scaler.transform(df), np.ndarray)
    out = scaler.set_output(transform="pandas").transform(df)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["a", "b", "c"] and list(out.index) == list("pqrs")
    assert_allclose(out.to_numpy(), (df.to_numpy() - 5.5) / df.to_numpy().std())


def test_set_output_leaves_sequences_in_their_form(rng):
    X = ragged(rng, d=2)
    scaler = SequenceScaler().set_output(transform="pandas")
    out = scaler.fit_transform(X)
    assert isinstance(out, list) and all(isinstance(o, np.ndarray) for o in out)
    assert_array_equal(scaler.get_feature_names_out(), ["x0", "x1"])
    cube = rng.normal(size=(3, 4, 2))
    assert scaler.fit_transform(cube).shape == cube.shape
    pipe = make_pipeline(SequenceScaler()).set_output(transform="pandas")
    assert isinstance(pipe.fit_transform(X), list)


def test_training_statistics_are_used_on_other_data(rng):
    train, test = ragged(rng), ragged(rng)
    scaler = SequenceScaler().fit(train)
    frames = np.concatenate(train)
    for x, out in zip(test, scaler.transform(test)):
        assert_allclose(out, (x - frames.mean(axis=0)) / frames.std(axis=0))
    own = SequenceScaler().fit_transform(test)
    assert not np.allclose(np.concatenate(own), np.concatenate(scaler.transform(test)))


@pytest.mark.parametrize("per_sequence", [False, True])
def test_same_output_whatever_the_units(rng, per_sequence):
    X = [rng.normal(size=(T, 3)) for T in (2, 7, 4, 5)]
    scaler = SequenceScaler(per_sequence=per_sequence)
    for a, b in zip(scaler.fit_transform(X),
                    scaler.fit_transform([100 * x + 50 for x in X])):
        assert_allclose(a, b, rtol=1e-6, atol=1e-12)


def test_float32_stays_float32_and_integers_become_float64(rng):
    X = ragged(rng, dtype=np.float32)
    assert all(o.dtype == np.float32 for o in SequenceScaler().fit_transform(X))
    cube = rng.normal(size=(2, 3, 2)).astype(np.float32)
    assert SequenceScaler().fit_transform(cube).dtype == np.float32
    assert SequenceScaler().fit_transform(np.arange(12).reshape(3, 4)).dtype == float


def test_with_mean_and_with_std(rng):
    X = ragged(rng)
    frames = np.concatenate(X)
    no_mean = SequenceScaler(with_mean=False).fit(X)
    assert_allclose(np.concatenate(no_mean.transform(X)), frames / frames.std(axis=0))
    no_std = SequenceScaler(with_std=False).fit(X)
    assert no_std.var_ is None and no_std.scale_ is None
    assert_allclose(np.concatenate(no_std.transform(X)), frames - frames.mean(axis=0))
    neither = SequenceScaler(with_mean=False, with_std=False).fit(X)
    assert neither.mean_ is None and neither.var_ is None
    out = neither.transform(X)
    assert_array_equal(np.concatenate(out), frames)
    assert not any(np.shares_memory(o, x) for o, x in zip(out, X))


def test_feature_count_and_kind_mismatches_are_errors(rng):
    scaler = SequenceScaler().fit(ragged(rng, d=2))
    for method in (scaler.transform, scaler.inverse_transform):
        with pytest.raises(ValueError, match="X has 3 features per step, but "
                                             "SequenceScaler is expecting 2"):
            method(ragged(rng, d=3))
        with pytest.raises(ValueError, match="fitted on sequences of 2 features"):
            method(rng.normal(size=(3, 4)))
    table = SequenceScaler().fit(rng.normal(size=(5, 4)))
    with pytest.raises(ValueError, match="X has 3 features, but SequenceScaler is "
                                         "expecting 4 features"):
        table.transform(rng.normal(size=(5, 3)))
    with pytest.raises(ValueError, match="fitted on a table of 4 columns"):
        table.transform(ragged(rng, d=1))


def test_unfitted_scaler_raises_not_fitted():
    X = [np.ones((2, 2))]
    for call in (lambda s: s.transform(X), lambda s: s.inverse_transform(X),
                 lambda s: s.get_feature_names_out()):
        with pytest.raises(NotFittedError):
            call(SequenceScaler())
    # refitted with per_sequence=True, the learned statistics are gone
    scaler = SequenceScaler().fit(X).set_params(per_sequence=True).fit(X)
    assert not hasattr(scaler, "mean_")
    with pytest.raises(NotFittedError):
        scaler.set_params(per_sequence=False).transform(X)


def test_bad_input_is_refused_and_leaves_the_scaler_as_it_was(rng):
    X = ragged(rng)
    scaler = SequenceScaler().fit(X)
    before = {k: v.copy() if isinstance(v, np.ndarray) else v
              for k, v in vars(scaler).items()}
    bad = [x.copy() for x in X]
    bad[1][0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        scaler.fit(bad)
    with pytest.raises(ValueError, match="infinity"):  # scikit-learn's message
        scaler.fit(np.array([[1.0, np.inf], [2.0, 3.0]]))
    with pytest.raises(ValueError, match="1-D array"):
        scaler.fit(np.ones(4))
    assert vars(scaler).keys() == before.keys()
    for k, v in before.items():
        assert_array_equal(getattr(scaler, k), v)


def test_copy(rng):
    table = rng.normal(size=(3, 4))
    original = table.copy()
    SequenceScaler().fit(table).transform(table)
    assert_array_equal(table, original)
    out = SequenceScaler(copy=False).fit(table).transform(table)
    assert np.shares_memory(out, table)
    assert_allclose(table, (original - original.mean()) / original.std())


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_pipeline_in_model_selection_on_ragged_lists(rng):
    n = 24
    y = np.arange(n) % 2
    X = [1000 + 50 * rng.normal(size=(int(T), 2)) + 100 * label
         for T, label in zip(rng.integers(2, 8, n), y)]
    pipe = make_pipeline(SequenceScaler(),
                         LSTMClassifier(hidden_layer_sizes=(4,), max_iter=3,
                                        random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3, error_score="raise")
    assert scores.shape == (3,) and np.all((0 <= scores) & (scores <= 1))
    search = GridSearchCV(pipe, {"sequencescaler__per_sequence": [False, True]},
                          cv=2, error_score="raise").fit(X, y)
    assert search.best_params_["sequencescaler__per_sequence"] in (False, True)
    assert search.predict(X).shape == (n,)
