"""``solver="evolino"``: recurrent weights evolved, the output layer solved.

Evolino (Schmidhuber, Wierstra, Gagliolo & Gomez, 2007) trains a recurrent
network without gradients: an evolution strategy proposes the recurrent
weights, and for each proposal the linear output layer that is best for it
is computed in closed form from the hidden states. Here the strategy is the
sep-CMA-ES of :mod:`sklstm._evolution` over every recurrent array of every
layer and direction (``W``, ``U``, ``b`` and, with peepholes, ``P``), and the
output layer of a candidate is the ridge regression of the standardised
targets on the head's input (the pooled last layer for
:class:`~sklstm.LSTMRegressor`, every step's output for
:class:`~sklstm.LSTMSequenceRegressor`), with an unpenalised intercept: what
``sklearn.linear_model.Ridge(alpha=alpha).fit(features, targets,
sample_weight=weights)`` finds. A candidate's fitness is half the weighted
mean squared error of that head on the training sequences (the data term of
the gradient solvers' loss); each candidate costs one forward pass over all
of them, in the batches of a prediction pass (the kernels run the time loop).
"""

from numbers import Integral, Real

import numpy as np
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import _Diverged, pass_batches
from ._evolution import EvolutionCore, default_population_size
from ._schedule import PlateauSchedule
from ._steps import pack_targets

__all__ = ["EVOLINO_CONSTRAINTS", "EvolinoMixin", "EvolinoProblem", "ridge_head"]

#: The parameters ``solver="evolino"`` adds to a regressor's constraints.
EVOLINO_CONSTRAINTS = {
    "solver": [StrOptions({"adam", "sgd", "evolino"})],
    "population_size": [StrOptions({"auto"}),
                        Interval(Integral, 2, None, closed="left")],
    "sigma": [Interval(Real, 0, None, closed="neither")],
}


def ridge_head(features, targets, weights, alpha):
    """``(coef, intercept)`` minimising ``Σ_i w_i ||y_i - coef φ_i - b||² +
    alpha ||coef||²``, in float64: ``coef`` ``(n_outputs, n_features)``.

    The weighted means are taken out first (the intercept is not penalised,
    as in scikit-learn's ``Ridge``), then the ``n_features``-square normal
    equations are solved; without a penalty a singular system falls back to
    the least-squares solution of least norm.
    """
    phi = np.asarray(features, dtype=np.float64)
    Y = np.asarray(targets, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    phi_mean, y_mean = w @ phi, w @ Y
    phi_c = phi - phi_mean
    weighted = phi_c * w[:, None]
    gram = phi_c.T @ weighted
    gram.flat[:: gram.shape[0] + 1] += alpha / float(np.sum(weights))
    rhs = weighted.T @ (Y - y_mean)
    try:
        beta = np.linalg.solve(gram, rhs)
    except np.linalg.LinAlgError:
        beta = np.linalg.lstsq(gram, rhs, rcond=None)[0]
    return beta.T, y_mean - phi_mean @ beta


class EvolinoProblem:
    """The training sequences ``idx`` of ``seqs`` packed once, and what a
    candidate's recurrent weights give on them.

    ``template`` is a flat weight list of ``network`` (its head's arrays only
    give the dtype and the number of outputs); a candidate is a float64
    vector of the recurrent arrays, raveled and concatenated.
    """

    def __init__(self, network, template, seqs, Y, weights, idx, alpha):
        self.network = network
        self.alpha = alpha
        self.dtype = template[0].dtype
        self.shapes = [a.shape for a in template[:-2]]
        self.template = template
        self.batches, targets, row_weights = [], [], []
        sub = seqs.subset(idx)
        for batch in pass_batches(network, template, sub.lengths):
            plan, X = network.pack(sub, batch)
            self.batches.append((plan, X))
            if network.head.per_step:
                targets.append(pack_targets(list(Y[idx][batch]), plan))
                row_weights.append(weights[idx][batch][plan.order][plan.slot])
            else:
                targets.append(Y[idx][batch])
                row_weights.append(weights[idx][batch])
        self.targets = np.concatenate(targets).astype(np.float64)
        self.weights = np.concatenate(row_weights)

    def vector(self, flat):
        """The candidate vector of a flat weight list's recurrent arrays."""
        return np.concatenate([np.ravel(a).astype(np.float64) for a in flat[:-2]])

    def flat(self, x, coef=None, intercept=None):
        """The flat weight list of candidate ``x`` with a head (the template's
        placeholders when none is given), in the network's dtype."""
        arrays, start = [], 0
        for shape in self.shapes:
            size = int(np.prod(shape))
            arrays.append(x[start : start + size].reshape(shape).astype(self.dtype))
            start += size
        head = self.template[-2:] if coef is None else [
            np.asarray(coef, self.dtype), np.asarray(intercept, self.dtype)]
        return arrays + list(head)

    def features(self, flat):
        """The head's input on every training row, in the targets' order."""
        return np.concatenate([self.network.features(flat, plan, X)
                               for plan, X in self.batches])

    def evaluate(self, x):
        """``(loss, coef, intercept)`` of candidate ``x``: its ridge head and
        half the weighted mean squared error of that head (``inf`` when the
        weights or the hidden states are not finite)."""
        if not np.isfinite(x).all():
            return np.inf, None, None
        phi = self.features(self.flat(x))
        if not np.isfinite(phi).all():
            return np.inf, None, None
        coef, intercept = ridge_head(phi, self.targets, self.weights, self.alpha)
        diff = phi @ coef.T + intercept - self.targets
        loss = 0.5 * float(self.weights @ np.mean(diff * diff, axis=1)
                           / self.weights.sum())
        return loss, coef, intercept

    def score(self, flat):
        """R² of the weights ``flat`` on these rows."""
        phi = self.features(flat)
        coef, intercept = flat[-2].astype(np.float64), flat[-1].astype(np.float64)
        return r2_score(self.targets, phi @ coef.T + intercept,
                        sample_weight=self.weights)


class EvolinoMixin:
    """What ``solver="evolino"`` adds to a regressor of :class:`BaseLSTM`:
    the generations in place of the epochs, and no optimizer."""

    def _is_gradient_solver(self):
        """partial_fit's ``available_if``: an epoch is a gradient solver's."""
        if self.solver == "evolino":
            raise AttributeError(
                "partial_fit is not available with solver='evolino': a generation "
                "needs every training sequence at once. Use fit (warm_start=True "
                "continues the evolution), or solver='adam' or 'sgd'.")
        return True

    def _divergence_advice(self, continuing):
        if self.solver != "evolino":
            return super()._divergence_advice(continuing)
        return "lower sigma, or scale the data."

    def _make_optimizer(self, flat):
        return None if self.solver == "evolino" else super()._make_optimizer(flat)

    def _train(self, state, seqs, y, Y, weights, rng, *, incremental):
        if self.solver != "evolino":
            return super()._train(state, seqs, y, Y, weights, rng,
                                  incremental=incremental)
        return self._evolve(state, seqs, y, Y, weights, rng)

    def _population_size(self, n):
        if self.population_size == "auto":
            return default_population_size(n)
        return int(self.population_size)

    def _evolution_core(self, problem, state, rng):
        """The strategy to run: the stored one when ``warm_start`` continues an
        evolution of the same size, else a fresh one around the weights."""
        x0 = problem.vector(state["flat"])
        stored = getattr(self, "_evolution_state", None)
        population_size = self._population_size(x0.size)
        if (not state["first"] and stored is not None
                and stored["population_size"] == population_size
                and stored["mean"].size == x0.size):
            return EvolutionCore.from_state(stored)
        return EvolutionCore(x0, sigma=self.sigma, population_size=population_size,
                             random_state=rng)

    def _evolve(self, state, seqs, y, Y, weights, rng):
        """Generations until ``max_iter`` or a plateau of ``n_iter_no_change``
        generations; the best candidate (by training loss, or by validation
        R² with ``early_stopping``) becomes ``state["flat"]``."""
        network = self._network()
        train_idx, validation = np.arange(len(seqs)), None
        if self.early_stopping:
            train_idx, val_seqs, val_Y = self._validation_split(seqs, y, Y, rng)
            validation = EvolinoProblem(
                network, state["flat"], val_seqs, val_Y,
                np.ones(len(val_seqs)), np.arange(len(val_seqs)), self.alpha)
        problem = EvolinoProblem(network, state["flat"], seqs, Y, weights, train_idx,
                                 self.alpha)
        core = self._evolution_core(problem, state, rng)
        schedule = PlateauSchedule(
            n_iter_no_change=self.n_iter_no_change, n_updates_no_change=0,
            updates_per_epoch=1, tol=self.tol, adaptive=False,
            higher_is_better=self.early_stopping,
            best=state["best_score"] if self.early_stopping else state["best_loss"])
        best_flat, best_loss = None, np.inf
        if not state["first"]:  # training on never ends worse than it began
            loss, coef, intercept = problem.evaluate(problem.vector(state["flat"]))
            if np.isfinite(loss):
                best_flat, best_loss = problem.flat(
                    problem.vector(state["flat"]), coef, intercept), loss
        converged = False
        for _ in range(self.max_iter):
            candidates = core.ask()
            results = [problem.evaluate(x) for x in candidates]
            losses = np.array([r[0] for r in results])
            core.tell(losses)
            k = int(np.argmin(losses))
            gen_flat = problem.flat(candidates[k], *results[k][1:]) \
                if np.isfinite(losses[k]) else None
            state["loss_curve"].append(float(losses[k]))
            state["t"] += len(train_idx) * len(candidates)
            watched = float(losses[k])
            if validation is not None:
                watched = -np.inf if gen_flat is None else validation.score(gen_flat)
                state["validation_scores"].append(watched)
                if schedule.is_best(watched):
                    best_flat = gen_flat
            elif losses[k] < best_loss:
                best_flat, best_loss = gen_flat, float(losses[k])
            event = schedule.update(watched, None)
            converged = event == "stop"
            if self.verbose:
                line = (f"Generation {len(state['loss_curve']):4d}: loss "
                        f"{losses[k]:.6f}, sigma {core.sigma:.3g}")
                if validation is not None:
                    line += f", validation score {watched:.6f}"
                print(line)
            if converged:
                break
        if best_flat is None:
            raise _Diverged("No candidate of the evolution had finite hidden states")
        state["flat"] = best_flat
        state["evolution"] = core.state()
        if self.early_stopping:
            state["best_score"], state["best_loss"] = schedule.best, None
        else:
            state["best_score"], state["best_loss"] = None, min(
                best_loss, schedule.best)
        return state, converged
