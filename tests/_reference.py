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


def lstm_backward(X, W, U, b, d_out, d_hn, d_cn, lengths=None, h0=None, c0=None,
                  reverse=False):
    """Gradients of ``sum(d_out * out) + sum(d_hn * h_n) + sum(d_cn * c_n)``.

    Plain backpropagation through time, one sequence at a time, in float64;
    returns ``dX, dW, dU, db, dh0, dc0`` (``dX`` padded like ``d_out``).
    """
    X = np.asarray(X, dtype=np.float64)
    W, U, b = (np.asarray(a, dtype=np.float64) for a in (W, U, b))
    B, T, D = X.shape
    H = U.shape[1]
    lengths = [T] * B if lengths is None else list(lengths)
    dX = np.zeros_like(X)
    dW, dU, db = np.zeros_like(W), np.zeros_like(U), np.zeros_like(b)
    dh0, dc0 = np.zeros((B, H)), np.zeros((B, H))
    for s in range(B):
        n = lengths[s]
        steps = list(range(n - 1, -1, -1)) if reverse else list(range(n))
        h = np.zeros(H) if h0 is None else np.asarray(h0[s], dtype=np.float64)
        c = np.zeros(H) if c0 is None else np.asarray(c0[s], dtype=np.float64)
        saved = []
        for t in steps:  # forward, keeping what the backward pass needs
            z = W @ X[s, t] + U @ h + b
            i, f = _sigmoid(z[:H]), _sigmoid(z[H : 2 * H])
            g, o = np.tanh(z[2 * H : 3 * H]), _sigmoid(z[3 * H :])
            c_new = f * c + i * g
            saved.append((t, h, c, i, f, g, o, c_new))
            h, c = o * np.tanh(c_new), c_new
        dh, dc = np.array(d_hn[s], dtype=np.float64), np.array(d_cn[s], dtype=np.float64)
        for t, h_prev, c_prev, i, f, g, o, c_t in reversed(saved):
            dh = dh + d_out[s, t]
            tc = np.tanh(c_t)
            do = dh * tc
            dc = dc + dh * o * (1 - tc**2)
            dz = np.concatenate([
                dc * g * i * (1 - i),
                dc * c_prev * f * (1 - f),
                dc * i * (1 - g**2),
                do * o * (1 - o),
            ])
            dW += np.outer(dz, X[s, t])
            dU += np.outer(dz, h_prev)
            db += dz
            dX[s, t] = W.T @ dz
            dh = U.T @ dz
            dc = dc * f
        dh0[s], dc0[s] = dh, dc
    return dX, dW, dU, db, dh0, dc0


def _softmax(logits):
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _collapse(path, blank):
    out, previous = [], None
    for k in path:
        if k != previous and k != blank:
            out.append(int(k))
        previous = k
    return tuple(out)


def ctc_labelling_probs(logits, blank=0):
    """Every labelling's probability, by brute force over all C**T paths."""
    import itertools

    y = _softmax(np.asarray(logits, dtype=np.float64))
    T, C = y.shape
    probs = {}
    for path in itertools.product(range(C), repeat=T):
        p = np.prod(y[np.arange(T), path])
        key = _collapse(path, blank)
        probs[key] = probs.get(key, 0.0) + p
    return probs


def ctc_loss(logits, target, blank=0):
    """-log p(target | logits) by brute force (small T and C only)."""
    p = ctc_labelling_probs(logits, blank).get(tuple(int(k) for k in target), 0.0)
    return -np.log(p) if p > 0 else np.inf
