"""The T-maze of Bakker (2002), the deep-memory POMDP of Wierstra et al. (2007)."""

from numbers import Integral

import numpy as np

from ._spaces import Box, Discrete

__all__ = ["TMaze"]

# Bakker's observations: the cue at the start (which arm holds the goal), the
# corridor, the junction.
_CUE_NORTH = (0.0, 1.0, 1.0)
_CUE_SOUTH = (1.0, 1.0, 0.0)
_CORRIDOR = (1.0, 0.0, 1.0)
_JUNCTION = (0.0, 1.0, 0.0)

NORTH, EAST, SOUTH, WEST = 0, 1, 2, 3


class TMaze:
    """A corridor with a cue at its start and a turn at its end.

    The agent starts at the west end of a corridor of ``corridor_length``
    cells; the first observation is a cue that says whether the goal is up
    the north or the south arm of the T at the east end. In the corridor the
    observation is the same at every cell, so the cue must be remembered for
    at least ``corridor_length`` steps, and at the junction the agent must
    turn the way the cue said (Bakker 2002; the memory task of Wierstra et al.
    2007). It follows gymnasium's API (``reset(seed=...)``, ``step(action)``)
    without depending on it.

    Parameters
    ----------
    corridor_length : int, default=10
        East moves from the start to the junction.
    max_episode_steps : int or None, default=None
        Steps after which the episode is truncated; None means
        ``3 * (corridor_length + 1)``.

    Attributes
    ----------
    observation_space : Box of shape (3,)
        Bakker's three bits: ``(0, 1, 1)`` at the start when the goal is
        north, ``(1, 1, 0)`` when it is south, ``(1, 0, 1)`` in the corridor,
        ``(0, 1, 0)`` at the junction.
    action_space : Discrete(4)
        North, east, south, west (0, 1, 2, 3).
    goal_ : {"north", "south"}
        The goal of the current episode.
    position_ : int
        The agent's cell, 0 at the start, ``corridor_length`` at the junction.

    Notes
    -----
    Rewards are Bakker's: +4 for turning towards the goal at the junction,
    -0.1 for turning away from it (either turn ends the episode) and -0.1
    for a move that leaves the agent where it was (into a wall). A move west
    costs -0.1 too, so that every step that does not lead to the junction is
    penalised alike (a random walk rarely reaches the end of a long
    corridor; this is the penalty of the "passive" T-maze of Ni et al. 2023
    for not moving towards the junction). The ``info`` of the last step has
    ``is_success``: whether the agent turned the right way.

    References
    ----------
    B. Bakker, "Reinforcement learning with long short-term memory", NIPS
    2002. D. Wierstra, A. Förster, J. Peters, J. Schmidhuber, "Solving deep
    memory POMDPs with recurrent policy gradients", ICANN 2007. T. Ni, M. Ma,
    B. Eysenbach, P.-L. Bacon, "When do transformers shine in RL? Decoupling
    memory from credit assignment", NeurIPS 2023.

    Examples
    --------
    >>> from sklstm.rl.envs import TMaze
    >>> env = TMaze(corridor_length=2)
    >>> obs, info = env.reset(seed=0)
    >>> env.goal_, obs.tolist()
    ('south', [1.0, 1.0, 0.0])
    >>> obs, reward, terminated, truncated, info = env.step(1)   # east
    >>> obs, reward, terminated, truncated, info = env.step(1)   # the junction
    >>> obs.tolist()
    [0.0, 1.0, 0.0]
    >>> env.step(2)[1:]                                          # turn south
    (4.0, True, False, {'is_success': True})
    """

    metadata = {"render_modes": []}

    def __init__(self, corridor_length=10, max_episode_steps=None):
        self.corridor_length = corridor_length
        self.max_episode_steps = max_episode_steps
        if (not isinstance(corridor_length, Integral)
                or isinstance(corridor_length, bool) or corridor_length < 1):
            raise ValueError(
                f"corridor_length must be a positive integer; got {corridor_length!r}.")
        if max_episode_steps is None:
            max_episode_steps = 3 * (corridor_length + 1)
        elif (not isinstance(max_episode_steps, Integral)
              or isinstance(max_episode_steps, bool) or max_episode_steps < 1):
            raise ValueError("max_episode_steps must be a positive integer or None; "
                             f"got {max_episode_steps!r}.")
        self._max_steps = int(max_episode_steps)
        self.observation_space = Box(0.0, 1.0, (3,))
        self.action_space = Discrete(4)
        self._rng = np.random.default_rng()
        self._done = None  # None: not reset yet

    def reset(self, *, seed=None, options=None):
        """Start an episode; ``seed`` (an int) reseeds the goal's draws.

        Returns
        -------
        observation : ndarray of shape (3,)
        info : dict
        """
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.goal_ = "north" if self._rng.random() < 0.5 else "south"
        self.position_ = 0
        self._steps = 0
        self._done = False
        return self._observation(), {}

    def _observation(self):
        if self.position_ == 0:
            cue = _CUE_NORTH if self.goal_ == "north" else _CUE_SOUTH
            return np.array(cue)
        if self.position_ == self.corridor_length:
            return np.array(_JUNCTION)
        return np.array(_CORRIDOR)

    def step(self, action):
        """Move; returns ``(observation, reward, terminated, truncated, info)``.

        Raises
        ------
        ValueError
            For an action outside ``{0, 1, 2, 3}``.
        RuntimeError
            Before :meth:`reset`, or after the episode ended.
        """
        if self._done is None:
            raise RuntimeError("TMaze.step was called before reset(); call "
                               "env.reset() to start an episode.")
        if self._done:
            raise RuntimeError(
                "TMaze.step was called after the episode ended (terminated or "
                "truncated); call env.reset() to start a new one.")
        if not self.action_space.contains(action):
            raise ValueError(
                f"action {action!r} is not in the T-maze's action space "
                "Discrete(4): pass an integer 0 (north), 1 (east), 2 (south) or "
                "3 (west).")
        action = int(action)
        self._steps += 1
        info = {}
        terminated = False
        at_junction = self.position_ == self.corridor_length
        if at_junction and action in (NORTH, SOUTH):
            success = (action == NORTH) == (self.goal_ == "north")
            reward, terminated = (4.0 if success else -0.1), True
            info["is_success"] = success
        elif action == EAST and not at_junction:
            self.position_ += 1
            reward = 0.0
        else:
            # into a wall, or back west
            if action == WEST and self.position_ > 0:
                self.position_ -= 1
            reward = -0.1
        truncated = not terminated and self._steps >= self._max_steps
        if truncated:
            info["is_success"] = False
        self._done = terminated or truncated
        return self._observation(), reward, terminated, truncated, info

    def __repr__(self):
        return f"TMaze(corridor_length={self.corridor_length})"
