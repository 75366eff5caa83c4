"""solver="evolino": evolved recurrent weights, a ridge head solved per candidate."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge
from sklearn.utils._param_validation import InvalidParameterError

from sklstm import LSTMClassifier, LSTMRegressor, LSTMSequenceRegressor
from sklstm._evolino import EvolinoProblem, ridge_head


def make_data(rng, n=60):
    X = [rng.normal(size=(int(rng.integers(4, 12)), 2)) for _ in range(n)]
    y = np.array([x[:, 0].mean() + 0.5 * x[-1, 1] for x in X])
    return X, y


def evolino(Estimator=LSTMRegressor, **kwargs):
    params = dict(hidden_layer_sizes=(4,), solver="evolino", max_iter=8,
                  population_size=6, sigma=0.1, random_state=0)
    return Estimator(**{**params, **kwargs})


def fit(est, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kwargs)


@pytest.mark.parametrize("alpha", [0.0, 1e-3, 2.0])
def test_ridge_head_is_sklearns_ridge(rng, alpha):
    phi = rng.normal(size=(50, 6))
    Y = rng.normal(size=(50, 2))
    w = rng.uniform(0.5, 2.0, size=50)
    coef, intercept = ridge_head(phi, Y, w, alpha)
    ridge = Ridge(alpha=alpha).fit(phi, Y, sample_weight=w)
    np.testing.assert_allclose(coef, ridge.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(intercept, ridge.intercept_, rtol=1e-9, atol=1e-12)


def test_ridge_head_without_penalty_on_singular_features(rng):
    phi = rng.normal(size=(30, 2))
    phi = np.hstack([phi, phi[:, :1]])  # a repeated column
    Y = phi[:, :1] * 2 + 1
    coef, intercept = ridge_head(phi, Y, np.ones(30), 0.0)
    np.testing.assert_allclose(phi @ coef.T + intercept, Y, atol=1e-8)


def test_fitted_head_is_the_ridge_solution_given_the_hidden_states(rng):
    X, y = make_data(rng)
    reg = fit(evolino(alpha=0.01, bidirectional=False), X, y)
    # the pooled features of the fitted recurrent weights, in input units
    network = reg._fitted_network()
    seqs = reg._read_predict_input(X)
    flat = reg._fitted_flat()
    plan, packed = network.pack(seqs, np.arange(len(seqs)))
    features = network.features(flat, plan, packed)
    target = (y - reg.target_mean_) / reg.target_scale_
    ridge = Ridge(alpha=0.01).fit(features, target)
    np.testing.assert_allclose(reg.output_coef_[0], ridge.coef_, rtol=1e-6,
                               atol=1e-9)
    np.testing.assert_allclose(reg.output_intercept_, ridge.intercept_, rtol=1e-6,
                               atol=1e-9)
    # and the recorded loss is half that head's mean squared error
    diff = features @ ridge.coef_ + ridge.intercept_ - target
    assert reg.best_loss_ == pytest.approx(0.5 * np.mean(diff**2), rel=1e-6)
    assert reg.best_loss_ == min(reg.loss_curve_)


def test_fitness_improves_over_generations(rng):
    X, y = make_data(rng)
    reg = fit(evolino(max_iter=25, sigma=0.3, n_iter_no_change=100), X, y)
    assert reg.n_iter_ == 25 == len(reg.loss_curve_)
    best_so_far = np.minimum.accumulate(reg.loss_curve_)
    assert best_so_far[-1] < 0.8 * reg.loss_curve_[0]
    assert reg.score(X, y) > 0.8
    assert reg.t_ == 25 * 6 * len(X)


def test_same_seed_same_model_and_other_seeds_differ(rng):
    X, y = make_data(rng)
    a, b = fit(evolino(), X, y), fit(evolino(), X, y)
    c = fit(evolino(random_state=1), X, y)
    for pa, pb in zip(a._fitted_flat(), b._fitted_flat()):
        np.testing.assert_array_equal(pa, pb)
    assert a.loss_curve_ == b.loss_curve_
    assert not np.array_equal(a.output_coef_, c.output_coef_)


def test_partial_fit_only_with_gradient_solvers(rng):
    assert not hasattr(evolino(), "partial_fit")
    assert not hasattr(evolino(LSTMSequenceRegressor), "partial_fit")
    assert hasattr(evolino(solver="adam"), "partial_fit")
    assert hasattr(LSTMSequenceRegressor(), "partial_fit")
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'") as exc:
        evolino().partial_fit
    assert "not available with solver='evolino'" in str(exc.value.__cause__)


@pytest.mark.parametrize("params, match", [
    ({"population_size": 1}, "'population_size' parameter"),
    ({"population_size": "big"}, "'population_size' parameter"),
    ({"population_size": True}, "not the boolean True"),
    ({"sigma": 0.0}, "'sigma' parameter"),
    ({"sigma": -1.0}, "'sigma' parameter"),
    ({"solver": "cma"}, "'solver' parameter"),
])
def test_parameter_validation(rng, params, match):
    X, y = make_data(rng, n=10)
    with pytest.raises(InvalidParameterError, match=match):
        evolino(**params).fit(X, y)


def test_evolino_is_only_for_the_regressors(rng):
    X, y = make_data(rng, n=10)
    with pytest.raises(InvalidParameterError, match="'solver' parameter"):
        LSTMClassifier(solver="evolino").fit(X, y > 0)


def test_auto_population_size(rng):
    X, y = make_data(rng, n=20)
    reg = fit(evolino(population_size="auto", max_iter=1), X, y)
    n = 4 * 4 * (2 + 4 + 1) * 2  # W, U, b of two directions of 4 units
    assert reg._evolution_state["population_size"] == 4 + int(3 * np.log(n))


def test_per_step_regressor(rng):
    X = [rng.normal(size=(int(rng.integers(5, 15)), 1)) for _ in range(40)]
    y = [np.cumsum(x[:, 0]) / 3 for x in X]
    reg = fit(evolino(LSTMSequenceRegressor, max_iter=15, bidirectional=False),
              X, y)
    assert reg.score(X, y) > 0.8
    assert [p.shape for p in reg.predict(X[:2])] == [(len(X[0]),), (len(X[1]),)]
    # the head is the ridge solution on every step's hidden state
    network, flat = reg._fitted_network(), reg._fitted_flat()
    seqs = reg._read_predict_input(X)
    problem = EvolinoProblem(network, flat, seqs,
                             reg._prepare_targets(y, first_call=False)[0],
                             np.ones(len(X)), np.arange(len(X)), reg.alpha)
    ridge = Ridge(alpha=reg.alpha).fit(problem.features(flat), problem.targets)
    np.testing.assert_allclose(reg.output_coef_.ravel(), ridge.coef_.ravel(),
                               rtol=1e-6, atol=1e-9)


def test_warm_start_continues_the_evolution(rng):
    X, y = make_data(rng)
    once = fit(evolino(max_iter=10, n_iter_no_change=100), X, y)
    twice = fit(evolino(max_iter=5, n_iter_no_change=100), X, y)
    twice.set_params(warm_start=True)
    fit(twice, X, y)
    assert twice.n_iter_ == 10
    assert twice.loss_curve_ == once.loss_curve_
    for a, b in zip(once._fitted_flat(), twice._fitted_flat()):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    # never worse than where it started
    before = twice.best_loss_
    fit(twice, X, y)
    assert twice.best_loss_ <= before


def test_warm_start_from_a_gradient_fit(rng):
    X, y = make_data(rng)
    reg = fit(evolino(solver="adam", max_iter=5), X, y)
    adam_coef = reg.output_coef_.copy()
    reg.set_params(solver="evolino", warm_start=True)
    fit(reg, X, y)
    assert reg.n_iter_ == 5 + 5
    assert not np.array_equal(reg.output_coef_, adam_coef)
    reg.set_params(solver="adam")  # and back to the gradient: it trains on
    fit(reg, X, y)
    assert reg._evolution_state is None


def test_early_stopping_keeps_the_best_validation_score(rng):
    X, y = make_data(rng, n=80)
    reg = fit(evolino(early_stopping=True, max_iter=15, n_iter_no_change=3), X, y)
    assert reg.best_validation_score_ == max(reg.validation_scores_)
    assert len(reg.validation_scores_) == reg.n_iter_ <= 15
    assert reg.best_loss_ is None


def test_a_failed_fit_leaves_the_estimator_as_it_was(rng):
    X, y = make_data(rng)
    reg = fit(evolino(), X, y)
    before = {k: v for k, v in reg.__dict__.items()}
    coef = reg.output_coef_.copy()
    reg.set_params(warm_start=True, hidden_layer_sizes=(5,))
    with pytest.raises(ValueError, match="keep the architecture"):
        reg.fit(X, y)
    np.testing.assert_array_equal(reg.output_coef_, coef)
    assert reg._evolution_state is before["_evolution_state"]


def test_pickle_round_trip(rng):
    X, y = make_data(rng)
    reg = fit(evolino(), X, y)
    copy = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(copy.predict(X), reg.predict(X))
    # and continues as the original would
    for est in (reg, copy):
        est.set_params(warm_start=True, max_iter=3)
        fit(est, X, y)
    np.testing.assert_array_equal(copy.predict(X), reg.predict(X))


def test_float32(rng):
    X, y = make_data(rng)
    X32 = [x.astype(np.float32) for x in X]
    reg = fit(evolino(), X32, y)
    assert reg.output_coef_.dtype == np.float32
    assert reg.predict(X32).dtype == np.float32


def test_clone_keeps_the_new_parameters():
    reg = clone(evolino(population_size=7, sigma=0.2))
    assert reg.population_size == 7 and reg.sigma == 0.2


@pytest.mark.parametrize("cell", [dict(cell="peephole"), dict(cell="gru"),
                                  dict(recurrent_input="cell"),
                                  dict(hidden_layer_sizes=(3, 4)),
                                  dict(pooling="mean"), dict(pooling="max")])
def test_every_cell_and_pooling(rng, cell):
    X, y = make_data(rng, n=30)
    reg = fit(evolino(max_iter=3, **cell), X, y)
    assert np.isfinite(reg.predict(X)).all()
    assert reg.best_loss_ == min(reg.loss_curve_)
    n = sum(a.size for a in reg._fitted_flat()[:-2])  # every recurrent array
    assert reg._evolution_state["mean"].size == n


def test_verbose_prints_a_line_per_generation(rng, capsys):
    X, y = make_data(rng, n=20)
    fit(evolino(max_iter=3, verbose=True), X, y)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].startswith("Generation    1: loss ")


def test_reaching_max_iter_warns(rng):
    X, y = make_data(rng, n=20)
    with pytest.warns(ConvergenceWarning, match=r"Evolino: maximum generations "
                      r"\(2\) reached"):
        evolino(max_iter=2).fit(X, y)


def test_no_finite_candidate_raises_and_leaves_the_estimator(rng):
    X, y = make_data(rng, n=20)
    reg = fit(evolino(), X, y)
    coef = reg.output_coef_
    reg.set_params(sigma=1e308, warm_start=False)
    with pytest.raises(ValueError, match="lower sigma"), np.errstate(over="ignore",
                                                                     invalid="ignore"):
        fit(reg, X, y)
    assert reg.output_coef_ is coef


def test_per_step_early_stopping(rng):
    X = [rng.normal(size=(int(rng.integers(5, 15)), 1)) for _ in range(40)]
    y = [np.cumsum(x[:, 0]) / 3 for x in X]
    reg = fit(evolino(LSTMSequenceRegressor, early_stopping=True, max_iter=6), X, y)
    assert reg.best_validation_score_ == max(reg.validation_scores_)


def test_same_model_on_one_and_two_threads(rng):
    from threadpoolctl import threadpool_limits

    X, y = make_data(rng)
    models = []
    for n_threads in (1, 2):
        with threadpool_limits(limits=n_threads):
            models.append(fit(evolino(), X, y))
    for a, b in zip(*(m._fitted_flat() for m in models)):
        np.testing.assert_array_equal(a, b)
