"""Reading user input as sequences, the one place where ``X`` is interpreted.

The forms ``X`` may take (DESIGN.md, "Data model"):

- a 3-D array ``(n_sequences, n_timesteps, n_features)``: sequences of equal
  length;
- a list, tuple or 1-D object array of 2-D arrays ``(T_i, n_features)``:
  sequences of any lengths;
- a ragged list of 1-D arrays or lists: univariate sequences of any lengths;
- anything else scikit-learn reads as a 2-D table (a 2-D array, a DataFrame,
  a rectangular nested list of numbers, a sparse matrix that it rejects):
  univariate sequences of fixed length ``n_columns``. Tables go through
  :func:`sklearn.utils.validation.validate_data`, so ``n_features_in_`` and
  ``feature_names_in_`` and the error messages are scikit-learn's own.

A bare 1-D array is an error: one sequence, or many scalars? A 3-D object
array of numbers is a 3-D array, and a pandas Series of arrays is read as the
1-D object array it holds. A list of DataFrames has feature names (their
columns, the same in every one), set and checked as scikit-learn does for a
table. A generator, iterator, dict or set is refused with a TypeError: it has
no order, or can be read only once.
"""

import numbers
from collections.abc import Iterator, Mapping, Set

import numpy as np
from scipy import sparse
from sklearn.utils import check_array
from sklearn.utils.validation import _check_feature_names, validate_data

__all__ = ["Sequences", "as_float_array", "read_arrays", "read_sequences",
           "refuse_one_pass"]


class Sequences:
    """Sequences of one precision, stored back to back.

    Attributes
    ----------
    data : ndarray of shape (sum(lengths), n_features)
        Every sequence's steps, sequence after sequence.
    starts, lengths : ndarray of shape (n_sequences,)
        Sequence ``i`` is ``data[starts[i] : starts[i] + lengths[i]]``.
    """

    def __init__(self, data, lengths):
        self.data = data
        self.lengths = np.asarray(lengths, dtype=np.intp)
        self.starts = np.zeros_like(self.lengths)
        np.cumsum(self.lengths[:-1], out=self.starts[1:])

    def __len__(self):
        return self.lengths.size

    @property
    def n_features(self):
        return self.data.shape[1]

    @property
    def dtype(self):
        return self.data.dtype

    def batch(self, indices):
        """The sequences at ``indices``, as a list of views."""
        return [self.data[self.starts[i] : self.starts[i] + self.lengths[i]]
                for i in indices]

    def subset(self, indices):
        """A new :class:`Sequences` of the sequences at ``indices``."""
        indices = np.asarray(indices, dtype=np.intp)
        parts = self.batch(indices)
        data = (np.concatenate(parts) if parts
                else np.empty((0, self.n_features), self.dtype))
        return Sequences(data, self.lengths[indices])


def _float_dtype(dtypes):
    """float32 when every part is float32, float64 otherwise (scikit-learn's rule)."""
    return np.float32 if all(d == np.float32 for d in dtypes) else np.float64


def _as_numeric(x, where):
    """``x`` as a real numeric ndarray, or a clear error about ``where``."""
    try:
        array = np.asarray(x)
    except (TypeError, ValueError):
        raise ValueError(
            f"{where} could not be read as an array of numbers; pass arrays or "
            "lists of numbers."
        ) from None
    if array.dtype.kind == "c":
        raise ValueError(f"Complex data not supported; {where} is complex.")
    if array.dtype.kind == "O":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"{where} holds values that are not numbers; pass numeric arrays."
            ) from None
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"{where} has dtype {array.dtype}; pass numbers (float, int or bool)."
        )
    return array


def refuse_one_pass(value, name, expected):
    """A TypeError when ``value`` is a dict, a set, or a generator or other
    iterator: ``name`` needs ``expected``, in order, and read more than once.
    (A sparse matrix is left to scikit-learn's message: ``dok_array`` is a dict.)"""
    if sparse.issparse(value):
        return
    kind = type(value).__name__
    if isinstance(value, Mapping):
        raise TypeError(
            f"{name} is a {kind}; pass {expected}, in the order of the sequences "
            f"(for example list({name}.values()) if its values are in that order)."
        )
    if isinstance(value, Set):
        raise TypeError(f"{name} is a {kind}, which has no order; pass {expected}.")
    if isinstance(value, Iterator):
        raise TypeError(
            f"{name} is a {kind}, which can be read only once; pass {expected} "
            f"(for example list({name}))."
        )


def _unwrap(X):
    """``X`` with a pandas Series replaced by its values (a Series of arrays is
    a 1-D object array), after refusing the forms that have no order."""
    refuse_one_pass(X, "X", _EXPECTED)
    if hasattr(X, "iloc") and getattr(X, "ndim", None) == 1:
        return X.to_numpy()
    return X


def _is_sequence_list(X):
    return isinstance(X, (list, tuple)) or (
        isinstance(X, np.ndarray) and X.dtype == object and X.ndim == 1
    )


def _looks_like_table(X):
    """A list of equal-length rows of numbers is a table, as in scikit-learn."""
    if not X or not all(isinstance(row, (list, tuple, np.ndarray)) for row in X):
        return False
    widths = set()
    for row in X:
        if isinstance(row, np.ndarray):
            if row.ndim != 1:
                return False
        elif not all(isinstance(v, numbers.Number) for v in row):
            return False
        widths.add(len(row))
    return len(widths) == 1


def as_float_array(value, name, dtype=None):
    """``value`` as a float32/float64 ndarray, or a TypeError naming ``name``."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must be an array of real numbers; got {exc}.") from None
    kind = array.dtype.kind
    if kind == "f":
        if dtype is None:
            if array.dtype not in (np.float32, np.float64):
                raise TypeError(
                    f"{name} has dtype {array.dtype}; pass float32 or float64 values."
                )
            return array
        with np.errstate(over="ignore"):
            cast = array.astype(dtype, copy=False)
        if cast is not array and not np.isfinite(cast).all() and \
                np.isfinite(array[~np.isfinite(cast)]).any():
            raise ValueError(
                f"{name} holds finite values beyond the range of {np.dtype(dtype)}, "
                f"the precision of the computation (largest "
                f"{np.finfo(dtype).max:.3g}); scale them down, or compute in "
                "float64."
            )
        return cast
    if kind == "c":
        raise TypeError(
            f"{name} has complex dtype {array.dtype}; pass real float32 or float64 "
            "values."
        )
    if kind in "biu":
        raise TypeError(
            f"{name} has integer dtype {array.dtype}; pass float32 or float64 values "
            f"(for example {name}.astype(np.float32))."
        )
    raise TypeError(
        f"{name} must hold real numbers (float32 or float64), not dtype {array.dtype}."
    )


def _check_lengths(lengths, n_sequences, n_timesteps, shape):
    array = np.asarray(lengths)
    if array.dtype.kind not in "iu":
        raise TypeError(f"lengths must hold integers, not dtype {array.dtype}.")
    if array.shape != (n_sequences,):
        raise ValueError(
            f"lengths has shape {array.shape}; expected ({n_sequences},), one length "
            f"per sequence of X of shape {shape}."
        )
    bad = np.flatnonzero((array < 1) | (array > n_timesteps))
    if bad.size:
        b = bad[0]
        raise ValueError(
            f"lengths[{b}]={array[b]} is outside [1, {n_timesteps}] for X of shape "
            f"{shape}."
        )
    return array.astype(np.intp)


_EXPECTED = ("a 3-D array (n_sequences, n_timesteps, n_features) or a list of "
             "(n_timesteps_i, n_features) arrays")
_FORMS = f"X must be {_EXPECTED}"


def read_arrays(X, lengths=None, *, strict=False):
    """The one reader of the sequence forms: a 3-D array (padded, with
    ``lengths``) or a list of arrays of any lengths.

    ``strict`` is the functional API's policy: float32 or float64 values only
    (a ``TypeError`` otherwise) and 2-D sequences only. Without it (the
    estimators'), any real numbers are read with scikit-learn's precision rule
    and a 1-D sequence is univariate; ``lengths`` is not accepted.

    Returns ``(data, starts, lengths, n_timesteps)`` (``X``'s second axis for
    a 3-D array, the longest length for a list): sequence ``i`` is
    ``data[starts[i] : starts[i] + lengths[i]]``; ``data`` is a view of a 3-D
    ``X`` (padding included) and a new array for a list. Finiteness is checked
    where every row is read (not in the padding of a padded ``X``).
    """
    padded = lengths
    X = _unwrap(X)
    if isinstance(X, np.ndarray) and (X.dtype != object or X.ndim != 1):
        array = as_float_array(X, "X") if strict else _as_numeric(X, "X")
        if array.ndim != 3:
            raise ValueError(f"{_FORMS}; got an array of shape {array.shape}.")
        n, T, D = array.shape
        if n == 0 or T == 0:
            raise ValueError(
                f"X of shape {array.shape} is empty; pass at least one sequence of "
                "at least one step."
            )
        if lengths is None:
            lengths = np.full(n, T, dtype=np.intp)
        else:
            lengths = _check_lengths(lengths, n, T, array.shape)
        data = array.reshape(n * T, D)
        if not strict:
            data = data.astype(_float_dtype([array.dtype]))
        starts = np.arange(n, dtype=np.intp) * T
        n_timesteps = T
    else:
        if not _is_sequence_list(X):
            raise TypeError(f"{_FORMS}; got {type(X).__name__}.")
        if lengths is not None:
            raise ValueError(
                "lengths must not be passed with a list of sequences: each "
                "sequence's length is its number of rows."
            )
        if len(X) == 0:
            raise ValueError("X is empty; pass at least one sequence.")
        parts = []
        for i, x in enumerate(X):
            a = as_float_array(x, f"X[{i}]") if strict else _as_numeric(x, f"X[{i}]")
            if a.ndim == 1 and not strict:
                a = a.reshape(-1, 1)
            if a.ndim != 2:
                raise ValueError(
                    f"X[{i}] has shape {a.shape}; each sequence must be a 2-D array "
                    "(n_timesteps, n_features)" + ("." if strict else
                                                   ", or 1-D for one feature.")
                )
            if a.shape[0] == 0:
                raise ValueError(
                    f"X[{i}] is a sequence of length zero; every sequence needs at "
                    "least one step. Drop it or pad it."
                )
            if parts and a.shape[1] != parts[0].shape[1]:
                raise ValueError(
                    f"X[{i}] has {a.shape[1]} features but X[0] has "
                    f"{parts[0].shape[1]}; all sequences need the same number of "
                    "features."
                )
            parts.append(a)
        dtype = _float_dtype([a.dtype for a in parts])
        lengths = np.array([a.shape[0] for a in parts], dtype=np.intp)
        starts = np.zeros_like(lengths)
        np.cumsum(lengths[:-1], out=starts[1:])
        data = np.concatenate(parts).astype(dtype, copy=False)
        n_timesteps = int(lengths.max())
    if data.shape[1] == 0:
        raise ValueError("X has 0 features; each step needs at least one value.")
    if padded is None:
        _check_finite_rows(data, starts)
    return data, starts, lengths, n_timesteps


def _check_finite_rows(data, starts):
    """A ValueError naming the first sequence and step that is not finite."""
    if not np.isfinite(data).all():
        bad = np.flatnonzero(~np.isfinite(data).all(axis=1))[0]
        i = int(np.searchsorted(starts, bad, side="right") - 1)
        raise ValueError(
            f"Input X contains NaN or infinity (sequence {i}, step "
            f"{bad - starts[i]}); remove or impute these values first."
        )


def read_sequences(estimator, X, *, reset, fitted_kind=None, n_features=None):
    """Read ``X`` as :class:`Sequences`; set or check ``n_features_in_``.

    Parameters
    ----------
    estimator : BaseEstimator
        Where ``n_features_in_`` (and, for tables, ``feature_names_in_``) live.
    X : array-like or list of array-like
        See the module docstring.
    reset : bool
        True in ``fit`` (set the attributes), False afterwards (check them).
    fitted_kind : {"table", "sequences"} or None
        How the fitted model read its training data; with ``reset=False``.
    n_features : int or None
        ``n_features`` of the fitted model, for sequences.

    Returns
    -------
    sequences : Sequences
    kind : {"table", "sequences"}
    """
    kind = "sequences"
    X = _unwrap(X)
    if isinstance(X, np.ndarray) and X.dtype != object and X.ndim == 1:
        raise ValueError(
            f"X is a 1-D array of shape {X.shape}: is it one sequence or many "
            "scalars? Reshape your data: a list of (n_timesteps, 1) arrays for "
            "univariate sequences, X.reshape(1, -1, 1) for one sequence, or "
            "X.reshape(-1, 1) for a table with one column."
        )
    if (isinstance(X, np.ndarray) and X.ndim == 3) or (
            _is_sequence_list(X) and not _looks_like_table(list(X))):
        data, _, lengths, _ = read_arrays(X)
        seqs = Sequences(data, lengths)
    else:
        kind = "table"
        if isinstance(X, np.ndarray) and X.dtype == object and X.ndim == 1:
            X = list(X)  # equal-length rows: scikit-learn reads a list of them
        if not reset and fitted_kind == "sequences":
            # A model fitted on sequences reads a 2-D array as univariate
            # sequences of length n_columns: the width is not a feature count.
            table = check_array(X, dtype=[np.float64, np.float32],
                                ensure_all_finite=False)
        else:
            table = validate_data(estimator, X, reset=reset,
                                  dtype=[np.float64, np.float32])
        n, T = table.shape
        seqs = Sequences(np.ascontiguousarray(table).reshape(n * T, 1), np.full(n, T))

    if kind == "table":
        _check_finite_rows(seqs.data, seqs.starts)

    if reset:
        if kind == "sequences":
            estimator.n_features_in_ = seqs.n_features
            _check_sequence_names(estimator, X, reset=True)
        return seqs, kind

    if fitted_kind == "table" and kind != "table":
        raise ValueError(
            f"{type(estimator).__name__} was fitted on a table of "
            f"{estimator.n_features_in_} columns (read as univariate sequences of "
            "that length); pass a table of the same width, not sequences."
        )
    if kind == "table" and fitted_kind == "sequences" and n_features != 1:
        raise ValueError(
            f"X is a 2-D table, but {type(estimator).__name__} was fitted on "
            f"sequences of {n_features} features; pass a 3-D array or a list of "
            f"(n_timesteps, {n_features}) arrays."
        )
    if kind == "sequences":
        if seqs.n_features != n_features:
            raise ValueError(
                f"X has {seqs.n_features} features per step, but "
                f"{type(estimator).__name__} is expecting {n_features} features as "
                "input."
            )
        _check_sequence_names(estimator, X, reset=False)
    return seqs, kind


def _check_sequence_names(estimator, X, *, reset):
    """Set or check ``feature_names_in_`` from the columns of a list of
    DataFrames, as scikit-learn does for one table: every sequence must have
    the same columns, in the same order (a 3-D array has none)."""
    first = None
    if _is_sequence_list(X):
        first = _columns(X[0])
        for i in range(1, len(X)):
            other = _columns(X[i])
            if (other is None) != (first is None) or (
                    first is not None and not np.array_equal(other, first)):
                raise ValueError(
                    f"X[{i}] has the columns {_shown(other)} but X[0] has "
                    f"{_shown(first)}; every sequence needs the same columns, in "
                    "the same order."
                )
    # the first DataFrame stands for X in scikit-learn's check
    _check_feature_names(estimator, X[0] if first is not None else np.empty((0, 0)),
                         reset=reset)


def _columns(x):
    """The column labels of a DataFrame, as an object array; None otherwise."""
    columns = getattr(x, "columns", None)
    return None if columns is None else np.asarray(columns, dtype=object)


def _shown(columns):
    return "none (not a DataFrame)" if columns is None else repr(columns.tolist())


def safe_scale(var, mean, n):
    """``sqrt(var)``, with 1 where ``var`` is zero up to rounding (the bound of
    :class:`~sklearn.preprocessing.StandardScaler`, over ``n`` values)."""
    eps = np.finfo(np.float64).eps
    return np.where(var <= n * eps * var + (n * mean * eps) ** 2, 1.0, np.sqrt(var))


def fit_standardizer(rows):
    """Per-column ``(mean, scale)`` of a 2-D array (the steps of
    :attr:`Sequences.data`, or targets), in float64."""
    mean = rows.mean(axis=0, dtype=np.float64)
    return mean, safe_scale(rows.var(axis=0, dtype=np.float64), mean, rows.shape[0])


def standardize(seqs, mean, scale):
    """A new :class:`Sequences` of ``(x - mean) / scale``, computed in float64 and
    given back in the precision of ``seqs``."""
    data = (seqs.data.astype(np.float64, copy=False) - mean) / scale
    return Sequences(data.astype(seqs.dtype, copy=False), seqs.lengths)


def group_steps(seqs, k):
    """Each run of ``k`` consecutive steps as one frame of ``k * n_features``.

    A sequence of ``T`` steps becomes ``ceil(T / k)`` frames; the last frame
    of a sequence whose length is not a multiple of ``k`` is padded with
    zeros (after standardisation, the mean). Frame ``j`` holds steps
    ``j*k .. j*k + k - 1``, step after step. :func:`ungroup_steps` inverts it.
    """
    if k == 1:
        return seqs
    n_frames = -(-seqs.lengths // k)
    frame_starts = np.zeros_like(n_frames)
    np.cumsum(n_frames[:-1], out=frame_starts[1:])
    # the row of every step in the padded, frame-aligned layout
    rows = np.repeat(frame_starts * k - seqs.starts, seqs.lengths)
    rows += np.arange(seqs.data.shape[0])
    out = np.zeros((n_frames.sum() * k, seqs.n_features), dtype=seqs.dtype)
    out[rows] = seqs.data
    return Sequences(out.reshape(-1, k * seqs.n_features), n_frames)


def ungroup_steps(framed, k, lengths):
    """The sequences of ``lengths`` steps that :func:`group_steps` framed."""
    if k == 1:
        return framed
    n_features = framed.n_features // k
    steps = framed.data.reshape(-1, n_features)
    lengths = np.asarray(lengths, dtype=np.intp)
    rows = np.repeat(framed.starts * k, lengths)
    rows += np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return Sequences(steps[rows], lengths)


# "auto" frames: the fewest steps per frame that leave at most this many
# frames in a sequence of the median training length.
_AUTO_MAX_FRAMES = 64


def auto_steps_per_frame(lengths):
    """The ``steps_per_frame="auto"`` rule: ``ceil(median(lengths) / 64)``."""
    return max(1, int(np.ceil(np.median(lengths) / _AUTO_MAX_FRAMES)))
