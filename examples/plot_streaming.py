"""
==========================================================
Streaming: a tagger that follows a signal frame by frame
==========================================================

A machine runs in one of three regimes (idle, running, overloaded), switching
now and then; a sensor reads a noisy value whose level depends on the regime.
A monitor must say at every reading which regime the machine is in, from the
readings so far: a framewise task for a unidirectional
:class:`~sklstm.LSTMTagger`, which labels each step from the steps up to it.

Once fitted, the tagger is fed one reading at a time through a
:class:`~sklstm.Stream` (``tagger.stream()``), which carries the LSTM's state
from one call to the next: each reading costs one step of the network, not
a pass over the whole recording. The streamed posteriors are those of the
batch ``predict_proba`` on the whole recording, step for step, to rounding
(see :doc:`/streaming`).
"""

# %%
# The task
# --------
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklstm import LSTMTagger

levels = np.array([-1.0, 0.0, 1.2])       # the sensor's level in each regime
names = ["idle", "running", "overloaded"]


def recordings(n, n_timesteps, rng):
    """Regimes that switch with probability 0.05 a step, and noisy readings."""
    X, y = [], []
    for _ in range(n):
        state = rng.integers(3)
        states = np.empty(n_timesteps, dtype=int)
        for t in range(n_timesteps):
            if rng.random() < 0.05:
                state = rng.integers(3)
            states[t] = state
        readings = levels[states] + rng.normal(scale=0.6, size=n_timesteps)
        X.append(readings[:, None])
        y.append(states)
    return X, y


rng = np.random.default_rng(0)
X_train, y_train = recordings(200, 100, rng)
X_test, y_test = recordings(50, 100, rng)

# %%
# Training a unidirectional tagger
# --------------------------------
# ``bidirectional=False``: a step's label may depend only on the readings up
# to it, which is what a monitor knows (a bidirectional model would also read
# the future, and cannot stream).
tagger = LSTMTagger(hidden_layer_sizes=(16,), bidirectional=False, max_iter=25,
                    random_state=0)
start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # 25 epochs: a budget
    tagger.fit(X_train, y_train)
print(f"fitted in {time.perf_counter() - start:.1f} s; frame accuracy on the test "
      f"recordings: {tagger.score(X_test, y_test):.3f}")

# %%
# Streaming one recording
# -----------------------
# Each ``push_proba`` takes one reading (a row per stream; here one stream)
# and returns the posteriors of the regimes at that step.
recording = X_test[0]
stream = tagger.stream()
start = time.perf_counter()
streamed = np.vstack([stream.push_proba(reading) for reading in recording])
per_step = (time.perf_counter() - start) / len(recording)
batch = tagger.predict_proba([recording])[0]
print(f"{len(recording)} readings streamed, {1e6 * per_step:.0f} µs a reading; "
      f"largest difference from the batch posteriors: "
      f"{np.abs(streamed - batch).max():.1e}")

# %%
# The plot
# --------
# Top: the readings and the true regime's level. Bottom: the streamed
# posteriors, with the batch ones drawn over them as dots (they coincide).
fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(8, 5.5))
steps = np.arange(len(recording))
top.plot(steps, recording[:, 0], color="0.6", lw=1, label="reading")
top.step(steps, levels[y_test[0]], where="mid", color="k", label="true regime")
top.set_ylabel("sensor")
top.legend(loc="upper right", fontsize="small")
for k, name in enumerate(names):
    line, = bottom.plot(steps, streamed[:, k], lw=1.5, label=f"P({name}), streamed")
    bottom.plot(steps[::4], batch[::4, k], "o", ms=3, color=line.get_color())
bottom.set_ylabel("posterior")
bottom.set_xlabel("step")
bottom.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3,
              fontsize="small")
top.set_title("Streamed posteriors (lines) equal the batch ones (dots)")
fig.tight_layout()
plt.show()
