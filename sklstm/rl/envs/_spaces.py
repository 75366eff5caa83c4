"""The two action and observation spaces of the shipped environments.

They carry the attributes of gymnasium's ``Discrete`` and ``Box`` that
sklstm reads (``n``; ``shape``, ``low``, ``high``), so that a policy built
on a gymnasium environment and one built on ours read their spaces alike;
gymnasium itself is never imported.
"""

from numbers import Integral

import numpy as np

__all__ = ["Box", "Discrete"]


class Discrete:
    """The actions ``0, 1, ..., n - 1`` (gymnasium's ``Discrete(n)``).

    Examples
    --------
    >>> from sklstm.rl.envs import Discrete
    >>> space = Discrete(4)
    >>> space.contains(3), space.contains(4), space.contains(1.0)
    (True, False, False)
    """

    def __init__(self, n):
        self.n = int(n)
        self.shape = ()
        self.dtype = np.dtype(np.int64)

    def contains(self, x):
        if isinstance(x, (bool, np.bool_)):
            return False
        if isinstance(x, np.ndarray):
            if x.shape != () or x.dtype.kind not in "iu":
                return False
            x = x.item()
        return isinstance(x, Integral) and 0 <= x < self.n

    def sample(self, rng):
        return int(rng.integers(self.n))

    def __repr__(self):
        return f"Discrete({self.n})"


class Box:
    """Real vectors between ``low`` and ``high`` (gymnasium's ``Box``).

    Examples
    --------
    >>> from sklstm.rl.envs import Box
    >>> space = Box(0.0, 1.0, (3,))
    >>> space.shape, space.contains([0.0, 0.5, 1.0]), space.contains([2.0, 0, 0])
    ((3,), True, False)
    """

    def __init__(self, low, high, shape, dtype=np.float64):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.low = np.broadcast_to(np.asarray(low, dtype=self.dtype), self.shape)
        self.high = np.broadcast_to(np.asarray(high, dtype=self.dtype), self.shape)

    def contains(self, x):
        x = np.asarray(x)
        return (x.shape == self.shape and x.dtype.kind in "biuf"
                and bool(np.all((x >= self.low) & (x <= self.high))))

    def sample(self, rng):
        return rng.uniform(self.low, self.high).astype(self.dtype)

    def __repr__(self):
        return f"Box({self.low.min()}, {self.high.max()}, {self.shape})"
