"""Metrics for label sequences: edit distance and label error rate."""

import numpy as np

__all__ = ["edit_distance", "label_error_rate"]


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
