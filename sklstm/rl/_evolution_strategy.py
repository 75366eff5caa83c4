"""A recurrent policy trained by an evolution strategy: no gradients."""

import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import HasMethods, Interval

from .._evolution import EvolutionCore
from ._rollout import episode_returns, rollout, start_training

__all__ = ["EvolutionStrategy"]


def _vector(policy):
    return np.concatenate([a.ravel() for a in policy.coefs_])


def _set_vector(policy, x):
    at = 0
    for a in policy.coefs_:
        a[...] = x[at : at + a.size].reshape(a.shape)
        at += a.size
    policy._refresh()


class EvolutionStrategy(BaseEstimator):
    """A recurrent policy trained by an evolution strategy on its weights.

    Every weight of the policy is one coordinate of a search distribution,
    sep-CMA-ES's (Ros & Hansen 2008, the evolution core of sklstm that
    ``solver="evolino"`` uses too). Each generation, every candidate plays
    ``n_episodes`` episodes side by side (one compiled step of its policy
    for all of them at every step), all candidates on the same environment
    seeds (common random numbers); the fitness is the mean episode return.
    No gradient is computed, so the policy's value output is unused.

    Parameters
    ----------
    policy : LSTMPolicy or None, default=None
        The policy to train (a template, cloned by ``fit``); None means
        ``LSTMPolicy()``.
    n_iterations : int, default=100
        Generations.
    population_size : int or None, default=None
        Candidates per generation; None is CMA-ES's ``4 + 3 ln n`` for ``n``
        weights.
    sigma : float, default=0.5
        The initial step size around the initial weights (then adapted).
    n_episodes : int, default=16
        Episodes per candidate and generation.
    deterministic : bool, default=True
        Candidates act by their most probable action (the Gaussian's mean)
        rather than by sampling.
    max_episode_steps : int, default=1000
        Steps after which an episode is cut.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the search and the environments.
    verbose : int, default=0
        Print the returns of every generation.

    Attributes
    ----------
    policy_ : LSTMPolicy
        The policy with the search distribution's final mean as weights.
    history_ : dict of list
        Per generation: ``mean_return`` (over the candidates),
        ``best_return`` (the generation's best candidate), ``sigma`` and
        ``time`` (seconds since fit began).
    evolution_state_ : dict
        The search's final state (``EvolutionCore.state()``).
    n_iter_ : int
        Generations run.

    See Also
    --------
    RecurrentPolicyGradient : The same policy trained by gradients.

    References
    ----------
    R. Ros and N. Hansen, "A simple modification in CMA-ES achieving linear
    time and space complexity", PPSN X, 2008. T. Salimans, J. Ho, X. Chen,
    S. Sidor, I. Sutskever, "Evolution strategies as a scalable alternative
    to reinforcement learning", arXiv:1703.03864, 2017.

    Examples
    --------
    >>> from sklstm.rl import EvolutionStrategy, LSTMPolicy
    >>> from sklstm.rl.envs import TMaze
    >>> est = EvolutionStrategy(LSTMPolicy((4,)), n_iterations=3, n_episodes=4,
    ...                         random_state=0)
    >>> est = est.fit(lambda: TMaze(corridor_length=3))
    >>> len(est.history_["mean_return"])
    3
    """

    _parameter_constraints: dict = {
        "policy": [HasMethods(["initialize", "act"]), None],
        "n_iterations": [Interval(Integral, 1, None, closed="left")],
        "population_size": [Interval(Integral, 2, None, closed="left"), None],
        "sigma": [Interval(Real, 0, None, closed="neither")],
        "n_episodes": [Interval(Integral, 1, None, closed="left")],
        "deterministic": ["boolean"],
        "max_episode_steps": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, policy=None, *, n_iterations=100, population_size=None,
                 sigma=0.5, n_episodes=16, deterministic=True, max_episode_steps=1000,
                 random_state=None, verbose=0):
        self.policy = policy
        self.n_iterations = n_iterations
        self.population_size = population_size
        self.sigma = sigma
        self.n_episodes = n_episodes
        self.deterministic = deterministic
        self.max_episode_steps = max_episode_steps
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, env_factory):
        """Search a policy for ``env_factory()`` environments.

        Parameters
        ----------
        env_factory : callable
            Returns a new environment with gymnasium's API.

        Returns
        -------
        self : EvolutionStrategy
        """
        self._validate_params()
        rs, venv, policy = start_training(self, env_factory, self.n_episodes)
        core = EvolutionCore(_vector(policy), sigma=self.sigma,
                             population_size=self.population_size,
                             random_state=rs.randint(2**31), maximize=True)
        history = {k: [] for k in ("mean_return", "best_return", "sigma", "time")}
        start = time.perf_counter()
        for it in range(self.n_iterations):
            seed = rs.randint(2**31)
            fitness = []
            for x in core.ask():
                _set_vector(policy, x)
                # the same seeds for every candidate, and the same action draws
                episodes = rollout(policy, venv, seed, np.random.default_rng(seed),
                                   self.deterministic, self.max_episode_steps)
                fitness.append(float(episode_returns(episodes).mean()))
            core.tell(fitness)
            history["mean_return"].append(float(np.mean(fitness)))
            history["best_return"].append(float(np.max(fitness)))
            history["sigma"].append(float(core.sigma))
            history["time"].append(time.perf_counter() - start)
            if self.verbose:
                print(f"Generation {it + 1}, mean return = "
                      f"{history['mean_return'][-1]:.4f}, best return = "
                      f"{history['best_return'][-1]:.4f}, sigma = {core.sigma:.4f}")
        _set_vector(policy, core.mean)
        self.policy_ = policy
        self.history_ = history
        self.evolution_state_ = core.state()
        self.n_iter_ = self.n_iterations
        return self
