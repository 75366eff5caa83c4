"""make_windows: past windows of series and the values after them."""

import numpy as np
import pytest

from sklstm.datasets import make_windows


def test_exact_windows_univariate():
    X, y = make_windows(np.arange(7.0), window=3)
    assert X.shape == (4, 3, 1) and y.shape == (4,)
    np.testing.assert_array_equal(
        X[:, :, 0], [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]])
    np.testing.assert_array_equal(y, [3, 4, 5, 6])
    assert X.dtype == y.dtype == np.float64


def test_horizon():
    X, y = make_windows(np.arange(8.0), window=3, horizon=2)
    assert X.shape == (4, 3, 1) and y.shape == (4, 2)
    np.testing.assert_array_equal(X[:, :, 0], [[i, i + 1, i + 2] for i in range(4)])
    np.testing.assert_array_equal(y, [[i + 3, i + 4] for i in range(4)])


def test_step():
    # windows start at 0, 3, 6; the next start (9) leaves too few values
    X, y = make_windows(np.arange(11.0), window=2, horizon=2, step=3)
    np.testing.assert_array_equal(X[:, :, 0], [[0, 1], [3, 4], [6, 7]])
    np.testing.assert_array_equal(y, [[2, 3], [5, 6], [8, 9]])


@pytest.mark.parametrize("T", [1, 5, 10, 11, 12, 23])
@pytest.mark.parametrize("window, horizon, step", [(1, 1, 1), (3, 2, 1), (4, 1, 3),
                                                   (2, 3, 5)])
def test_number_of_windows(T, window, horizon, step):
    series = np.arange(T, dtype=float)
    if T < window + horizon:
        with pytest.raises(ValueError):
            make_windows(series, window=window, horizon=horizon, step=step)
        return
    X, y = make_windows(series, window=window, horizon=horizon, step=step)
    n = (T - window - horizon) // step + 1
    assert X.shape == (n, window, 1)
    starts = np.arange(n) * step
    np.testing.assert_array_equal(X[:, 0, 0], starts)
    # every window is consecutive values, and its targets follow it
    np.testing.assert_array_equal(X[:, :, 0], starts[:, None] + np.arange(window))
    expected = starts[:, None] + window + np.arange(horizon)
    np.testing.assert_array_equal(y, expected[:, 0] if horizon == 1 else expected)


def test_exactly_one_window():
    X, y = make_windows(np.arange(5.0), window=3, horizon=2)
    assert X.shape == (1, 3, 1)
    np.testing.assert_array_equal(y, [[3, 4]])


def test_too_short_raises_with_lengths():
    with pytest.raises(ValueError, match=r"window \+ horizon = 4 \+ 2 = 6.*has 5"):
        make_windows(np.arange(5.0), window=4, horizon=2)
    with pytest.raises(ValueError, match=r"= 6 values.*\[3, 5\]"):
        make_windows([np.arange(3.0), np.arange(5.0)], window=4, horizon=2)
    with pytest.raises(ValueError, match="long enough"):
        make_windows(np.zeros(0), window=1)


def test_many_series_of_different_lengths():
    a = np.arange(6.0)
    b = 100 + np.arange(3.0)  # too short: no window
    c = 200 + np.arange(5.0)
    X, y = make_windows([a, b, c], window=3)
    # 3 windows of a, none of b, 2 of c, in series order
    np.testing.assert_array_equal(
        X[:, :, 0], [[0, 1, 2], [1, 2, 3], [2, 3, 4], [200, 201, 202],
                     [201, 202, 203]])
    np.testing.assert_array_equal(y, [3, 4, 5, 203, 204])
    # the same as windowing each series on its own
    parts = [make_windows(s, window=3) for s in (a, c)]
    np.testing.assert_array_equal(X, np.concatenate([p[0] for p in parts]))
    np.testing.assert_array_equal(y, np.concatenate([p[1] for p in parts]))


def test_list_and_tuple_inputs():
    # a flat list of numbers is one series; a list of lists is many series
    X, y = make_windows([0, 1, 2, 3], window=2)
    np.testing.assert_array_equal(X[:, :, 0], [[0, 1], [1, 2]])
    np.testing.assert_array_equal(y, [2, 3])
    X, y = make_windows(([0, 1, 2], [10, 11, 12, 13]), window=2)
    np.testing.assert_array_equal(X[:, :, 0], [[0, 1], [10, 11], [11, 12]])
    np.testing.assert_array_equal(y, [2, 12, 13])
    assert X.dtype == np.float64


def test_multivariate():
    T, k = 7, 3
    series = np.arange(T * k, dtype=float).reshape(T, k)
    X, y = make_windows(series, window=3)
    assert X.shape == (4, 3, k) and y.shape == (4, k)
    for i in range(4):
        np.testing.assert_array_equal(X[i], series[i:i + 3])
        np.testing.assert_array_equal(y[i], series[i + 3])

    X, y = make_windows(series, window=2, horizon=3, step=2)
    assert X.shape == (2, 2, k) and y.shape == (2, 3 * k)
    for i, start in enumerate([0, 2]):
        np.testing.assert_array_equal(X[i], series[start:start + 2])
        # horizon-major: the k values of step 1, then those of step 2, ...
        after = series[start + 2:start + 5]
        np.testing.assert_array_equal(y[i], after.ravel())
        np.testing.assert_array_equal(y.reshape(2, 3, k)[i], after)


def test_multivariate_one_column_keeps_multivariate_shapes():
    X, y = make_windows(np.arange(5.0)[:, None], window=2)
    assert X.shape == (3, 2, 1) and y.shape == (3, 1)


def test_many_multivariate_series():
    a = np.arange(10.0).reshape(5, 2)
    b = -np.arange(8.0).reshape(4, 2)
    X, y = make_windows([a, b], window=2, horizon=2)
    assert X.shape == (2 + 1, 2, 2) and y.shape == (3, 4)
    np.testing.assert_array_equal(X[2], b[:2])
    np.testing.assert_array_equal(y[2], b[2:].ravel())


def test_dtypes():
    series = np.arange(10, dtype=np.float32)
    X, y = make_windows(series, window=3)
    assert X.dtype == y.dtype == np.float32
    X, y = make_windows(np.arange(10), window=3)  # integers become float64
    assert X.dtype == y.dtype == np.float64
    X, y = make_windows([series, series.astype(np.float64)], window=3)
    assert X.dtype == y.dtype == np.float64


def test_outputs_are_copies_and_contiguous():
    series = np.arange(10.0)
    X, y = make_windows(series, window=3)
    assert X.flags.c_contiguous and y.flags.c_contiguous
    assert not np.shares_memory(X, series) and not np.shares_memory(y, series)
    X[:] = -1
    y[:] = -1
    np.testing.assert_array_equal(series, np.arange(10.0))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_raises(bad):
    series = np.arange(10.0)
    series[4] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        make_windows(series, window=3)
    with pytest.raises(ValueError, match=r"series\[1\]"):
        make_windows([np.arange(10.0), series], window=3)


@pytest.mark.parametrize("params, match", [
    ({"window": 0}, "window"),
    ({"window": -2}, "window"),
    ({"window": 2.5}, "window"),
    ({"window": 3, "horizon": 0}, "horizon"),
    ({"window": 3, "horizon": 1.0}, "horizon"),
    ({"window": 3, "step": 0}, "step"),
    ({"window": 3, "step": "1"}, "step"),
])
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        make_windows(np.arange(10.0), **params)


def test_window_is_required():
    with pytest.raises(TypeError):
        make_windows(np.arange(10.0))


def test_bad_series():
    with pytest.raises(ValueError, match="series"):
        make_windows(5.0, window=1)
    with pytest.raises(ValueError, match="1-D"):
        make_windows(np.zeros((5, 2, 2)), window=1)
    with pytest.raises(ValueError, match="mix"):
        make_windows([np.zeros(5), np.zeros((5, 1))], window=1)
    with pytest.raises(ValueError, match="columns"):
        make_windows([np.zeros((5, 2)), np.zeros((5, 3))], window=1)
