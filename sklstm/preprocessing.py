"""Preprocessing of sequences: :class:`SequenceScaler`."""

import numpy as np
from sklearn.base import (
    BaseEstimator,
    OneToOneFeatureMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._available_if import available_if
from sklearn.utils._set_output import ADAPTERS_MANAGER, _get_output_config
from sklearn.utils.validation import check_is_fitted

from ._sequences import read_sequences, safe_scale

__all__ = ["SequenceScaler"]


def _affine(data, mean, scale, *, inverse, copy):
    """``(data - mean) / scale`` or its inverse, computed in float64 and given
    back in the dtype of ``data`` (written into it when ``copy`` is False)."""
    x = data.astype(np.float64, copy=False)
    if inverse:
        x = x if scale is None else x * scale
        x = x if mean is None else x + mean
    else:
        x = x if mean is None else x - mean
        x = x if scale is None else x / scale
    if copy or not data.flags.writeable:
        return x.astype(data.dtype, copy=x is data)
    data[...] = x
    return data


def _as_input_form(X, seqs, kind, data):
    """``data``, one row per step of ``seqs``, in the form ``X`` came in."""
    if kind == "table":
        return data.reshape(len(seqs), -1)
    if isinstance(X, np.ndarray) and X.dtype != object:
        return data.reshape(X.shape)
    parts = [p[:, 0] if np.ndim(x) == 1 else p
             for x, p in zip(X, np.split(data, seqs.starts[1:]))]
    if isinstance(X, np.ndarray):
        out = np.empty(len(parts), dtype=object)
        for i, p in enumerate(parts):  # `out[:] = parts` would stack equal shapes
            out[i] = p
        return out
    return tuple(parts) if isinstance(X, tuple) else parts


class SequenceScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator,
                     auto_wrap_output_keys=None):
    """Standardise sequences: remove the mean and scale to unit variance.

    With ``per_sequence=False`` (the default) each feature is standardised with
    the mean and standard deviation of all steps of all training sequences, as
    :class:`~sklearn.preprocessing.StandardScaler` does with the steps stacked
    as rows. With ``per_sequence=True`` each sequence is standardised with its
    own statistics at transform time (the z-normalisation of the UCR archive),
    and fitting learns only the number of features.

    Every input form of sklstm is accepted (a 3-D array, a list, tuple or 1-D
    object array of ``(n_timesteps, n_features)`` arrays, a ragged list of 1-D
    arrays, a table) and the output has the form of the input.

    Parameters
    ----------
    with_mean : bool, default=True
        Subtract the mean before scaling.

    with_std : bool, default=True
        Divide by the standard deviation.

    per_sequence : bool, default=False
        Standardise each sequence with its own mean and standard deviation
        (per feature) instead of those of the training data.
        :meth:`inverse_transform` is then not available.

    copy : bool, default=True
        If False, try to scale in place; this only happens when the data read
        from ``X`` is a writeable float array of ``X``'s own (a table).

    Attributes
    ----------
    mean_ : ndarray of shape (n_step_features,) or None
        The mean of each per-step feature over all training steps; None when
        ``with_mean=False`` and ``with_std=False``. ``n_step_features`` is
        ``n_features`` for sequences and 1 for a table. Not set with
        ``per_sequence=True``, nor are the next three attributes.

    var_ : ndarray of shape (n_step_features,) or None
        The variance of each per-step feature; None when ``with_std=False``.

    scale_ : ndarray of shape (n_step_features,) or None
        The standard deviation of each per-step feature, 1 where the variance
        is zero; None when ``with_std=False``.

    n_samples_seen_ : int
        The number of steps (not sequences) seen in ``fit``.

    n_features_in_ : int
        ``n_features`` for sequences; ``n_columns`` for a table.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        The column names of a DataFrame given to ``fit``.

    See Also
    --------
    sklearn.preprocessing.StandardScaler : Standardises each column of a table.
    tslearn.preprocessing.TimeSeriesScalerMeanVariance : Standardises each
        series on its own, as ``per_sequence=True`` does, on equal lengths only.

    Notes
    -----
    A table (a 2-D array, a DataFrame, a rectangular nested list of numbers,
    including a list of 1-D arrays of equal length) is read as univariate
    sequences of length ``n_columns``, as every sklstm estimator reads it, so
    one mean and one scale serve all its columns: unlike
    :class:`~sklearn.preprocessing.StandardScaler`, which standardises each
    column on its own. :meth:`set_output` applies to tables only; sequences
    keep their form whatever it is set to.

    Statistics are accumulated in float64; the output is float32 when the input
    is float32, and float64 otherwise. NaN and infinite values are refused.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm.preprocessing import SequenceScaler
    >>> X = [np.array([[1.0, 10.0], [3.0, 30.0], [1.0, 10.0]]),
    ...      np.array([[3.0, 30.0]])]
    >>> scaler = SequenceScaler().fit(X)
    >>> scaler.mean_, scaler.scale_
    (array([ 2., 20.]), array([ 1., 10.]))
    >>> scaler.transform(X)[1]
    array([[1., 1.]])
    >>> Xt = SequenceScaler(per_sequence=True).fit_transform([[1, 3], [5, 6, 7]])
    >>> Xt[0], np.round(Xt[1], 4)
    (array([-1.,  1.]), array([-1.2247,  0.    ,  1.2247]))
    >>> SequenceScaler().fit([[0, 10], [2, 12]]).mean_  # a table: one mean
    array([6.])
    """

    _parameter_constraints: dict = {
        "with_mean": ["boolean"],
        "with_std": ["boolean"],
        "per_sequence": ["boolean"],
        "copy": ["boolean"],
    }

    def __init__(self, *, with_mean=True, with_std=True, per_sequence=False,
                 copy=True):
        self.with_mean = with_mean
        self.with_std = with_std
        self.per_sequence = per_sequence
        self.copy = copy

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Compute the mean and standard deviation of each per-step feature.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences in any of sklstm's input forms, or a table.

        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted scaler.
        """
        saved = self.__dict__.copy()
        try:  # a failed fit leaves the scaler as it was
            seqs, kind = read_sequences(self, X, reset=True)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        for name in ("mean_", "var_", "scale_", "n_samples_seen_"):
            self.__dict__.pop(name, None)
        self._input_kind, self._n_step_features = kind, seqs.n_features
        if self.per_sequence:
            return self
        data = seqs.data
        self.n_samples_seen_ = n = data.shape[0]
        mean = data.mean(axis=0, dtype=np.float64)
        var = data.var(axis=0, dtype=np.float64) if self.with_std else None
        self.mean_ = mean if self.with_mean or self.with_std else None
        self.var_ = var
        self.scale_ = None if var is None else safe_scale(var, mean, n)
        return self

    def _statistics(self, seqs):
        """``(mean, scale)`` to apply to ``seqs.data``, row by row or per step."""
        if not self.per_sequence:
            return self.mean_ if self.with_mean else None, self.scale_
        lengths = seqs.lengths[:, None]
        data = seqs.data
        mean = np.add.reduceat(data, seqs.starts, axis=0, dtype=np.float64) / lengths
        steps = np.repeat(mean, seqs.lengths, axis=0)
        scale = None
        if self.with_std:
            var = np.add.reduceat((data - steps) ** 2, seqs.starts, axis=0) / lengths
            scale = np.repeat(safe_scale(var, mean, lengths), seqs.lengths, axis=0)
        return steps if self.with_mean else None, scale

    def _read(self, X):
        check_is_fitted(self, None if self.per_sequence else "n_samples_seen_")
        return read_sequences(self, X, reset=False, fitted_kind=self._input_kind,
                              n_features=self._n_step_features)

    def transform(self, X, copy=None):
        """Standardise ``X``.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences in any of sklstm's input forms, with the fitted number of
            features, or a table as fitted.

        copy : bool, default=None
            Overrides ``self.copy`` when given.

        Returns
        -------
        X_tr : ndarray or list of ndarray
            The standardised sequences, in the form of ``X``; a table gives a
            2-D array, or the container chosen by :meth:`set_output`.
        """
        seqs, kind = self._read(X)
        mean, scale = self._statistics(seqs)
        data = _affine(seqs.data, mean, scale, inverse=False,
                       copy=self.copy if copy is None else copy)
        out = _as_input_form(X, seqs, kind, data)
        dense = _get_output_config("transform", self)["dense"]
        if kind != "table" or self._input_kind != "table" or dense == "default":
            return out
        return ADAPTERS_MANAGER.adapters[dense].create_container(
            out, X, columns=self.get_feature_names_out)

    def _check_invertible(self):
        if self.per_sequence:
            raise AttributeError(
                "inverse_transform is not available with per_sequence=True: each "
                "sequence is standardised with its own mean and scale, which are "
                "not kept."
            )
        return True

    @available_if(_check_invertible)
    def inverse_transform(self, X, copy=None):
        """Undo the standardisation: ``X * scale_ + mean_``.

        Not available with ``per_sequence=True``.

        Parameters
        ----------
        X : array-like or list of array-like
            Standardised sequences, in any of sklstm's input forms, or a table.

        copy : bool, default=None
            Overrides ``self.copy`` when given.

        Returns
        -------
        X_original : ndarray or list of ndarray
            The sequences in their original units, in the form of ``X``.
        """
        seqs, kind = self._read(X)
        mean, scale = self._statistics(seqs)
        data = _affine(seqs.data, mean, scale, inverse=True,
                       copy=self.copy if copy is None else copy)
        return _as_input_form(X, seqs, kind, data)

    def set_output(self, *, transform=None):
        """Set the output container of :meth:`transform` for tables.

        Sequences keep their form (a 3-D array, or a list of arrays) whatever
        the setting.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"}, default=None
            The container of a transformed table; None leaves it unchanged.

        Returns
        -------
        self : object
            The scaler.
        """
        if transform is not None:
            self._sklearn_output_config = {"transform": transform}
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
