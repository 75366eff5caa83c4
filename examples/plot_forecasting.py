"""
=============================================================
Forecasting many steps ahead with LSTMRegressor
=============================================================

Two public series ship with sklstm: monthly airline passengers, 1949-1960
(:func:`sklstm.datasets.load_airline`), and half-hourly electricity demand in
England and Wales over twelve weeks of summer 2000
(:func:`sklstm.datasets.load_taylor`). We forecast airline 12 months ahead
from the last 36 months, tested on the last 24 months, and taylor 48
half-hours (a day) ahead from the last 336 (a week), tested on the last two
weeks. :func:`sklstm.datasets.make_windows` cuts each series into (window,
next ``horizon`` values) pairs, and one :class:`~sklstm.LSTMRegressor` with
``horizon`` outputs forecasts every step of the horizon at once.

The baselines are the seasonal-naive forecast (each value predicted by the
value one season earlier: 12 months for airline, a week, 336 half-hours, for
taylor) and :class:`~sklearn.linear_model.RidgeCV` on the same windows.
The regressor keeps its defaults (only ``random_state`` is set). What it
learns is the *residual* over the seasonal-naive forecast, from each window
minus its last value: the season comes for free, and inputs and targets are
changes rather than levels, which a trending series does not take far
outside the range seen in training.

Test MAE, in the series' units, over every forecast value
(``benchmarks/bench_multistep.py``, seeds 0, 1 and 2, one thread)::

    series   LSTMRegressor (seeds 0 / 1 / 2)   RidgeCV   seasonal naive
    airline  29.8 / 27.5 / 23.7                18.0      47.6
    taylor   440.7 / 442.1 / 434.0             601.4     513.9

The LSTM beats the seasonal-naive forecast on both series, with every seed.
On taylor it also beats the ridge, which with 336 × 48 weights and 125
training windows does worse than the seasonal-naive forecast itself; on
airline, with 73 short training windows, the ridge is better. The example
runs seed 0.
"""

# %%
# The data
# --------
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import RidgeCV

from sklstm import LSTMRegressor
from sklstm.datasets import load_airline, load_taylor, make_windows

airline, taylor = load_airline(), load_taylor()
for bunch in (airline, taylor):
    print(f"{len(bunch.data)} values, {bunch.frequency}, from {bunch.start} "
          f"(season {bunch.period}); {bunch.citation.split('(')[0].strip()}")

# %%
# Windows, and where the test starts
# ----------------------------------
# ``make_windows(series, window=w, horizon=h)`` gives one window starting at
# every step: inputs ``(n, w, 1)`` and targets ``(n, h)``. The test period is
# the end of the series (the last 24 months, the last 672 half-hours). No test
# value may be seen in training, so a window trains only when all its targets
# come before the test period; the windows whose targets straddle the cut are
# dropped. The test windows are those whose targets tile the test period, one
# forecast origin every ``horizon`` steps, so each test value is forecast
# once: 2 origins for airline (December 1958 and December 1959), 14 for taylor
# (every midnight of the last two weeks). A training window starts every
# month for airline (73 windows) and every 24 half-hours, at midnight and
# noon, for taylor (125 windows; one every step would give 24 times as many
# per epoch, each a half-hour from the next).


def forecast_windows(series, window, horizon, period, n_test, train_step):
    """Training and test windows of ``series``, as the models see them.

    Returns, for "train" and "test": the inputs (each window minus its last
    value, over the standard deviation of the series before the test
    period), the targets, and the seasonal-naive forecasts of the targets.
    """
    X, y = make_windows(series, window=window, horizon=horizon)
    first_target = np.arange(len(X)) + window  # where each window's targets start
    test_start = len(series) - n_test
    train = (first_target + horizon <= test_start) & (np.arange(len(X)) % train_step
                                                      == 0)
    test = (first_target >= test_start) & ((first_target - test_start) % horizon
                                           == 0)
    scale = series[:test_start].std()
    lags = window - period + np.arange(horizon)  # one season before each target
    parts = {}
    for name, rows in (("train", train), ("test", test)):
        naive = X[rows][:, lags, 0]
        inputs = (X[rows] - X[rows][:, -1:, :]) / scale
        parts[name] = inputs, y[rows], naive
    return parts


def mae(y_true, y_pred):
    return np.mean(np.abs(y_true - y_pred))


# %%
# The forecasts
# -------------
# Both models learn ``target - seasonal naive``, and their forecasts are the
# seasonal-naive forecast plus the predicted residual. The regressor reads
# the 36-month windows step by step; it reads the week-long taylor windows in
# frames of 6 half-hours (``steps_per_frame="auto"``: 56 frames), which keeps
# the recurrence short. Training stops at the default 200 epochs, hence the
# warning we silence.
settings = {"airline": (airline, 36, 12, 24, 1), "taylor": (taylor, 336, 48, 672, 24)}
results = {}
for name, (bunch, window, horizon, n_test, train_step) in settings.items():
    parts = forecast_windows(bunch.data, window, horizon, bunch.period, n_test,
                             train_step)
    (Z, y, naive), (Z_test, y_test, naive_test) = parts["train"], parts["test"]
    start = time.perf_counter()
    reg = LSTMRegressor(random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(Z, y - naive)
    seconds = time.perf_counter() - start
    ridge = RidgeCV(alphas=np.logspace(-3, 9, 25)).fit(Z.reshape(len(Z), -1),
                                                        y - naive)
    forecasts = {
        "LSTMRegressor": naive_test + reg.predict(Z_test),
        "RidgeCV": naive_test + ridge.predict(Z_test.reshape(len(Z_test), -1)),
        "seasonal naive": naive_test,
    }
    results[name] = bunch, n_test, y_test, forecasts
    print(f"{name}: {len(Z)} training and {len(Z_test)} test windows; LSTM fitted "
          f"in {seconds:.1f} s ({reg.n_iter_} epochs). Test MAE: "
          + ", ".join(f"{k} {mae(y_test, f):.1f}" for k, f in forecasts.items()))

# %%
# Forecast against truth
# ----------------------
# Each test window's forecast, concatenated: the two 12-month forecasts of
# airline (with the two years before them), and the last four of the fourteen
# one-day forecasts of taylor (the whole fortnight is too dense to read; the
# MAE in the legend is over all fourteen). The seasonal-naive forecast
# repeats last year's (or last week's) curve; the LSTM corrects it towards
# the truth, on airline mostly for the trend (each year is higher than the
# one before), on taylor for the changes of the level from one week to the
# next.
fig, axes = plt.subplots(2, 1, figsize=(10, 7))
colors = {"LSTMRegressor": "C0", "RidgeCV": "C2", "seasonal naive": "C1"}
shown = {"airline": 48, "taylor": 4 * 48}  # the steps plotted, at the end
for ax, (name, (bunch, n_test, y_test, forecasts)) in zip(axes, results.items()):
    n = shown[name]
    ax.plot(bunch.time[-n:], bunch.data[-n:], "k", lw=1.5, label="truth")
    for label, forecast in forecasts.items():
        ax.plot(bunch.time[-min(n, n_test):], forecast.ravel()[-n:], colors[label],
                lw=1, label=f"{label} (test MAE {mae(y_test, forecast):.0f})")
    if n > n_test:
        ax.axvline(bunch.time[-n_test], color="gray", ls="--", lw=0.8)
    ax.set_title(f"{name}: forecasts {y_test.shape[1]} steps ahead; the last "
                 f"{min(n, n_test)} of {n_test} test steps shown")
    ax.set_ylabel(bunch.units)
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + 0.2 * (high - low))  # room for the legend
    ax.legend(loc="upper left", fontsize="small", ncol=2)
fig.tight_layout()
plt.show()
