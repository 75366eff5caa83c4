"""Multi-step forecasts of the default ``LSTMRegressor`` on the shipped series.

Usage::

    python benchmarks/bench_multistep.py [--seeds 0 1 2] [--series airline taylor]
        [--param name=value ...] [--log] [--all-origins] [--n-jobs 1]

The measurement behind ``examples/plot_forecasting.py`` and
``docs/forecasting.rst``, with the same cuts and the same recipe:

- ``airline`` (:func:`sklstm.datasets.load_airline`, 144 months): windows of
  36 months, the next 12 as targets, one window starting at every month. The
  test windows are the 2 whose targets tile the last 24 months (1959 and
  1960; forecast origins December 1958 and December 1959); the 73 windows
  whose targets all come before 1959 train; the others are dropped (their
  targets straddle the cut, or lie in the test period between the origins).
- ``taylor`` (:func:`sklstm.datasets.load_taylor`, 4032 half-hours): windows
  of 336 half-hours (a week), the next 48 (a day) as targets. The test
  windows are the 14 whose targets tile the last two weeks (672 half-hours),
  one origin every 48 steps, at midnight; training windows start every 24
  steps, and those whose targets end before the test period train (125
  windows); the others are dropped.

Every model forecasts the *residual* over the seasonal-naive forecast (the
value one period, 12 months or 336 half-hours, before each target, read from
the window) from the window minus its last value, divided by the standard
deviation of the series before the test period; the forecast is the seasonal
naive one plus the predicted residual. Printed per series, the test MAE (in
the series' units, over every test window and every step of the horizon) of
``LSTMRegressor(random_state=seed)`` (plus any ``--param``) per seed, fitted
at one thread, with its fit time and epochs; of ``RidgeCV(alphas=np.logspace(-3,
9, 25))`` on the same flattened inputs and targets; and of the seasonal-naive
forecast itself. With ``--log`` the models see the logarithm of the series
(windows, targets and the seasonal-naive forecast), and their forecasts are
mapped back with ``exp`` before scoring: a multiplicative season, as airline's
grows with its level. With ``--all-origins`` the test windows are all those
whose targets lie in the test period, one forecast origin at every step (13
for airline, 625 for taylor), not only those that tile it.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from sklearn.linear_model import RidgeCV
from threadpoolctl import threadpool_limits

from sklstm.datasets import load_airline, load_taylor, make_windows

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import parse_params  # noqa: E402

# series: (loader, window, horizon, period, test length, train step, test step)
SETTINGS = {
    "airline": (load_airline, 36, 12, 12, 24, 1, 12),
    "taylor": (load_taylor, 336, 48, 336, 672, 24, 48),
}
RIDGE_ALPHAS = np.logspace(-3, 9, 25)


def cut(series, window, horizon, period, n_test, train_step, test_step):
    """Training and test windows, their targets, seasonal-naive forecasts and
    model inputs; no test target is in a training window or target."""
    X, y = make_windows(series, window=window, horizon=horizon)
    first_target = np.arange(len(X)) + window  # index of each window's 1st target
    test_start = len(series) - n_test
    train = (first_target + horizon <= test_start) & (np.arange(len(X)) % train_step
                                                      == 0)
    test = (first_target >= test_start) & ((first_target - test_start) % test_step
                                           == 0)
    scale = series[:test_start].std()
    lags = window - period + np.arange(horizon)  # the value one period earlier
    parts = {}
    for name, rows in (("train", train), ("test", test)):
        Xs, ys = X[rows], y[rows]
        naive = Xs[:, lags, 0]
        inputs = (Xs - Xs[:, -1:, :]) / scale
        parts[name] = (inputs, ys, naive)
    return parts


def mae(y_true, y_pred):
    return float(np.mean(np.abs(y_true - y_pred)))


def fit_lstm(name, seed, parts, params, log=False):
    from sklstm import LSTMRegressor

    (Z, y, naive), (Zt, yt, naive_t) = parts["train"], parts["test"]
    reg = LSTMRegressor(random_state=seed, **params)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        reg.fit(Z, y - naive)
        seconds = time.perf_counter() - start
        pred = naive_t + reg.predict(Zt)
    if log:
        yt, pred = np.exp(yt), np.exp(pred)
    return {"series": name, "seed": seed, "mae": mae(yt, pred), "fit_s": seconds,
            "n_iter": int(reg.n_iter_), "steps_per_frame": int(reg.steps_per_frame_)}


def baselines(parts, log=False):
    (Z, y, naive), (Zt, yt, naive_t) = parts["train"], parts["test"]
    ridge = RidgeCV(alphas=RIDGE_ALPHAS).fit(Z.reshape(len(Z), -1), y - naive)
    pred = naive_t + ridge.predict(Zt.reshape(len(Zt), -1))
    if log:
        yt, pred, naive_t = np.exp(yt), np.exp(pred), np.exp(naive_t)
    return {"ridge": mae(yt, pred), "ridge_alpha": float(ridge.alpha_),
            "naive": mae(yt, naive_t)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--series", nargs="+", default=list(SETTINGS),
                        choices=list(SETTINGS))
    parser.add_argument("--param", nargs="*", default=[],
                        help="estimator parameters, name=value (JSON values)")
    parser.add_argument("--log", action="store_true",
                        help="model the logarithm of the series")
    parser.add_argument("--all-origins", action="store_true",
                        help="test on a forecast from every step of the test period")
    parser.add_argument("--n-jobs", type=int, default=1,
                        help="LSTM fits in parallel processes, each at one thread")
    args = parser.parse_args(argv)
    params = parse_params(args.param)

    parts, info = {}, {}
    for name in args.series:
        loader, *setting = SETTINGS[name]
        if args.all_origins:
            setting[-1] = 1
        series = loader().data
        parts[name] = cut(np.log(series) if args.log else series, *setting)
        info[name] = baselines(parts[name], args.log)
    jobs = [(name, seed) for name in args.series for seed in args.seeds]
    runs = Parallel(n_jobs=args.n_jobs)(
        delayed(fit_lstm)(name, seed, parts[name], params, args.log)
        for name, seed in jobs)

    extra = "".join(f", {k}={v!r}" for k, v in params.items())
    print(f"test MAE; LSTMRegressor(random_state=seed{extra}), 1 thread; residual "
          "over the seasonal-naive forecast from (window - last value) / training "
          "std" + (", on the log of the series" if args.log else ""))
    header = (f"{'series':>8} {'window':>6} {'horizon':>7} {'train/test':>10} | "
              f"{'seed':>4} {'LSTM':>8} {'fit s':>6} {'epochs':>6} | "
              f"{'RidgeCV':>8} {'s-naive':>8}")
    print(header)
    print("-" * len(header))
    for name in args.series:
        _, window, horizon, *_ = SETTINGS[name]
        sizes = f"{len(parts[name]['train'][0])}/{len(parts[name]['test'][0])}"
        b = info[name]
        mine = [r for r in runs if r["series"] == name]
        for r in mine:
            print(f"{name:>8} {window:>6} {horizon:>7} {sizes:>10} | "
                  f"{r['seed']:>4} {r['mae']:8.1f} {r['fit_s']:6.1f} "
                  f"{r['n_iter']:>6} | {b['ridge']:8.1f} {b['naive']:8.1f}")
        err = [r["mae"] for r in mine]
        print(f"{'':>8} mean {np.mean(err):.1f} over seeds {args.seeds}; ridge alpha "
              f"{b['ridge_alpha']:g}; steps_per_frame_ {mine[0]['steps_per_frame']}")


if __name__ == "__main__":
    main()
