"""Metrics for label sequences: edit distance, label error rate, and the
accuracy of per-step labels."""

import numpy as np

__all__ = ["edit_distance", "frame_accuracy", "label_error_rate"]


def edit_distance(a, b):
    """Levenshtein distance: insertions, deletions and substitutions from a to b.

    Parameters
    ----------
    a, b : sequence
        Strings, lists or 1-D arrays of hashable labels.

    Returns
    -------
    distance : int

    Examples
    --------
    >>> from sklstm.metrics import edit_distance
    >>> edit_distance("kitten", "sitting")
    3
    >>> edit_distance([1, 2, 3], [1, 3])
    1
    """
    a, b = list(a), list(b)
    if len(a) < len(b):
        a, b = b, a
    row = np.arange(len(b) + 1)
    for i, x in enumerate(a, start=1):
        previous, row = row, np.empty_like(row)
        row[0] = i
        for j, y in enumerate(b, start=1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (x != y))
    return int(row[-1])


def label_error_rate(y_true, y_pred):
    """Total edit distance over total reference length (Graves et al. 2006).

    Parameters
    ----------
    y_true, y_pred : list of sequences
        Reference and predicted label sequences, pairwise.

    Returns
    -------
    rate : float
        ``sum(edit_distance) / max(sum(len(y_true)), 1)``; 0 is perfect, and
        it can exceed 1.

    Examples
    --------
    >>> from sklstm.metrics import label_error_rate
    >>> label_error_rate(["abc", "de"], ["abd", "de"])
    0.2
    """
    y_true, y_pred = list(y_true), list(y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(
            f"y_true has {len(y_true)} sequences but y_pred has {len(y_pred)}.")
    errors = sum(edit_distance(t, p) for t, p in zip(y_true, y_pred))
    return errors / max(sum(len(t) for t in y_true), 1)


def frame_accuracy(y_true, y_pred, *, average="frame", sample_weight=None,
                   ignore_label=None):
    """The accuracy of per-step labels: over all steps, or per sequence.

    Parameters
    ----------
    y_true, y_pred : list of array-like of shape (n_timesteps_i,)
        True and predicted labels of every step of each sequence, pairwise
        of equal lengths (as :meth:`sklstm.LSTMTagger.predict` gives them).
    average : {"frame", "sequence"}, default="frame"
        "frame": the fraction of all labelled steps labelled right, so that
        a long sequence counts more (:meth:`sklstm.LSTMTagger.score`);
        "sequence": the mean over sequences of each one's accuracy, each
        sequence counting once (sequences without a labelled step are left
        out).
    sample_weight : array-like of shape (n_sequences,), default=None
        Weights of the sequences; with "frame", each step has its
        sequence's weight.
    ignore_label : label or None, default=None
        Steps whose true label equals it are not counted.

    Returns
    -------
    accuracy : float

    Examples
    --------
    >>> from sklstm.metrics import frame_accuracy
    >>> y_true = [[0, 0, 1, 1], [1, 1]]
    >>> y_pred = [[0, 1, 1, 1], [0, 0]]
    >>> frame_accuracy(y_true, y_pred)
    0.5
    >>> frame_accuracy(y_true, y_pred, average="sequence")
    0.375

    With :func:`sklearn.metrics.make_scorer` it scores a tagger in
    ``cross_val_score`` or ``GridSearchCV``:

    >>> from sklearn.metrics import make_scorer
    >>> scorer = make_scorer(frame_accuracy, average="sequence")
    """
    if average not in ("frame", "sequence"):
        raise ValueError(
            f"average={average!r} is not one of 'frame' (over all steps) or "
            "'sequence' (the mean of each sequence's accuracy).")
    y_true, y_pred = list(y_true), list(y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(
            f"y_true has {len(y_true)} sequences but y_pred has {len(y_pred)}.")
    if sample_weight is None:
        weights = np.ones(len(y_true))
    else:
        weights = np.asarray(sample_weight, dtype=np.float64).ravel()
        if weights.shape != (len(y_true),):
            raise ValueError(
                f"sample_weight has {weights.size} values for {len(y_true)} "
                "sequences; pass one weight per sequence.")
    right, counted = np.zeros(len(y_true)), np.zeros(len(y_true))
    for i, (t, p) in enumerate(zip(y_true, y_pred)):
        t, p = np.asarray(t), np.asarray(p)
        if t.ndim != 1 or p.ndim != 1 or t.shape != p.shape:
            raise ValueError(
                f"y_true[{i}] has shape {t.shape} and y_pred[{i}] shape {p.shape}; "
                "pass one label per step, the same number in both.")
        if ignore_label is None:
            keep = np.ones(t.shape, dtype=bool)
        else:
            nan = isinstance(ignore_label, float) and ignore_label != ignore_label
            keep = ~np.array([v != v if nan else v == ignore_label
                              for v in t.tolist()], dtype=bool)
        right[i] = np.sum(t[keep] == p[keep]) if keep.any() else 0.0
        counted[i] = keep.sum()
    if average == "frame":
        total = np.dot(weights, counted)
        return float(np.dot(weights, right) / total) if total > 0 else 0.0
    has = counted > 0
    if not has.any() or weights[has].sum() <= 0:
        return 0.0
    return float(np.average(right[has] / counted[has], weights=weights[has]))
