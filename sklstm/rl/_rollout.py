"""Batches of whole episodes, played by a policy in side-by-side environments."""

from collections import namedtuple

import numpy as np
from scipy.signal import lfilter
from sklearn.base import clone
from sklearn.utils import check_random_state

from ._policy import LSTMPolicy
from .envs import VectorEnv

__all__ = ["Episodes", "evaluate", "rollout"]

Episodes = namedtuple("Episodes", ["observations", "actions", "rewards", "lengths",
                                   "starts", "successes"])
Episodes.__doc__ = """Episodes stored back to back (episode ``i`` from row
``starts[i]``, ``lengths[i]`` rows): ``observations`` ``(sum T, F)``,
``actions`` ``(sum T,)`` or ``(sum T, action_dim)``, ``rewards``
``(sum T,)``; ``successes`` ``(n,)``: the last step's ``info["is_success"]``,
NaN where the environment gives none."""


def rollout(policy, venv, seed, rng, deterministic=False, max_steps=1000):
    """One episode in every copy of ``venv``, acting by ``policy``: each step
    is one call of the compiled step for all the running copies."""
    stepper = policy._stepper()
    n = venv.n_envs
    stepper.buffers(n)
    state = np.zeros(n * stepper.state_size)
    spare = np.empty_like(state)
    obs, _ = venv.reset(seed=seed)
    if obs.shape[1] != policy.n_observations_:
        raise ValueError(f"The environment's observations have {obs.shape[1]} values; "
                         f"the policy was built for {policy.n_observations_}.")
    successes = np.full(n, np.nan)
    records, rewards, masks = [], [], []
    while venv.running_.any() and len(records) < max_steps:
        masks.append(venv.running_.copy())
        out = stepper.step(obs, state, spare)
        state, spare = spare, state
        actions = policy._sample(out, rng, deterministic)
        records.append((obs, actions))
        obs, r, terminated, truncated, infos = venv.step(actions)
        rewards.append(r)
        for i in np.flatnonzero(terminated | truncated):
            if "is_success" in infos[i]:
                successes[i] = float(infos[i]["is_success"])
    mask = np.array(masks).T                          # (n, T)
    observations = np.stack([o for o, _ in records], axis=1)[mask]
    actions = np.stack([a for _, a in records], axis=1)[mask]
    rewards = np.array(rewards).T[mask]
    lengths = mask.sum(axis=1).astype(np.intp)
    starts = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.intp)
    return Episodes(observations, actions, rewards, lengths, starts, successes)


def episode_returns(episodes):
    """The undiscounted return of each episode."""
    return np.add.reduceat(episodes.rewards, episodes.starts)


def discounted_returns(episodes, gamma):
    """``G_t = r_t + gamma G_{t+1}`` within each episode, back to back: one
    first-order filter run backwards along each padded episode (time and
    memory linear in the episodes' lengths)."""
    lengths, starts = episodes.lengths, episodes.starts
    n, T = lengths.size, int(lengths.max())
    step = np.arange(int(lengths.sum())) - np.repeat(starts, lengths)
    episode = np.repeat(np.arange(n), lengths)
    # reversed in time, each episode's last step first; zeros past its end
    # come first and add nothing
    reversed_rewards = np.zeros((n, T))
    reversed_rewards[episode, T - 1 - step] = episodes.rewards
    returns = lfilter([1.0], [1.0, -float(gamma)], reversed_rewards, axis=1)
    return returns[episode, T - 1 - step]


def evaluate(policy, env_factory, n_episodes=100, *, deterministic=True, seed=0,
             n_envs=None, max_steps=1000):
    """Play ``n_episodes`` episodes with a policy; their mean return and success.

    Parameters
    ----------
    policy : LSTMPolicy
        An initialised or trained policy (``est.policy_``).
    env_factory : callable
        Returns a new environment.
    n_episodes : int, default=100
        Episodes played, ``n_envs`` at a time.
    deterministic : bool, default=True
        Act by the most probable action (the Gaussian's mean).
    seed : int, default=0
        Episode ``i`` resets its environment with ``seed + i``.
    n_envs : int or None, default=None
        Environments side by side; None plays all episodes at once.
    max_steps : int, default=1000
        Steps after which an episode is cut.

    Returns
    -------
    scores : dict
        ``mean_return``, ``std_return``, ``mean_length`` and
        ``success_rate`` (the fraction of episodes whose last ``info`` says
        ``is_success``; NaN when the environment never says).

    Examples
    --------
    >>> from sklstm.rl import LSTMPolicy, evaluate
    >>> from sklstm.rl.envs import TMaze
    >>> env = TMaze(corridor_length=3)
    >>> policy = LSTMPolicy((4,), random_state=0).initialize(
    ...     env.observation_space, env.action_space)
    >>> scores = evaluate(policy, lambda: TMaze(3), n_episodes=10)
    >>> sorted(scores)
    ['mean_length', 'mean_return', 'std_return', 'success_rate']
    """
    n_envs = n_episodes if n_envs is None else min(n_envs, n_episodes)
    venv = VectorEnv(env_factory, n_envs)
    rng = np.random.default_rng(seed)
    returns, lengths, successes, played = [], [], [], 0
    while played < n_episodes:
        episodes = rollout(policy, venv, seed + played, rng, deterministic, max_steps)
        take = min(n_envs, n_episodes - played)
        returns.append(episode_returns(episodes)[:take])
        lengths.append(episodes.lengths[:take])
        successes.append(episodes.successes[:take])
        played += take
    returns, successes = np.concatenate(returns), np.concatenate(successes)
    known = successes[~np.isnan(successes)]
    return {"mean_return": float(returns.mean()), "std_return": float(returns.std()),
            "mean_length": float(np.concatenate(lengths).mean()),
            "success_rate": float(known.mean()) if known.size else float("nan")}


def start_training(trainer, env_factory, n_envs):
    """``(rs, venv, policy)`` of a trainer's ``fit``: its random state,
    ``n_envs`` environments side by side, and a fresh copy of its policy
    (``LSTMPolicy()`` for None) sized for them, its weights drawn from
    ``rs``."""
    rs = check_random_state(trainer.random_state)
    venv = VectorEnv(env_factory, n_envs)
    policy = clone(trainer.policy if trainer.policy is not None else LSTMPolicy())
    policy.initialize(venv.observation_space, venv.action_space,
                      random_state=rs.randint(2**31))
    return rs, venv, policy
