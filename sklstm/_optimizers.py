"""Stochastic optimizers over lists of arrays, as in scikit-learn's MLP.

Each optimizer updates the arrays in place and keeps its state (velocities,
moments) in arrays of the same shapes. An estimator stores that state as the
plain dict of :meth:`state` (a str, numbers and lists of arrays: what
``skops.io`` loads without trusting an optimizer class) and rebuilds the
optimizer with :func:`optimizer_from_state` when training resumes
(``partial_fit``).
"""

import numpy as np

from ._products import sum_of_squares

__all__ = ["AdamOptimizer", "SGDOptimizer", "clip_by_global_norm",
           "optimizer_from_state"]


class SGDOptimizer:
    """Stochastic gradient descent with momentum (Nesterov's by default).

    ``v ← momentum·v − lr·g`` then ``p ← p + v`` (or, with Nesterov,
    ``p ← p + momentum·v − lr·g``), the updates of scikit-learn's MLP.
    """

    def __init__(self, params, learning_rate_init=0.1, momentum=0.9, nesterov=True):
        self.learning_rate = learning_rate_init
        self.momentum = momentum
        self.nesterov = nesterov
        self.velocities = [np.zeros_like(p) for p in params]

    def state(self):
        """The optimizer as plain values; the arrays are its own, not copies,
        so the optimizer must not be updated afterwards."""
        return {"solver": "sgd", "learning_rate": float(self.learning_rate),
                "momentum": float(self.momentum), "nesterov": bool(self.nesterov),
                "velocities": list(self.velocities)}

    @classmethod
    def from_state(cls, state):
        """The optimizer :meth:`state` describes, on copies of its arrays."""
        optimizer = cls([], state["learning_rate"], state["momentum"],
                        state["nesterov"])
        optimizer.velocities = [np.array(v) for v in state["velocities"]]
        return optimizer

    def update(self, params, grads):
        for p, v, g in zip(params, self.velocities, grads):
            v *= self.momentum
            v -= self.learning_rate * g
            if self.nesterov:
                p += self.momentum * v - self.learning_rate * g
            else:
                p += v


class AdamOptimizer:
    """Adam (Kingma & Ba, 2014) with bias correction folded into the step size."""

    def __init__(self, params, learning_rate_init=0.001, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8):
        self.learning_rate = learning_rate_init  # a schedule may lower it
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.t = 0
        self.ms = [np.zeros_like(p) for p in params]
        self.vs = [np.zeros_like(p) for p in params]

    def state(self):
        """The optimizer as plain values; the arrays are its own, not copies,
        so the optimizer must not be updated afterwards."""
        return {"solver": "adam", "learning_rate": float(self.learning_rate),
                "beta_1": float(self.beta_1), "beta_2": float(self.beta_2),
                "epsilon": float(self.epsilon), "t": int(self.t),
                "ms": list(self.ms), "vs": list(self.vs)}

    @classmethod
    def from_state(cls, state):
        """The optimizer :meth:`state` describes, on copies of its arrays."""
        optimizer = cls([], state["learning_rate"], state["beta_1"], state["beta_2"],
                        state["epsilon"])
        optimizer.t = state["t"]
        optimizer.ms = [np.array(m) for m in state["ms"]]
        optimizer.vs = [np.array(v) for v in state["vs"]]
        return optimizer

    def update(self, params, grads):
        """One step; ``grads`` serve as scratch and are overwritten."""
        self.t += 1
        lr = (self.learning_rate * np.sqrt(1 - self.beta_2**self.t)
              / (1 - self.beta_1**self.t))
        for p, m, v, g in zip(params, self.ms, self.vs, grads):
            # in place, with one temporary: this runs once per minibatch
            m *= self.beta_1
            m += (1 - self.beta_1) * g
            v *= self.beta_2
            step = np.multiply(g, g, out=g)  # the gradient is not needed after
            step *= 1 - self.beta_2
            v += step
            np.sqrt(v, out=step)
            step += self.epsilon
            np.divide(m, step, out=step)
            step *= lr
            p -= step


_SOLVERS = {"sgd": SGDOptimizer, "adam": AdamOptimizer}


def optimizer_from_state(state):
    """The optimizer that ``state`` (an optimizer's :meth:`state`) describes,
    ready to continue: its arrays are copies, written by its updates."""
    solver = state.get("solver")
    if solver not in _SOLVERS:
        raise ValueError(f"Unknown solver {solver!r} in the stored optimizer state; "
                         f"expected one of {sorted(_SOLVERS)}.")
    return _SOLVERS[solver].from_state(state)


def clip_by_global_norm(grads, max_norm):
    """Scale ``grads`` in place so that their joint L2 norm is at most ``max_norm``.

    Returns the norm before clipping (Pascanu, Mikolov & Bengio, 2013).
    """
    norm = float(np.sqrt(sum(sum_of_squares(g) for g in grads)))
    if max_norm is not None and norm > max_norm:
        scale = max_norm / norm
        for g in grads:
            g *= scale
    return norm
