"""LSTMRegressor: real values per sequence."""

from numbers import Integral

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.utils import check_array
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import BaseLSTM
from ._evolino import EVOLINO_CONSTRAINTS, EvolinoMixin
from ._products import dot
from ._sequences import fit_standardizer
from ._streaming import StreamingMixin


class ScaledTargetsMixin:
    """The regressors' target map: each output standardised with the training
    targets' mean and standard deviation (``scale_targets``), predictions
    mapped back, and the identity map of a model read from weights."""

    def _fit_target_map(self, y):
        """Per-output ``(mean, scale)`` that standardise the targets, or (0, 1)."""
        if not self.scale_targets:
            return np.zeros(y.shape[1]), np.ones(y.shape[1])
        return fit_standardizer(y)

    def _targets_from_weights(self, coef, intercept, n_outputs=None):
        if n_outputs is not None and (
                not isinstance(n_outputs, Integral) or isinstance(n_outputs, bool)
                or n_outputs != coef.shape[0]):
            raise ValueError(
                f"n_outputs={n_outputs!r}, but head.weight has {coef.shape[0]} rows, "
                "one per output; pass the weights of that head, or leave n_outputs "
                "out.")
        self.n_outputs_ = coef.shape[0]
        self._y_1d = self.n_outputs_ == 1
        self.target_mean_ = np.zeros(self.n_outputs_)
        self.target_scale_ = np.ones(self.n_outputs_)
        return coef, intercept

    def _predictions_from_decision(self, decision):
        """The head's outputs ``decision`` in the units of the targets (1-D for a
        model fitted on 1-D ``y``, per sequence or per step); predict and
        streaming alike."""
        pred = decision * self.target_scale_.astype(decision.dtype) + \
            self.target_mean_.astype(decision.dtype)
        return pred[..., 0] if self._y_1d else pred


class LSTMRegressor(RegressorMixin, ScaledTargetsMixin, StreamingMixin, EvolinoMixin,
                    BaseLSTM):
    """Sequence regressor: a stack of LSTM layers followed by a linear layer.

    Each sequence gets one value (or ``n_outputs`` values). The last LSTM
    layer's outputs are pooled over the sequence's own steps and a dense
    linear layer maps the pooled vector to the targets; training minimises
    half the mean squared error with Adam or SGD on minibatches.

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers,) or int, default=(64,)
        The number of LSTM units of each layer, first layer first.
    bidirectional : bool, default=True
        Whether each layer also reads every sequence backwards.
    cell : {"lstm", "peephole", "gru"}, default="lstm"
        The recurrent cell of every layer: the LSTM with a forget gate,
        the LSTM with peephole connections (Gers & Schmidhuber 2000; their
        weights start at zero, so training starts from the plain LSTM), or
        the GRU (Cho et al. 2014, PyTorch's variant). See
        :func:`sklstm.functional.lstm_forward` and ``docs/cells.rst``.
    hidden_activation : {"tanh", "identity"}, default="tanh"
        σ_h in ``h_t = o_t ⊙ σ_h(c_t)`` of the LSTM cells; "identity" is the
        peephole paper's suggestion. Not an option of ``cell="gru"``.
    recurrent_input : {"hidden", "cell"}, default="hidden"
        What the LSTM cells' gates read from the previous step: ``h_{t-1}``,
        or ``c_{t-1}`` with no recurrent term in the candidate (the peephole
        LSTM as the Wikipedia article writes it; ``U`` is then ``(3H, H)``).
        Not an option of ``cell="gru"``.
    pooling : {"last", "mean", "max"}, default="last"
        How the last layer's outputs become one vector per sequence.
    dropout : float in [0, 1), default=0.0
        Dropout between layers while training.
    solver : {"adam", "sgd", "evolino"}, default="adam"
        Adam or SGD on minibatches, or Evolino (Schmidhuber et al. 2007):
        the recurrent weights evolved by sep-CMA-ES and, for every
        candidate, the output layer solved in closed form by ridge
        regression on the hidden states; see ``docs/evolino.rst``. With
        "evolino", ``max_iter`` counts generations, ``partial_fit`` is not
        available, and ``batch_size``, ``learning_rate_init``, ``shuffle``,
        ``momentum``, ``nesterovs_momentum``, ``beta_1``, ``beta_2``,
        ``epsilon``, ``max_grad_norm``, ``learning_rate``,
        ``n_updates_no_change`` and ``dropout`` are ignored.
    alpha : float, default=1e-4
        L2 penalty on the weights. With ``solver="evolino"``, the ridge
        penalty of the output layer (scikit-learn's ``Ridge(alpha)`` on the
        standardised targets, the intercept unpenalised); the recurrent
        weights are not penalised.
    batch_size : int or "auto", default="auto"
        ``min(32, ceil(n_sequences / 4))`` for "auto".
    learning_rate_init : float, default=0.01
    max_iter : int, default=200
        The maximum number of epochs (of generations with
        ``solver="evolino"``).
    shuffle : bool, default=True
    random_state : int, RandomState instance or None, default=None
    tol : float, default=1e-4
    verbose : bool, default=False
    warm_start : bool, default=False
    momentum : float, default=0.9
        Only used when ``solver="sgd"``.
    nesterovs_momentum : bool, default=True
        Only used when ``solver="sgd"``.
    early_stopping : bool, default=False
        Stop when the R² of a held-out ``validation_fraction`` stops improving
        and keep the best epoch's weights. Without it, a fit that ends
        within a spike of the training loss keeps the weights of the epoch
        of lowest loss, as in :class:`LSTMClassifier`.
    validation_fraction : float, default=0.1
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Only used when ``solver="adam"``.
    n_iter_no_change : int, default=10
    max_grad_norm : float or None, default=1.0
        Global-norm gradient clipping; None turns it off.
    scale_inputs : bool, default=True
        Standardise each input feature with the training steps' statistics
        (``input_mean_``, ``input_scale_``), as :class:`LSTMClassifier`.
    learning_rate : {"adaptive", "constant"}, default="adaptive"
        Divide the step size by 4 at each plateau, or stop at the first; see
        :class:`LSTMClassifier`.
    n_updates_no_change : int, default=100
        Patience in optimizer updates; see :class:`LSTMClassifier`.
    steps_per_frame : int or "auto", default="auto"
        Steps read as one frame; "auto" is ``ceil(median training length /
        64)``. See :class:`LSTMClassifier`.
    scale_targets : bool, default=True
        Standardise each output with the training targets' mean and standard
        deviation (``target_mean_``, ``target_scale_``) and map predictions
        back, as :class:`~sklearn.compose.TransformedTargetRegressor` with a
        :class:`~sklearn.preprocessing.StandardScaler` would. The loss and
        ``loss_curve_`` are in standardised units.
    population_size : int >= 2 or "auto", default="auto"
        Candidates per generation; "auto" is CMA-ES's ``4 + ⌊3 ln n⌋`` for
        ``n`` recurrent weights. Only used when ``solver="evolino"``.
    sigma : float > 0, default=0.1
        The evolution strategy's initial step size: the standard deviation of
        the first candidates' weights around the initial (or, with
        ``warm_start``, the fitted) ones; it adapts afterwards. Only used
        when ``solver="evolino"``.

    Attributes
    ----------
    recurrent_params_ : list of list of tuple
        ``recurrent_params_[layer][direction]`` is ``(W, U, b)`` in the layout
        of :func:`sklstm.functional.lstm_forward` (``(W, U, b, P)`` with
        ``cell="peephole"``, ``(W, U, b_ih, b_hh)`` of
        :func:`sklstm.functional.gru_forward` with ``cell="gru"``); see
        ``docs/cells.rst``.
    output_coef_ : ndarray of shape (n_outputs, n_pooled)
    output_intercept_ : ndarray of shape (n_outputs,)
    n_outputs_ : int
    loss_curve_ : list of float
        The training loss of each epoch; with ``solver="evolino"``, of each
        generation's best candidate.
    validation_scores_ : list of float or None
    best_validation_score_ : float or None
    best_loss_ : float or None
    n_iter_ : int
    t_ : int
        Sequences trained on (with ``solver="evolino"``, sequences run
        through the network: the training sequences times the candidates).
    n_features_in_ : int
    input_mean_, input_scale_ : ndarray of shape (n_step_features,)
        The standardisation of the inputs.
    steps_per_frame_ : int
        The steps read as one frame.
    target_mean_, target_scale_ : ndarray of shape (n_outputs,)
        The standardisation of the targets (zeros and ones when
        ``scale_targets=False``): ``predict`` returns
        ``network output * target_scale_ + target_mean_``.

    See Also
    --------
    LSTMClassifier : The same network for labels.
    sklearn.neural_network.MLPRegressor : Whose names and behaviour these follow.
    Stream : Predictions step by step (``stream``, ``predict_step``) from a
        unidirectional model; see ``docs/streaming.rst``.

    Notes
    -----
    The input forms are those of :class:`LSTMClassifier`. Targets of
    different scales need no scaling by hand: each output is standardised
    inside (``scale_targets``).

    The defaults follow :class:`LSTMClassifier` (chosen on the UCR
    development suite), but for pooling: the regressor reads the final state
    of each direction (``pooling="last"``), the natural summary for
    forecasting from a window. On one-step-ahead forecasts of three public
    series (``benchmarks/bench_forecasting.py``, windows and targets taken
    relative to each window's last value, seeds 0 and 1, with batches of
    ``min(32, n)``), a bidirectional layer gave test RMSE 25.2 (airline) and
    17.8 (sunspots) against 24.5 and 19.1 with one direction; max pooling
    gave 23.4 and 18.1. With the defaults (seeds 0-2): 23.8, 17.6 and 237.5
    (taylor), against RidgeCV's 16.3, 18.5 and 238.9.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm import LSTMRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(rng.integers(5, 15), 1)) for _ in range(60)]
    >>> y = [x.mean() for x in X]
    >>> reg = LSTMRegressor(hidden_layer_sizes=(8,), max_iter=20,
    ...                     random_state=0).fit(X, y)
    >>> reg.predict(X[:2]).shape
    (2,)
    """

    _parameter_constraints: dict = {
        **BaseLSTM._parameter_constraints,
        **EVOLINO_CONSTRAINTS,
        "pooling": [StrOptions({"last", "mean", "max"})],
        "steps_per_frame": [StrOptions({"auto"}),
                            Interval(Integral, 1, None, closed="left")],
        "scale_targets": ["boolean"],
    }

    # R² of a single sequence is undefined (scikit-learn gives nan and a warning)
    _min_validation_sequences = 2

    def __init__(
        self, hidden_layer_sizes=(64,), *, bidirectional=True, cell="lstm",
        hidden_activation="tanh", recurrent_input="hidden", pooling="last",
        dropout=0.0, solver="adam", alpha=1e-4, batch_size="auto",
        learning_rate_init=1e-2, max_iter=200, shuffle=True, random_state=None,
        tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
        nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
        beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
        max_grad_norm=1.0, scale_inputs=True, learning_rate="adaptive",
        n_updates_no_change=100, steps_per_frame="auto", scale_targets=True,
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
        self.steps_per_frame = steps_per_frame
        self.scale_targets = scale_targets
        self.pooling = pooling
        self.population_size = population_size
        self.sigma = sigma

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to sequences ``X`` and their targets ``y``.

        Parameters
        ----------
        X : array-like of shape (n_sequences, n_timesteps, n_features) or list
        y : array-like of shape (n_sequences,) or (n_sequences, n_outputs)
        sample_weight : array-like of shape (n_sequences,), default=None

        Returns
        -------
        self : LSTMRegressor
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(EvolinoMixin._is_gradient_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``X`` (no early stopping), from the current weights.

        As in :class:`~sklearn.neural_network.MLPRegressor`, training continues
        with the optimizer of the call that started it (the first
        ``partial_fit``, or the last ``fit``): its state and its ``solver``,
        ``learning_rate_init``, ``momentum``, ``nesterovs_momentum``,
        ``beta_1``, ``beta_2`` and ``epsilon`` are kept, and changing them
        with ``set_params`` takes effect at the next ``fit``.

        Parameters
        ----------
        X : array-like or list
        y : array-like of shape (n_sequences,) or (n_sequences, n_outputs)
        sample_weight : array-like of shape (n_sequences,), default=None

        Returns
        -------
        self : LSTMRegressor
        """
        return self._fit(X, y, sample_weight, incremental=True)

    @classmethod
    def from_weights(cls, weights, *, n_outputs=None, **params):
        """A fitted regressor from a PyTorch ``state_dict``, without training.

        ``weights`` holds the names that :meth:`get_weights` gives, or a
        multi-layer ``nn.LSTM``'s or ``nn.GRU``'s, with ``head.weight`` and
        ``head.bias``; the architecture is read from the shapes. See
        :meth:`LSTMClassifier.from_weights` for the names, the dtypes and
        what the model can do. The head gives the predictions as they are:
        ``target_mean_`` is 0 and ``target_scale_`` 1.

        Parameters
        ----------
        weights : mapping of str to array-like
            The state_dict (NumPy arrays: ``{k: v.numpy() for k, v in
            module.state_dict().items()}``, ``safetensors.numpy.load_file``,
            ``np.load`` of an ``.npz``).
        n_outputs : int, default=None
            The number of outputs, if you want it checked; the rows of
            ``head.weight``. With one output, ``predict`` returns a 1-D array.
        **params
            Other parameters of the estimator, set as given (``pooling``
            must be the module's); see :meth:`LSTMClassifier.from_weights`.

        Returns
        -------
        estimator : LSTMRegressor
            Fitted.

        See Also
        --------
        get_weights : The inverse: a fitted model's weights under these names.

        Examples
        --------
        >>> import numpy as np
        >>> from sklstm import LSTMRegressor
        >>> rng = np.random.default_rng(0)
        >>> H = 3  # nn.GRU(1, 3, batch_first=True), nn.Linear(3, 1)
        >>> weights = {"layers.0.weight_ih_l0": rng.normal(size=(3 * H, 1)),
        ...            "layers.0.weight_hh_l0": rng.normal(size=(3 * H, H)),
        ...            "layers.0.bias_ih_l0": np.zeros(3 * H),
        ...            "layers.0.bias_hh_l0": np.zeros(3 * H),
        ...            "head.weight": rng.normal(size=(1, H)),
        ...            "head.bias": np.array([10.0])}
        >>> reg = LSTMRegressor.from_weights(weights, pooling="mean")
        >>> reg.cell, reg.n_outputs_
        ('gru', 1)
        >>> reg.predict([rng.normal(size=(5, 1))]).shape
        (1,)
        """
        return cls._from_weights(weights, params, n_outputs=n_outputs)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _prepare_targets(self, y, first_call, classes=None):
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        y_ndim = y.ndim
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        if y.ndim != 2:
            raise ValueError(f"y must be 1-D or 2-D; got shape {y.shape}.")
        if first_call:
            self.n_outputs_ = y.shape[1]
            self._y_1d = y_ndim == 1
            self.target_mean_, self.target_scale_ = self._fit_target_map(y)
        elif y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y.shape[1]} outputs but the model has {self.n_outputs_}."
            )
        return (y - self.target_mean_) / self.target_scale_, self.n_outputs_

    def _loss(self, pred, Y, weights, lengths):
        diff = pred - Y.astype(pred.dtype)
        total = weights.sum()
        w = (weights / total if total > 0 else weights).astype(pred.dtype)
        per_seq = 0.5 * np.mean(diff * diff, axis=1)
        return dot(w, per_seq), diff * (w[:, None] / diff.shape[1])

    def _validation_score(self, network, flat, seqs, Y):
        return r2_score(Y, self._batched_outputs(network, flat, seqs))

    def predict(self, X):
        """Predicted values of each sequence.

        Parameters
        ----------
        X : array-like or list
            The sequences.

        Returns
        -------
        y : ndarray of shape (n_sequences,) or (n_sequences, n_outputs)
        """
        return self._predictions_from_decision(
            self._decision(self._read_predict_input(X)))
