"""LSTMRegressor: learning, outputs, options specific to regression."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_val_score

from sklstm import LSTMRegressor


def make_data(rng, n=100):
    """Target: the mean of the first feature, and a second target its last value."""
    X = [rng.normal(size=(int(rng.integers(3, 10)), 2)) for _ in range(n)]
    Y = np.array([[x[:, 0].mean(), x[-1, 1]] for x in X])
    return X, Y


def small(**kwargs):
    params = dict(hidden_layer_sizes=(8,), max_iter=60, random_state=0,
                  learning_rate_init=1e-2)
    params.update(kwargs)
    return LSTMRegressor(**params)


def test_learns_one_and_several_outputs(rng):
    X, Y = make_data(rng)
    X_test, Y_test = make_data(rng, n=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one = small(pooling="mean").fit(X, Y[:, 0])
        two = small(hidden_layer_sizes=(16,)).fit(X, Y)
    assert one.n_outputs_ == 1 and one.predict(X_test).shape == (60,)
    assert two.n_outputs_ == 2 and two.predict(X_test).shape == (60, 2)
    assert one.score(X_test, Y_test[:, 0]) > 0.8
    assert two.score(X_test, Y_test) > 0.7
    column = small(max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        column.fit(X, Y[:, :1])
    assert column.predict(X).shape == (100, 1)


def test_early_stopping_on_r2(rng):
    X, Y = make_data(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = small(early_stopping=True, n_iter_no_change=3).fit(X, Y[:, 0])
    assert reg.best_validation_score_ == max(reg.validation_scores_)
    assert -1 < reg.best_validation_score_ <= 1


def test_early_stopping_needs_two_validation_sequences(rng):
    """R² of one held-out sequence is undefined: refused before any training, as
    a validation_fraction that holds out none is."""
    X, Y = make_data(rng, n=10)
    reg = small(early_stopping=True, validation_fraction=0.1)
    with pytest.raises(ValueError, match=r"validation_fraction=0\.1 holds out 1 of "
                       r"the 10 sequences, but LSTMRegressor's validation score "
                       r"needs at least 2; raise validation_fraction"):
        reg.fit(X, Y[:, 0])
    assert not hasattr(reg, "n_features_in_") and not hasattr(reg, "loss_curve_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.set_params(validation_fraction=0.2, max_iter=2).fit(X, Y[:, 0])
    assert len(reg.validation_scores_) == 2
    assert np.all(np.isfinite(reg.validation_scores_))


def test_partial_fit_and_sgd(rng):
    X, Y = make_data(rng)
    reg = small(solver="sgd", learning_rate_init=0.05)
    for _ in range(10):
        reg.partial_fit(X, Y[:, 0])
    assert reg.loss_curve_[-1] < reg.loss_curve_[0]
    with pytest.raises(ValueError, match="y has 2 outputs but the model has 1"):
        reg.partial_fit(X, Y)
    assert reg.n_iter_ == 10


def test_bad_targets(rng):
    X, Y = make_data(rng, n=10)
    y = Y[:, 0].copy()
    y[3] = np.nan
    with pytest.raises(ValueError, match="Input y contains NaN"):
        small().fit(X, y)
    with pytest.raises(ValueError, match="X has 10 sequences but y has 8 values"):
        small().fit(X, Y[:8])


def test_cross_val_score_on_variable_lengths(rng):
    X, Y = make_data(rng, n=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(small(max_iter=5), X, Y[:, 0], cv=3)
    assert scores.shape == (3,) and np.all(np.isfinite(scores))
