"""REINFORCE with a learned baseline, by backpropagation through whole episodes."""

import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import HasMethods, Interval

from .._optimizers import AdamOptimizer, clip_by_global_norm
from ._policy import _softmax
from ._rollout import discounted_returns, episode_returns, rollout, start_training

__all__ = ["RecurrentPolicyGradient", "policy_gradient"]


def policy_gradient(policy, episodes, gamma=1.0, value_coef=0.5, entropy_coef=0.0,
                    reward_scale=1.0):
    """The gradient of the training loss over a batch of episodes.

    The loss, over ``N`` episodes, is::

        L = 1/N sum_i sum_t [ -(G_t - V_t) log pi(a_t | h_t)
                              + value_coef / 2 (V_t - G_t)^2
                              - entropy_coef H(pi(. | h_t)) ]

    with ``G_t`` the discounted return from step ``t``, ``V_t`` the value
    head's output (held constant in the first term), ``h_t`` the history up
    to the observation of step ``t``. Its expected gradient in the policy's
    weights, without the value and entropy terms, is minus the gradient of
    the expected (discounted) return: the baseline depends on the history
    only, so it changes the variance and not the mean (Williams 1992;
    Wierstra et al. 2007). One forward and one backward pass of the packed
    network over all the episodes give every weight's gradient.

    Parameters
    ----------
    policy : LSTMPolicy
        An initialised policy.
    episodes : Episodes
        Whole episodes played by the policy (``sklstm.rl._rollout.rollout``).
    gamma : float, default=1.0
        The discount of the returns.
    value_coef, entropy_coef : float
        Weights of the value head's squared error and of the entropy bonus.
    reward_scale : float, default=1.0
        The rewards are multiplied by it before the returns are taken.

    Returns
    -------
    grads : list of ndarray
        The loss's gradient, in the layout of ``policy.coefs_``.
    stats : dict
        ``value_loss``: the value head's mean squared error.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm.rl import LSTMPolicy, policy_gradient
    >>> from sklstm.rl._rollout import rollout
    >>> from sklstm.rl.envs import TMaze, VectorEnv
    >>> venv = VectorEnv(lambda: TMaze(corridor_length=3), n_envs=8)
    >>> policy = LSTMPolicy((4,), random_state=0).initialize(
    ...     venv.observation_space, venv.action_space)
    >>> episodes = rollout(policy, venv, seed=0, rng=np.random.default_rng(0))
    >>> grads, stats = policy_gradient(policy, episodes, gamma=0.99)
    >>> [g.shape for g in grads] == [a.shape for a in policy.coefs_]
    True
    """
    coefs, n_flat, A = policy.coefs_, policy._n_flat, policy.n_actions_
    network = policy._network()
    flat = coefs[:n_flat]
    N = episodes.lengths.size
    plan = policy._plan(episodes.lengths)
    rows = policy._rows(plan, episodes.starts, episodes.lengths)
    X = np.ascontiguousarray(episodes.observations[rows])
    outputs, memory = network.forward(flat, plan, X, rng=np.random.default_rng(0))
    out = outputs.rows
    returns = reward_scale * discounted_returns(episodes, gamma)[rows]
    values = out[:, A]
    advantages = returns - values
    d = np.zeros_like(out)
    if policy.action_kind_ == "discrete":
        actions = episodes.actions[rows].astype(np.intp)
        p = _softmax(out[:, :A])
        d[:, :A] = p
        d[np.arange(p.shape[0]), actions] -= 1        # p - onehot
        d[:, :A] *= advantages[:, None]
        if entropy_coef:
            log_p = np.log(np.maximum(p, 1e-300))
            entropy = -(p * log_p).sum(axis=1, keepdims=True)
            d[:, :A] += entropy_coef * p * (log_p + entropy)
        d_log_std = None
    else:
        log_std = coefs[n_flat]
        z = (episodes.actions[rows] - out[:, :A]) / np.exp(log_std)
        d[:, :A] = -advantages[:, None] * z / np.exp(log_std)
        d_log_std = (-(advantages[:, None] * (z**2 - 1)).sum(axis=0)
                     - entropy_coef * out.shape[0]) / N
    d[:, A] = value_coef * (values - returns)
    d /= N
    grads = network.backward(flat, memory, d)
    if d_log_std is not None:
        grads.append(d_log_std)
    stats = {"value_loss": float(0.5 * np.mean((values - returns) ** 2))}
    return grads, stats


class RecurrentPolicyGradient(BaseEstimator):
    """REINFORCE with a learned baseline for a recurrent policy
    (Wierstra et al. 2007).

    Each iteration plays one episode in each of ``n_envs`` environments side
    by side (one compiled step of the policy for all of them at every step),
    then backpropagates through the whole episodes at once: the policy's
    per-step outputs over the packed batch, the gradient of the loss of
    :func:`policy_gradient` (the REINFORCE term with the value head as the
    baseline, the value head's squared error, an entropy bonus), one global
    norm clip and one Adam step.

    Parameters
    ----------
    policy : LSTMPolicy or None, default=None
        The policy to train (a template, cloned by ``fit``); None means
        ``LSTMPolicy()``.
    n_iterations : int, default=100
        Training iterations (batches of episodes).
    n_envs : int, default=32
        Episodes per iteration, played side by side.
    learning_rate : float, default=0.01
        Adam's step size.
    gamma : float, default=0.99
        The discount of the returns.
    value_coef : float, default=0.5
        Weight of the value head's squared error.
    entropy_coef : float, default=0.01
        Weight of the policy's entropy bonus (exploration).
    max_grad_norm : float or None, default=1.0
        The global norm the gradient is clipped to; None: no clipping.
    reward_scale : float, default=1.0
        Rewards are multiplied by it for training (not in ``history_``), so
        that returns stay near 1 where the value head can follow them, e.g.
        0.01 for CartPole's returns of hundreds.
    max_episode_steps : int, default=1000
        Steps after which an episode is cut.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the environments' resets and the actions.
    verbose : int, default=0
        Print the mean return of every iteration.

    Attributes
    ----------
    policy_ : LSTMPolicy
        The trained policy.
    history_ : dict of list
        Per iteration: ``mean_return`` (undiscounted, of the iteration's
        episodes, acting by sampling), ``mean_length``, ``success_rate``
        (NaN when the environment does not say), ``value_loss``,
        ``grad_norm`` (before clipping) and ``time`` (seconds since fit
        began).
    n_iter_ : int
        Iterations run.

    See Also
    --------
    EvolutionStrategy : The same policy trained without gradients.

    References
    ----------
    R. J. Williams, "Simple statistical gradient-following algorithms for
    connectionist reinforcement learning", Machine Learning 8, 1992.
    D. Wierstra, A. Förster, J. Peters, J. Schmidhuber, "Solving deep memory
    POMDPs with recurrent policy gradients", ICANN 2007.

    Examples
    --------
    >>> from sklstm.rl import LSTMPolicy, RecurrentPolicyGradient
    >>> from sklstm.rl.envs import TMaze
    >>> est = RecurrentPolicyGradient(LSTMPolicy((8,)), n_iterations=3, n_envs=8,
    ...                               random_state=0)
    >>> est = est.fit(lambda: TMaze(corridor_length=3))
    >>> len(est.history_["mean_return"])
    3
    """

    _parameter_constraints: dict = {
        "policy": [HasMethods(["initialize", "act"]), None],
        "n_iterations": [Interval(Integral, 1, None, closed="left")],
        "n_envs": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "gamma": [Interval(Real, 0, 1, closed="both")],
        "value_coef": [Interval(Real, 0, None, closed="left")],
        "entropy_coef": [Interval(Real, 0, None, closed="left")],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "reward_scale": [Interval(Real, 0, None, closed="neither")],
        "max_episode_steps": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, policy=None, *, n_iterations=100, n_envs=32,
                 learning_rate=0.01, gamma=0.99, value_coef=0.5, entropy_coef=0.01,
                 max_grad_norm=1.0, reward_scale=1.0, max_episode_steps=1000,
                 random_state=None, verbose=0):
        self.policy = policy
        self.n_iterations = n_iterations
        self.n_envs = n_envs
        self.learning_rate = learning_rate
        self.gamma = gamma
        self.value_coef = value_coef
        self.entropy_coef = entropy_coef
        self.max_grad_norm = max_grad_norm
        self.reward_scale = reward_scale
        self.max_episode_steps = max_episode_steps
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, env_factory):
        """Train a fresh policy on episodes of ``env_factory()`` environments.

        Parameters
        ----------
        env_factory : callable
            Returns a new environment with gymnasium's API (``reset(seed=)``,
            ``step(action)``, ``observation_space``, ``action_space``).

        Returns
        -------
        self : RecurrentPolicyGradient
        """
        self._validate_params()
        rs, venv, policy = start_training(self, env_factory, self.n_envs)
        rng = np.random.default_rng(rs.randint(2**31))
        optimizer = AdamOptimizer(policy.coefs_, self.learning_rate)
        history = {k: [] for k in ("mean_return", "mean_length", "success_rate",
                                   "value_loss", "grad_norm", "time")}
        start = time.perf_counter()
        for it in range(self.n_iterations):
            episodes = rollout(policy, venv, rs.randint(2**31), rng,
                               max_steps=self.max_episode_steps)
            grads, stats = policy_gradient(policy, episodes, self.gamma,
                                           self.value_coef, self.entropy_coef,
                                           self.reward_scale)
            norm = clip_by_global_norm(grads, self.max_grad_norm)
            if not np.isfinite(norm):
                raise ValueError(
                    f"The policy gradient became non-finite at iteration {it + 1}; "
                    "lower learning_rate or max_grad_norm.")
            optimizer.update(policy.coefs_, grads)
            policy._refresh()
            returns = episode_returns(episodes)
            known = episodes.successes[~np.isnan(episodes.successes)]
            history["mean_return"].append(float(returns.mean()))
            history["mean_length"].append(float(episodes.lengths.mean()))
            history["success_rate"].append(float(known.mean()) if known.size
                                           else float("nan"))
            history["value_loss"].append(stats["value_loss"])
            history["grad_norm"].append(norm)
            history["time"].append(time.perf_counter() - start)
            if self.verbose:
                print(f"Iteration {it + 1}, mean return = "
                      f"{history['mean_return'][-1]:.4f}, mean length = "
                      f"{history['mean_length'][-1]:.1f}, success = "
                      f"{history['success_rate'][-1]:.3f}")
        self.policy_ = policy
        self.history_ = history
        self.n_iter_ = self.n_iterations
        return self
