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

A bare 1-D array is an error: one sequence, or many scalars?
"""

import numbers

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data

__all__ = ["Sequences", "read_sequences"]


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
    if isinstance(X, np.ndarray) and X.dtype != object and X.ndim == 3:
        array = _as_numeric(X, "X")
        if 0 in array.shape:
            raise ValueError(
                f"X of shape {array.shape} is empty; pass at least one sequence of "
                "at least one step with at least one feature."
            )
        n, T, D = array.shape
        dtype = _float_dtype([array.dtype])
        data = array.reshape(n * T, D).astype(dtype)
        seqs = Sequences(data, np.full(n, T))
    elif isinstance(X, np.ndarray) and X.dtype != object and X.ndim == 1:
        raise ValueError(
            f"X is a 1-D array of shape {X.shape}: is it one sequence or many "
            "scalars? Reshape your data: a list of (n_timesteps, 1) arrays for "
            "univariate sequences, X.reshape(1, -1, 1) for one sequence, or "
            "X.reshape(-1, 1) for a table with one column."
        )
    elif _is_sequence_list(X) and not _looks_like_table(list(X)):
        if len(X) == 0:
            raise ValueError("X is empty; pass at least one sequence.")
        parts = []
        for i, x in enumerate(X):
            a = _as_numeric(x, f"X[{i}]")
            if a.ndim == 1:
                a = a.reshape(-1, 1)
            if a.ndim != 2:
                raise ValueError(
                    f"X[{i}] has shape {a.shape}; each sequence must be a 2-D array "
                    "(n_timesteps, n_features), or 1-D for one feature."
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
        if parts[0].shape[1] == 0:
            raise ValueError("The sequences of X have 0 features; pass at least one.")
        dtype = _float_dtype([a.dtype for a in parts])
        seqs = Sequences(np.concatenate(parts).astype(dtype, copy=False),
                         [a.shape[0] for a in parts])
    else:
        kind = "table"
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

    if not np.isfinite(seqs.data).all():
        bad = np.flatnonzero(~np.isfinite(seqs.data).all(axis=1))[0]
        i = int(np.searchsorted(seqs.starts, bad, side="right") - 1)
        raise ValueError(
            f"Input X contains NaN or infinity (sequence {i}, step "
            f"{bad - seqs.starts[i]}); remove or impute these values first."
        )

    if reset:
        if kind == "sequences":
            estimator.n_features_in_ = seqs.n_features
            if hasattr(estimator, "feature_names_in_"):
                del estimator.feature_names_in_
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
    if kind == "sequences" and seqs.n_features != n_features:
        raise ValueError(
            f"X has {seqs.n_features} features per step, but "
            f"{type(estimator).__name__} is expecting {n_features} features as input."
        )
    return seqs, kind


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
