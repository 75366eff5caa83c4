"""Test accuracy of the default ``LSTMClassifier`` on a folder of data sets.

Usage::

    python benchmarks/bench_accuracy.py FOLDER [--seeds 0 1 2] [--sets A B]
        [--affine 100 50] [--param name=value ...] [--n-jobs 2] [--json OUT]

``FOLDER`` holds one ``.npz`` file per data set (the UCR development suite
of the project's shared data is one such folder; its data stays outside the
package) and, optionally, ``reference.json``. Each ``.npz`` is read with
``allow_pickle=False`` and holds:

==========================  =========================  =================================
key                         dtype / shape              meaning
==========================  =========================  =================================
``X_train``, ``X_test``     float ``(n, T_max, d)``    series, right-padded past lengths
``len_train``, ``len_test`` int ``(n,)``               true lengths (default: T_max)
``y_train``, ``y_test``     any ``(n,)``               class labels
==========================  =========================  =================================

``reference.json``, when present, maps ``sets.<name>`` to published figures:
``one_nn_ed``, ``one_nn_dtw_full`` (lists of ``{"value", "source"}``; the
entry whose source is ``UCR18`` is shown where there are several) and
``best_deep`` (``{"value", "model"}``).

For each set, the default classifier (only ``random_state`` set, plus any
``--param``) is fitted on the training split once per seed, at one thread,
and scored on the test split. Printed per set: the mean and spread (min-max)
of the test accuracy over the seeds beside 1-NN ED, 1-NN DTW (full window)
and the best deep figure, and the mean fit time; then a summary: on how many
sets the mean is at or above 1-NN ED and 1-NN DTW, the mean accuracy, and the
total fit time of one seed. ``--affine a b`` maps every series to
``a * x + b`` first (raw sensor units). ``--n-jobs`` runs fits in parallel
processes, each at one thread (the fit times then include the other fits'
contention).

``--json OUT`` also writes the table as JSON: ``sets`` (one entry per set:
``mean``, ``min``, ``max``, ``one_nn_ed``, ``one_nn_dtw``, ``best_deep``,
``fit_s``, ``epochs``; ``null`` where a figure is missing), ``summary``, the
individual ``runs``, the command line, the versions and the machine. The
gallery's accuracy chart reads ``docs/results/ucr_accuracy.json``, made by::

    python benchmarks/bench_accuracy.py FOLDER --n-jobs 2 \
        --json docs/results/ucr_accuracy.json
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits


def load_set(path):
    """``(X_train, y_train, X_test, y_test)`` of one ``.npz``, X as lists."""
    d = np.load(path, allow_pickle=False)

    def as_list(X, lengths):
        return [np.ascontiguousarray(X[i, : lengths[i]]) for i in range(len(X))]

    out = []
    for split in ("train", "test"):
        X = d[f"X_{split}"]
        if X.ndim == 2:
            X = X[:, :, None]
        key = f"len_{split}"
        lengths = d[key] if key in d else np.full(len(X), X.shape[1])
        out += [as_list(X, lengths), d[f"y_{split}"]]
    return tuple(out)


def reference_figures(folder, name):
    """``{"ed": .., "dtw": .., "deep": ..}`` from ``reference.json`` (or NaN)."""
    path = Path(folder) / "reference.json"
    figures = {"ed": np.nan, "dtw": np.nan, "deep": np.nan}
    if not path.exists():
        return figures
    entry = json.loads(path.read_text()).get("sets", {}).get(name, {})

    def pick(values):
        if not values:
            return np.nan
        for v in values:
            if v.get("source") == "UCR18":
                return v["value"]
        return values[0]["value"]

    figures["ed"] = pick(entry.get("one_nn_ed"))
    figures["dtw"] = pick(entry.get("one_nn_dtw_full"))
    figures["deep"] = (entry.get("best_deep") or {}).get("value", np.nan)
    return figures


def parse_params(pairs):
    params = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
        if isinstance(params[key], list):
            params[key] = tuple(params[key])
    return params


def apply_patches(patches):
    """Set private module constants, ``module.NAME=value``: for experiments."""
    import importlib

    for key, value in patches.items():
        module, _, name = key.rpartition(".")
        setattr(importlib.import_module(module), name, value)


def cv_split(X, y, n_splits, fold, seed):
    """Fold ``fold`` of a stratified ``n_splits``-fold split of a training set
    (plain shuffled folds where a class is smaller than ``n_splits``)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    _, counts = np.unique(y, return_counts=True)
    cv = (StratifiedKFold if counts.min() >= n_splits else KFold)(
        n_splits, shuffle=True, random_state=seed)
    train, test = list(cv.split(np.zeros(len(y)), y))[fold]
    return ([X[i] for i in train], y[train], [X[i] for i in test], y[test])


def fit_and_score(path, seed, affine, params, patches=None, cv=None):
    from sklstm import LSTMClassifier

    apply_patches(patches or {})

    X_train, y_train, X_test, y_test = load_set(path)
    if cv is not None:  # (n_splits, fold): score inside the training split
        X_train, y_train, X_test, y_test = cv_split(X_train, y_train, *cv, seed)
    if affine is not None:
        a, b = affine
        X_train = [a * x + b for x in X_train]
        X_test = [a * x + b for x in X_test]
    clf = LSTMClassifier(random_state=seed, **params)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        clf.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        accuracy = clf.score(X_test, y_test)
    return {"set": Path(path).stem, "seed": seed, "accuracy": float(accuracy),
            "fit_s": seconds, "n_iter": int(clf.n_iter_)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sets", nargs="+", default=None)
    parser.add_argument("--affine", type=float, nargs=2, default=None)
    parser.add_argument("--param", nargs="*", default=[],
                        help="estimator parameters, name=value (JSON values)")
    parser.add_argument("--patch", nargs="*", default=[],
                        help="module.NAME=value: private constants, for experiments")
    parser.add_argument("--cv", type=int, default=None, metavar="K",
                        help="score by K-fold cross-validation inside each training "
                             "split instead of on the test split (for choosing)")
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--json", default=None,
                        help="also write the table and the runs here, as JSON")
    args = parser.parse_args(argv)

    paths = sorted(Path(args.folder).glob("*.npz"))
    if args.sets:
        paths = [p for p in paths if p.stem in args.sets]
    if not paths:
        parser.error(f"no .npz data sets in {args.folder}")
    params = parse_params(args.param)
    # the longest sets first, so that parallel runs finish together
    sizes = {p: np.load(p)["X_train"].size for p in paths}
    folds = [None] if args.cv is None else [(args.cv, f) for f in range(args.cv)]
    jobs = [(p, s, f) for p in sorted(paths, key=sizes.get, reverse=True)
            for s in args.seeds for f in folds]
    runs = Parallel(n_jobs=args.n_jobs)(
        delayed(fit_and_score)(p, s, args.affine, params, parse_params(args.patch), f)
        for p, s, f in jobs)
    if args.cv is not None:  # one figure per seed: the mean over the folds
        runs = [{"set": r["set"], "seed": r["seed"],
                 **{k: np.mean([q[k] for q in runs
                                if (q["set"], q["seed"]) == (r["set"], r["seed"])])
                    for k in ("accuracy", "fit_s", "n_iter")}}
                for r in runs[:: args.cv]]
    rows, summary = table(args, paths, runs)
    if args.json:
        write_json(args.json, args, params, rows, summary, runs, argv)
    report(args, params, rows, summary)


def table(args, paths, runs):
    """One row per set (mean, min, max, reference figures, fit time, epochs)
    and the summary over the sets."""
    rows = []
    for path in paths:
        name = path.stem
        mine = [r for r in runs if r["set"] == name]
        acc = np.array([r["accuracy"] for r in mine])
        ref = reference_figures(args.folder, name)
        rows.append({
            "set": name, "mean": float(acc.mean()), "min": float(acc.min()),
            "max": float(acc.max()), "one_nn_ed": float(ref["ed"]),
            "one_nn_dtw": float(ref["dtw"]), "best_deep": float(ref["deep"]),
            "fit_s": float(np.mean([r["fit_s"] for r in mine])),
            "epochs": float(np.mean([r["n_iter"] for r in mine]))})
    summary = {
        "n_sets": len(rows),
        # NaN (no reference) compares False: such a set counts as not reached
        "at_or_above_one_nn_ed": sum(r["mean"] >= r["one_nn_ed"] - 1e-9 for r in rows),
        "at_or_above_one_nn_dtw": sum(
            r["mean"] >= r["one_nn_dtw"] - 1e-9 for r in rows),
        "mean_accuracy": float(np.mean([r["mean"] for r in rows])),
        "fit_s_one_seed": float(sum(r["fit_s"] for r in rows)),
    }
    return rows, summary


def cpu_name():
    """The CPU's model name where the system says it (Linux), else its
    architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.machine()


def write_json(out, args, params, rows, summary, runs, argv):
    """The table, the runs and where they were measured, as JSON (NaN as null)."""
    import sklearn

    import sklstm

    def clean(value):
        if isinstance(value, float) and not np.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, np.generic):
            return clean(value.item())
        return value

    argv = sys.argv[1:] if argv is None else list(argv)
    argv = ["FOLDER" if a == args.folder else a for a in argv]  # no machine paths
    document = {
        "benchmark": "benchmarks/bench_accuracy.py",
        "command": shlex.join(["python", "benchmarks/bench_accuracy.py", *argv]),
        "estimator": "LSTMClassifier(random_state=seed"
                     + "".join(f", {k}={v!r}" for k, v in params.items()) + ")",
        "seeds": list(args.seeds),
        "scored_on": (f"{args.cv}-fold cross-validation inside the training splits"
                      if args.cv else "test split"),
        "affine": args.affine,
        "date": datetime.date.today().isoformat(),
        "measured_on": {"cpu": cpu_name(), "n_cpus": os.cpu_count(),
                        "system": platform.system(), "n_jobs": args.n_jobs,
                        "threads_per_fit": 1},
        "versions": {"sklstm": sklstm.__version__, "numpy": np.__version__,
                     "scikit-learn": sklearn.__version__,
                     "python": platform.python_version()},
        "sets": rows,
        "summary": summary,
        "runs": runs,
    }
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(clean(document), indent=1) + "\n")


def report(args, params, rows, summary):
    extra = "".join(f", {k}={v!r}" for k, v in params.items())
    print(f"LSTMClassifier(random_state=seed{extra}) seeds {args.seeds}"
          + (f", series mapped to {args.affine[0]:g} x + {args.affine[1]:g}"
             if args.affine else "")
          + (f"; {args.cv}-fold cross-validation accuracy inside the training splits"
             if args.cv else "; test accuracy"))
    header = (f"{'set':>28} | {'mean':>6} {'min':>6} {'max':>6} | {'1NN-ED':>6} "
              f"{'1NN-DTW':>7} {'deep':>6} | {'fit s':>6} {'epochs':>6}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['set']:>28} | {r['mean']:6.3f} {r['min']:6.3f} {r['max']:6.3f} | "
              f"{r['one_nn_ed']:6.3f} {r['one_nn_dtw']:7.3f} {r['best_deep']:6.3f} | "
              f"{r['fit_s']:6.1f} {r['epochs']:6.0f}")
    print("-" * len(header))
    n = summary["n_sets"]
    versus = ("" if args.cv else
              f"at or above 1-NN ED on {summary['at_or_above_one_nn_ed']} of {n}, "
              f"at or above 1-NN DTW on {summary['at_or_above_one_nn_dtw']} of {n}; ")
    # (the published figures are on the test splits)
    print(f"{versus}mean accuracy {summary['mean_accuracy']:.3f}; fit time of one "
          f"{'fold' if args.cv else 'seed'} {summary['fit_s_one_seed']:.0f} s "
          "(1 thread)")


if __name__ == "__main__":
    main()
