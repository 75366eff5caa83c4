"""Reinforcement learning with recurrent policies: training without a teacher.

:class:`LSTMPolicy` is a recurrent network whose per-step head gives an
action distribution (a softmax over discrete actions, or a Gaussian over
continuous ones) and a value; :class:`RecurrentPolicyGradient` trains it by
REINFORCE with a learned baseline and backpropagation through whole episodes
(Wierstra et al. 2007), :class:`EvolutionStrategy` by an evolution strategy
on its weights, with the episode return as fitness. Environments follow
gymnasium's API without depending on it; :mod:`sklstm.rl.envs` ships the
T-maze.
"""

from ._evolution_strategy import EvolutionStrategy
from ._gradient import RecurrentPolicyGradient, policy_gradient
from ._policy import LSTMPolicy, PolicyState
from ._rollout import evaluate

__all__ = ["EvolutionStrategy", "LSTMPolicy", "PolicyState", "RecurrentPolicyGradient",
           "evaluate", "policy_gradient"]
