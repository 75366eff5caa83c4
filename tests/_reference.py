"""Slow, loop-based float64 NumPy versions of sklstm's kernels: the test oracle.

Written straight from the equations in DESIGN.md, one sequence and one step
at a time, with no packing and no shared code with the kernels.
"""

import numpy as np


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def lstm_forward(X, W, U, b, lengths=None, h0=None, c0=None, reverse=False):
    """Return ``out (B, T, H)``, ``h_n (B, H)``, ``c_n (B, H)`` in float64.

    ``X`` is a padded ``(B, T, D)`` array or a list of ``(T_i, D)`` arrays.
    """
    if isinstance(X, (list, tuple)):
        lengths = [len(x) for x in X]
        seqs = [np.asarray(x, dtype=np.float64) for x in X]
        T = max(lengths)
    else:
        X = np.asarray(X, dtype=np.float64)
        if lengths is None:
            lengths = [X.shape[1]] * X.shape[0]
        seqs = [X[i, : lengths[i]] for i in range(X.shape[0])]
        T = X.shape[1]
    W, U, b = (np.asarray(a, dtype=np.float64) for a in (W, U, b))
    H = U.shape[1]
    B = len(seqs)
    out = np.zeros((B, T, H))
    h_n = np.zeros((B, H))
    c_n = np.zeros((B, H))
    for i, x in enumerate(seqs):
        h = np.zeros(H) if h0 is None else np.asarray(h0[i], dtype=np.float64)
        c = np.zeros(H) if c0 is None else np.asarray(c0[i], dtype=np.float64)
        steps = range(len(x) - 1, -1, -1) if reverse else range(len(x))
        for t in steps:
            z = W @ x[t] + U @ h + b
            i_t = _sigmoid(z[:H])
            f_t = _sigmoid(z[H : 2 * H])
            g_t = np.tanh(z[2 * H : 3 * H])
            o_t = _sigmoid(z[3 * H :])
            c = f_t * c + i_t * g_t
            h = o_t * np.tanh(c)
            out[i, t] = h
        h_n[i], c_n[i] = h, c
    return out, h_n, c_n
