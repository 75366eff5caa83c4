"""sklstm.rl: the environments, the policy, REINFORCE's gradient against the
exact one, the evolution strategy, determinism and the estimator protocol."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from sklstm.rl import (
    EvolutionStrategy,
    LSTMPolicy,
    RecurrentPolicyGradient,
    evaluate,
    policy_gradient,
)
from sklstm.rl._rollout import discounted_returns, rollout
from sklstm.rl.envs import Box, Discrete, TMaze, VectorEnv


class TwoStep:
    """A two-step memory problem with discrete actions: the first action
    earns ``0.5 a_0`` and shows ``1 + a_0``; the second earns 1 when it
    repeats the first, -0.5 otherwise."""

    observation_space = Box(-2, 2, (2,))
    action_space = Discrete(2)

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return np.array([1.0, 0.0]), {}

    def step(self, action):
        if self.t == 0:
            self.t, self.first = 1, int(action)
            return np.array([0.0, 1.0 + action]), 0.5 * action, False, False, {}
        return (np.zeros(2), 1.0 if action == self.first else -0.5, True, False, {})


class Target:
    """One step, one continuous action; the reward is ``-|a - target|^2``."""

    observation_space = Box(0, 1, (1,))
    action_space = Box(-10, 10, (2,))
    target = np.array([1.5, -0.5])

    def reset(self, *, seed=None, options=None):
        return np.ones(1), {}

    def step(self, action):
        reward = -float(np.sum((np.asarray(action) - self.target) ** 2))
        return np.ones(1), reward, True, False, {}


# --- environments -------------------------------------------------------------------


def test_tmaze_walkthrough_and_rewards():
    env = TMaze(corridor_length=3)
    obs, _ = env.reset(seed=1)
    cue = obs.tolist()
    assert cue in ([0.0, 1.0, 1.0], [1.0, 1.0, 0.0])
    # a bump into the north wall costs -0.1 and stays at the start
    obs, reward, terminated, truncated, _ = env.step(0)
    assert (reward, terminated, truncated, env.position_) == (-0.1, False, False, 0)
    for _ in range(3):
        obs, reward, *_ = env.step(1)
    assert obs.tolist() == [0.0, 1.0, 0.0] and reward == 0.0
    right = 0 if env.goal_ == "north" else 2
    _, reward, terminated, _, info = env.step(right)
    assert (reward, terminated, info["is_success"]) == (4.0, True, True)
    with pytest.raises(RuntimeError, match="after the episode ended"):
        env.step(1)


def test_tmaze_wrong_turn_truncation_and_seeds():
    env = TMaze(corridor_length=1, max_episode_steps=4)
    env.reset(seed=3)
    env.step(1)
    wrong = 2 if env.goal_ == "north" else 0
    _, reward, terminated, _, info = env.step(wrong)
    assert (reward, terminated, info["is_success"]) == (-0.1, True, False)
    env.reset()
    flags = [env.step(3)[3] for _ in range(4)]
    assert flags == [False, False, False, True]
    goals = [TMaze(2).reset(seed=s)[0].tolist() for s in range(10)]
    assert goals == [TMaze(2).reset(seed=s)[0].tolist() for s in range(10)]
    assert len({tuple(g) for g in goals}) == 2


@pytest.mark.parametrize("action", [4, -1, 1.5, True, "east", None, np.array([1])])
def test_tmaze_refuses_actions_outside_its_space(action):
    env = TMaze(2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="not in the T-maze's action space"):
        env.step(action)
    assert env.step(np.int64(1))[1] == 0.0  # numpy integers are actions


def test_tmaze_checks_its_parameters_and_reset():
    with pytest.raises(ValueError, match="corridor_length"):
        TMaze(0)
    with pytest.raises(ValueError, match="max_episode_steps"):
        TMaze(3, max_episode_steps=0)
    with pytest.raises(RuntimeError, match="before reset"):
        TMaze(3).step(1)


def test_vector_env_steps_running_copies_only():
    venv = VectorEnv(lambda: TMaze(1), 3)
    obs, _ = venv.reset(seed=0)
    assert obs.shape == (3, 3)
    venv.step(np.ones(3, dtype=int))
    _, rewards, terminated, _, _ = venv.step(np.array([0, 1, 2]))
    assert terminated.tolist() == [True, False, True]
    assert venv.running_.tolist() == [False, True, False]
    # ended copies are not stepped again (TMaze would raise)
    _, rewards, terminated, _, _ = venv.step(np.array([0, 0, 0]))
    assert rewards[0] == rewards[2] == 0 and terminated.tolist() == [False, True, False]
    with pytest.raises(ValueError, match="one per environment"):
        venv.step([0])
    with pytest.raises(TypeError, match="callable"):
        VectorEnv(TMaze(1), 2)


# --- the policy ---------------------------------------------------------------------


def _policy(env, **kwargs):
    kwargs.setdefault("random_state", 0)
    return LSTMPolicy((3,), **kwargs).initialize(env.observation_space,
                                                 env.action_space)


@pytest.mark.parametrize("sizes", [(3,), (3, 2)], ids=["one-layer", "two-layers"])
@pytest.mark.parametrize("cell", ["lstm", "peephole", "gru"])
@pytest.mark.parametrize("memory", [True, False])
def test_acting_step_by_step_matches_the_training_pass(cell, memory, sizes):
    """The compiled step of a rollout gives the outputs of the packed
    forward pass over the whole episodes (with memory), or over every step
    alone (without)."""
    policy = LSTMPolicy(sizes, cell=cell, memory=memory, random_state=0)
    policy.initialize(TMaze(4).observation_space, TMaze(4).action_space)
    venv = VectorEnv(lambda: TMaze(4, max_episode_steps=7), 5)
    episodes = rollout(policy, venv, 0, np.random.default_rng(0))
    plan = policy._plan(episodes.lengths)
    rows = policy._rows(plan, episodes.starts, episodes.lengths)
    batch = policy._network().forward(policy.coefs_, plan,
                                      episodes.observations[rows]).rows
    stepped = np.empty_like(batch)
    for i, (start, n) in enumerate(zip(episodes.starts, episodes.lengths)):
        state = None
        for t in range(n):
            _, state = policy.act(episodes.observations[start + t], state)
            stepped_row = policy._stepper().decision[0].copy()
            stepped[np.flatnonzero(rows == start + t)[0]] = stepped_row
    np.testing.assert_allclose(stepped, batch, rtol=1e-10, atol=1e-12)


def test_act_one_or_many_environments_and_errors():
    env = TMaze(3)
    policy = _policy(env)
    obs, _ = env.reset(seed=0)
    action, state = policy.act(obs, deterministic=True)
    assert isinstance(action, int)
    actions, states = policy.act(np.stack([obs, obs]), deterministic=True)
    assert actions.tolist() == [action, action] and states.n_envs == 2
    with pytest.raises(ValueError, match="another call"):
        policy.act(obs, states)
    with pytest.raises(ValueError, match="expected"):
        policy.act(np.ones(5))
    with pytest.raises(TypeError, match="PolicyState"):
        policy.act(obs, "state")
    with pytest.raises(NotFittedError):
        LSTMPolicy().act(obs)
    with pytest.raises(ValueError, match="discrete"):
        LSTMPolicy(action="discrete").initialize(Box(0, 1, (3,)), Box(0, 1, (2,)))
    gaussian = _policy(Target())
    a, _ = gaussian.act(np.ones(1), random_state=0)
    assert a.shape == (2,)


def test_memoryless_policy_forgets():
    env = TMaze(3)
    policy = _policy(env, memory=False)
    north, south = np.array([0.0, 1, 1]), np.array([1.0, 1, 0])
    junction = np.array([0.0, 1, 0])
    _, s_north = policy.act(north)
    _, s_south = policy.act(south)
    policy.act(junction, s_north)
    after_north = policy._stepper().decision.copy()
    policy.act(junction, s_south)
    np.testing.assert_array_equal(after_north, policy._stepper().decision)


# --- the gradient -------------------------------------------------------------------


def _exact_two_step_return(policy, flat):
    """E[return] of TwoStep under the policy with weights ``flat``, summed
    over the four action sequences."""
    from sklstm._packing import PackedPlan

    X = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 2.0]])  # packed
    out = policy._network().forward(flat, PackedPlan([2, 2]), X).rows
    logits = out[:, :2]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    total = 0.0
    for a0 in (0, 1):
        for a1 in (0, 1):
            reward = 0.5 * a0 + (1.0 if a1 == a0 else -0.5)
            total += p[a0, a0] * p[2 + a0, a1] * reward
    return total


def test_policy_gradient_is_unbiased_on_a_two_step_problem():
    """The mean of the REINFORCE estimate (with the value head as baseline,
    made large so that it matters) is minus the exact gradient of the
    expected return, to the sampling error."""
    env = TwoStep()
    policy = _policy(env, random_state=1)
    policy.coefs_[-1][-1] = 2.0  # the value head's intercept: a big baseline
    policy._refresh()
    flat = policy.coefs_
    exact = []
    for a in flat:
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            saved = a[idx]
            a[idx] = saved + 1e-6
            up = _exact_two_step_return(policy, flat)
            a[idx] = saved - 1e-6
            down = _exact_two_step_return(policy, flat)
            a[idx] = saved
            g[idx] = (up - down) / 2e-6
        exact.append(g)
    exact = np.concatenate([g.ravel() for g in exact])
    policy._refresh()
    venv = VectorEnv(TwoStep, 4000)
    rng = np.random.default_rng(0)
    batches = []
    for seed in range(12):
        episodes = rollout(policy, venv, seed, rng)
        grads, _ = policy_gradient(policy, episodes, gamma=1.0, value_coef=0.0,
                                   entropy_coef=0.0)
        batches.append(-np.concatenate([g.ravel() for g in grads]))
    batches = np.array(batches)
    mean = batches.mean(axis=0)
    stderr = batches.std(axis=0, ddof=1) / np.sqrt(len(batches))
    assert np.abs(exact).max() > 0.05
    assert np.all(np.abs(mean - exact) <= 5 * stderr + 1e-3)
    assert np.linalg.norm(mean - exact) < 0.1 * np.linalg.norm(exact)


def test_gaussian_policy_gradient_is_unbiased():
    """For one step, ``J = -|mu - target|^2 - sum sigma^2``: the gradient in
    the mean's intercept is ``-2 (mu - target)``, in log sigma ``-2 sigma^2``."""
    env = Target()
    policy = _policy(env)
    mu = policy._network().forward(policy.coefs_[:-1], *_one_step(policy)).rows[0, :2]
    sigma = np.exp(policy.coefs_[-1])
    venv = VectorEnv(Target, 4000)
    rng = np.random.default_rng(0)
    got = []
    for seed in range(10):
        grads, _ = policy_gradient(policy, rollout(policy, venv, seed, rng), 1.0,
                                   value_coef=0.0)
        got.append(np.r_[-grads[-2][:2], -grads[-1]])
    got = np.array(got)
    exact = np.r_[-2 * (mu - env.target), -2 * sigma**2]
    stderr = got.std(axis=0, ddof=1) / np.sqrt(len(got))
    assert np.all(np.abs(got.mean(axis=0) - exact) <= 5 * stderr + 1e-3)


def _one_step(policy):
    from sklstm._packing import PackedPlan

    return PackedPlan([1]), np.ones((1, 1))


def test_discounted_returns():
    from sklstm.rl._rollout import Episodes

    episodes = Episodes(None, None, np.array([1.0, 2, 3, 4, 5]), np.array([3, 2]),
                        np.array([0, 3]), None)
    np.testing.assert_allclose(discounted_returns(episodes, 0.5),
                               [1 + 1 + 0.75, 2 + 1.5, 3, 4 + 2.5, 5])


# --- the estimators -----------------------------------------------------------------


def test_policy_gradient_learns_a_short_tmaze():
    est = RecurrentPolicyGradient(LSTMPolicy((8,)), n_iterations=500, n_envs=16,
                                  random_state=0)
    est.fit(lambda: TMaze(4))
    returns = est.history_["mean_return"]
    assert np.mean(returns[-10:]) > np.mean(returns[:10]) + 2
    assert evaluate(est.policy_, lambda: TMaze(4), 100)["success_rate"] >= 0.95


def test_evolution_strategy_learns_a_short_tmaze():
    est = EvolutionStrategy(LSTMPolicy((4,)), n_iterations=40, n_episodes=8,
                            random_state=0)
    est.fit(lambda: TMaze(4))
    returns = est.history_["mean_return"]
    assert np.mean(returns[-5:]) > np.mean(returns[:5]) + 1
    assert len(est.evolution_state_["mean"]) == sum(a.size for a in est.policy_.coefs_)


def test_evolution_strategy_finds_the_optimum_of_a_quadratic():
    """A Gaussian policy's mean action, searched without gradients, reaches
    the maximum of ``-|a - target|^2`` (acting by the mean)."""
    est = EvolutionStrategy(LSTMPolicy((2,)), n_iterations=300, n_episodes=1,
                            sigma=0.5, random_state=0).fit(Target)
    a, _ = est.policy_.act(np.ones(1), deterministic=True)
    np.testing.assert_allclose(a, Target.target, atol=1e-2)
    returns = est.history_["mean_return"]
    assert returns[0] < -1 and returns[-1] > -1e-3
    assert est.history_["best_return"][-1] > -1e-4


@pytest.mark.parametrize("Estimator", [RecurrentPolicyGradient, EvolutionStrategy])
def test_same_seed_same_result(Estimator):
    def run(seed):
        est = Estimator(LSTMPolicy((3,)), n_iterations=4, random_state=seed)
        return est.fit(lambda: TMaze(3))

    a, b, c = run(0), run(0), run(1)
    times = {"time"}  # the only key that differs from run to run
    assert ({k: v for k, v in a.history_.items() if k not in times}
            == {k: v for k, v in b.history_.items() if k not in times})
    for x, y in zip(a.policy_.coefs_, b.policy_.coefs_):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, y)
               for x, y in zip(a.policy_.coefs_, c.policy_.coefs_))


@pytest.mark.parametrize("Estimator", [RecurrentPolicyGradient, EvolutionStrategy])
def test_clone_and_get_params(Estimator):
    est = Estimator(LSTMPolicy((5,), cell="gru"), n_iterations=7)
    params = est.get_params()
    assert params["n_iterations"] == 7 and params["policy__hidden_layer_sizes"] == (5,)
    other = clone(est).set_params(policy__cell="lstm")
    assert other.policy.cell == "lstm" and est.policy.cell == "gru"
    with pytest.raises(InvalidParameterError, match="n_iterations"):
        Estimator(n_iterations=0).fit(lambda: TMaze(2))
    with pytest.raises(InvalidParameterError, match="cell"):
        Estimator(LSTMPolicy(cell="rnn"), n_iterations=1).fit(lambda: TMaze(2))


def test_pickle_keeps_the_policy():
    import pickle

    est = RecurrentPolicyGradient(LSTMPolicy((3,)), n_iterations=2, n_envs=4,
                                  random_state=0).fit(lambda: TMaze(3))
    obs = np.array([[0.0, 1, 1], [1.0, 1, 0]])
    before, _ = est.policy_.act(obs, random_state=0)
    loaded = pickle.loads(pickle.dumps(est))
    after, _ = loaded.policy_.act(obs, random_state=0)
    np.testing.assert_array_equal(before, after)


def test_verbose_prints_the_return_per_iteration(capsys):
    RecurrentPolicyGradient(LSTMPolicy((2,)), n_iterations=2, n_envs=2,
                            random_state=0, verbose=1).fit(lambda: TMaze(2))
    EvolutionStrategy(LSTMPolicy((2,)), n_iterations=2, n_episodes=2,
                      random_state=0, verbose=1).fit(lambda: TMaze(2))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Iteration 1, mean return = ")
    assert lines[2].startswith("Generation 1, mean return = ")
    assert len(lines) == 4


def test_gymnasium_environments_work_as_they_are():
    """A gymnasium environment (with its own spaces) trains and evaluates;
    skipped without gymnasium, an optional test dependency."""
    gymnasium = pytest.importorskip("gymnasium")

    def make():
        return gymnasium.make("CartPole-v1")

    est = RecurrentPolicyGradient(LSTMPolicy((4,)), n_iterations=2, n_envs=4,
                                  reward_scale=0.01, random_state=0).fit(make)
    assert est.policy_.n_observations_ == 4 and est.policy_.n_actions_ == 2
    scores = evaluate(est.policy_, make, n_episodes=4)
    assert scores["mean_return"] >= 8 and np.isnan(scores["success_rate"])
    es = EvolutionStrategy(LSTMPolicy((2,)), n_iterations=2, n_episodes=2,
                           random_state=0).fit(make)
    assert len(es.history_["best_return"]) == 2


def test_the_tmaze_example_runs_in_a_short_form(monkeypatch, capsys):
    """examples/plot_tmaze.py with a corridor of 3 and a few iterations (the
    gallery runs it in full)."""
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from pathlib import Path

    source = (Path(__file__).resolve().parents[1] / "examples" /
              "plot_tmaze.py").read_text()
    short = source.replace("corridor = 20", "corridor = 3")
    short = short.replace("n_iterations=400", "n_iterations=5")
    short = short.replace("n_iterations=120", "n_iterations=3")
    assert short.count("n_iterations=5") == 2 and "corridor = 3" in short
    monkeypatch.setattr("matplotlib.pyplot.show", lambda: None)
    exec(compile(short, "plot_tmaze.py", "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out.count("right turns") == 3
