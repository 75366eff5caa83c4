"""The packed layout of a minibatch, planned once and shared by every layer.

A minibatch of ``B`` sequences is packed time-major and sorted by length,
descending (cuDNN's and PyTorch's ``PackedSequence``): step ``t`` of the
sequence in sorted slot ``j`` (``j < batch_sizes[t]``) is row
``offsets[t] + j``. The reverse direction of a bidirectional layer reads each
sequence backwards within its own length; its packed rows are a permutation
of the forward ones (``reverse_rows``), so a stack of layers runs on packed
arrays from the first layer to the head, gathering once per reverse
direction and never padding in between.
"""

import numpy as np

__all__ = ["PackedPlan"]


class PackedPlan:
    """Sorting, batch sizes and offsets of one minibatch.

    Parameters
    ----------
    lengths : ndarray of int of shape (B,)
        Each sequence's length, in the caller's order; all at least 1.

    Attributes
    ----------
    order : ndarray of shape (B,)
        ``order[j]`` is the caller's index of the sequence in sorted slot ``j``.
    batch_sizes : ndarray of shape (T,)
        Sequences still running at each step; ``T`` is the longest length.
    offsets : ndarray of shape (T + 1,)
        First packed row of each step; ``offsets[-1]`` is the number of rows.
    slot, step : ndarray of shape (n_rows,)
        Sorted slot and step of every packed row.
    last_rows : ndarray of shape (B,)
        The row of each sorted slot's last step (its final state, in either
        direction's own packing).
    """

    def __init__(self, lengths):
        lengths = np.asarray(lengths, dtype=np.intp)
        self.lengths = lengths
        self.order = np.argsort(-lengths, kind="stable")
        self.sorted_lengths = lengths[self.order]
        n_steps = int(self.sorted_lengths[0])
        self.batch_sizes = np.searchsorted(
            -self.sorted_lengths, -np.arange(n_steps), "left").astype(np.intp)
        self.offsets = np.zeros(n_steps + 1, dtype=np.intp)
        np.cumsum(self.batch_sizes, out=self.offsets[1:])
        self.step = np.repeat(np.arange(n_steps, dtype=np.intp), self.batch_sizes)
        self.slot = np.arange(self.offsets[-1], dtype=np.intp) - self.offsets[self.step]
        self.last_rows = self.offsets[self.sorted_lengths - 1] + np.arange(lengths.size)
        self._reverse = None

    @property
    def n_rows(self):
        return int(self.offsets[-1])

    @property
    def n_steps(self):
        return self.batch_sizes.size

    def time(self, reverse):
        """The time index, within its sequence, of every packed row of a direction."""
        if not reverse:
            return self.step
        return self.sorted_lengths[self.slot] - 1 - self.step

    @property
    def reverse_rows(self):
        """``reverse_rows[r]``: the forward-packed row of the reverse direction's
        packed row ``r`` (the same sequence and time)."""
        if self._reverse is None:
            self._reverse = self.offsets[self.time(True)] + self.slot
        return self._reverse

    def source_rows(self, starts, reverse=False):
        """Rows of a back-to-back store (sequence ``i`` at ``starts[i]``) that
        fill each packed row of a direction."""
        return starts[self.order][self.slot] + self.time(reverse)

    def padded_index(self, n_timesteps, reverse=False):
        """Flat index, in a ``(B, n_timesteps)`` padded array in the caller's
        order, of every packed row of a direction."""
        return self.order[self.slot] * n_timesteps + self.time(reverse)
