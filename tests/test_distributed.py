"""More than one machine: a GridSearchCV over an sklstm estimator under joblib's
Dask backend gives the results it gives in one process, and each worker's
kernels run on one thread (docs/distributed.rst)."""

import os
import warnings

import joblib
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from sklstm import LSTMClassifier
from sklstm.datasets import load_japanese_vowels

pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

TIMING = {"mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time"}


def kernel_threads():
    """What the kernels of this process would run on (OpenMP's limit, as the
    kernels read it, and as threadpoolctl reads every OpenMP runtime loaded)."""
    from threadpoolctl import threadpool_info

    from sklstm._core import _math

    return _math._max_threads(), sorted(
        {info["num_threads"] for info in threadpool_info()
         if info["user_api"] == "openmp"})


@pytest.fixture
def environment_kept(monkeypatch):
    """The nanny writes its ``pre-spawn-environ`` (OMP_NUM_THREADS=1 and
    others) into this process's environment before spawning a worker; put
    it back afterwards, so that later tests' subprocesses do not inherit it.
    An OMP_NUM_THREADS of the caller's would win over dask's default of 1:
    the test removes it to check that default."""
    saved = dict(os.environ)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    yield
    os.environ.clear()
    os.environ.update(saved)


def search(n_jobs):
    X, y = load_japanese_vowels(return_X_y=True)
    grid = {"hidden_layer_sizes": [(4,), (6,)], "alpha": [1e-4, 1e-2]}
    estimator = LSTMClassifier(max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 3 epochs on purpose
        # a third of the training set: 90 sequences, 12 fits and a refit
        return GridSearchCV(estimator, grid, cv=3, n_jobs=n_jobs).fit(X[::3], y[::3])


def assert_same_results(got, expected):
    assert set(got) == set(expected)
    for key in sorted(set(expected) - TIMING):
        a, b = got[key], expected[key]
        if key == "params":
            assert a == b
        elif isinstance(b, np.ma.MaskedArray):
            assert a.tolist() == b.tolist(), key
            np.testing.assert_array_equal(np.ma.getmaskarray(a),
                                          np.ma.getmaskarray(b))
        else:
            assert a.dtype == b.dtype, key
            np.testing.assert_array_equal(a, b, err_msg=key)


def test_grid_search_on_a_dask_cluster_matches_one_process(environment_kept):
    expected = search(n_jobs=1)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                       processes=True, dashboard_address=None)
    try:
        with distributed.Client(cluster) as client:
            # dask's nanny sets OMP_NUM_THREADS=1 for each worker it spawns
            for threads in client.run(kernel_threads).values():
                assert threads == (1, [1])
            with distributed.get_task_stream(client) as tasks, \
                    joblib.parallel_config(backend="dask"):
                got = search(n_jobs=-1)
            assert tasks.data  # the fits ran on the cluster
    finally:
        cluster.close()
    assert_same_results(got.cv_results_, expected.cv_results_)
    assert got.best_params_ == expected.best_params_
    np.testing.assert_array_equal(got.best_estimator_.output_coef_,
                                  expected.best_estimator_.output_coef_)
