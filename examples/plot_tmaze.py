"""
=====================================================
Training without a teacher: the T-maze
=====================================================

In the T-maze (Bakker 2002) an agent walks east along a corridor and, at its
end, must turn north or south. Which way is right is shown once, by a cue in
the very first observation; every cell of the corridor looks the same. To turn
the right way the agent must remember the cue for the whole corridor: a
partially observable problem that only a policy with memory solves (Wierstra
et al. 2007 used it for their recurrent policy gradients).

No one tells the agent what to do: it only receives a reward, +4 for the
right turn, -0.1 for the wrong one and for every step that does not lead
towards the junction. :class:`~sklstm.rl.RecurrentPolicyGradient` trains an
:class:`~sklstm.rl.LSTMPolicy` by REINFORCE with a learned baseline,
backpropagating through whole episodes; :class:`~sklstm.rl.EvolutionStrategy`
trains the same policy without gradients. The same LSTM with its state reset
at every step (``memory=False``) learns to walk the corridor but can only
guess at the junction: half of its turns are wrong.

The corridor here is 20 cells long so that the example runs in seconds; the
figures for corridors of 50 and 100 cells are in :doc:`/rl`.
"""

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from sklstm.rl import EvolutionStrategy, LSTMPolicy, RecurrentPolicyGradient, evaluate
from sklstm.rl.envs import TMaze

corridor = 20


def make_env():
    return TMaze(corridor_length=corridor)


# %%
# Training
# --------
# Each iteration of the policy gradient plays 32 episodes side by side: the
# policy acts for all of them in one compiled step, then one backward pass
# through the packed episodes gives the gradient.
runs = {
    "LSTM, policy gradient": RecurrentPolicyGradient(
        LSTMPolicy((16,), forget_bias=3.0), n_iterations=400, n_envs=32,
        gamma=1.0, random_state=0),
    "LSTM without memory, policy gradient": RecurrentPolicyGradient(
        LSTMPolicy((16,), forget_bias=3.0, memory=False), n_iterations=400,
        n_envs=32, gamma=1.0, random_state=0),
    "LSTM, evolution strategy": EvolutionStrategy(
        LSTMPolicy((8,), forget_bias=3.0), n_iterations=120, n_episodes=16,
        random_state=0),
}
scores = {}
for name, est in runs.items():
    start = time.perf_counter()
    est.fit(make_env)
    elapsed = time.perf_counter() - start
    # 100 new episodes, acting by the most probable action
    scores[name] = evaluate(est.policy_, make_env, n_episodes=100, seed=1000)
    print(f"{name}: {elapsed:.1f} s, {scores[name]['success_rate']:.0%} right "
          f"turns, mean return {scores[name]['mean_return']:.2f}")

# %%
# The return per iteration
# ------------------------
# The return of the iteration's episodes (sampled actions for the policy
# gradient, so below the test score; the mean over the candidates of a
# generation for the evolution strategy). Without memory the policy learns to
# walk the corridor and then stalls at a coin flip at the junction: a mean
# return near 2 = (4 - 0.1) / 2.
fig, ax = plt.subplots(figsize=(7, 4))
for name, est in runs.items():
    returns = np.asarray(est.history_["mean_return"])
    label = f"{name} ({scores[name]['success_rate']:.0%} right turns)"
    ax.plot(np.arange(1, returns.size + 1), returns, label=label)
ax.axhline(4.0, color="grey", lw=0.8, ls="--")
ax.set_xlabel("iteration (generation for the evolution strategy)")
ax.set_ylabel("mean return")
ax.set_title(f"T-maze, corridor of {corridor}")
ax.legend(loc="lower right", fontsize=8)
fig.tight_layout()
plt.show()
