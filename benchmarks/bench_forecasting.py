"""One-step-ahead forecasts of the default ``LSTMRegressor`` on real series.

Usage::

    python benchmarks/bench_forecasting.py FILE [--seeds 0 1 2]
        [--series airline sunspots_yearly taylor] [--param name=value ...]
        [--windows raw|prescale|last] [--n-jobs 1]

``FILE`` is an ``.npz`` of univariate series (the project's shared
``forecasting_series.npz``; its data stays outside the package), one float
array per key, plus a ``meta`` key: a JSON string mapping each series to its
``freq``, ``start`` and ``source``, printed with the results.

Each series is cut with :func:`sklstm.datasets.make_windows` into windows of
``window`` past steps and the next value (horizon 1, step 1): 24 steps for
``airline`` (monthly), 20 for ``sunspots_yearly`` and 96 for ``taylor``
(half-hourly, two days). The windows stay in time order: the first 80 % train,
the last 20 % test (their inputs overlap the training targets, as in any
rolling one-step forecast). By default the models see the raw windows (the
regressor standardises its inputs and targets itself); ``--windows prescale``
standardises the series with the mean and standard deviation of the values
the training windows cover, and ``--windows last`` gives the LSTM and the
ridge each window and its target minus the window's last value (they learn
the change, which lets them follow a trend beyond the training range), and
``--windows window`` standardises each window and its target by the
window's own mean and standard deviation. ``--validate`` scores on the last
20 % of the training windows instead of the test windows, for choosing.
Every RMSE is in the series' own units.

Printed per series, test RMSE of:

- ``LSTMRegressor(random_state=seed)`` (plus any ``--param``), fitted once per
  seed at one thread: the mean and (min-max) over the seeds, with the mean fit
  time and epochs;
- ``RidgeCV(alphas=np.logspace(-3, 9, 25))`` on the flattened windows;
- the seasonal-naive forecast: the value ``period`` steps before the target,
  read from the window, with period 12 (airline), 1 (sunspots_yearly: the last
  value) and 48 (taylor: the same half-hour the day before);
- the mean predictor: the mean of the training targets.
"""

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from sklearn.linear_model import RidgeCV
from threadpoolctl import threadpool_limits

from sklstm.datasets import make_windows

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import parse_params  # noqa: E402

# series: (window, seasonal period)
SETTINGS = {"airline": (24, 12), "sunspots_yearly": (20, 1), "taylor": (96, 48)}
TEST_FRACTION = 0.2
RIDGE_ALPHAS = np.logspace(-3, 9, 25)


def rmse(y_true, y_pred):
    return float(np.sqrt(np.mean((np.asarray(y_true) - np.asarray(y_pred)) ** 2)))


def split_windows(series, window, validate=False):
    """Train and test windows of one series, in time order, and the scaling;
    with ``validate``, the training windows alone, split the same way (the
    last 20 % of them play the test set: for choosing)."""
    X, y = make_windows(series, window=window)
    if validate:
        n_test = int(np.ceil(TEST_FRACTION * len(X)))
        X, y = X[:-n_test], y[:-n_test]
        series = series[: len(X) + window]
    n_test = int(np.ceil(TEST_FRACTION * len(X)))
    n_train = len(X) - n_test
    covered = series[: n_train + window]  # every value the training windows hold
    return (X[:n_train], y[:n_train], X[n_train:], y[n_train:],
            float(covered.mean()), float(covered.std()))


def to_model(X, y, data, mode):
    """Windows (and targets) as the models see them under ``mode``."""
    center, scale = data[4], data[5]
    if mode == "last":  # relative to each window's last value: changes
        ref = X[:, -1:, :]
        return X - ref, None if y is None else y - ref[:, 0, 0]
    if mode == "lastscale":  # changes from the last value, in units of the window's std
        ref, sd = X[:, -1:, :], X.std(axis=1, keepdims=True) + 1e-12
        return (X - ref) / sd, None if y is None else (y - ref[:, 0, 0]) / sd[:, 0, 0]
    if mode == "window":  # each window standardised by its own mean and std
        m, sd = X.mean(axis=1, keepdims=True), X.std(axis=1, keepdims=True) + 1e-12
        return (X - m) / sd, None if y is None else (y - m[:, 0, 0]) / sd[:, 0, 0]
    return (X - center) / scale, None if y is None else (y - center) / scale


def from_model(pred, X, data, mode):
    """Predictions back in the series' units."""
    center, scale = data[4], data[5]
    if mode == "last":
        return pred + X[:, -1, 0]
    if mode == "lastscale":
        return pred * (X.std(axis=1)[:, 0] + 1e-12) + X[:, -1, 0]
    if mode == "window":
        return pred * (X.std(axis=1)[:, 0] + 1e-12) + X.mean(axis=1)[:, 0]
    return pred * scale + center


def fit_lstm(name, seed, data, params, mode):
    from sklstm import LSTMRegressor

    X_train, y_train, X_test, y_test = data[:4]
    reg = LSTMRegressor(random_state=seed, **params)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        reg.fit(*to_model(X_train, y_train, data, mode))
        seconds = time.perf_counter() - start
        pred = from_model(reg.predict(to_model(X_test, None, data, mode)[0]), X_test,
                          data, mode)
    return {"series": name, "seed": seed, "rmse": rmse(y_test, pred),
            "fit_s": seconds, "n_iter": int(reg.n_iter_)}


def baselines(data, period, mode):
    X_train, y_train, X_test, y_test = data[:4]
    Xm, ym = to_model(X_train, y_train, data, mode)
    ridge = RidgeCV(alphas=RIDGE_ALPHAS).fit(Xm.reshape(len(Xm), -1), ym)
    Xt = to_model(X_test, None, data, mode)[0]
    ridge_pred = from_model(ridge.predict(Xt.reshape(len(Xt), -1)), X_test, data, mode)
    window = X_test.shape[1]
    naive = X_test[:, window - period, 0]  # the value `period` steps before
    return {"ridge": rmse(y_test, ridge_pred), "ridge_alpha": float(ridge.alpha_),
            "naive": rmse(y_test, naive),
            "mean": rmse(y_test, np.full(len(y_test), y_train.mean()))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file", metavar="FILE")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--series", nargs="+", default=list(SETTINGS),
                        choices=list(SETTINGS))
    parser.add_argument("--param", nargs="*", default=[],
                        help="estimator parameters, name=value (JSON values)")
    parser.add_argument("--windows",
                        choices=["raw", "prescale", "last", "lastscale", "window"],
                        default="raw",
                        help="what the LSTM and the ridge see: the raw windows, "
                             "windows standardised by the training part, or "
                             "windows and targets minus each window's last value")
    parser.add_argument("--validate", action="store_true",
                        help="score on the last 20 %% of the training windows "
                             "instead of the test windows (for choosing)")
    parser.add_argument("--n-jobs", type=int, default=1,
                        help="LSTM fits in parallel processes, each at one thread")
    args = parser.parse_args(argv)
    params = parse_params(args.param)

    with np.load(args.file, allow_pickle=False) as f:
        missing = [name for name in args.series if name not in f.files]
        if missing:
            parser.error(f"{args.file} lacks {missing}; it holds {f.files}")
        meta = json.loads(str(f["meta"])) if "meta" in f.files else {}
        series = {name: np.asarray(f[name]) for name in args.series}

    data, info = {}, {}
    for name in args.series:
        window, period = SETTINGS[name]
        s = series[name]
        if s.ndim != 1:
            parser.error(f"{name} is not univariate: shape {s.shape}")
        data[name] = split_windows(s, window, args.validate)
        if args.windows == "raw":
            data[name] = data[name][:4] + (0.0, 1.0)
        info[name] = baselines(data[name], period, args.windows)
        m = meta.get(name, {})
        print(f"{name}: {len(s)} values, {m.get('freq', '?')} from "
              f"{m.get('start', '?')}; source: {m.get('source', '?')}")

    jobs = [(name, seed) for name in args.series for seed in args.seeds]
    runs = Parallel(n_jobs=args.n_jobs)(
        delayed(fit_lstm)(name, seed, data[name], params, args.windows)
        for name, seed in jobs)
    report(args, params, data, info, runs)


def report(args, params, data, info, runs):
    extra = "".join(f", {k}={v!r}" for k, v in params.items())
    print()
    print(f"test RMSE, one step ahead, last {TEST_FRACTION:.0%} of windows; "
          f"LSTMRegressor(random_state=seed{extra}) seeds {args.seeds}, 1 thread; "
          f"RidgeCV(alphas=np.logspace(-3, 9, 25)) on the flattened windows; "
          + {"raw": "raw windows",
             "prescale": "windows standardised by the training part",
             "last": "windows and targets relative to each window's last value",
             "lastscale": "windows and targets relative to each window's last "
                          "value, in units of the window's standard deviation",
             "window": "windows and targets standardised by each window"}[
                 args.windows])
    header = (f"{'series':>16} {'window':>6} {'train/test':>10} | "
              f"{'LSTM mean':>10} {'(min-max)':>21} | {'RidgeCV':>9} "
              f"{'s-naive':>9} {'mean':>9} | {'fit s':>6} {'epochs':>6}")
    print(header)
    print("-" * len(header))
    for name in args.series:
        X_train, _, X_test, *_ = data[name]
        mine = [r for r in runs if r["series"] == name]
        err = np.array([r["rmse"] for r in mine])
        b = info[name]
        period = SETTINGS[name][1]
        spread = f"({err.min():.4g}-{err.max():.4g})"
        sizes = f"{len(X_train)}/{len(X_test)}"
        print(f"{name:>16} {X_train.shape[1]:>6} {sizes:>10} | "
              f"{err.mean():10.4g} {spread:>21} | {b['ridge']:9.4g} "
              f"{b['naive']:9.4g} {b['mean']:9.4g} | "
              f"{np.mean([r['fit_s'] for r in mine]):6.1f} "
              f"{np.mean([r['n_iter'] for r in mine]):6.0f}")
        print(f"{'':>16} seasonal period {period}, ridge alpha {b['ridge_alpha']:g}")


if __name__ == "__main__":
    main()
