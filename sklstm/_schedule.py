"""When training lowers its learning rate and when it stops.

Patience is counted in epochs (``n_iter_no_change``, scikit-learn's MLP
meaning) and in optimizer updates (``n_updates_no_change``), whichever is
longer: on a data set of 16 sequences an epoch is a single update, and ten
updates say nothing about a plateau.
"""

import math

__all__ = ["PlateauSchedule"]

# With learning_rate="adaptive": each plateau divides the learning rate by
# _DECAY, and the plateau after the _N_DECAYS-th division stops training.
_DECAY = 4.0
_N_DECAYS = 3


class PlateauSchedule:
    """Watches one number per epoch (a loss, or a validation score).

    Parameters
    ----------
    n_iter_no_change, n_updates_no_change : int
        Patience in epochs and in updates; the longer one applies.
    updates_per_epoch : int
    tol : float
        The least change that counts as an improvement.
    adaptive : bool
        Lower the learning rate on a plateau (until ``_N_DECAYS`` divisions)
        instead of stopping at the first one.
    higher_is_better : bool
        True for scores, False for losses.
    best : float
        The best value so far (from an earlier fit, with ``warm_start``).
    """

    def __init__(self, *, n_iter_no_change, n_updates_no_change, updates_per_epoch,
                 tol, adaptive, higher_is_better, best=None):
        self.patience = max(n_iter_no_change,
                            math.ceil(n_updates_no_change / max(updates_per_epoch, 1)))
        self.tol = tol
        self.adaptive = adaptive
        self.sign = 1.0 if higher_is_better else -1.0
        self.best = -math.inf * self.sign if best is None else best
        self.n_bad = 0
        self.n_decays = 0

    def is_best(self, value):
        """Whether ``value`` beats every value so far (by any margin)."""
        return self.sign * (value - self.best) > 0

    def update(self, value, optimizer):
        """Record an epoch's value: ``"improved"``, ``"wait"``, ``"decayed"`` (the
        optimizer's learning rate was lowered) or ``"stop"``."""
        improved = self.sign * (value - self.best) > self.tol
        if self.is_best(value):
            self.best = value
        if improved:
            self.n_bad = 0
            return "improved"
        self.n_bad += 1
        if self.n_bad <= self.patience:
            return "wait"
        if self.adaptive and self.n_decays < _N_DECAYS:
            self.n_decays += 1
            self.n_bad = 0
            optimizer.learning_rate /= _DECAY
            return "decayed"
        return "stop"
