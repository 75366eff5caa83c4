"""The shared machinery of sklstm's estimators: layers, head, training loop."""

import time
import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    StrOptions,
)
from sklearn.utils.validation import _check_sample_weight, check_is_fitted
from threadpoolctl import ThreadpoolController

from ._network import Network, PooledHead, StepHead, make_cell
from ._optimizers import (
    AdamOptimizer,
    SGDOptimizer,
    clip_by_global_norm,
    optimizer_from_state,
)
from ._products import dot, sum_of_squares
from ._schedule import PlateauSchedule
from ._sequences import (
    auto_steps_per_frame,
    fit_standardizer,
    group_steps,
    read_sequences,
    refuse_one_pass,
    standardize,
)
from ._version import __version__
from ._weights import read_state_dict, state_dict


def log_softmax(logits, axis=-1):
    """log(softmax(logits)) along ``axis``, stable; plain NumPy, which costs a
    tenth of scipy's version on the small arrays of a minibatch."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return shifted


def softmax_cross_entropy(logits, codes, weights, label_smoothing=0.0):
    """The weighted mean cross-entropy of the rows of ``logits`` (``(n, K)``)
    against targets ``(1 - eps) * onehot(codes) + eps / K`` (``eps``:
    ``label_smoothing``), and its gradient ``w * (softmax - targets)``, with
    ``w`` the ``(n,)`` ``weights`` divided by their sum (unless it is 0), in
    the dtype of ``logits``."""
    total = weights.sum()
    weights = (weights / total if total > 0 else weights).astype(logits.dtype)
    log_p = log_softmax(logits, axis=1)
    rows = np.arange(len(codes))
    eps = label_smoothing
    per_row = log_p[rows, codes]
    d_logits = np.exp(log_p)
    if eps:
        n_classes = logits.shape[1]
        per_row = (1 - eps) * per_row + (eps / n_classes) * log_p.sum(axis=1)
        d_logits -= eps / n_classes
    loss = -dot(weights, per_row.astype(logits.dtype, copy=False))
    d_logits[rows, codes] -= 1 - eps
    d_logits *= weights[:, None]
    return loss, d_logits


def smoothed_targets_entropy(label_smoothing, n_classes):
    """The entropy of the targets of ``softmax_cross_entropy``: the least value
    its loss can take, whatever the weights (0 without smoothing)."""
    eps = label_smoothing
    if not eps:
        return 0.0
    high, low = 1 - eps + eps / n_classes, eps / n_classes
    return float(-(high * np.log(high) + (n_classes - 1) * low * np.log(low)))


# Values of the widest array (a layer's output, or the per-step head's
# logits) per batch of a pass outside training (predict, the early-stopping
# validation pass): 32 MiB in float64, 2**16 steps of a bidirectional layer
# of 32 units. A pass holds a layer's input and output for its batch, so its
# memory is bounded whatever the number of sequences or the longest of them
# (a longer sequence runs alone); more would not be faster.
_PASS_VALUES = 2**22


# Without early stopping, ``fit`` ends with the weights of the epoch of
# lowest training loss instead of the last epoch's when the last epoch's loss
# is above _SPIKE_RATIO times the lowest, both measured from the least value
# the loss can take (``_loss_floor``: 0, or the smoothed targets' entropy), and
# above the lowest by more than ``tol``:
# a fit that ends within a spike of the loss does not keep the spike's
# weights (see ``_train_epochs``). 0 turns it off (for experiments:
# bench_accuracy's --patch).
_SPIKE_RATIO = 2.0


# Sequences per batch of a pass, at most: the kernels' time loop over more
# rows a step runs out of cache (2000 sequences of 50-500 steps, 32 units, one
# thread: 2.0-2.3 s as one batch, 1.7 s in batches of 512).
_PASS_SEQUENCES = 512


def predict_batches(lengths, max_steps):
    """Index arrays of the batches of one pass: consecutive sequences in order
    of decreasing length, each batch at most ``_PASS_SEQUENCES`` sequences
    with ``n * longest <= max_steps`` (or a single longer sequence), so that
    batches of similar lengths keep the per-step head's padding small."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    batches, start = [], 0
    while start < order.size:
        n = max(1, min(_PASS_SEQUENCES, max_steps // int(lengths[order[start]])))
        stop = start + n
        batches.append(order[start:stop])
        start = stop
    return batches


def pass_batches(network, flat, lengths):
    """The :func:`predict_batches` of a pass of ``network`` with weights
    ``flat``: ``_PASS_VALUES`` values of its widest array per batch."""
    width = max(max(network.hidden_sizes) * network.n_directions, flat[-1].size)
    return predict_batches(lengths, max(1, _PASS_VALUES // width))


# "auto" batches: at most 32 sequences, and at least _AUTO_MIN_BATCHES
# minibatches per epoch where the data allows.
_AUTO_MIN_BATCHES = 4


_BLAS = None


def blas_on_one_thread():
    """A context in which BLAS runs on one thread (numpy's products of the
    head, the optimizer and the scaling; the kernels do not use BLAS).
    OpenBLAS keeps its threads spinning after each call, and they took the
    cores from the kernels' OpenMP threads: a CTC fit (1500 digit lines, 2
    epochs, 2 cores) took 4.10 s with both at two threads, 0.94 s with BLAS
    at one (0.95 s with everything at one). The limit only lowers BLAS's
    thread count, for the duration of the call, as scikit-learn's KMeans does."""
    global _BLAS
    if _BLAS is None:
        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


def auto_batch_size(n):
    """The ``batch_size="auto"`` rule: ``min(32, ceil(n / _AUTO_MIN_BATCHES))``."""
    return max(1, min(32, -(-n // _AUTO_MIN_BATCHES)))


def check_hidden_sizes(hidden_layer_sizes):
    """``hidden_layer_sizes`` as a list of positive ints, or a ValueError."""
    sizes = hidden_layer_sizes
    sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
    if not sizes or any(not isinstance(s, Integral) or isinstance(s, bool)
                        or s < 1 for s in sizes):
        raise ValueError(
            f"hidden_layer_sizes must be a positive integer or a non-empty "
            f"sequence of them; got {hidden_layer_sizes!r}."
        )
    return sizes


class _Diverged(ValueError):
    """The loss or the weights of a training call became non-finite; the fit
    recipe adds the advice that applies to the call."""


# The bit generators a RandomState may run on (MT19937 unless the user's
# random_state was built on another).
_BIT_GENERATORS = ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64")


def _rng_state(rng):
    """The state of the RandomState ``rng`` in plain values: nested dicts of
    str, int, float and arrays (``bit_generator.state`` and the cached
    Gaussian). A pickle of it holds no ``numpy.random`` object, whose pickled
    form changed between NumPy 1 and 2 (``MT19937 is not a known BitGenerator
    module``), and it is what a format without pickle can store."""
    def plain(value):
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, np.ndarray):
            return value.copy()
        return value.item() if isinstance(value, np.generic) else value

    return plain(rng.get_state(legacy=False))


def _rng_from_state(state):
    """A RandomState that continues where the one ``_rng_state`` read stopped."""
    name = state["bit_generator"]
    if name not in _BIT_GENERATORS:
        raise ValueError(f"Unknown bit generator {name!r} in the stored random "
                         f"state; expected one of {_BIT_GENERATORS}.")
    rng = np.random.RandomState(getattr(np.random, name)(0))
    rng.set_state(state)
    return rng


def _freeze(weights, optimizer_state):
    """Make the fitted weights and the arrays of the optimizer's state
    read-only, as ``fit`` leaves them and as loading restores them (pickle
    and skops.io give writeable arrays, or not, depending on the format)."""
    arrays = list(weights) + [a for value in (optimizer_state or {}).values()
                              if isinstance(value, list) for a in value]
    for a in arrays:
        a.setflags(write=False)


class BaseLSTM(BaseEstimator, metaclass=ABCMeta):
    """Base class of the LSTM estimators; not for direct use.

    The network: ``len(hidden_layer_sizes)`` LSTM layers (each optionally
    bidirectional, the reverse direction reading every sequence backwards
    within its own length), dropout between layers while training, a
    pooling of the last layer's outputs over each sequence's steps, and a
    dense output layer. Subclasses supply the output's loss.
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like",
                               Interval(Integral, 1, None, closed="left")],
        "bidirectional": ["boolean"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "solver": [StrOptions({"adam", "sgd"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}),
                       Interval(Integral, 1, None, closed="left")],
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
        "cell": [StrOptions({"lstm", "peephole", "gru"})],
        "hidden_activation": [StrOptions({"tanh", "identity"})],
        "recurrent_input": [StrOptions({"hidden", "cell"})],
    }

    @abstractmethod
    def __init__(
        self, hidden_layer_sizes, *, bidirectional, dropout, solver, alpha,
        batch_size, learning_rate_init, max_iter, shuffle, random_state, tol,
        verbose, warm_start, momentum, nesterovs_momentum, early_stopping,
        validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change,
        max_grad_norm, scale_inputs, learning_rate, n_updates_no_change, cell,
        hidden_activation, recurrent_input,
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
        self.cell = cell
        self.hidden_activation = hidden_activation
        self.recurrent_input = recurrent_input

    # --- what subclasses supply ------------------------------------------------

    @abstractmethod
    def _prepare_targets(self, y, first_call, classes=None):
        """``(Y, n_outputs)``: the targets as the output layer's loss reads them."""

    @abstractmethod
    def _loss(self, logits, Y, weights, lengths):
        """``(loss, d_logits)`` of the weighted mean loss of a batch."""

    @abstractmethod
    def _validation_score(self, network, flat, seqs, Y):
        """The early-stopping score (higher is better) of the held-out ``seqs``
        with targets ``Y``, predicted in :func:`pass_batches`."""

    # True: the output layer applies to every step (CTC), not to a pooling.
    _per_step = False

    # The fewest held-out sequences whose validation score means something.
    _min_validation_sequences = 1

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    # --- parameters ----------------------------------------------------------------

    def _validate_params(self):
        """scikit-learn's validation, after refusing booleans for numbers: an
        ``Interval`` admits ``True`` as the integer 1, but ``beam_width=True``
        or ``max_iter=False`` is a mistake, not a size."""
        params = self.get_params(deep=False)
        for name, constraints in self._parameter_constraints.items():
            value = params.get(name)
            numbers = [str(c) for c in constraints if isinstance(c, Interval)]
            if (isinstance(value, (bool, np.bool_)) and numbers
                    and "boolean" not in constraints):
                raise InvalidParameterError(
                    f"The {name!r} parameter of {type(self).__name__} must be "
                    f"{' or '.join(numbers)}, not the boolean {value!r}: a boolean "
                    "is not a size or a rate here."
                )
        super()._validate_params()

    def _hidden_sizes(self):
        return check_hidden_sizes(self.hidden_layer_sizes)

    # The parameters that define the function the network computes: fit
    # records them (``_fitted_structure``), predicting reads the record, and
    # training on from the fitted weights requires them unchanged.
    _STRUCTURE = ("hidden_layer_sizes", "bidirectional", "cell", "hidden_activation",
                  "recurrent_input", "pooling")

    def _structure(self):
        """The structural parameters as they are now, normalised."""
        return {name: (tuple(self._hidden_sizes()) if name == "hidden_layer_sizes"
                       else getattr(self, name))
                for name in self._STRUCTURE if name in self._get_param_names()}

    def _check_structure(self):
        """Raise unless the structural parameters are those of the fit."""
        now, fitted = self._structure(), self._fitted_structure
        changed = [name for name in fitted if now[name] != fitted[name]]
        if changed:
            shown = ", ".join(f"{name}={now[name]!r} (fitted with {fitted[name]!r})"
                              for name in changed)
            raise ValueError(
                f"{shown}; keep the architecture when continuing training "
                "(warm_start=True or partial_fit): set the fitted value back, or "
                "refit from scratch (fit with warm_start=False)."
            )

    def _network(self, structure=None):
        """The network of ``structure`` (default: the parameters as they are
        now), built afresh: it holds no state, so estimators stay plain
        parameter holders."""
        p = self._structure() if structure is None else structure
        if p["cell"] == "gru":
            for name, default in (("hidden_activation", "tanh"),
                                  ("recurrent_input", "hidden")):
                if p[name] != default:
                    raise ValueError(
                        f"{name}={p[name]!r} applies to the LSTM cells; "
                        f"cell='gru' has no such option: leave {name}={default!r} or "
                        "choose cell='lstm' or 'peephole'.")
        cell = make_cell(p["cell"], p["hidden_activation"], p["recurrent_input"])
        head = StepHead() if self._per_step else PooledHead(p["pooling"])
        return Network(cell, p["hidden_layer_sizes"], 2 if p["bidirectional"] else 1,
                       head, self.dropout)

    def _fitted_network(self):
        """The network of the fit, whatever the parameters say now."""
        return self._network(self._fitted_structure)

    def _fitted_flat(self):
        return Network.join(self.recurrent_params_, self.output_coef_,
                            self.output_intercept_)

    def _outputs(self, network, flat, seqs, idx):
        """The head's outputs for the sequences ``idx`` of ``seqs``."""
        plan, X = network.pack(seqs, idx)
        with blas_on_one_thread():
            return network.forward(flat, plan, X)

    def _batched_outputs(self, network, flat, seqs):
        """Pooled outputs of every sequence, in :func:`pass_batches`, in the
        order of ``seqs``."""
        out = None
        for idx in pass_batches(network, flat, seqs.lengths):
            part = self._outputs(network, flat, seqs, idx)
            if out is None:
                out = np.empty((len(seqs), part.shape[1]), dtype=part.dtype)
            out[idx] = part
        return out

    def _decision(self, seqs):
        """Outputs of every sequence without touching the estimator."""
        return self._batched_outputs(self._fitted_network(), self._fitted_flat(),
                                     seqs)

    def _read_predict_steps(self, X):
        """``X`` read as the fitted model's input form, before the input map."""
        check_is_fitted(self)
        seqs, _ = read_sequences(self, X, reset=False, fitted_kind=self._input_kind,
                                 n_features=self._n_step_features)
        return seqs

    def _read_predict_input(self, X):
        return self._map_inputs(self._read_predict_steps(X))

    # --- training ------------------------------------------------------------------

    def _fit(self, X, y, sample_weight=None, *, incremental, classes=None):
        # A failed call leaves the estimator as it was. Training writes into
        # nothing the estimator holds (it draws from a generator rebuilt from
        # the stored _rng_state, rebuilds the optimizer on copies of the stored
        # _optimizer_state and copies the weights), and only assigns
        # attributes, so restoring a shallow copy of __dict__ is enough; a
        # RandomState passed as random_state is the one object it advances,
        # and its state is put back too (None's global RandomState is not the
        # estimator's, and is left alone).
        saved = self.__dict__.copy()
        user_rng = self.random_state
        user_rng_state = user_rng.get_state(legacy=False) \
            if isinstance(user_rng, np.random.RandomState) else None
        try:
            with blas_on_one_thread():
                return self._fit_unsafe(X, y, sample_weight, incremental=incremental,
                                        classes=classes)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            if user_rng_state is not None:
                user_rng.set_state(user_rng_state)
            raise

    def _fit_unsafe(self, X, y, sample_weight, *, incremental, classes):
        fitted = hasattr(self, "recurrent_params_")
        first = not fitted or not (incremental or self.warm_start)
        seqs, kind, y, Y, n_outputs, weights = self._read_fit_input(
            X, y, sample_weight, first=first, classes=classes)
        if first:
            self._fit_input_map(seqs, Y)
        raw_features = seqs.n_features
        seqs = self._map_inputs(seqs)
        weights = self._check_targets(Y, seqs.lengths, weights)
        if weights.sum() <= 0:
            raise ValueError(
                "Sample weights must contain at least one non-zero number.")
        continuing = incremental and not first  # partial_fit keeps its optimizer
        rng = _rng_from_state(self._rng_state) if continuing \
            else check_random_state(self.random_state)
        state = self._initial_state(seqs, n_outputs, rng, first=first,
                                    incremental=incremental)
        try:
            state, converged = self._train(state, seqs, y, Y, weights, rng,
                                           incremental=incremental)
            for a in state["flat"]:
                if not np.isfinite(a).all():
                    raise _Diverged("Training produced non-finite weights")
        except _Diverged as exc:
            raise ValueError(f"{exc}; {self._divergence_advice(continuing)} The "
                             "estimator was left as it was before this call.") from None
        self._commit(state, rng, kind, raw_features)
        if not incremental and not converged:
            what = "Evolino: maximum generations" if self.solver == "evolino" \
                else "Stochastic optimizer: maximum iterations"
            warnings.warn(
                f"{what} ({self.max_iter}) reached and the optimization hasn't "
                "converged yet.", ConvergenceWarning, stacklevel=5)  # fit's caller
        return self

    def _divergence_advice(self, continuing):
        """What to try when the loss or the weights of this call diverged."""
        if not continuing:
            return "lower learning_rate_init or max_grad_norm, or scale the data."
        # the optimizer, learning rate included, is the one of the call that
        # started training (MLP's _fit_stochastic does the same)
        return ("partial_fit continues with the optimizer and learning rate of "
                "the call that started training, which set_params does not change: "
                "refit with a lower learning_rate_init (fit, or partial_fit on a "
                "clone), lower max_grad_norm, or scale the data.")

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
        refuse_one_pass(y, "y", "a list or 1-D array of one target per sequence")
        y = self._target_array(y)
        if y.shape[0] != n:
            raise ValueError(
                f"X has {n} sequences but y has {y.shape[0]} values; pass one target "
                "per sequence."
            )
        weights = _check_sample_weight(sample_weight, np.empty((n, 1)),
                                       dtype=np.float64, ensure_non_negative=True)
        Y, n_outputs = self._prepare_targets(y, first_call=first, classes=classes)
        return seqs, kind, y, Y, n_outputs, weights * self._class_weights(y)

    # --- the input map: standardisation, then frames of steps ---------------------

    def _fit_input_map(self, seqs, Y):
        """Learn ``input_mean_``, ``input_scale_`` and ``steps_per_frame_``."""
        if self.scale_inputs:
            self.input_mean_, self.input_scale_ = fit_standardizer(seqs.data)
        else:
            self.input_mean_ = np.zeros(seqs.n_features)
            self.input_scale_ = np.ones(seqs.n_features)
        self.steps_per_frame_ = self._choose_steps_per_frame(seqs.lengths, Y)

    def _choose_steps_per_frame(self, lengths, Y):
        """1 for per-step outputs (they have no such parameter); the parameter,
        or the rule of "auto". ``Y``: the targets, as ``_prepare_targets``
        gives them."""
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
        network = self._network()
        if first:
            flat = network.init(rng, seqs.n_features, n_outputs, dtype)
            return {"flat": flat, "optimizer": self._make_optimizer(flat),
                    "loss_curve": [], "validation_scores": [], "best_loss": None,
                    "best_score": None, "t": 0, "first": True}
        self._check_structure()
        flat = [a.astype(dtype, copy=True) for a in self._fitted_flat()]
        expected = network.shapes(seqs.n_features, n_outputs)
        if [a.shape for a in flat] != expected:
            raise ValueError(
                "The fitted weights do not match hidden_layer_sizes="
                f"{self.hidden_layer_sizes!r}, bidirectional={self.bidirectional}, "
                f"cell={self.cell!r} and recurrent_input={self.recurrent_input!r}"
                "; keep the architecture when continuing training "
                "(warm_start=True or partial_fit), or refit from scratch."
            )
        # a model built by from_weights has no optimizer yet (None): a fresh one
        optimizer = optimizer_from_state(self._optimizer_state) \
            if incremental and self._optimizer_state is not None \
            else self._make_optimizer(flat)
        return {"flat": flat, "optimizer": optimizer,
                "loss_curve": list(self.loss_curve_),
                "validation_scores": list(getattr(self, "validation_scores_", None)
                                          or []),
                "best_loss": getattr(self, "best_loss_", None),
                "best_score": getattr(self, "best_validation_score_", None),
                "t": self.t_, "first": False}

    def _train(self, state, seqs, y, Y, weights, rng, *, incremental):
        """``(state, converged)`` of the training of this call; subclasses
        with another solver (``solver="evolino"``) dispatch here."""
        return self._train_epochs(state, seqs, y, Y, weights, rng,
                                  incremental=incremental)

    def _train_epochs(self, state, seqs, y, Y, weights, rng, *, incremental):
        """Epochs until the schedule stops (or one, for ``partial_fit``)."""
        flat, optimizer = state["flat"], state["optimizer"]
        network = self._network()
        early_stopping = self.early_stopping and not incremental
        train_idx, validation = np.arange(len(seqs)), None
        if early_stopping:
            train_idx, *validation = self._validation_split(seqs, y, Y, rng)
        batch_size = self._batch_size(len(train_idx))
        schedule = PlateauSchedule(
            n_iter_no_change=self.n_iter_no_change,
            n_updates_no_change=self.n_updates_no_change,
            updates_per_epoch=-(-len(train_idx) // batch_size), tol=self.tol,
            adaptive=self.learning_rate == "adaptive", higher_is_better=early_stopping,
            best=state["best_score"] if early_stopping else state["best_loss"])
        # the weights of the best epoch: the best validation score's, kept at
        # the end; or the lowest training loss's, kept if the fit ends within
        # a spike of the loss (Adam takes such spikes on small data sets, where
        # the loss nears zero); not in partial_fit
        keep_best = early_stopping or (_SPIKE_RATIO > 0 and not incremental)
        best_flat, converged = None, False
        for _ in range(1 if incremental else self.max_iter):
            start = time.perf_counter()
            order = rng.permutation(train_idx) if self.shuffle else train_idx
            epoch_loss = self._epoch(network, flat, optimizer, seqs, Y, weights,
                                     order, batch_size, rng)
            state["t"] += len(order)
            state["loss_curve"].append(epoch_loss)
            watched = epoch_loss
            if early_stopping:
                watched = self._validation_score(network, flat, *validation)
                state["validation_scores"].append(watched)
            if keep_best and schedule.is_best(watched):
                best_flat = [a.copy() for a in flat]
            event = schedule.update(watched, optimizer)
            converged = not incremental and event == "stop"
            self._report_epoch(state, epoch_loss, watched if early_stopping else None,
                               event, converged, optimizer, schedule,
                               time.perf_counter() - start)
            if converged:
                break
        if best_flat is not None and (early_stopping or self._ends_in_spike(
                state["loss_curve"][-1], schedule.best, len(flat[-1]))):
            state["flat"] = best_flat
        if early_stopping:
            state["best_score"], state["best_loss"] = schedule.best, None
        else:
            state["best_score"], state["best_loss"] = None, schedule.best
        return state, converged

    def _ends_in_spike(self, last_loss, lowest_loss, n_outputs):
        """Whether a fit whose last epoch's loss is ``last_loss`` ended within a
        spike (see ``_SPIKE_RATIO``), the losses measured from their floor."""
        floor = self._loss_floor(n_outputs)
        return (last_loss - floor > _SPIKE_RATIO * (lowest_loss - floor)
                and last_loss - lowest_loss > self.tol)

    def _loss_floor(self, n_outputs):
        """The least value the training loss can take, the penalty left out:
        the smoothed targets' entropy for the estimators with
        ``label_smoothing`` (their loss is ``softmax_cross_entropy``), else 0."""
        return smoothed_targets_entropy(getattr(self, "label_smoothing", 0.0),
                                        n_outputs)

    def _epoch(self, network, flat, optimizer, seqs, Y, weights, order, batch_size,
               rng):
        """One pass over ``order`` in minibatches; the mean training loss."""
        total = 0.0
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            total += len(idx) * self._train_step(network, flat, optimizer, seqs, Y,
                                                 weights, idx, rng)
        return total / len(order)

    def _report_epoch(self, state, loss, score, event, stopped, optimizer, schedule,
                      seconds):
        """The ``verbose`` line of an epoch (and of the stop)."""
        if not self.verbose:
            return
        line = f"Epoch {len(state['loss_curve']):4d}: loss {loss:.6f}"
        if score is not None:
            line += f", validation score {score:.6f}"
        if event == "decayed":
            line += f", learning rate now {optimizer.learning_rate:.3g}"
        print(f"{line}, {seconds:.2f} s")
        if stopped:
            metric = "Validation score" if score is not None else "Training loss"
            print(f"{metric} did not improve more than tol={self.tol} for "
                  f"{schedule.patience} consecutive epochs. Stopping.")

    def _validation_split(self, seqs, y, Y, rng):
        """Training indices, and the held-out sequences and targets."""
        n = len(seqs)
        if self.validation_fraction == 0:
            raise ValueError(
                "early_stopping=True holds out validation_fraction of the training "
                "sequences to watch, but validation_fraction=0 holds out none; pass "
                "a fraction in (0, 1), such as 0.1, or early_stopping=False."
            )
        stratify = y if self._stratify_validation() else None
        try:
            train_idx, val_idx = train_test_split(
                np.arange(n), random_state=rng, test_size=self.validation_fraction,
                stratify=stratify)
        except ValueError as exc:
            raise ValueError(
                f"early_stopping=True could not hold out validation_fraction="
                f"{self.validation_fraction} of the {n} training sequences"
                f"{' (stratified by class)' if stratify is not None else ''}: "
                f"{str(exc).rstrip('.')}. Change validation_fraction, pass more "
                "sequences, or turn early_stopping off."
            ) from exc
        if len(val_idx) < 1 or len(train_idx) < 1:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves no sequence "
                f"for training or validation out of {n}; lower it or turn "
                "early_stopping off."
            )
        if len(val_idx) < self._min_validation_sequences:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} holds out "
                f"{len(val_idx)} of the {n} sequences, but {type(self).__name__}'s "
                f"validation score needs at least {self._min_validation_sequences}; "
                "raise validation_fraction, pass more sequences, or turn "
                "early_stopping off."
            )
        return train_idx, seqs.subset(val_idx), Y[val_idx]

    def _commit(self, state, rng, kind, raw_features):
        """Make the trained state the fitted model; only assigns."""
        flat = state["flat"]
        recurrent, coef, intercept = self._network().split(flat)
        # None: a model built by from_weights, which has no optimizer yet
        optimizer = state["optimizer"]
        optimizer_state = None if optimizer is None else optimizer.state()
        # The fitted weights and the optimizer's snapshot are never written in
        # place: training continues on copies (a failed call then leaves them).
        _freeze(flat, optimizer_state)
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
        # plain values, as the random state: a file of skops.io then holds no
        # class of sklstm's but the estimator's
        self._optimizer_state = optimizer_state
        # the evolution strategy's state (solver="evolino"), plain values too
        self._evolution_state = state.get("evolution")
        self._rng_state = _rng_state(rng)
        self._input_kind = kind
        self._n_step_features = raw_features
        self._fitted_structure = self._structure()

    def _train_step(self, network, flat, optimizer, seqs, Y, weights, idx, rng):
        lengths = seqs.lengths[idx]
        plan, X = network.pack(seqs, idx)
        outputs, memory = network.forward(flat, plan, X, rng)
        loss, d_outputs = self._loss(outputs, Y[idx], weights[idx], lengths)
        if not np.isfinite(loss):
            raise _Diverged(f"The training loss became {loss}")
        grads = network.backward(flat, memory, d_outputs)
        if self.alpha:
            scale = self.alpha / len(idx)
            for k in network.penalised(flat):
                loss += 0.5 * scale * sum_of_squares(flat[k])
                grads[k] += scale * flat[k]
        clip_by_global_norm(grads, self.max_grad_norm)
        optimizer.update(flat, grads)
        return loss

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
        """The sample weights, after any check of the targets against the
        lengths the network reads (in frames of ``steps_per_frame_`` steps)."""
        return weights

    def _target_array(self, y):
        return np.asarray(y) if not hasattr(y, "iloc") else y.to_numpy()

    def _class_weights(self, y):
        return 1.0

    def _stratify_validation(self):
        return False

    # --- weights in and out --------------------------------------------------------

    def get_weights(self):
        """The fitted network's weights, named as a PyTorch ``state_dict``.

        The names are those of a PyTorch module holding ``layers``, a
        ``torch.nn.ModuleList`` with one one-layer ``batch_first``
        ``nn.LSTM`` (``cell="lstm"``) or ``nn.GRU`` (``cell="gru"``) per
        stacked layer, bidirectional like the estimator, and ``head``, an
        ``nn.Linear``; ``docs/torch.rst`` has the module, its pooling, and the
        Keras mapping. The weights reproduce the estimator as fitted: the
        input standardisation (``input_mean_``, ``input_scale_``) is folded
        into the first layer's ``weight_ih_l0`` and ``bias_ih_l0``, and the
        regressor's target scaling into the head, so that the module reads
        raw inputs and its head gives the classifier's logits (columns in the
        order of ``classes_``), the regressor's predictions, or the CTC
        labeler's per-step logits (column 0 the blank, column ``j + 1``
        ``classes_[j]``).

        Returns
        -------
        weights : dict of str to ndarray
            Per layer ``k`` and direction: ``layers.{k}.weight_ih_l0``
            ``(G * H_k, n_inputs_k)``, ``layers.{k}.weight_hh_l0``
            ``(G * H_k, H_k)``, ``layers.{k}.bias_ih_l0`` and
            ``layers.{k}.bias_hh_l0`` ``(G * H_k,)``, with ``G`` 4 for the
            LSTM (gates i, f, g, o) and 3 for the GRU (r, z, n); the reverse
            direction's names end in ``_reverse``. Then ``head.weight``
            ``(n_outputs, n_directions * H_last)`` and ``head.bias``. The
            LSTM's one bias is ``bias_ih_l0`` and ``bias_hh_l0`` is zero
            (PyTorch adds the two). New C-contiguous arrays, in the dtype of
            the fitted weights.

        Raises
        ------
        ValueError
            For a cell PyTorch has no layer for: ``cell="peephole"``,
            ``hidden_activation="identity"`` or ``recurrent_input="cell"``.
            Such a model travels as ONNX (``sklstm.onnx.to_onnx``) or through
            sklstm's own persistence (pickle, joblib, skops).

        See Also
        --------
        from_weights : A fitted estimator from such weights.

        Notes
        -----
        Save them with ``safetensors.numpy.save_file(weights, path)`` (the
        ``safetensors`` extra) or ``np.savez(path, **weights)``; either file
        loads into the module with ``load_state_dict(..., strict=True)``
        (``np.load(path, allow_pickle=False)`` reads the second).

        When ``steps_per_frame_`` is more than 1, the first layer reads
        frames: ``k = est.steps_per_frame_`` consecutive steps as one input
        of ``k * n_features`` values, ``weight_ih_l0`` having that many
        columns. Pad each sequence to a multiple of ``k`` steps with
        ``est.input_mean_`` (the raw value that stands for the zero padding
        the estimator applies after standardisation), then reshape
        ``(batch, n_timesteps, n_features)`` to ``(batch, n_timesteps / k,
        k * n_features)``; a sequence of ``T`` steps has ``ceil(T / k)``
        frames. ``docs/torch.rst`` has this transform in PyTorch.

        Examples
        --------
        >>> import numpy as np
        >>> from sklstm import LSTMClassifier
        >>> rng = np.random.default_rng(0)
        >>> X = [rng.normal(size=(int(rng.integers(5, 10)), 2)) for _ in range(20)]
        >>> y = [int(x[:, 0].sum() > 0) for x in X]
        >>> clf = LSTMClassifier(hidden_layer_sizes=(4,), max_iter=3,
        ...                      random_state=0).fit(X, y)
        >>> weights = clf.get_weights()
        >>> for name, w in weights.items():
        ...     print(name, w.shape)
        layers.0.weight_ih_l0 (16, 2)
        layers.0.weight_hh_l0 (16, 4)
        layers.0.bias_ih_l0 (16,)
        layers.0.bias_hh_l0 (16,)
        layers.0.weight_ih_l0_reverse (16, 2)
        layers.0.weight_hh_l0_reverse (16, 4)
        layers.0.bias_ih_l0_reverse (16,)
        layers.0.bias_hh_l0_reverse (16,)
        head.weight (2, 8)
        head.bias (2,)
        >>> same = LSTMClassifier.from_weights(weights, classes=clf.classes_,
        ...                                    pooling=clf.pooling)
        >>> bool(np.allclose(same.predict_proba(X), clf.predict_proba(X)))
        True
        """
        check_is_fitted(self)
        return state_dict(self)

    @classmethod
    def _from_weights(cls, weights, params, **targets):
        """The fitted estimator of the state_dict ``weights``: the structure
        read from the weights, ``params`` set as given (those that contradict
        the weights refused), the targets' attributes from ``targets`` (see
        ``_targets_from_weights``), an identity input map, no optimizer."""
        read = read_state_dict(weights)
        est = cls(**params)
        est._validate_params()
        inferred = {"hidden_layer_sizes": read.hidden_sizes,
                    "bidirectional": read.bidirectional, "cell": read.cell}
        given = {"hidden_layer_sizes": tuple(est._hidden_sizes()),
                 "bidirectional": bool(est.bidirectional), "cell": est.cell}
        wrong = [name for name in inferred
                 if name in params and given[name] != inferred[name]]
        wrong += [name for name, default in (("hidden_activation", "tanh"),
                                             ("recurrent_input", "hidden"))
                  if getattr(est, name) != default]
        if wrong:
            shown = "; ".join(
                f"{name}={params[name]!r} but the weights have "
                f"{name}={inferred[name]!r}" if name in inferred else
                f"{name}={params[name]!r} but PyTorch's layers have none"
                for name in wrong)
            raise ValueError(
                f"{shown}. from_weights reads the architecture from the weights "
                "(hidden_layer_sizes, bidirectional, and cell from their shapes: "
                "4H rows an LSTM, 3H a GRU, with tanh and gates reading h); leave "
                "these parameters out, or pass weights of that architecture.")
        est.set_params(**inferred)
        coef, intercept = est._targets_from_weights(read.coef, read.intercept,
                                                    **targets)
        k = getattr(est, "steps_per_frame", "auto")  # per-step heads have none
        k = 1 if k == "auto" else int(k)
        if read.n_inputs % k:
            raise ValueError(
                f"steps_per_frame={k}, but the first layer reads {read.n_inputs} "
                f"inputs, not a multiple of {k}: a frame of {k} steps has "
                f"{k} * n_features inputs. Pass the steps_per_frame the weights were "
                "trained with, or leave it out (frames of one step).")
        n_features = read.n_inputs // k
        state = {"flat": Network.join(read.recurrent, coef, intercept),
                 "optimizer": None, "loss_curve": [], "validation_scores": [],
                 "best_loss": None, "best_score": None, "t": 0}
        est._commit(state, check_random_state(est.random_state), "sequences",
                    n_features)
        est.n_features_in_ = n_features
        est.input_mean_ = np.zeros(n_features)
        est.input_scale_ = np.ones(n_features)
        est.steps_per_frame_ = k
        return est

    @abstractmethod
    def _targets_from_weights(self, coef, intercept, **targets):
        """Set the targets' fitted attributes for a head ``(coef, intercept)``
        read from weights and return the head in the estimator's row order."""

    # --- persistence -----------------------------------------------------------------

    # The fitted state is made of NumPy arrays, builtins and scikit-learn types
    # only (the random state and the optimizer as plain dicts), so that
    # skops.io saves and loads it trusting no class of sklstm's but the
    # estimator's own; skops, like pickle, goes through these two methods.

    def __getstate__(self):
        # A copy: on Python >= 3.11 object.__getstate__ returns __dict__
        # itself, and pickling must not add the version to the live estimator.
        state = dict(super().__getstate__())
        state["_sklstm_version"] = __version__
        return state

    def __setstate__(self, state):
        version = state.pop("_sklstm_version", None)
        if "_rng" in state:  # pickled before the random state was stored plain
            state["_rng_state"] = _rng_state(state.pop("_rng"))
        if "_optimizer" in state:  # pickled before the optimizer was stored plain
            state["_optimizer_state"] = state.pop("_optimizer").state()
        if ("label_smoothing" in self._get_param_names()
                and "label_smoothing" not in state):
            # pickled before label smoothing: it trained on the plain
            # cross-entropy, and continues on it
            state["label_smoothing"] = 0.0
        if version is not None and version != __version__:
            warnings.warn(
                f"This {type(self).__name__} was pickled by sklstm {version} and is "
                f"loaded by sklstm {__version__}; it may not work. Refit it with "
                f"sklstm {__version__} to be safe.",
                UserWarning, stacklevel=2)
        super().__setstate__(state)
        if "recurrent_params_" in state and "_fitted_structure" not in state:
            # pickled before the structure was recorded: its parameters are
            # those of its fit unless they were changed before pickling
            self._fitted_structure = self._structure()
        if "recurrent_params_" in state:
            _freeze(self._fitted_flat(), state.get("_optimizer_state"))
