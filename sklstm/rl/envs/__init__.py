"""Environments for :mod:`sklstm.rl`, with gymnasium's API and without it.

:class:`TMaze` is the deep-memory POMDP of Bakker (2002) and Wierstra et al.
(2007); :class:`VectorEnv` steps several copies of an environment side by
side, so that a policy acts for all of them in one batched step;
:class:`Discrete` and :class:`Box` are the spaces the environments declare.
"""

from ._spaces import Box, Discrete
from ._tmaze import TMaze
from ._vector import VectorEnv

__all__ = ["Box", "Discrete", "TMaze", "VectorEnv"]
