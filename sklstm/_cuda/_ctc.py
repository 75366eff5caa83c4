"""The CTC loss and its gradient on the GPU: the host code of ``kernels/ctc.cu``.

The counterpart of ``sklstm._core._ctc.ctc_loss``, after the validation of
``sklstm.functional.ctc_loss``: the same arguments, the same losses (the
unweighted negative log-likelihood of each sequence, ``+inf`` for an
infeasible pair) and the same gradient (each sequence's weight times the
gradient of its loss with respect to the logits, zero past its length and
for an infeasible pair). Written against the engine interface of
``sklstm._cuda._engine``, so that the tests run it with the kernels emulated
on the CPU.
"""

import numpy as np

from sklstm._cuda._engine import MAX_BLOCKS, elementwise_grid

__all__ = ["ctc_loss"]

# At most this many threads in a block of the per-sequence recursions (one
# block per sequence, its threads over the 2L + 1 states).
SEQUENCE_BLOCK = 256
_WARP = 32


def _sequence_block(n_states):
    """Threads per block for recursions over ``n_states`` states: whole warps,
    no more than the states need, at most SEQUENCE_BLOCK."""
    return min(SEQUENCE_BLOCK, max(_WARP, -(-n_states // _WARP) * _WARP))


def ctc_loss(engine, logits, lengths, flat, offsets, blank, weights):
    """CTC loss of each sequence and its weighted gradient, on ``engine``.

    The forward-backward recursions run in log space, in double precision
    whatever the precision of ``logits``, each frame shifted by the largest
    entry of the previous one (see ``kernels/ctc.cu``), so that long
    sequences and peaked logits neither overflow nor underflow.

    Parameters
    ----------
    engine : engine of sklstm._cuda._engine
        Where the kernels run (``CupyEngine``, or the tests' emulator).
    logits : array of engine.xp of shape (n_sequences, n_timesteps, n_classes)
        Class scores before softmax, float32 or float64, C-contiguous.
        ``-inf`` is a class of probability zero.
    lengths : ndarray of int of shape (n_sequences,)
        Frames of each sequence, in ``[1, n_timesteps]``.
    flat : ndarray of int
        The concatenated target labels (none equal to ``blank``); entries past
        ``offsets[-1]`` are ignored.
    offsets : ndarray of int of shape (n_sequences + 1,)
        Sequence ``b``'s labels are ``flat[offsets[b]:offsets[b + 1]]``.
    blank : int
        The index of the blank class.
    weights : ndarray of float of shape (n_sequences,)
        The factor of each sequence's gradient.

    Returns
    -------
    losses : ndarray of float64 of shape (n_sequences,)
        ``-log p(l_b | x_b)`` of each sequence, on the host; ``+inf`` when the
        target cannot be aligned with the input.
    grad : array of engine.xp like logits
        ``weights[b]`` times the gradient of ``losses[b]`` with respect to
        ``logits[b]``; zero past each length and where the loss is infinite.
    """
    xp = engine.xp
    if logits.ndim != 3:
        raise ValueError(f"logits must be 3-D (B, T, C), not of shape {logits.shape}")
    dtype = np.dtype(logits.dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"logits must be float32 or float64, not {dtype}")
    if not logits.flags.c_contiguous:
        raise ValueError("logits must be C-contiguous")
    B, T, C = map(int, logits.shape)
    lengths = np.ascontiguousarray(lengths, dtype=np.int64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    if lengths.shape != (B,) or offsets.shape != (B + 1,) or weights.shape != (B,):
        raise ValueError(f"lengths, offsets and weights must be ({B},), ({B + 1},) "
                         f"and ({B},); got {lengths.shape}, {offsets.shape} and "
                         f"{weights.shape}")
    grad = xp.empty_like(logits)
    if B == 0:
        return np.empty(0, dtype=np.float64), grad
    # one spare label, so that the address of an empty last target is inside
    labels = np.zeros(int(offsets[-1]) + 1, dtype=np.int64)
    labels[:-1] = np.asarray(flat)[: offsets[-1]]
    n_states = 2 * np.diff(offsets) + 1
    S_max = int(n_states.max())
    lattice_offsets = np.zeros(B + 1, dtype=np.int64)
    np.cumsum(lengths * n_states, out=lattice_offsets[1:])

    d_lengths = engine.asarray(lengths)
    d_labels = engine.asarray(labels)
    d_offsets = engine.asarray(offsets)
    d_lattice_offsets = engine.asarray(lattice_offsets)
    d_weights = engine.asarray(weights)
    n_frames = B * T
    frame_max = xp.empty(n_frames, dtype=np.float64)
    frame_norm = xp.empty(n_frames, dtype=np.float64)
    lattice = xp.empty(int(lattice_offsets[-1]), dtype=np.float64)
    rows = xp.empty(B * 2 * S_max, dtype=np.float64)
    losses = xp.empty(B, dtype=np.float64)

    frames = (frame_max, frame_norm)
    targets = (d_lengths, d_labels, d_offsets, blank)
    grid, block = elementwise_grid(n_frames)
    engine.launch("ctc_frame_norm", dtype, (), grid, block,
                  n_frames, C, logits, *frames)
    seq_grid, seq_block = min(B, MAX_BLOCKS), _sequence_block(S_max)
    engine.launch("ctc_alpha", dtype, (), seq_grid, seq_block,
                  B, T, C, logits, *frames, *targets, lattice, d_lattice_offsets,
                  losses)
    engine.launch("ctc_beta", dtype, (), seq_grid, seq_block,
                  B, T, C, S_max, logits, *frames, *targets, losses, lattice,
                  d_lattice_offsets, rows)
    engine.launch("ctc_grad", dtype, (), grid, block,
                  n_frames, T, C, logits, *frames, *targets, lattice,
                  d_lattice_offsets, losses, d_weights, grad)
    return engine.asnumpy(losses), grad
