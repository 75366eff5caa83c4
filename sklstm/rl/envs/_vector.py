"""Several environments stepped side by side, one episode each."""

import numpy as np

__all__ = ["VectorEnv"]


class VectorEnv:
    """``n_envs`` copies of an environment advanced together, one episode each.

    Made from a factory (a callable that returns a new environment, the
    argument of the estimators' ``fit``), it steps every running copy with
    one action each and stacks what they return, so that a policy acts for
    all of them in one batched step. Unlike gymnasium's ``SyncVectorEnv`` it
    never resets a copy by itself: :meth:`reset` starts one episode in every
    copy, a copy whose episode has ended stays ended (its rows are ignored)
    until the next :meth:`reset`, and :attr:`running_` says which copies are
    still running. A batch of whole episodes is what training takes.

    Parameters
    ----------
    env_factory : callable
        ``env_factory()`` returns a new environment with gymnasium's API.
    n_envs : int
        The copies.

    Attributes
    ----------
    envs : list
        The copies.
    observation_space, action_space : space
        Those of the first copy (all are assumed equal).
    running_ : ndarray of bool of shape (n_envs,)
        Copies whose episode has not ended.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm.rl.envs import TMaze, VectorEnv
    >>> venv = VectorEnv(lambda: TMaze(corridor_length=3), n_envs=4)
    >>> obs, infos = venv.reset(seed=0)
    >>> obs.shape
    (4, 3)
    >>> obs, rewards, terminated, truncated, infos = venv.step(np.ones(4, int))
    >>> rewards.tolist(), venv.running_.tolist()
    ([0.0, 0.0, 0.0, 0.0], [True, True, True, True])
    """

    def __init__(self, env_factory, n_envs):
        if not callable(env_factory):
            raise TypeError(
                "env_factory must be a callable that returns a new environment "
                f"(e.g. lambda: TMaze(10)); got {type(env_factory).__name__}.")
        self.envs = [env_factory() for _ in range(int(n_envs))]
        self.n_envs = len(self.envs)
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        self.running_ = np.zeros(self.n_envs, dtype=bool)
        self._obs = None

    def reset(self, *, seed=None):
        """Start an episode in every copy; copy ``i`` is seeded ``seed + i``.

        Returns
        -------
        observations : ndarray of shape (n_envs, n_observations)
        infos : list of dict
        """
        pairs = [env.reset(seed=None if seed is None else int(seed) + i)
                 for i, env in enumerate(self.envs)]
        self._obs = np.stack([np.asarray(o, dtype=np.float64).ravel()
                              for o, _ in pairs])
        self.running_[:] = True
        return self._obs.copy(), [info for _, info in pairs]

    def step(self, actions):
        """Step every running copy with its row of ``actions``.

        Returns
        -------
        observations : ndarray of shape (n_envs, n_observations)
            The new observations (an ended copy's last one).
        rewards : ndarray of shape (n_envs,)
            0 for copies that had ended before the call.
        terminated, truncated : ndarray of bool of shape (n_envs,)
            The step's flags (False for copies that had ended before).
        infos : list of dict
        """
        if self._obs is None:
            raise RuntimeError("VectorEnv.step was called before reset().")
        if len(actions) != self.n_envs:
            raise ValueError(f"actions has {len(actions)} rows; expected one per "
                             f"environment, n_envs={self.n_envs}.")
        n = self.n_envs
        rewards = np.zeros(n)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        infos = [{} for _ in range(n)]
        for i in np.flatnonzero(self.running_):
            obs, rewards[i], terminated[i], truncated[i], infos[i] = \
                self.envs[i].step(actions[i])
            self._obs[i] = np.asarray(obs, dtype=np.float64).ravel()
        self.running_ &= ~(terminated | truncated)
        return self._obs.copy(), rewards, terminated, truncated, infos
