"""The shared machinery of sklstm's estimators: layers, head, training loop."""

import copy
import time
import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from . import __version__
from ._optimizers import AdamOptimizer, SGDOptimizer, clip_by_global_norm
from ._schedule import PlateauSchedule
from ._sequences import (
    auto_steps_per_frame,
    fit_standardizer,
    group_steps,
    read_sequences,
    standardize,
)
from .functional import lstm_backward, lstm_forward


def log_softmax(logits, axis=-1):
    """log(softmax(logits)) along ``axis``, stable; plain NumPy, which costs a
    tenth of scipy's version on the small arrays of a minibatch."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return shifted


# Sequences per forward pass at predict time: bounds the memory of the
# padded per-layer outputs without costing speed.
_PREDICT_BATCH = 512


# "auto" batches: at most 32 sequences, and at least _AUTO_MIN_BATCHES
# minibatches per epoch where the data allows.
_AUTO_MIN_BATCHES = 4


def auto_batch_size(n):
    """The ``batch_size="auto"`` rule: ``min(32, ceil(n / _AUTO_MIN_BATCHES))``."""
    return max(1, min(32, -(-n // _AUTO_MIN_BATCHES)))


class BaseLSTM(BaseEstimator, metaclass=ABCMeta):
    """Base class of the LSTM estimators; not for direct use.

    The network: ``len(hidden_layer_sizes)`` LSTM layers (each optionally
    bidirectional, the reverse direction reading every sequence backwards
    within its own length), dropout between layers while training, a
    pooling of the last layer's outputs over each sequence's steps, and a
    dense output layer. Subclasses supply the output's loss.
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "bidirectional": ["boolean"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "solver": [StrOptions({"adam", "sgd"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "scale_inputs": ["boolean"],
        "learning_rate": [StrOptions({"constant", "adaptive"})],
        "n_updates_no_change": [Interval(Integral, 0, None, closed="left")],
    }

    @abstractmethod
    def __init__(
        self, hidden_layer_sizes, *, bidirectional, dropout, solver, alpha,
        batch_size, learning_rate_init, max_iter, shuffle, random_state, tol,
        verbose, warm_start, momentum, nesterovs_momentum, early_stopping,
        validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change,
        max_grad_norm, scale_inputs, learning_rate, n_updates_no_change,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_grad_norm = max_grad_norm
        self.scale_inputs = scale_inputs
        self.learning_rate = learning_rate
        self.n_updates_no_change = n_updates_no_change

    # --- what subclasses supply ------------------------------------------------

    @abstractmethod
    def _prepare_targets(self, y, first_call, classes=None):
        """``(Y, n_outputs)``: the targets as the output layer's loss reads them."""

    @abstractmethod
    def _loss(self, logits, Y, weights, lengths):
        """``(loss, d_logits)`` of the weighted mean loss of a batch."""

    @abstractmethod
    def _validation_score(self, logits, Y, lengths):
        """The early-stopping score of validation predictions (higher is better)."""

    # True: the output layer applies to every step (CTC), not to a pooling.
    _per_step = False

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    # --- parameters ----------------------------------------------------------------

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
        if not sizes or any(not isinstance(s, Integral) or s < 1 for s in sizes):
            raise ValueError(
                f"hidden_layer_sizes must be a positive integer or a non-empty "
                f"sequence of them; got {self.hidden_layer_sizes!r}."
            )
        return sizes

    @property
    def _n_directions(self):
        return 2 if self.bidirectional else 1

    def _initial_params(self, n_features, n_outputs, dtype, rng):
        """Fresh weights: PyTorch's uniform(±1/sqrt(H)) for the LSTM layers with
        the forget-gate bias at 1 (Gers et al. 2000; Jozefowicz et al. 2015),
        Glorot's uniform for the output layer (as scikit-learn's MLP)."""
        recurrent = []
        n_in = n_features
        for H in self._hidden_sizes():
            bound = 1 / np.sqrt(H)
            layer = []
            for _ in range(self._n_directions):
                W = rng.uniform(-bound, bound, (4 * H, n_in)).astype(dtype)
                U = rng.uniform(-bound, bound, (4 * H, H)).astype(dtype)
                b = rng.uniform(-bound, bound, 4 * H).astype(dtype)
                b[H : 2 * H] = 1
                layer.append((W, U, b))
            recurrent.append(layer)
            n_in = H * self._n_directions
        bound = np.sqrt(6 / (n_in + n_outputs))
        coef = rng.uniform(-bound, bound, (n_outputs, n_in)).astype(dtype)
        intercept = rng.uniform(-bound, bound, n_outputs).astype(dtype)
        return recurrent, coef, intercept

    def _param_shapes(self, n_features, n_outputs):
        """The shapes of the arrays of :meth:`_flatten`, in order."""
        shapes, n_in = [], n_features
        for H in self._hidden_sizes():
            shapes += [(4 * H, n_in), (4 * H, H), (4 * H,)] * self._n_directions
            n_in = H * self._n_directions
        return shapes + [(n_outputs, n_in), (n_outputs,)]

    @staticmethod
    def _flatten(recurrent, coef, intercept):
        flat = [a for layer in recurrent for direction in layer for a in direction]
        return flat + [coef, intercept]

    def _unflatten(self, flat):
        recurrent, k = [], 0
        for _ in self._hidden_sizes():
            layer = []
            for _ in range(self._n_directions):
                layer.append(tuple(flat[k : k + 3]))
                k += 3
            recurrent.append(layer)
        return recurrent, flat[k], flat[k + 1]

    # --- the network ---------------------------------------------------------------

    def _forward(self, flat, batch, lengths, rng=None):
        """Logits of a batch; with ``rng``, a training pass with dropout that also
        returns what :meth:`_backward` needs."""
        recurrent, coef, intercept = self._unflatten(flat)
        training = rng is not None
        layers = []
        inputs, kwargs = batch, {}
        for depth, layer in enumerate(recurrent):
            outs, finals, caches = [], [], []
            for direction, (W, U, b) in enumerate(layer):
                out, (h_n, _), cache = lstm_forward(inputs, W, U, b,
                                                    reverse=direction == 1, **kwargs)
                outs.append(out)
                finals.append(h_n)
                caches.append(cache)
            out = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=2)
            mask = None
            if training and self.dropout > 0 and depth < len(recurrent) - 1:
                keep = rng.random(out.shape) >= self.dropout
                mask = keep.astype(out.dtype) / (1 - self.dropout)
                out = out * mask
            layers.append((caches, mask))
            inputs, kwargs = out, {"lengths": lengths}
        if self._per_step:
            pooled, argmax = inputs, None
        else:
            pooled, argmax = self._pool(inputs, finals, lengths)
        logits = pooled @ coef.T + intercept
        if not training:
            return logits
        return logits, (layers, pooled, argmax, inputs.shape)

    def _pool(self, out, finals, lengths):
        if self.pooling == "last":
            return (finals[0] if len(finals) == 1 else np.concatenate(finals, axis=1)), None
        if self.pooling == "mean":
            return out.sum(axis=1) / lengths[:, None].astype(out.dtype), None
        steps = np.arange(out.shape[1])
        padded = np.where((steps[None, :] < lengths[:, None])[:, :, None], out, -np.inf)
        argmax = padded.argmax(axis=1)
        return np.take_along_axis(out, argmax[:, None, :], axis=1)[:, 0], argmax

    def _backward(self, flat, memory, d_logits, lengths):
        """Gradients of every array of ``flat``, in the same order."""
        recurrent, coef, _ = self._unflatten(flat)
        layers, pooled, argmax, out_shape = memory
        n_out = d_logits.shape[-1]
        d_coef = d_logits.reshape(-1, n_out).T @ pooled.reshape(-1, pooled.shape[-1])
        d_intercept = d_logits.reshape(-1, n_out).sum(axis=0)
        d_pooled = d_logits @ coef
        H = out_shape[2] // self._n_directions
        d_out, d_final = None, [None] * self._n_directions
        if self._per_step:
            d_out = d_pooled
        elif self.pooling == "last":
            d_final = [d_pooled[:, d * H : (d + 1) * H] for d in range(self._n_directions)]
        elif self.pooling == "mean":
            d_out = np.broadcast_to(
                (d_pooled / lengths[:, None].astype(d_pooled.dtype))[:, None, :], out_shape)
        else:
            d_out = np.zeros(out_shape, dtype=d_pooled.dtype)
            np.put_along_axis(d_out, argmax[:, None, :], d_pooled[:, None, :], axis=1)
        grads = []
        for depth in range(len(recurrent) - 1, -1, -1):
            caches, _ = layers[depth]
            layer_grads, d_inputs = [], None
            for direction, cache in enumerate(caches):
                d_dir = None if d_out is None else d_out[:, :, direction * H : (direction + 1) * H]
                g = lstm_backward(cache, d_dir, d_hn=d_final[direction],
                                  compute_dX=depth > 0)
                layer_grads.extend([g.dW, g.dU, g.db])
                if depth > 0:
                    d_inputs = g.dX if d_inputs is None else d_inputs + g.dX
            grads = layer_grads + grads
            if depth > 0:
                below_mask = layers[depth - 1][1]
                d_out = d_inputs if below_mask is None else d_inputs * below_mask
                H = d_out.shape[2] // self._n_directions
                d_final = [None] * self._n_directions
        return grads + [d_coef, d_intercept]

    def _decision(self, seqs):
        """Logits of every sequence, in batches, without touching the estimator."""
        flat = self._flatten(self.recurrent_params_, self.output_coef_,
                             self.output_intercept_)
        parts = []
        for start in range(0, len(seqs), _PREDICT_BATCH):
            idx = np.arange(start, min(start + _PREDICT_BATCH, len(seqs)))
            parts.append(self._forward(flat, seqs.batch(idx), seqs.lengths[idx]))
        return np.concatenate(parts)

    def _read_predict_input(self, X):
        check_is_fitted(self)
        seqs, _ = read_sequences(self, X, reset=False, fitted_kind=self._input_kind,
                                 n_features=self._n_step_features)
        return self._map_inputs(seqs)

    # --- training ------------------------------------------------------------------

    def _fit(self, X, y, sample_weight=None, *, incremental, classes=None):
        # A failed call leaves the estimator as it was: every attribute set
        # below is put back if anything raises, and training runs on copies.
        saved = self.__dict__.copy()
        try:
            return self._fit_unsafe(X, y, sample_weight, incremental=incremental,
                                    classes=classes)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _fit_unsafe(self, X, y, sample_weight, *, incremental, classes):
        fitted = hasattr(self, "recurrent_params_")
        first = not fitted or not (incremental or self.warm_start)
        seqs, kind, y, Y, n_outputs, weights = self._read_fit_input(
            X, y, sample_weight, first=first, classes=classes)
        if first:
            self._fit_input_map(seqs)
        raw_features = seqs.n_features
        seqs = self._map_inputs(seqs)
        rng = check_random_state(self.random_state) if first or not incremental \
            else self._rng
        state = self._initial_state(seqs, n_outputs, rng, first=first,
                                    incremental=incremental)
        state, converged = self._train_epochs(state, seqs, y, Y, weights, rng,
                                              incremental=incremental)
        for a in state["flat"]:
            if not np.isfinite(a).all():
                raise ValueError(
                    "Training produced non-finite weights; lower learning_rate_init "
                    "or max_grad_norm, or scale the data."
                )
        self._commit(state, rng, kind, raw_features)
        if not incremental and not converged:
            warnings.warn(
                f"Stochastic optimizer: maximum iterations ({self.max_iter}) reached "
                "and the optimization hasn't converged yet.",
                ConvergenceWarning, stacklevel=5)  # the caller of fit
        return self

    def _read_fit_input(self, X, y, sample_weight, *, first, classes):
        """The validated sequences, targets and per-sequence weights of a fit."""
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is "
                "None."
            )
        if first:
            seqs, kind = read_sequences(self, X, reset=True)
        else:
            seqs, kind = read_sequences(self, X, reset=False,
                                        fitted_kind=self._input_kind,
                                        n_features=self._n_step_features)
        n = len(seqs)
        y = self._target_array(y)
        if y.shape[0] != n:
            raise ValueError(
                f"X has {n} sequences but y has {y.shape[0]} values; pass one target "
                "per sequence."
            )
        weights = _check_sample_weight(sample_weight, np.empty((n, 1)),
                                       dtype=np.float64, ensure_non_negative=True)
        Y, n_outputs = self._prepare_targets(y, first_call=first, classes=classes)
        weights = self._check_targets(Y, seqs.lengths,
                                      weights * self._class_weights(y))
        if weights.sum() <= 0:
            raise ValueError("Sample weights must contain at least one non-zero number.")
        return seqs, kind, y, Y, n_outputs, weights

    # --- the input map: standardisation, then frames of steps ---------------------

    def _fit_input_map(self, seqs):
        """Learn ``input_mean_``, ``input_scale_`` and ``steps_per_frame_``."""
        if self.scale_inputs:
            self.input_mean_, self.input_scale_ = fit_standardizer(seqs.data)
        else:
            self.input_mean_ = np.zeros(seqs.n_features)
            self.input_scale_ = np.ones(seqs.n_features)
        self.steps_per_frame_ = self._choose_steps_per_frame(seqs.lengths)

    def _choose_steps_per_frame(self, lengths):
        """1 for per-step outputs (they have no such parameter); the parameter,
        or the rule of "auto"."""
        if self._per_step:
            return 1
        if self.steps_per_frame == "auto":
            return auto_steps_per_frame(lengths)
        return int(self.steps_per_frame)

    def _map_inputs(self, seqs):
        """Sequences as the network reads them, through the fitted input map
        (the fitted attributes alone: ``set_params`` after ``fit`` changes
        nothing until the next fit)."""
        if np.any(self.input_mean_ != 0) or np.any(self.input_scale_ != 1):
            seqs = standardize(seqs, self.input_mean_, self.input_scale_)
        return group_steps(seqs, self.steps_per_frame_)

    # --- the fit recipe ------------------------------------------------------------

    def _initial_state(self, seqs, n_outputs, rng, *, first, incremental):
        """Weights, optimizer and curves to train from: fresh, or the fitted ones."""
        dtype = seqs.dtype
        if first:
            flat = self._flatten(*self._initial_params(seqs.n_features, n_outputs,
                                                       dtype, rng))
            return {"flat": flat, "optimizer": self._make_optimizer(flat),
                    "loss_curve": [], "validation_scores": [], "best_loss": None,
                    "best_score": None, "t": 0}
        flat = [a.astype(dtype, copy=True) for a in self._flatten(
            self.recurrent_params_, self.output_coef_, self.output_intercept_)]
        expected = self._param_shapes(seqs.n_features, n_outputs)
        if [a.shape for a in flat] != expected:
            raise ValueError(
                "The fitted weights do not match hidden_layer_sizes="
                f"{self.hidden_layer_sizes!r} and bidirectional={self.bidirectional}"
                "; keep the architecture when continuing training "
                "(warm_start=True or partial_fit), or refit from scratch."
            )
        optimizer = copy.deepcopy(self._optimizer) if incremental \
            else self._make_optimizer(flat)
        return {"flat": flat, "optimizer": optimizer,
                "loss_curve": list(self.loss_curve_),
                "validation_scores": list(getattr(self, "validation_scores_", None)
                                          or []),
                "best_loss": getattr(self, "best_loss_", None),
                "best_score": getattr(self, "best_validation_score_", None),
                "t": self.t_}

    def _train_epochs(self, state, seqs, y, Y, weights, rng, *, incremental):
        """Epochs until the schedule stops (or one, for ``partial_fit``)."""
        flat, optimizer = state["flat"], state["optimizer"]
        n = len(seqs)
        early_stopping = self.early_stopping and not incremental
        train_idx = np.arange(n)
        if early_stopping:
            train_idx, val_seqs, Y_val = self._validation_split(seqs, y, Y, rng)
        batch_size = self._batch_size(len(train_idx))
        schedule = PlateauSchedule(
            n_iter_no_change=self.n_iter_no_change,
            n_updates_no_change=self.n_updates_no_change,
            updates_per_epoch=-(-len(train_idx) // batch_size), tol=self.tol,
            adaptive=self.learning_rate == "adaptive", higher_is_better=early_stopping,
            best=state["best_score"] if early_stopping else state["best_loss"])
        best_flat, converged = None, False
        for _ in range(1 if incremental else self.max_iter):
            start = time.perf_counter()
            order = rng.permutation(train_idx) if self.shuffle else train_idx
            total = 0.0
            for s in range(0, len(order), batch_size):
                idx = order[s : s + batch_size]
                loss = self._train_step(flat, optimizer, seqs, Y, weights, idx, rng)
                total += loss * len(idx)
            state["t"] += len(order)
            epoch_loss = total / len(order)
            state["loss_curve"].append(epoch_loss)
            watched = epoch_loss
            if early_stopping:
                watched = self._validation_score(
                    self._forward(flat, val_seqs.batch(range(len(val_seqs))),
                                  val_seqs.lengths), Y_val, val_seqs.lengths)
                state["validation_scores"].append(watched)
                if schedule.is_best(watched):
                    best_flat = [a.copy() for a in flat]
            event = schedule.update(watched, optimizer)
            if self.verbose:
                line = f"Epoch {len(state['loss_curve']):4d}: loss {epoch_loss:.6f}"
                if early_stopping:
                    line += f", validation score {watched:.6f}"
                if event == "decayed":
                    line += f", learning rate now {optimizer.learning_rate:.3g}"
                print(f"{line}, {time.perf_counter() - start:.2f} s")
            if not incremental and event == "stop":
                converged = True
                if self.verbose:
                    metric = "Validation score" if early_stopping else "Training loss"
                    print(f"{metric} did not improve more than tol={self.tol} for "
                          f"{schedule.patience} consecutive epochs. Stopping.")
                break
        if early_stopping:
            state["best_score"], state["best_loss"] = schedule.best, None
            if best_flat is not None:
                state["flat"] = best_flat
        else:
            state["best_score"], state["best_loss"] = None, schedule.best
        return state, converged

    def _validation_split(self, seqs, y, Y, rng):
        """Training indices, and the held-out sequences and targets."""
        n = len(seqs)
        stratify = y if self._stratify_validation() else None
        train_idx, val_idx = train_test_split(
            np.arange(n), random_state=rng, test_size=self.validation_fraction,
            stratify=stratify)
        if len(val_idx) < 1 or len(train_idx) < 1:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves no sequence "
                f"for training or validation out of {n}; lower it or turn "
                "early_stopping off."
            )
        return train_idx, seqs.subset(val_idx), Y[val_idx]

    def _commit(self, state, rng, kind, raw_features):
        """Make the trained state the fitted model; only assigns."""
        flat = state["flat"]
        recurrent, coef, intercept = self._unflatten(flat)
        for a in flat:
            a.setflags(write=False)  # fitted weights are never written in place
        self.recurrent_params_ = [[tuple(d) for d in layer] for layer in recurrent]
        self.output_coef_ = coef
        self.output_intercept_ = intercept
        self.loss_curve_ = state["loss_curve"]
        self.t_ = state["t"]
        self.n_iter_ = len(state["loss_curve"])
        early_stopped = state["best_score"] is not None
        self.validation_scores_ = state["validation_scores"] if early_stopped else None
        self.best_validation_score_ = state["best_score"]
        self.best_loss_ = state["best_loss"]
        self._optimizer = state["optimizer"]
        self._rng = rng
        self._input_kind = kind
        self._n_step_features = raw_features

    def _train_step(self, flat, optimizer, seqs, Y, weights, idx, rng):
        lengths = seqs.lengths[idx]
        logits, memory = self._forward(flat, seqs.batch(idx), lengths, rng)
        loss, d_logits = self._loss(logits, Y[idx], weights[idx], lengths)
        if not np.isfinite(loss):
            raise ValueError(
                f"The training loss became {loss}; lower learning_rate_init or "
                "max_grad_norm, or scale the data. The estimator was left as it was "
                "before this call."
            )
        grads = self._backward(flat, memory, d_logits, lengths)
        if self.alpha:
            penalised = self._penalised(flat)
            scale = self.alpha / len(idx)
            for k in penalised:
                loss += 0.5 * scale * float(np.vdot(flat[k], flat[k]))
                grads[k] += scale * flat[k]
        clip_by_global_norm(grads, self.max_grad_norm)
        optimizer.update(flat, grads)
        return loss

    def _penalised(self, flat):
        """Indices in ``flat`` of the weights (not biases) under the L2 penalty."""
        n_recurrent = len(flat) - 2
        return [k for k in range(n_recurrent) if k % 3 != 2] + [len(flat) - 2]

    def _make_optimizer(self, flat):
        if self.solver == "sgd":
            return SGDOptimizer(flat, self.learning_rate_init, self.momentum,
                                self.nesterovs_momentum)
        return AdamOptimizer(flat, self.learning_rate_init, self.beta_1, self.beta_2,
                             self.epsilon)

    def _batch_size(self, n):
        if self.batch_size == "auto":
            return auto_batch_size(n)
        if self.batch_size > n:
            warnings.warn(f"Got batch_size larger than sample size. It is going to be "
                          f"clipped to {n}.", UserWarning, stacklevel=6)
        return min(self.batch_size, n)

    def _check_targets(self, Y, lengths, weights):
        """The sample weights, after any check of the targets against lengths."""
        return weights

    def _target_array(self, y):
        return np.asarray(y) if not hasattr(y, "iloc") else y.to_numpy()

    def _class_weights(self, y):
        return 1.0

    def _stratify_validation(self):
        return False

    # --- persistence -----------------------------------------------------------------

    def __getstate__(self):
        state = super().__getstate__()
        state["_sklstm_version"] = __version__
        return state

    def __setstate__(self, state):
        version = state.pop("_sklstm_version", None)
        if version is not None and version != __version__:
            warnings.warn(
                f"This {type(self).__name__} was pickled by sklstm {version} and is "
                f"loaded by sklstm {__version__}; it may not work. Refit it with "
                f"sklstm {__version__} to be safe.",
                UserWarning, stacklevel=2)
        super().__setstate__(state)
