"""The evolution strategy: convergence, determinism, state, errors."""

import pickle

import numpy as np
import pytest

from sklstm._evolution import EvolutionCore, default_population_size


def quadratic(x, optimum):
    return ((x - optimum) ** 2).sum(axis=-1)


def run(core, f, generations):
    for _ in range(generations):
        core.tell(f(core.ask()))
    return core


def test_converges_on_a_quadratic_with_a_known_optimum(rng):
    optimum = rng.normal(size=20)
    core = run(EvolutionCore(np.zeros(20), sigma=1.0, random_state=0),
               lambda x: quadratic(x, optimum), 400)
    np.testing.assert_allclose(core.mean, optimum, atol=1e-6)
    np.testing.assert_allclose(core.best, optimum, atol=1e-6)
    assert core.best_fitness == pytest.approx(quadratic(core.best, optimum))
    assert core.best_fitness < 1e-10
    assert core.generation == 400


def test_adapts_the_diagonal_on_an_ill_conditioned_quadratic():
    scales = 10.0 ** np.arange(0, 4, 0.5)  # condition 10^7 in the variances
    core = run(EvolutionCore(np.zeros(8), sigma=1.0, random_state=0),
               lambda x: (scales * (x - 1) ** 2).sum(axis=-1), 300)
    np.testing.assert_allclose(core.mean, 1.0, atol=1e-5)
    # the variances learnt follow 1 / scale (a ratio of 10^3.5 end to end)
    ratio = core.diagonal[-1] / core.diagonal[0]
    assert 1e-5 < ratio < 1e-2


def test_maximize_takes_rewards():
    core = run(EvolutionCore(np.zeros(5), sigma=1.0, random_state=1, maximize=True),
               lambda x: -quadratic(x, 2.0), 200)
    np.testing.assert_allclose(core.best, 2.0, atol=1e-4)
    assert core.best_fitness > -1e-8


def test_same_seed_same_result_bit_for_bit():
    def once(seed):
        return run(EvolutionCore(np.zeros(10), sigma=0.3, random_state=seed),
                   lambda x: quadratic(x, 1.0), 50)

    a, b = once(3), once(3)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.best, b.best)
    assert a.sigma == b.sigma
    c = once(4)
    assert not np.array_equal(a.mean, c.mean)


def test_random_state_objects_seed_reproducibly():
    a = EvolutionCore(np.zeros(3), sigma=1.0,
                      random_state=np.random.RandomState(5)).ask()
    b = EvolutionCore(np.zeros(3), sigma=1.0,
                      random_state=np.random.RandomState(5)).ask()
    c = EvolutionCore(np.zeros(3), sigma=1.0,
                      random_state=np.random.default_rng(5)).ask()
    d = EvolutionCore(np.zeros(3), sigma=1.0,
                      random_state=np.random.default_rng(5)).ask()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(c, d)


def test_ask_again_before_tell_gives_the_same_candidates():
    core = EvolutionCore(np.zeros(4), sigma=1.0, random_state=0)
    first = core.ask()
    first += 1  # a copy: the caller may write it
    np.testing.assert_array_equal(core.ask() + 1, first)
    core.tell(quadratic(core.ask(), 0.0))
    assert not np.array_equal(core.ask() + 1, first)


@pytest.mark.parametrize("after_ask", [False, True])
def test_state_round_trip_continues_identically(after_ask):
    f = lambda x: quadratic(x, 0.5)  # noqa: E731
    core = run(EvolutionCore(np.zeros(6), sigma=0.7, random_state=2), f, 20)
    if after_ask:
        core.ask()
    state = pickle.loads(pickle.dumps(core.state()))
    for value in state.values():  # plain values only
        assert isinstance(value, (str, int, float, bool, np.ndarray, type(None)))
    copy = EvolutionCore.from_state(state)
    run(core, f, 15)
    run(copy, f, 15)
    np.testing.assert_array_equal(core.mean, copy.mean)
    np.testing.assert_array_equal(core.diagonal, copy.diagonal)
    np.testing.assert_array_equal(core.best, copy.best)
    assert core.sigma == copy.sigma and core.generation == copy.generation == 35
    # the state was a copy: running on did not change it
    assert state["generation"] == 20


def test_nan_counts_as_worst():
    core = EvolutionCore(np.zeros(3), sigma=1.0, population_size=4, random_state=0)
    x = core.ask()
    values = quadratic(x, 0.0)
    values[0] = np.nan
    core.tell(values)
    assert np.isfinite(core.mean).all()
    assert core.best_fitness == values[1:].min()


def test_default_population_size():
    assert default_population_size(1) == 4
    assert default_population_size(20) == 4 + int(3 * np.log(20))
    assert EvolutionCore(np.zeros(20), sigma=1.0).population_size == 12


@pytest.mark.parametrize("kwargs, match", [
    ({"x0": [], "sigma": 1.0}, "x0 is empty"),
    ({"x0": [np.nan], "sigma": 1.0}, "non-finite"),
    ({"x0": [0.0], "sigma": 0.0}, "sigma=0.0 must be a positive"),
    ({"x0": [0.0], "sigma": np.inf}, "sigma=inf"),
    ({"x0": [0.0], "sigma": 1.0, "population_size": 1}, "population_size=1"),
    ({"x0": [0.0], "sigma": 1.0, "population_size": 2.5}, "population_size=2.5"),
    ({"x0": [0.0], "sigma": 1.0, "random_state": -1}, "random_state=-1"),
])
def test_parameter_errors(kwargs, match):
    x0 = kwargs.pop("x0")
    with pytest.raises(ValueError, match=match):
        EvolutionCore(x0, **kwargs)


def test_tell_needs_one_value_per_candidate():
    core = EvolutionCore(np.zeros(3), sigma=1.0, population_size=6)
    with pytest.raises(ValueError, match="tell\\(\\) needs 6 values"):
        core.tell(np.zeros(5))


def test_unknown_state_method():
    state = EvolutionCore(np.zeros(2), sigma=1.0).state()
    state["method"] = "nes"
    with pytest.raises(ValueError, match="Unknown method 'nes'"):
        EvolutionCore.from_state(state)
