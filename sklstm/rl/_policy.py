"""A recurrent policy: an LSTM (or any cell) and a per-step head of actions
and values, acting one step at a time through the compiled streaming step
and trained on whole episodes through the packed network passes."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from .._base import check_hidden_sizes
from .._network import Network, StepHead, make_cell
from .._packing import PackedPlan
from .._streaming import StepWeights
from ..functional import _POOL_CODES, _network_step

__all__ = ["LSTMPolicy", "PolicyState"]


def _softmax(z):
    """The softmax of the rows of ``z``, in a new array."""
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


class PolicyState:
    """The recurrent state of ``n_envs`` environments between calls of
    :meth:`LSTMPolicy.act`: every layer's ``h`` and ``c`` for every
    environment, in the layout of the compiled step.

    Attributes
    ----------
    n_envs : int
        The environments whose state it holds, one row each.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm.rl import LSTMPolicy
    >>> from sklstm.rl.envs import TMaze
    >>> env = TMaze(corridor_length=3)
    >>> policy = LSTMPolicy((4,), random_state=0).initialize(
    ...     env.observation_space, env.action_space)
    >>> actions, state = policy.act(np.zeros((5, 3)))
    >>> state
    PolicyState(n_envs=5)
    >>> actions, state = policy.act(np.zeros((5, 3)), state)  # the next step
    """

    def __init__(self, values, n_envs, policy_id):
        self.values = values
        self.n_envs = n_envs
        self._policy_id = policy_id

    def __repr__(self):
        return f"PolicyState(n_envs={self.n_envs})"


class _Stepper(StepWeights):
    """The policy's weights packed for the compiled step, and its buffers for
    ``n`` rows; what a rollout uses, one step of every environment per call."""

    def __init__(self, policy):
        network = policy._network()
        recurrent, coef, intercept = network.split(policy.coefs_[:policy._n_flat])
        super().__init__(network, recurrent, coef, intercept, np.float64)
        self.n_features = policy.n_observations_
        self.mean = np.zeros(self.n_features)
        self.scale = np.ones(self.n_features)
        self.memory = policy.memory
        self._n = None

    def buffers(self, n):
        if self._n != n:
            self._n = n
            self.frame = np.zeros((n, self.n_features))
            self.scratch = np.empty(4 * n * max(self.hidden_sizes))
            self.decision = np.empty((n, self.coef.shape[0]))
            self.zeros = np.zeros(n * self.state_size)

    def step(self, x, state_in, state_out):
        """The head's outputs ``(n, n_outputs)`` after the step ``x``
        (float64, C-contiguous), from ``state_in`` into ``state_out``; without
        memory, from the zero state every time."""
        n = x.shape[0]
        self.buffers(n)
        if not self.memory:
            state_in = self.zeros
        status = _network_step(x, self.mean, self.scale, self.frame, 0, self.weights,
                               self.layout, state_in, state_out, self.scratch,
                               _POOL_CODES["last"], 0, self.coef, self.intercept,
                               self.decision)
        if status:
            r, d = divmod(status - 1, self.n_features)
            raise ValueError(f"observation contains NaN or infinity (environment "
                             f"{r}, value {d}).")
        return self.decision

    def reset_rows(self, state, rows):
        """Zero the state of the environments ``rows`` (a new episode)."""
        n, at = self._n, 0
        for H in self.hidden_sizes:
            for _ in range(2):  # h, then c
                block = state[at : at + n * H].reshape(n, H)
                block[rows] = 0
                at += n * H


class LSTMPolicy(BaseEstimator):
    """A recurrent policy: a stack of recurrent layers and a per-step head.

    At every step the last layer's output goes through one dense layer whose
    outputs are the action's distribution (the logits of a softmax over
    discrete actions, or the mean of a Gaussian over continuous ones, with a
    learned state-independent log standard deviation per dimension) and a
    value estimate (the baseline of :class:`RecurrentPolicyGradient`,
    unused by :class:`EvolutionStrategy`). :meth:`act` advances one step of
    one or many environments through the compiled step of
    :mod:`sklstm`'s streaming prediction (every environment in one call);
    training runs whole episodes through the packed network passes.

    A policy is a template until a trainer's ``fit`` (or
    :meth:`initialize`) sizes it for an environment's spaces.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default=(16,)
        Units of each recurrent layer (unidirectional: a policy acts before
        it sees the future).
    cell : {"lstm", "peephole", "gru"}, default="lstm"
        The recurrent cell (:doc:`/cells`).
    action : {"auto", "discrete", "gaussian"}, default="auto"
        The head: a softmax over ``action_space.n`` actions, or a Gaussian
        over ``action_space.shape[0]`` real values; "auto" reads the action
        space (an ``n`` attribute means discrete).
    memory : bool, default=True
        False resets the recurrent state at every step (in acting and in
        training): the same network without memory, the control of the
        T-maze example.
    forget_bias : float, default=1.0
        The LSTM forget gates' bias at first (1, as for every sklstm LSTM:
        Gers et al. 2000; Jozefowicz et al. 2015). A larger one (3: the
        forget gate starts at 0.95) keeps the gradient of a cue alive over
        many more steps, which speeds up learning long memories (the T-maze
        figures of :doc:`/rl`). Not used by ``cell="gru"``.
    init_log_std : float, default=-0.5
        The Gaussian head's log standard deviation at first. Only used when
        the head is Gaussian.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights.

    Attributes
    ----------
    coefs_ : list of ndarray
        The weights: the network's flat list (each layer's cell arrays in the
        layout of :func:`sklstm.functional.lstm_forward`, then the head's
        ``coef`` ``(n_outputs, H)`` and ``intercept`` ``(n_outputs,)``), and
        for a Gaussian head the log standard deviations ``(action_dim,)``.
        The head's outputs are the ``n_actions_`` logits (or means) then the
        value.
    n_observations_ : int
        Values of one observation.
    n_actions_ : int
        Discrete actions, or dimensions of a continuous action.
    action_kind_ : {"discrete", "gaussian"}
        The head.

    See Also
    --------
    RecurrentPolicyGradient : Trains it by REINFORCE with a baseline.
    EvolutionStrategy : Trains it by an evolution strategy.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm.rl import LSTMPolicy
    >>> from sklstm.rl.envs import TMaze
    >>> env = TMaze(corridor_length=3)
    >>> policy = LSTMPolicy(hidden_layer_sizes=(4,), random_state=0)
    >>> policy = policy.initialize(env.observation_space, env.action_space)
    >>> obs, _ = env.reset(seed=0)
    >>> action, state = policy.act(obs, deterministic=True)
    >>> int(action) in range(4), state
    (True, PolicyState(n_envs=1))
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like",
                               Interval(Integral, 1, None, closed="left")],
        "cell": [StrOptions({"lstm", "peephole", "gru"})],
        "action": [StrOptions({"auto", "discrete", "gaussian"})],
        "memory": ["boolean"],
        "forget_bias": [Interval(Real, None, None, closed="neither")],
        "init_log_std": [Interval(Real, None, None, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(self, hidden_layer_sizes=(16,), *, cell="lstm", action="auto",
                 memory=True, forget_bias=1.0, init_log_std=-0.5, random_state=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.cell = cell
        self.action = action
        self.memory = memory
        self.forget_bias = forget_bias
        self.init_log_std = init_log_std
        self.random_state = random_state

    # --- building ------------------------------------------------------------------

    def _hidden_sizes(self):
        return check_hidden_sizes(self.hidden_layer_sizes)

    def _network(self):
        return Network(make_cell(self.cell), self._hidden_sizes(), 1, StepHead())

    def initialize(self, observation_space, action_space, random_state=None):
        """Size the policy for the spaces and draw fresh weights.

        Parameters
        ----------
        observation_space : space
            With a ``shape`` (gymnasium's ``Box``; its values are flattened).
        action_space : space
            gymnasium's ``Discrete`` (an ``n``) or ``Box`` (a 1-D ``shape``),
            or one of :mod:`sklstm.rl.envs`'s.
        random_state : int, RandomState instance or None, default=None
            Seeds the weights; None uses the policy's ``random_state``.

        Returns
        -------
        self : LSTMPolicy
        """
        self._validate_params()
        self._hidden_sizes()
        kind = self.action
        if kind == "auto":
            kind = "discrete" if hasattr(action_space, "n") else "gaussian"
        if kind == "discrete":
            if not hasattr(action_space, "n"):
                raise ValueError(f"action='discrete' needs a discrete action space "
                                 f"(with an n); got {action_space!r}.")
            n_actions = int(action_space.n)
        else:
            shape = getattr(action_space, "shape", None)
            if shape is None or len(shape) != 1:
                raise ValueError(f"action='gaussian' needs a 1-D Box action space; "
                                 f"got {action_space!r}.")
            n_actions = int(shape[0])
        self.n_observations_ = int(np.prod(observation_space.shape))
        self.n_actions_ = n_actions
        self.action_kind_ = kind
        rs = check_random_state(self.random_state if random_state is None
                                else random_state)
        network = self._network()
        coefs = network.init(rs, self.n_observations_, n_actions + 1, np.float64)
        if self.cell != "gru":
            for layer, H in zip(network.split(coefs)[0], network.hidden_sizes):
                layer[0][2][H : 2 * H] = self.forget_bias  # in place, in coefs
        self._n_flat = len(coefs)
        if kind == "gaussian":
            coefs.append(np.full(n_actions, float(self.init_log_std)))
        self.coefs_ = coefs
        self._stepper_cache = None
        return self

    def _refresh(self):
        """Forget the packed weights (after ``coefs_`` changed in place)."""
        self._stepper_cache = None

    def _stepper(self):
        if getattr(self, "_stepper_cache", None) is None:
            self._stepper_cache = _Stepper(self)
        return self._stepper_cache

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_stepper_cache"] = None
        return state

    # --- acting --------------------------------------------------------------------

    def _read_observation(self, observation):
        x = np.asarray(observation, dtype=np.float64)
        F = self.n_observations_
        if x.ndim == 2 and x.shape[1] == F:
            return np.ascontiguousarray(x), False
        if x.size == F:
            return np.ascontiguousarray(x.reshape(1, F)), True
        raise ValueError(f"observation has shape {x.shape}; expected ({F},) for one "
                         f"environment or (n_envs, {F}) for several.")

    def _sample(self, outputs, rng, deterministic):
        """Actions from the head's outputs ``(n, n_outputs)``."""
        A = self.n_actions_
        if self.action_kind_ == "discrete":
            logits = outputs[:, :A]
            if deterministic:
                return logits.argmax(axis=1)
            p = _softmax(logits)
            u = rng.random((p.shape[0], 1))
            return np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), A - 1)
        mean = outputs[:, :A]
        if deterministic:
            return mean.copy()
        std = np.exp(self.coefs_[self._n_flat])
        return mean + std * rng.standard_normal(mean.shape)

    def act(self, observation, state=None, *, deterministic=False, random_state=None):
        """The next action of one or many environments, and the new state.

        Parameters
        ----------
        observation : array-like of shape (n_observations,) or (n_envs, n_observations)
            The current observation of each environment.
        state : PolicyState or None, default=None
            What the previous call returned (not modified); None starts every
            environment afresh.
        deterministic : bool, default=False
            Take the most probable action (the mean, for a Gaussian) instead
            of sampling one.
        random_state : int, Generator, RandomState or None, default=None
            The draws of the sampled actions.

        Returns
        -------
        action : int, ndarray of shape (n_envs,) or (n_envs, action_dim)
            One action per environment (a single one for a 1-D observation).
        state : PolicyState
            The state after this step.
        """
        if not hasattr(self, "coefs_"):
            raise NotFittedError(
                "This LSTMPolicy has no weights yet; train it with a trainer's fit "
                "(e.g. RecurrentPolicyGradient) or call initialize(observation_space, "
                "action_space) first.")
        x, single = self._read_observation(observation)
        stepper = self._stepper()
        n = x.shape[0]
        if state is None:
            values = np.zeros(n * stepper.state_size)
        else:
            if not isinstance(state, PolicyState):
                raise TypeError("state must be None or a PolicyState that act "
                                f"returned; got {type(state).__name__}.")
            if state.n_envs != n or state._policy_id != id(self):
                raise ValueError(f"state holds {state.n_envs} environments of another "
                                 f"call; pass the state act returned for these {n}.")
            values = state.values
        new = np.empty_like(values)
        outputs = stepper.step(x, values, new)
        if isinstance(random_state, np.random.Generator):
            rng = random_state
        else:
            rng = np.random.default_rng(
                check_random_state(random_state).randint(2**31))
        action = self._sample(outputs, rng, deterministic)
        if single:
            action = action[0]
            if self.action_kind_ == "discrete":
                action = int(action)
        return action, PolicyState(new, n, id(self))

    # --- whole episodes ------------------------------------------------------------

    def _plan(self, lengths):
        """The plan of a batch of episodes: each one sequence, or each step
        its own sequence of length 1 without memory."""
        if self.memory:
            return PackedPlan(lengths)
        return PackedPlan(np.ones(int(np.sum(lengths)), dtype=np.intp))

    def _rows(self, plan, starts, lengths):
        """The back-to-back rows (episode ``i`` at ``starts[i]``) of each
        packed row."""
        if self.memory:
            return plan.source_rows(starts)
        return plan.source_rows(np.arange(int(np.sum(lengths))))
