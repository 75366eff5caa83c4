"""LSTMSequenceRegressor: real values for every step of every sequence."""


import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.utils import check_array
from sklearn.utils._available_if import available_if

from ._base import BaseLSTM
from ._evolino import EVOLINO_CONSTRAINTS, EvolinoMixin
from ._products import dot
from ._regressor import ScaledTargetsMixin
from ._steps import (
    PerStepMixin,
    check_step_lengths,
    pack_targets,
    read_step_targets,
    split_rows,
)
from ._streaming import StreamingMixin


class LSTMSequenceRegressor(PerStepMixin, RegressorMixin, ScaledTargetsMixin,
                            StreamingMixin, EvolinoMixin, BaseLSTM):
    """Sequence-to-sequence regression: real values for every step.

    A stack of (by default bidirectional) LSTM layers and a linear layer
    applied to every step's output: each step of each sequence gets one value
    (or ``n_outputs`` values) — denoising, mapping one sensor to another,
    estimating a quantity along a recording. Training minimises half the
    mean squared error over every step, with Adam or SGD on minibatches of
    sequences. A sibling of :class:`LSTMRegressor`, which gives one value
    per sequence; forecasting the next values of a series from a window is
    :class:`LSTMRegressor`'s job (``docs/forecasting.rst``).

    Read more in the User Guide (``docs/tagging.rst``).

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers,) or int, default=(64,)
        The number of LSTM units of each layer (per direction).
    bidirectional : bool, default=True
        Whether each layer also reads every sequence backwards, so that a
        step's value can depend on what follows it. A unidirectional model
        computes each step's value from the steps up to it, and can follow a
        stream as it arrives (:meth:`predict_step`).
    cell : {"lstm", "peephole", "gru"}, default="lstm"
        The recurrent cell of every layer; see :class:`LSTMClassifier`.
    hidden_activation : {"tanh", "identity"}, default="tanh"
        σ_h of the LSTM cells; see :class:`LSTMClassifier`.
    recurrent_input : {"hidden", "cell"}, default="hidden"
        What the LSTM cells' gates read from the previous step; see
        :class:`LSTMClassifier`.
    dropout : float in [0, 1), default=0.0
    solver : {"adam", "sgd", "evolino"}, default="adam"
        "evolino" evolves the recurrent weights and solves the per-step
        output layer by ridge regression on every step's hidden state, as
        :class:`LSTMRegressor` with ``solver="evolino"`` does on the pooled
        state (``docs/evolino.rst``): ``max_iter`` counts generations,
        ``partial_fit`` is not available, and the gradient solvers'
        parameters are ignored.
    alpha : float, default=1e-4
        L2 penalty; with ``solver="evolino"``, the ridge penalty of the
        output layer.
    batch_size : int or "auto", default="auto"
    learning_rate_init : float, default=0.01
    max_iter : int, default=200
    shuffle : bool, default=True
    random_state : int, RandomState instance or None, default=None
    tol : float, default=1e-4
    verbose : bool, default=False
    warm_start : bool, default=False
    momentum : float, default=0.9
    nesterovs_momentum : bool, default=True
    early_stopping : bool, default=False
        Stop when the R² over every step of a held-out
        ``validation_fraction`` of the sequences stops improving, and keep
        the best epoch's weights. Without it, a fit that ends within a spike
        of the training loss keeps the weights of the epoch of lowest loss,
        as in :class:`LSTMClassifier`.
    validation_fraction : float, default=0.1
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
    n_iter_no_change : int, default=10
    max_grad_norm : float or None, default=1.0
    scale_inputs : bool, default=True
        Standardise each input feature with the training steps' statistics.
    learning_rate : {"adaptive", "constant"}, default="adaptive"
    n_updates_no_change : int, default=100
    scale_targets : bool, default=True
        Standardise each output with the mean and standard deviation of the
        training targets over every step of every sequence
        (``target_mean_``, ``target_scale_``) and map predictions back, as
        :class:`LSTMRegressor` does. The loss and ``loss_curve_`` are in
        standardised units.
    population_size : int >= 2 or "auto", default="auto"
        Candidates per generation. Only used when ``solver="evolino"``; see
        :class:`LSTMRegressor`.
    sigma : float > 0, default=0.1
        The evolution strategy's initial step size. Only used when
        ``solver="evolino"``; see :class:`LSTMRegressor`.

    The training parameters mean what they mean in :class:`LSTMClassifier`.

    Attributes
    ----------
    n_outputs_ : int
        Values per step.
    recurrent_params_ : list of list of tuple
        In the layouts of :class:`LSTMClassifier`.
    output_coef_ : ndarray of shape (n_outputs, n_directions * H_last)
    output_intercept_ : ndarray of shape (n_outputs,)
    loss_curve_ : list of float
    validation_scores_ : list of float or None
    best_validation_score_ : float or None
    best_loss_ : float or None
    n_iter_ : int
    t_ : int
    n_features_in_ : int
    input_mean_, input_scale_ : ndarray of shape (n_step_features,)
    steps_per_frame_ : int
        Always 1: every step is read and gets its value.
    target_mean_, target_scale_ : ndarray of shape (n_outputs,)
        ``predict`` returns ``network output * target_scale_ + target_mean_``.

    See Also
    --------
    LSTMRegressor : One value per sequence.
    LSTMTagger : A class per step.

    Notes
    -----
    The loss of a minibatch is the mean over its steps of half the squared
    error averaged over the outputs, each step weighted by its sequence's
    ``sample_weight``; :meth:`score` is the R² over every step of every
    sequence (scikit-learn's ``r2_score`` of the steps stacked, outputs
    averaged uniformly). The defaults are :class:`LSTMClassifier`'s.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm import LSTMSequenceRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(int(rng.integers(5, 15)), 1)) for _ in range(60)]
    >>> y = [np.cumsum(x[:, 0]) for x in X]  # the running sum at each step
    >>> reg = LSTMSequenceRegressor(hidden_layer_sizes=(8,), max_iter=20,
    ...                             random_state=0).fit(X, y)
    >>> [values.shape for values in reg.predict(X[:2])]
    [(13,), (11,)]
    """

    _parameter_constraints: dict = {
        **BaseLSTM._parameter_constraints,
        **EVOLINO_CONSTRAINTS,
        "scale_targets": ["boolean"],
    }

    def __init__(
        self, hidden_layer_sizes=(64,), *, bidirectional=True, cell="lstm",
        hidden_activation="tanh", recurrent_input="hidden", dropout=0.0,
        solver="adam", alpha=1e-4, batch_size="auto", learning_rate_init=1e-2,
        max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
        warm_start=False, momentum=0.9, nesterovs_momentum=True,
        early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
        epsilon=1e-8, n_iter_no_change=10, max_grad_norm=1.0, scale_inputs=True,
        learning_rate="adaptive", n_updates_no_change=100, scale_targets=True,
        population_size="auto", sigma=0.1,
    ):
        super().__init__(
            hidden_layer_sizes, bidirectional=bidirectional, cell=cell,
            hidden_activation=hidden_activation, recurrent_input=recurrent_input,
            dropout=dropout, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate_init=learning_rate_init, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_grad_norm=max_grad_norm, scale_inputs=scale_inputs,
            learning_rate=learning_rate, n_updates_no_change=n_updates_no_change,
        )
        self.scale_targets = scale_targets
        self.population_size = population_size
        self.sigma = sigma

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to sequences ``X`` and their per-step targets ``y``.

        Parameters
        ----------
        X : array-like of shape (n_sequences, n_timesteps, n_features) or list
            The sequences, in any form of :class:`LSTMClassifier`.
        y : list of array-like of shape (n_timesteps_i,) or \
(n_timesteps_i, n_outputs)
            The target of every step of each sequence; for sequences of
            equal length also an array ``(n_sequences, n_timesteps)`` or
            ``(n_sequences, n_timesteps, n_outputs)``.
        sample_weight : array-like of shape (n_sequences,), default=None
            Weights of the sequences: each of its steps has its weight.

        Returns
        -------
        self : LSTMSequenceRegressor
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(EvolinoMixin._is_gradient_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``X`` (no early stopping), from the current weights.

        As :meth:`LSTMRegressor.partial_fit`.

        Parameters
        ----------
        X : array-like or list
        y : list of array-like of shape (n_timesteps_i,) or \
(n_timesteps_i, n_outputs)
        sample_weight : array-like of shape (n_sequences,), default=None

        Returns
        -------
        self : LSTMSequenceRegressor
        """
        return self._fit(X, y, sample_weight, incremental=True)

    @classmethod
    def from_weights(cls, weights, *, n_outputs=None, **params):
        """A fitted per-step regressor from a PyTorch ``state_dict``.

        As :meth:`LSTMRegressor.from_weights`; ``head`` is applied to every
        step's output, and gives the predictions as they are
        (``target_mean_`` 0, ``target_scale_`` 1).

        Parameters
        ----------
        weights : mapping of str to array-like
            The state_dict, as NumPy arrays.
        n_outputs : int, default=None
            The number of outputs, if you want it checked. With one output,
            ``predict`` gives 1-D arrays.
        **params
            Other parameters of the estimator, set as given.

        Returns
        -------
        estimator : LSTMSequenceRegressor
            Fitted.

        See Also
        --------
        get_weights : The inverse.

        Examples
        --------
        >>> import numpy as np
        >>> from sklstm import LSTMSequenceRegressor
        >>> rng = np.random.default_rng(0)
        >>> H = 3  # nn.GRU(1, 3, batch_first=True), nn.Linear(3, 2)
        >>> weights = {"layers.0.weight_ih_l0": rng.normal(size=(3 * H, 1)),
        ...            "layers.0.weight_hh_l0": rng.normal(size=(3 * H, H)),
        ...            "layers.0.bias_ih_l0": np.zeros(3 * H),
        ...            "layers.0.bias_hh_l0": np.zeros(3 * H),
        ...            "head.weight": rng.normal(size=(2, H)),
        ...            "head.bias": np.zeros(2)}
        >>> reg = LSTMSequenceRegressor.from_weights(weights, n_outputs=2)
        >>> [v.shape for v in reg.predict([rng.normal(size=(5, 1))])]
        [(5, 2)]
        """
        return cls._from_weights(weights, params, n_outputs=n_outputs)

    # --- targets -----------------------------------------------------------------

    def _target_array(self, y):
        return read_step_targets(y, "target")

    def _prepare_targets(self, y, first_call, classes=None):
        parts, ndims = [], set()
        for i, part in enumerate(y):
            if np.ndim(part) not in (1, 2):
                raise ValueError(
                    f"y[{i}] has shape {np.shape(part)}; pass (n_timesteps,) or "
                    "(n_timesteps, n_outputs) values for each sequence.")
            values = check_array(part, ensure_2d=False, dtype=np.float64,
                                 input_name=f"y[{i}]", ensure_min_samples=0)
            ndims.add(values.ndim)
            parts.append(values.reshape(len(values), -1))
        widths = {part.shape[1] for part in parts}
        if len(widths) > 1 or len(ndims) > 1:
            raise ValueError(
                f"the targets of the sequences have different numbers of outputs "
                f"({sorted(widths)}{', 1-D and 2-D' if len(ndims) > 1 else ''}); "
                "pass the same number of values for every step of every sequence.")
        n_outputs = widths.pop() if widths else 1
        if first_call:
            self.n_outputs_ = n_outputs
            self._y_1d = ndims == {1}
            self.target_mean_, self.target_scale_ = self._fit_target_map(
                np.concatenate(parts))
        elif n_outputs != self.n_outputs_:
            raise ValueError(
                f"y has {n_outputs} outputs per step but the model has "
                f"{self.n_outputs_}.")
        Y = np.empty(len(parts), dtype=object)
        for i, part in enumerate(parts):
            Y[i] = (part - self.target_mean_) / self.target_scale_
        return Y, self.n_outputs_

    def _check_targets(self, Y, lengths, weights):
        check_step_lengths(Y, lengths, "target")
        return weights

    # --- loss and scores ---------------------------------------------------------

    def _loss(self, pred, Y, weights, lengths):
        plan = pred.plan
        target = pack_targets(list(Y), plan).astype(pred.rows.dtype)
        step_weights = weights[plan.order][plan.slot]  # each step its sequence's
        total = step_weights.sum()
        w = (step_weights / total if total > 0 else step_weights).astype(
            pred.rows.dtype)
        diff = pred.rows - target
        per_step = 0.5 * np.mean(diff * diff, axis=1)
        return dot(w, per_step), diff * (w[:, None] / diff.shape[1])

    def _validation_score(self, network, flat, seqs, Y):
        return r2_score(np.concatenate(list(Y)), self._step_rows(network, flat, seqs))

    # --- prediction --------------------------------------------------------------

    def predict(self, X):
        """Predicted values of every step of each sequence.

        Parameters
        ----------
        X : array-like or list
            The sequences.

        Returns
        -------
        y : list of ndarray of shape (n_timesteps_i,) or \
(n_timesteps_i, n_outputs)
            One array per sequence, as long as the sequence.
        """
        rows, lengths = self._step_decision(X)
        return split_rows(self._predictions_from_decision(rows), lengths)

    def score(self, X, y, sample_weight=None):
        """R² over every step of every sequence.

        scikit-learn's :func:`~sklearn.metrics.r2_score` of the steps of all
        sequences stacked, outputs averaged uniformly.

        Parameters
        ----------
        X : array-like or list
            The sequences.
        y : list of array-like of shape (n_timesteps_i,) or \
(n_timesteps_i, n_outputs)
            Their true per-step values.
        sample_weight : array-like of shape (n_sequences,), default=None
            Weights of the sequences: each of its steps has its weight.

        Returns
        -------
        score : float
        """
        y = read_step_targets(y, "target")
        pred = self.predict(X)
        if len(pred) != len(y):
            raise ValueError(
                f"X has {len(pred)} sequences but y has {len(y)}; pass one array of "
                "targets per sequence.")
        truth = [np.asarray(t, dtype=np.float64) for t in y]
        check_step_lengths(truth, np.array([len(p) for p in pred]), "target")
        weights = None
        if sample_weight is not None:
            weights = np.repeat(np.asarray(sample_weight, dtype=np.float64),
                                [len(t) for t in truth])
        return r2_score(np.concatenate(truth), np.concatenate(pred),
                        sample_weight=weights)
