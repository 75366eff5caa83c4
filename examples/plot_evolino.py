"""
=====================================================================
Evolino: superimposed sine waves without gradients
=====================================================================

Evolino (Schmidhuber, Wierstra, Gagliolo & Gomez, 2007, *Training recurrent
networks by Evolino*, Neural Computation 19(3)) trains an LSTM without
backpropagation: an evolution strategy proposes the recurrent weights, and
for each proposal the linear output layer is computed in closed form from
the hidden states. One of the paper's tasks is a sum of sine waves of
incommensurable frequencies, ``sin(0.2 t) + sin(0.311 t)``: a signal that
never repeats exactly, which the network must continue.

Here the network reads the signal and predicts its next value at every step
(:class:`~sklstm.LSTMSequenceRegressor`, one direction, 10 units), trained on
the first 400 steps. ``solver="evolino"`` evolves its 480 recurrent weights
with sep-CMA-ES (22 candidates a generation, 300 generations), each
candidate's output layer the ridge regression of the next values on the
hidden states of all 400 steps; the same network trained with
``solver="adam"`` (3000 epochs, the same weights to start from) stands
beside it. Both predict steps 401-700, unseen, one step ahead, after a
washout of the 100 steps before them.

Measured on two cores (seed 0): the normalised root mean squared error
(RMSE over the standard deviation of the signal) of the 300 test steps is
0.0029 for Evolino (2.0 s of training) and 0.0051 for Adam (1.7 s; the
whole example runs in 7 s).

**The paper's figure.** The paper measures this task by the error of the
network *running free*: after a washout in which it is fed the true signal,
its own output becomes its next input. The copies of the paper that this
example's author could reach hold its first page only, so its figure is not
quoted here (see the paper's table of superimposed sine waves). The last
section runs both networks free in the same way, from a washout of steps
300-399: over the next 300 steps their NRMSE is 0.48 (Evolino) and 0.083
(Adam). Trained one step ahead, on the true signal as input, Evolino's
network drifts from the signal within two periods when it reads its own
outputs: its fitness, the one-step training error, does not select for
running free (a fitness that does would feed every candidate's outputs back
step by step, which the estimator's one forward pass per candidate does
not).
"""

# %%
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklstm import LSTMSequenceRegressor

t = np.arange(701)
signal = np.sin(0.2 * t) + np.sin(0.311 * t)

# one training sequence: the signal at steps 0-399, and at 1-400 as targets
X_train, y_train = [signal[:400, None]], [signal[1:401]]
# the test: steps 300-699 read, the predictions of steps 401-700 scored
X_test, y_test = [signal[300:700, None]], signal[401:701]


def nrmse(pred, truth):
    return np.sqrt(np.mean((pred - truth) ** 2)) / np.std(truth)


# %%
# Training
# --------
# The same network for both solvers; ``tol=0`` and a long patience let both
# use their whole budget (the training loss here ends near 1e-5, below the
# default ``tol``). ``alpha`` is the ridge penalty of Evolino's output layer
# and the L2 penalty of Adam's weights.
common = dict(hidden_layer_sizes=(10,), bidirectional=False, random_state=0,
              tol=0.0, n_iter_no_change=50)
models = {
    "Evolino": LSTMSequenceRegressor(solver="evolino", max_iter=300, sigma=0.1,
                                     alpha=1e-6, **common),
    "Adam": LSTMSequenceRegressor(solver="adam", max_iter=3000, **common),
}
predictions = {}
for name, model in models.items():
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    predictions[name] = model.predict(X_test)[0][100:]
    print(f"{name:8s} {seconds:5.1f} s, test NRMSE "
          f"{nrmse(predictions[name], y_test):.4f}")

# %%
# Prediction against truth
# ------------------------
# Over the 300 test steps the predictions lie on the signal at this scale;
# the lower panel shows their errors, Evolino's about half of Adam's.
fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
steps = t[401:701]
top.plot(steps, y_test, color="k", lw=2.5, alpha=0.3, label="truth")
for name, pred in predictions.items():
    top.plot(steps, pred, lw=1, label=name)
    bottom.plot(steps, pred - y_test, lw=1,
                label=f"{name} (NRMSE {nrmse(pred, y_test):.4f})")
top.set_ylabel("sin(0.2 t) + sin(0.311 t)")
top.legend(loc="upper right")
bottom.axhline(0, color="k", lw=0.5)
bottom.set_xlabel("step t (unseen in training)")
bottom.set_ylabel("prediction - truth")
bottom.legend(loc="upper right")
fig.tight_layout()

# %%
# The evolution
# -------------
# ``loss_curve_`` holds the training loss of each generation's best
# candidate (half the mean squared error, in standardised units): no
# gradient was taken, yet it falls from 3.5e-3 to 1.2e-5.
fig, ax = plt.subplots(figsize=(6, 3))
ax.semilogy(models["Evolino"].loss_curve_)
ax.set_xlabel("generation")
ax.set_ylabel("training loss of the best candidate")
fig.tight_layout()

# %%
# Running free
# ------------
# As the paper does: a stream (:meth:`~sklstm.LSTMSequenceRegressor.stream`)
# reads the true signal for a washout of 100 steps, then each prediction is
# fed back as the next input.


def run_free(model, washout, n_steps):
    stream = model.stream()
    for value in washout:
        prediction = stream.push([[value]])
    generated = []
    for _ in range(n_steps):
        generated.append(float(prediction[0]))
        prediction = stream.push([[generated[-1]]])
    return np.array(generated)


truth = signal[400:700]
fig, ax = plt.subplots(figsize=(8, 3))
ax.plot(t[400:700], truth, color="k", lw=2.5, alpha=0.3, label="truth")
for name, model in models.items():
    generated = run_free(model, signal[300:400], 300)
    print(f"{name:8s} free-running NRMSE over 300 steps "
          f"{nrmse(generated, truth):.3f}")
    ax.plot(t[400:700], generated, lw=1, label=f"{name}, running free")
ax.set_xlabel("step t")
ax.legend(loc="upper right")
fig.tight_layout()
plt.show()
