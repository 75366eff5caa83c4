"""CTC label error rate on lines of real UCR series, beside a segmented classifier.

Usage::

    python benchmarks/bench_ctc_ucr.py FOLDER [--sets CBF ECG5000 Chinatown]
        [--seeds 0] [--n-train 2000] [--n-test 500] [--min-series 2]
        [--max-series 5] [--param-ctc name=value ...] [--param-clf name=value ...]
        [--json OUT]

``FOLDER`` holds one ``.npz`` file per data set, in the format read by
``benchmarks/bench_accuracy.py`` (the UCR development suite of the project's
shared data is one such folder).

The task is built the way :func:`sklstm.datasets.make_digit_strings` builds
one from digit images, but from real recordings: each line is
``--min-series`` to ``--max-series`` (uniform) series of one set, drawn
uniformly with replacement from one split and concatenated along time, with
no gap between them; its label sequence is their classes in order (a string
when every class label is a single character, a list of the labels
otherwise). Training lines come from the training split and test lines from
the test split only, so no test line holds a training series. The features
are left in the units the files store them in: nothing is scaled here (the
UCR sets are z-normalised per series or raw, as ``meta["z_normalised"]``
says; Chinatown is raw).

For each set and seed (the seed draws the lines and is the ``random_state``
of both models), at one thread:

- the default ``CTCSequenceLabeler(random_state=seed)`` (plus any
  ``--param-ctc``) is fitted on the training lines and its label error rate
  (:func:`sklstm.metrics.label_error_rate`) is measured on the test lines;
- the default ``LSTMClassifier(random_state=seed)`` (plus any
  ``--param-clf``) is fitted on the training split itself (the original
  series with their classes) and applied to every constituent series of the
  test lines, the true boundaries given; its error is the fraction of those
  constituents it misclassifies (a series that occurs in several lines counts
  each time, so both figures weigh the same test series alike).

Printed per run: both errors, the error of always predicting the most
frequent training class (for scale), the target ``LER <= 1.5 * classifier
error + 0.02`` and whether it is met, the fit times and epochs; then, per
set, the means over the seeds with the target checked on the means.
"""

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import load_set, parse_params  # noqa: E402

from sklstm import CTCSequenceLabeler, LSTMClassifier  # noqa: E402
from sklstm.metrics import label_error_rate  # noqa: E402

DEFAULT_SETS = ["CBF", "ECG5000", "Chinatown"]


def target(clf_error):
    """The labeller's LER must be at most this."""
    return 1.5 * clf_error + 0.02


def make_lines(X, y, n_lines, min_series, max_series, rng, as_str):
    """Concatenate 2..5 series of ``X`` per line; labels are their classes.

    Returns the lines, their label sequences and, per line, the indices into
    ``X`` of its series (the true segmentation).
    """
    lines, labels, sources = [], [], []
    for _ in range(n_lines):
        n = rng.randint(min_series, max_series + 1)
        idx = rng.randint(0, len(X), size=n)
        lines.append(np.concatenate([X[i] for i in idx], axis=0))
        classes = [y[i] for i in idx]
        labels.append("".join(classes) if as_str else classes)
        sources.append(idx)
    return lines, labels, sources


def run_one(path, seed, args, ctc_params, clf_params):
    X_train, y_train, X_test, y_test = load_set(path)
    y_train_list, y_test_list = y_train.tolist(), y_test.tolist()
    as_str = all(isinstance(c, str) and len(c) == 1
                 for c in y_train_list + y_test_list)
    rng = np.random.RandomState(seed)
    L_train, Y_train, _ = make_lines(X_train, y_train_list, args.n_train,
                                     args.min_series, args.max_series, rng, as_str)
    L_test, Y_test, S_test = make_lines(X_test, y_test_list, args.n_test,
                                        args.min_series, args.max_series, rng, as_str)
    constituents = np.concatenate(S_test)

    ctc = CTCSequenceLabeler(random_state=seed, **ctc_params)
    clf = LSTMClassifier(random_state=seed, **clf_params)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        ctc.fit(L_train, Y_train)
        ctc_fit_s = time.perf_counter() - start
        start = time.perf_counter()
        decoded = ctc.predict(L_test)
        ctc_predict_s = time.perf_counter() - start
        ler = label_error_rate([list(t) for t in Y_test], [list(p) for p in decoded])

        start = time.perf_counter()
        clf.fit(X_train, y_train)
        clf_fit_s = time.perf_counter() - start
        # each distinct test series once, then counted as often as it occurs
        used = np.unique(constituents)
        start = time.perf_counter()
        pred = dict(zip(used.tolist(), clf.predict([X_test[i] for i in used])))
        clf_predict_s = time.perf_counter() - start
    wrong = [pred[i] != y_test[i] for i in constituents.tolist()]
    clf_error = float(np.mean(wrong))
    classes, counts = np.unique(y_train, return_counts=True)
    majority = classes[np.argmax(counts)]
    majority_error = float(np.mean(y_test[constituents] != majority))
    return {
        "set": Path(path).stem, "seed": seed, "ler": float(ler),
        "clf_error": clf_error, "majority_error": majority_error,
        "target": target(clf_error), "met": bool(ler <= target(clf_error)),
        "ctc_fit_s": ctc_fit_s, "clf_fit_s": clf_fit_s,
        "ctc_predict_s": ctc_predict_s, "clf_predict_s": clf_predict_s,
        "ctc_n_iter": int(ctc.n_iter_), "clf_n_iter": int(clf.n_iter_),
        "n_train_lines": len(L_train), "n_test_lines": len(L_test),
        "n_test_series": int(len(constituents)),
        "n_train_frames": int(sum(len(x) for x in L_train)),
        "labels_as": "str" if as_str else "list",
    }


def _params_text(params):
    return "".join(f", {k}={v!r}" for k, v in params.items())


def report(args, names, runs, ctc_params, clf_params):
    print(f"CTCSequenceLabeler(random_state=seed{_params_text(ctc_params)}) vs "
          f"LSTMClassifier(random_state=seed{_params_text(clf_params)}); "
          f"seeds {args.seeds}; {args.n_train} training / {args.n_test} test lines "
          f"of {args.min_series}-{args.max_series} series; raw units; 1 thread")
    print("target: labeller LER <= 1.5 * classifier error + 0.02")
    header = (f"{'set':>12} {'seed':>4} | {'LER':>6} {'clf err':>7} {'major':>6} "
              f"{'target':>6} {'met':>3} | {'ctc fit s':>9} {'ep':>4} "
              f"{'clf fit s':>9} {'ep':>4}")
    print(header)
    print("-" * len(header))
    for r in runs:
        print(f"{r['set']:>12} {r['seed']:>4} | {r['ler']:6.3f} {r['clf_error']:7.3f} "
              f"{r['majority_error']:6.3f} {r['target']:6.3f} "
              f"{'yes' if r['met'] else 'no':>3} | {r['ctc_fit_s']:9.1f} "
              f"{r['ctc_n_iter']:4d} {r['clf_fit_s']:9.1f} {r['clf_n_iter']:4d}")
    print("-" * len(header))
    n_met = 0
    for name in names:
        mine = [r for r in runs if r["set"] == name]
        ler = np.mean([r["ler"] for r in mine])
        err = np.mean([r["clf_error"] for r in mine])
        met = ler <= target(err)
        n_met += met
        print(f"{name:>12} mean | LER {ler:.3f}  classifier error {err:.3f}  "
              f"target {target(err):.3f}  {'met' if met else 'NOT met'} | fit s: "
              f"ctc {np.mean([r['ctc_fit_s'] for r in mine]):.1f}, "
              f"clf {np.mean([r['clf_fit_s'] for r in mine]):.1f}")
    total_ctc = sum(r["ctc_fit_s"] for r in runs)
    total_clf = sum(r["clf_fit_s"] for r in runs)
    print(f"target met on {n_met} of {len(names)} sets (means over seeds); total fit "
          f"time {total_ctc:.0f} s labeller, {total_clf:.0f} s classifier (1 thread)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--sets", nargs="+", default=DEFAULT_SETS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--n-train", type=int, default=2000,
                        help="training lines (default 2000)")
    parser.add_argument("--n-test", type=int, default=500,
                        help="test lines (default 500)")
    parser.add_argument("--min-series", type=int, default=2)
    parser.add_argument("--max-series", type=int, default=5)
    parser.add_argument("--param-ctc", nargs="*", default=[],
                        help="CTCSequenceLabeler parameters, name=value (JSON values)")
    parser.add_argument("--param-clf", nargs="*", default=[],
                        help="LSTMClassifier parameters, name=value (JSON values)")
    parser.add_argument("--json", default=None, help="also write the runs here")
    args = parser.parse_args(argv)
    if not 1 <= args.min_series <= args.max_series:
        parser.error("need 1 <= --min-series <= --max-series")
    if args.n_train < 1 or args.n_test < 1:
        parser.error("--n-train and --n-test must be positive")

    folder = Path(args.folder)
    missing = [s for s in args.sets if not (folder / f"{s}.npz").exists()]
    if missing:
        parser.error(f"no {', '.join(m + '.npz' for m in missing)} in {folder}")
    ctc_params = parse_params(args.param_ctc)
    clf_params = parse_params(args.param_clf)
    runs = []
    for name in args.sets:
        for seed in args.seeds:
            run = run_one(folder / f"{name}.npz", seed, args, ctc_params, clf_params)
            print(json.dumps(run), flush=True)
            runs.append(run)
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))
    print()
    report(args, args.sets, runs, ctc_params, clf_params)


if __name__ == "__main__":
    main()
