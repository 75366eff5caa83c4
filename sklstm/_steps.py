"""What the per-step estimators share: targets with one row per step of each
sequence, checked against the sequences' lengths, packed like the network's
rows for the loss, and the network's per-step outputs given back as one array
per sequence."""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._base import pass_batches
from ._sequences import refuse_one_pass

__all__ = ["PerStepMixin", "pack_targets", "read_step_targets", "split_rows"]


def read_step_targets(y, what):
    """``y`` as a 1-D object array of per-sequence arrays, one row per step.

    ``y`` is a list (or tuple, or 1-D object array) of per-sequence arrays,
    or, for sequences of equal length, an array with the sequences along its
    first axis (2-D ``(n_sequences, n_timesteps)``, or 3-D for several
    values per step). ``what`` names one row ("label", "target") in the
    messages.
    """
    refuse_one_pass(y, "y", f"a list with one array of {what}s per sequence")
    if hasattr(y, "iloc"):
        y = y.to_numpy()
    if isinstance(y, np.ndarray) and y.dtype != object:
        if y.ndim < 2:
            raise ValueError(
                f"y is a {y.ndim}-D array of shape {y.shape}: one {what} per "
                f"sequence, but this estimator needs one {what} per step of each "
                f"sequence. Pass a list of arrays, y[i] holding a {what} for each "
                f"step of X[i] (or a 2-D array (n_sequences, n_timesteps) for "
                "sequences of equal length).")
        parts = list(y)
    else:
        parts = list(y)
    out = np.empty(len(parts), dtype=object)
    for i, part in enumerate(parts):
        if isinstance(part, str) or np.ndim(part) == 0:
            raise ValueError(
                f"y[{i}] is the single value {part!r}; this estimator needs one "
                f"{what} per step of each sequence: pass y[i] as a list or array "
                f"of X[i]'s length.")
        out[i] = part
    return out


def check_step_lengths(y, lengths, what):
    """Raise unless ``len(y[i]) == lengths[i]`` for every sequence."""
    have = np.array([len(part) for part in y], dtype=np.intp)
    bad = np.flatnonzero(have != lengths)
    if bad.size:
        shown = ", ".join(f"y[{i}] has {have[i]} but X[{i}] has {lengths[i]}"
                          for i in bad[:5])
        more = f" (and {bad.size - 5} more)" if bad.size > 5 else ""
        raise ValueError(
            f"{bad.size} of {len(y)} sequences have a number of {what}s that is not "
            f"their number of steps: {shown}{more}. Pass one {what} per step of "
            "each sequence.")


def pack_targets(parts, plan):
    """The rows of ``parts`` (one array per sequence of a minibatch, in its
    order) in ``plan``'s packed row order."""
    lengths = plan.lengths
    starts = np.zeros_like(lengths)
    np.cumsum(lengths[:-1], out=starts[1:])
    return np.concatenate(list(parts))[plan.source_rows(starts)]


def split_rows(rows, lengths):
    """Back-to-back ``rows`` as a list of one array per sequence."""
    return np.split(rows, np.cumsum(lengths)[:-1])


class PerStepMixin:
    """The per-step head's outputs of fitted estimators, one array per
    sequence."""

    _per_step = True

    def _step_rows(self, network, flat, seqs):
        """The head's outputs of every step, back to back in the order of
        ``seqs`` (row ``seqs.starts[i] + t`` is step ``t`` of sequence ``i``),
        computed in :func:`pass_batches`."""
        out = None
        for idx in pass_batches(network, flat, seqs.lengths):
            outputs = self._outputs(network, flat, seqs, idx)
            if out is None:
                out = np.empty((seqs.data.shape[0], outputs.rows.shape[1]),
                               dtype=outputs.rows.dtype)
            out[outputs.plan.source_rows(seqs.starts[idx])] = outputs.rows
        return out

    def _step_decision(self, X):
        """``(rows, lengths)``: the head's outputs of every step of ``X``,
        back to back, and the sequences' lengths."""
        check_is_fitted(self)
        seqs = self._read_predict_input(X)
        return (self._step_rows(self._fitted_network(), self._fitted_flat(), seqs),
                seqs.lengths)
