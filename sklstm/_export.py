"""A fitted estimator's network in the form other runtimes read: raw inputs in,
the estimator's outputs out.

An estimator does two things around its network that a PyTorch module or an
ONNX graph would not know about: it standardises the inputs
(``input_mean_``, ``input_scale_``) and, for the regressor, maps the head's
outputs back to the targets' units (``target_mean_``, ``target_scale_``).
Both are affine, so :func:`folded` folds them exactly into the first layer's
input weights and bias and into the head: with ``s`` and ``m`` the scale and
mean of a frame's columns,

    W (x - m) / s + b = (W / s) x + (b - (W / s) m)

and ``(coef z + c) * ts + tm = (ts ⊙ coef) z + (ts ⊙ c + tm)``. What is left
is the step grouping (``steps_per_frame_``): ``k`` consecutive steps read as
one frame of ``k * n_features`` values, the last frame of a sequence padded
with the mean (zero after standardisation, so that the folded weights see
exactly what the network saw). :func:`frame` is that transform in NumPy; the
ONNX graph has it as operations, the PyTorch recipe documents it.
"""

from collections import namedtuple

import numpy as np

__all__ = ["Folded", "folded", "frame"]

Folded = namedtuple("Folded", [
    "cell", "hidden_sizes", "n_directions", "head", "recurrent", "coef",
    "intercept", "steps_per_frame", "pad"])
Folded.__doc__ = """A fitted network that reads raw inputs.

``cell`` and ``head`` are the network's parts (:mod:`sklstm._network`);
``recurrent[layer][direction]`` the cell's arrays in sklstm's layout, the
first layer's input weights and bias folded; ``coef``, ``intercept`` the head,
target scaling folded; ``steps_per_frame`` the steps of a frame, ``pad``
``(n_features,)`` the value of a frame's missing steps (the input mean).
"""


def folded(est):
    """The :class:`Folded` form of the fitted estimator ``est``, in the
    precision of its weights (the folding computed in float64)."""
    network = est._fitted_network()
    recurrent = [list(layer) for layer in est.recurrent_params_]
    k = int(est.steps_per_frame_)
    mean = np.asarray(est.input_mean_, dtype=np.float64)
    scale = np.asarray(est.input_scale_, dtype=np.float64)
    m, s = np.tile(mean, k), np.tile(scale, k)
    for d, params in enumerate(recurrent[0]):
        W = params[0]
        W_raw = W.astype(np.float64) / s
        # the bias that takes the input map: b for the LSTM, b_ih for the GRU
        b_raw = params[2].astype(np.float64) - W_raw @ m
        recurrent[0][d] = (W_raw.astype(W.dtype), params[1],
                           b_raw.astype(W.dtype)) + tuple(params[3:])
    coef = est.output_coef_.astype(np.float64)
    intercept = est.output_intercept_.astype(np.float64)
    if hasattr(est, "target_scale_"):
        ts = np.asarray(est.target_scale_, dtype=np.float64)
        coef = coef * ts[:, None]
        intercept = intercept * ts + np.asarray(est.target_mean_, dtype=np.float64)
    dtype = est.output_coef_.dtype
    return Folded(network.cell, list(network.hidden_sizes), network.n_directions,
                  network.head, [tuple(layer) for layer in recurrent],
                  coef.astype(dtype), intercept.astype(dtype), k, mean.copy())


def frame(X, lengths, steps_per_frame, pad):
    """Padded raw ``X (batch, time, n_features)`` as the folded network reads
    it: ``(frames (batch, ceil(time / k), k * n_features), frame_lengths)``,
    steps past each length set to ``pad`` first (they fill the last frame of
    a sequence as the mean filled it in training). ``k = 1``: ``X`` itself."""
    lengths = np.asarray(lengths, dtype=np.intp)
    k = int(steps_per_frame)
    if k == 1:
        return X, lengths
    B, T, F = X.shape
    n_frames = -(-T // k)
    out = np.empty((B, n_frames * k, F), dtype=X.dtype)
    out[:] = np.asarray(pad, dtype=X.dtype)
    steps = np.arange(T)[None, :] < lengths[:, None]
    out[:, :T][steps] = X[steps]
    return out.reshape(B, n_frames, k * F), -(-lengths // k)
