"""Sliding windows of time series, for sequence regressors and forecasters."""

from numbers import Integral, Real

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, validate_params


def _as_series_list(series):
    """``(list of 2-D float arrays, multivariate)`` of one or many series."""
    if isinstance(series, (list, tuple)) and len(series) > 0 and not all(
        isinstance(item, (Real, np.number)) for item in series
    ):
        items = list(series)  # many series
    else:
        items = [series]  # one series (an array, or a flat list of numbers)
    arrays = []
    for i, item in enumerate(items):
        name = "series" if len(items) == 1 else f"series[{i}]"
        a = check_array(
            item, ensure_2d=False, dtype=[np.float64, np.float32],
            ensure_min_samples=0, allow_nd=True, input_name=name,
        )
        if a.ndim not in (1, 2):
            raise ValueError(
                f"{name} must be 1-D (T,) or 2-D (T, k); got shape {a.shape}."
            )
        arrays.append(a)
    ndims = {a.ndim for a in arrays}
    if len(ndims) > 1:
        raise ValueError(
            "The series must all be 1-D (univariate) or all 2-D (multivariate); "
            "got a mix of both."
        )
    multivariate = ndims == {2}
    arrays = [a if multivariate else a[:, None] for a in arrays]
    widths = sorted({a.shape[1] for a in arrays})
    if len(widths) > 1:
        raise ValueError(
            f"The series must all have the same number of columns; got {widths}."
        )
    return arrays, multivariate


@validate_params(
    {
        "series": ["array-like"],
        "window": [Interval(Integral, 1, None, closed="left")],
        "horizon": [Interval(Integral, 1, None, closed="left")],
        "step": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def make_windows(series, *, window, horizon=1, step=1):
    """Past windows of one or many series and the values that follow them.

    Each window of ``window`` consecutive steps of a series is paired with the
    ``horizon`` steps right after it: the inputs and targets of a sequence
    regressor (such as :class:`~sklstm.LSTMRegressor`) that forecasts a
    series from its recent past. Window ``i`` of a series of length ``T``
    starts at step ``i * step``, so the series gives
    ``(T - window - horizon) // step + 1`` windows when
    ``T >= window + horizon`` and none otherwise.

    Parameters
    ----------
    series : array-like of shape (T,) or (T, k), or list of such
        One univariate series (1-D), one multivariate series of ``k``
        variables (2-D, time along the first axis), or a list (or tuple) of
        such series, of any lengths: all 1-D, or all 2-D with the same ``k``.
        A list of numbers is one univariate series; a list whose items are
        arrays or lists is a list of series (pass a 2-D array, not a nested
        list, for one multivariate series). NaN and infinite values are
        errors.
    window : int
        The number of past steps of each window, at least 1.
    horizon : int, default=1
        The number of steps to forecast after each window, at least 1.
    step : int, default=1
        The stride between the starts of consecutive windows of a series.

    Returns
    -------
    X : ndarray of shape (n_windows, window, k)
        The windows, ``k = 1`` for univariate series; those of several series
        are concatenated in series order, each series' in time order.
    y : ndarray
        The values after each window:

        - univariate series: shape ``(n_windows,)`` when ``horizon == 1``,
          else ``(n_windows, horizon)``;
        - multivariate series: shape ``(n_windows, k)`` when ``horizon == 1``,
          else ``(n_windows, horizon * k)``, flattened horizon-major: column
          ``h * k + j`` is variable ``j`` at ``h + 1`` steps after the window
          (``y.reshape(n_windows, horizon, k)`` undoes it).

        ``X`` and ``y`` are new arrays (not views of the input), float32 when
        every series is float32 and float64 otherwise.

    Raises
    ------
    ValueError
        When no series has the ``window + horizon`` values one window needs,
        or a series holds NaN or infinite values.

    See Also
    --------
    numpy.lib.stride_tricks.sliding_window_view : The windows without targets.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm.datasets import make_windows
    >>> X, y = make_windows(np.arange(6.0), window=3)
    >>> X.shape, y.shape
    ((3, 3, 1), (3,))
    >>> X[:, :, 0]
    array([[0., 1., 2.],
           [1., 2., 3.],
           [2., 3., 4.]])
    >>> y
    array([3., 4., 5.])
    >>> X, y = make_windows([np.arange(10.0), np.arange(5.0)], window=2,
    ...                     horizon=2, step=3)
    >>> X.shape, y
    ((4, 2, 1), array([[2., 3.],
           [5., 6.],
           [8., 9.],
           [2., 3.]]))
    """
    arrays, multivariate = _as_series_list(series)
    k = arrays[0].shape[1]
    length = window + horizon
    dtype = np.result_type(*arrays)
    blocks = []
    for a in arrays:
        if len(a) < length:
            continue
        # (T - length + 1, k, length): the window axis comes last
        views = sliding_window_view(a, length, axis=0)[::step]
        blocks.append(views.transpose(0, 2, 1))
    if not blocks:
        lengths = [len(a) for a in arrays]
        longest = max(lengths)
        raise ValueError(
            f"No series is long enough for one window: a window needs window + "
            f"horizon = {window} + {horizon} = {length} values, but the longest "
            f"series has {longest}"
            + (f" (lengths {lengths})." if len(lengths) > 1 else ".")
        )
    both = np.concatenate(blocks, axis=0).astype(dtype, copy=False)  # a copy
    X = np.ascontiguousarray(both[:, :window, :])
    targets = both[:, window:, :]
    if multivariate:
        y = targets.reshape(len(both), horizon * k)
    elif horizon == 1:
        y = targets[:, 0, 0]
    else:
        y = targets[:, :, 0]
    return X, np.ascontiguousarray(y)
