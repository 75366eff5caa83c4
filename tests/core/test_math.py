"""The activations and the thread query behind the kernels."""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from sklstm._core import _math


def reference_sigmoid(x):
    x = np.asarray(x, dtype=np.float64)
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))),
                    np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


@pytest.fixture
def grid():
    x = np.linspace(-30, 30, 120_001)
    extremes = [-1e30, -3e38, -100.0, -7.9053, 0.0, -0.0, 1e-30, 7.9053, 100.0, 3e38]
    return np.concatenate([x, extremes, np.logspace(-8, 1, 1000)])


@pytest.mark.parametrize("dtype, atol", [(np.float32, 1e-6), (np.float64, 1e-15)])
def test_sigmoid_and_tanh_are_accurate(grid, dtype, atol):
    x = grid.astype(dtype)
    sig = _math._py_sigmoid(x)
    tanh = _math._py_tanh(x)
    assert sig.dtype == dtype and tanh.dtype == dtype
    np.testing.assert_allclose(sig, reference_sigmoid(x), rtol=0, atol=atol)
    np.testing.assert_allclose(tanh, np.tanh(x.astype(np.float64)), rtol=0, atol=atol)
    # the ranges hold exactly: no overflow to NaN for any finite input
    assert np.all((sig >= 0) & (sig <= 1)) and np.all(np.abs(tanh) <= 1)


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-6), (np.float64, 1e-15)])
def test_tanh_keeps_relative_accuracy_near_zero(dtype, rtol):
    x = np.logspace(-30, 0.5, 400).astype(dtype)
    np.testing.assert_allclose(_math._py_tanh(x), np.tanh(x.astype(np.float64)),
                               rtol=rtol)
    np.testing.assert_allclose(_math._py_tanh(-x), -_math._py_tanh(x), rtol=rtol)


def test_partial_vectors(dtype):
    # lengths that are not a multiple of the vector width
    for n in range(0, 20):
        x = np.linspace(-3, 3, n).astype(dtype)
        np.testing.assert_allclose(_math._py_sigmoid(x), reference_sigmoid(x),
                                   atol=1e-6)


def test_max_threads_follows_threadpoolctl():
    if not _math._has_openmp():
        assert _math._max_threads() == 1
        return
    with threadpool_limits(limits=1, user_api="openmp"):
        assert _math._max_threads() == 1
    with threadpool_limits(limits=2, user_api="openmp"):
        assert _math._max_threads() == 2
