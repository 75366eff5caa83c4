"""A GridSearchCV of 12 fits on JapaneseVowels: one process, loky, and Dask.

The grid is 2 x 2 parameter values of :class:`~sklstm.LSTMClassifier`
(``hidden_layer_sizes`` in (32,), (64,); ``alpha`` in 1e-4, 1e-2; 30 epochs)
times 3 folds of the 270 training sequences, without the refit. Backends:
``serial`` (``n_jobs=1``, the kernels on every core), ``loky`` (``n_jobs``
processes, which joblib gives ``cores // n_jobs`` OpenMP threads each) and
``dask`` (a ``LocalCluster`` of ``n_jobs`` worker processes of one thread,
whose nanny sets ``OMP_NUM_THREADS=1``; the cluster's start is timed
apart). One JSON line per backend and run: seconds of the search, versions.
The numbers are in ``docs/distributed.rst``.

Run::

    python benchmarks/bench_distributed.py
    python benchmarks/bench_distributed.py --backends loky dask --repeat 3
"""

import argparse
import json
import os
import platform
import time
import warnings

import joblib
import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

import sklstm
from sklstm import LSTMClassifier
from sklstm.datasets import load_japanese_vowels

GRID = {"hidden_layer_sizes": [(32,), (64,)], "alpha": [1e-4, 1e-2]}


def grid_search(X, y, n_jobs, max_iter):
    search = GridSearchCV(LSTMClassifier(max_iter=max_iter, random_state=0), GRID,
                          cv=3, n_jobs=n_jobs, refit=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        search.fit(X, y)
    return time.perf_counter() - start, search


def run(backend, X, y, n_jobs, max_iter):
    """``(seconds of the search, seconds to start the cluster, mean test scores)``."""
    if backend == "serial":
        seconds, search = grid_search(X, y, 1, max_iter)
        return seconds, None, search
    if backend == "loky":
        with joblib.parallel_config(backend="loky"):
            seconds, search = grid_search(X, y, n_jobs, max_iter)
        return seconds, None, search
    from distributed import Client, LocalCluster

    start = time.perf_counter()
    with LocalCluster(n_workers=n_jobs, threads_per_worker=1,
                      dashboard_address=None) as cluster, Client(cluster):
        startup = time.perf_counter() - start
        with joblib.parallel_config(backend="dask"):
            seconds, search = grid_search(X, y, -1, max_iter)
    return seconds, startup, search


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["serial", "loky", "dask"],
                        choices=["serial", "loky", "dask"])
    parser.add_argument("--n-jobs", type=int, default=2,
                        help="loky processes, or Dask workers (default 2)")
    parser.add_argument("--max-iter", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    X, y = load_japanese_vowels(return_X_y=True)
    for _ in range(args.repeat):
        for backend in args.backends:
            seconds, startup, search = run(backend, X, y, args.n_jobs, args.max_iter)
            print(json.dumps({
                "backend": backend, "n_jobs": 1 if backend == "serial" else args.n_jobs,
                "fits": len(search.cv_results_["params"]) * 3,
                "seconds": round(seconds, 2),
                "cluster_start_seconds": None if startup is None else round(startup, 2),
                "mean_test_score": np.round(search.cv_results_["mean_test_score"],
                                            4).tolist(),
                "cores": os.cpu_count(), "sklstm": sklstm.__version__,
                "sklearn": sklearn.__version__, "joblib": joblib.__version__,
                "python": platform.python_version(),
            }), flush=True)


if __name__ == "__main__":
    main()
