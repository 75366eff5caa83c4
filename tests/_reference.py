"""Slow, loop-based float64 NumPy versions of sklstm's kernels: the test oracle.

Written straight from the equations in DESIGN.md, one sequence and one step
at a time, with no packing and no shared code with the kernels.
"""

import numpy as np


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


_HIDDEN_ACTIVATIONS = ("tanh", "identity")
_RECURRENT_INPUTS = ("hidden", "cell")


def _read_sequences(X, lengths):
    """``X`` as a list of float64 ``(T_i, D)`` arrays, and the padded length."""
    if isinstance(X, (list, tuple)):
        seqs = [np.asarray(x, dtype=np.float64) for x in X]
        return seqs, max(len(x) for x in seqs)
    X = np.asarray(X, dtype=np.float64)
    if lengths is None:
        lengths = [X.shape[1]] * X.shape[0]
    return [X[i, : lengths[i]] for i in range(X.shape[0])], X.shape[1]


def lstm_forward(X, W, U, b, lengths=None, h0=None, c0=None, reverse=False, *,
                 peephole=None, hidden_activation="tanh", recurrent_input="hidden"):
    """Return ``out (B, T, H)``, ``h_n (B, H)``, ``c_n (B, H)`` in float64.

    ``X`` is a padded ``(B, T, D)`` array or a list of ``(T_i, D)`` arrays.
    Gates are stacked (i, f, g, o) in ``W (4H, D)`` and ``b (4H,)``. With the
    default options this is the plain LSTM::

        z = W x_t + U h_{t-1} + b                      U (4H, H), rows i, f, g, o
        i, f, o = σ(z_i), σ(z_f), σ(z_o)   g = tanh(z_g)
        c_t = f ⊙ c_{t-1} + i ⊙ g          h_t = o ⊙ tanh(c_t)

    ``peephole=P`` of shape ``(3, H)`` (rows i, f, o) adds ``P[0] ⊙ c_{t-1}``
    to ``z_i``, ``P[1] ⊙ c_{t-1}`` to ``z_f`` and ``P[2] ⊙ c_t`` (the *new*
    cell) to ``z_o``. ``hidden_activation="identity"`` makes ``h_t = o ⊙ c_t``
    (the candidate ``g`` keeps its tanh). ``recurrent_input="cell"`` takes
    ``U (3H, H)``, rows i, f, o, applied to ``c_{t-1}`` instead of ``h_{t-1}``,
    and drops the candidate's recurrent term (``z_g = W_g x_t + b_g``); ``h0``
    is then not read at all.
    """
    if hidden_activation not in _HIDDEN_ACTIVATIONS:
        raise ValueError(f"unknown hidden_activation={hidden_activation!r}")
    if recurrent_input not in _RECURRENT_INPUTS:
        raise ValueError(f"unknown recurrent_input={recurrent_input!r}")
    seqs, T = _read_sequences(X, lengths)
    W, U, b = (np.asarray(a, dtype=np.float64) for a in (W, U, b))
    H = U.shape[1]
    n_rows = 4 * H if recurrent_input == "hidden" else 3 * H
    assert W.shape[0] == 4 * H and b.shape == (4 * H,) and U.shape == (n_rows, H)
    P = None if peephole is None else np.asarray(peephole, dtype=np.float64)
    assert P is None or P.shape == (3, H)
    B = len(seqs)
    out = np.zeros((B, T, H))
    h_n = np.zeros((B, H))
    c_n = np.zeros((B, H))
    for i, x in enumerate(seqs):
        h = np.zeros(H) if h0 is None else np.asarray(h0[i], dtype=np.float64)
        c = np.zeros(H) if c0 is None else np.asarray(c0[i], dtype=np.float64)
        steps = range(len(x) - 1, -1, -1) if reverse else range(len(x))
        for t in steps:
            if recurrent_input == "hidden":
                z = W @ x[t] + U @ h + b
                z_i, z_f = z[:H], z[H : 2 * H]
                z_g, z_o = z[2 * H : 3 * H], z[3 * H :]
            else:
                wx = W @ x[t]
                z_i = wx[:H] + U[:H] @ c + b[:H]
                z_f = wx[H : 2 * H] + U[H : 2 * H] @ c + b[H : 2 * H]
                z_g = wx[2 * H : 3 * H] + b[2 * H : 3 * H]
                z_o = wx[3 * H :] + U[2 * H :] @ c + b[3 * H :]
            if P is None:
                i_t = _sigmoid(z_i)
                f_t = _sigmoid(z_f)
            else:
                i_t = _sigmoid(z_i + P[0] * c)
                f_t = _sigmoid(z_f + P[1] * c)
            g_t = np.tanh(z_g)
            c = f_t * c + i_t * g_t
            o_t = _sigmoid(z_o) if P is None else _sigmoid(z_o + P[2] * c)
            h = o_t * np.tanh(c) if hidden_activation == "tanh" else o_t * c
            out[i, t] = h
        h_n[i], c_n[i] = h, c
    return out, h_n, c_n


def gru_forward(X, W, U, b_ih, b_hh, lengths=None, h0=None, reverse=False):
    """Return ``out (B, T, H)`` and ``h_n (B, H)`` of a GRU in float64.

    PyTorch's ``torch.nn.GRU`` variant and layout, gates stacked (r, z, n) in
    ``W (3H, D)``, ``U (3H, H)``, ``b_ih (3H,)`` and ``b_hh (3H,)``::

        r_t = σ(W_r x_t + b_ir + U_r h_{t-1} + b_hr)
        z_t = σ(W_z x_t + b_iz + U_z h_{t-1} + b_hz)
        n_t = tanh(W_n x_t + b_in + r_t ⊙ (U_n h_{t-1} + b_hn))
        h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    ``X``, ``lengths``, ``h0`` and ``reverse`` are as in :func:`lstm_forward`.
    """
    seqs, T = _read_sequences(X, lengths)
    W, U, b_ih, b_hh = (np.asarray(a, dtype=np.float64) for a in (W, U, b_ih, b_hh))
    H = U.shape[1]
    assert W.shape[0] == 3 * H and U.shape == (3 * H, H)
    assert b_ih.shape == b_hh.shape == (3 * H,)
    B = len(seqs)
    out = np.zeros((B, T, H))
    h_n = np.zeros((B, H))
    for i, x in enumerate(seqs):
        h = np.zeros(H) if h0 is None else np.asarray(h0[i], dtype=np.float64)
        steps = range(len(x) - 1, -1, -1) if reverse else range(len(x))
        for t in steps:
            gi = W @ x[t] + b_ih
            gh = U @ h + b_hh
            r_t = _sigmoid(gi[:H] + gh[:H])
            z_t = _sigmoid(gi[H : 2 * H] + gh[H : 2 * H])
            n_t = np.tanh(gi[2 * H :] + r_t * gh[2 * H :])
            h = (1 - z_t) * n_t + z_t * h
            out[i, t] = h
        h_n[i] = h
    return out, h_n


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
        dh = np.array(d_hn[s], dtype=np.float64)
        dc = np.array(d_cn[s], dtype=np.float64)
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


def ctc_log_prob(logits, target, blank=0):
    """log p(target | logits) by the CTC forward recursion in log space
    (Graves et al. 2006, eqs. 6-8): float64, one frame at a time, over the
    blank-extended target."""
    u = np.asarray(logits, dtype=np.float64)
    log_y = u - np.logaddexp.reduce(u, axis=1, keepdims=True)
    ext = [blank]
    for k in target:
        ext += [int(k), blank]
    S = len(ext)
    log_alpha = np.full(S, -np.inf)
    log_alpha[:2] = log_y[0, ext[:2]]
    for t in range(1, len(u)):
        prev = log_alpha
        log_alpha = np.full(S, -np.inf)
        for s in range(S):
            terms = [prev[s]]
            if s >= 1:
                terms.append(prev[s - 1])
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                terms.append(prev[s - 2])
            log_alpha[s] = np.logaddexp.reduce(terms) + log_y[t, ext[s]]
    return np.logaddexp.reduce(log_alpha[-2:]) if S > 1 else log_alpha[0]


def ctc_loss_log_space(logits, target, blank=0):
    """-log p(target | logits) by the forward recursion in log space: any T,
    and -inf logits (classes of probability zero) stay exact."""
    return -ctc_log_prob(logits, target, blank)


def ctc_extended(u, labels, blank):
    """(loss, gradient with respect to the logits) of one sequence's CTC by the
    log-space forward-backward recursions in ``np.longdouble`` (a 64-bit
    mantissa on x86): the judge for long sequences whose probability is far
    below the smallest double, where float64 recursions round at the scale
    of the loss."""
    ld, minus_inf = np.longdouble, np.longdouble(-np.inf)

    def log_sum(a, axis):
        m = a.max(axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        with np.errstate(divide="ignore"):  # log(0) = -inf: unreachable states
            total = np.exp(a - m).sum(axis=axis, keepdims=True)
            return (m + np.log(total)).squeeze(axis)

    u = np.asarray(u).astype(ld)
    n = len(u)
    log_y = u - log_sum(u, 1)[:, None]
    S = 2 * len(labels) + 1
    cls = np.array([labels[(s - 1) // 2] if s % 2 else blank for s in range(S)])
    skip = np.array([s % 2 == 1 and s >= 3
                     and labels[(s - 1) // 2] != labels[(s - 3) // 2]
                     for s in range(S)])
    pad = np.full(2, minus_inf)
    la = np.full((n, S), minus_inf)
    la[0, :2] = log_y[0, cls[:2]]
    for t in range(1, n):
        p = np.r_[pad, la[t - 1]]
        la[t] = log_sum(np.stack([p[2:], p[1:-1], np.where(skip, p[:-2], minus_inf)]),
                        0) + log_y[t, cls]
    log_p = log_sum(la[-1, S - 2:], 0)
    lb = np.full((n, S), minus_inf)
    lb[-1, S - 2:] = 0
    skip_next = np.r_[skip[2:], False, False]
    for t in range(n - 1, 0, -1):
        q = np.r_[lb[t] + log_y[t, cls], pad]
        lb[t - 1] = log_sum(np.stack([q[:-2], q[1:-1],
                                      np.where(skip_next, q[2:], minus_inf)]), 0)
    gamma = np.exp(la + lb - log_p)
    grad = np.exp(log_y)
    for s in range(S):
        grad[:, cls[s]] -= gamma[:, s]
    return float(-log_p), grad.astype(np.float64)
