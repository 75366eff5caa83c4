"""LSTMClassifier: one label per sequence."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import column_or_1d

from ._base import BaseLSTM, log_softmax, softmax_cross_entropy
from ._streaming import StreamingMixin


class LSTMClassifier(ClassifierMixin, StreamingMixin, BaseLSTM):
    """Sequence classifier: a stack of LSTM layers followed by a softmax layer.

    Each sequence gets one label. The last LSTM layer's outputs are pooled over
    the sequence's own steps (``pooling``) and a dense softmax layer on the
    pooled vector gives the class probabilities; training minimises the
    cross-entropy with Adam or SGD on minibatches.

    Read more in the README and in ``docs/``.

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers,) or int, default=(64,)
        The number of LSTM units of each layer, first layer first.
    bidirectional : bool, default=True
        Whether each layer also reads every sequence backwards (within its own
        length) and concatenates both directions' outputs (Graves &
        Schmidhuber 2005).
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
    pooling : {"last", "mean", "max"}, default="max"
        How the last layer's outputs become one vector per sequence: the final
        state of each direction, or the mean or maximum over the steps.
    dropout : float in [0, 1), default=0.0
        Fraction of the outputs of each layer but the last zeroed while
        training (inverted dropout); ignored with one layer.
    solver : {"adam", "sgd"}, default="adam"
        The optimiser: Adam, or SGD with momentum.
    alpha : float, default=1e-4
        Strength of the L2 penalty on the weights (not the biases), divided
        by the batch size as in :class:`~sklearn.neural_network.MLPClassifier`.
    batch_size : int or "auto", default="auto"
        Sequences per minibatch; "auto" is ``min(32, ceil(n_sequences / 4))``:
        at least four updates an epoch on small data sets.
    learning_rate_init : float, default=0.01
        The step size of the optimiser.
    max_iter : int, default=200
        The maximum number of epochs (passes over the training data).
    shuffle : bool, default=True
        Whether to shuffle the sequences at each epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling, the validation split and
        dropout. Same seed, data and thread count: the same model, bit for bit.
    tol : float, default=1e-4
        A plateau is when the loss (or, with early stopping, the validation
        score) has not improved by at least ``tol`` for ``n_iter_no_change``
        consecutive epochs and ``n_updates_no_change`` updates; see
        ``learning_rate``.
    verbose : bool, default=False
        Print one line per epoch: loss, validation score, seconds.
    warm_start : bool, default=False
        Whether ``fit`` starts from the weights of the previous fit.
    momentum : float, default=0.9
        Momentum of SGD. Only used when ``solver="sgd"``.
    nesterovs_momentum : bool, default=True
        Whether SGD uses Nesterov's momentum. Only used when ``solver="sgd"``.
    early_stopping : bool, default=False
        Whether to hold out ``validation_fraction`` of the training sequences
        (stratified), stop when their accuracy stops improving, and keep the
        weights of the best epoch. Without it, ``fit`` keeps the last
        epoch's weights, unless that epoch's loss is more than twice the
        lowest (``best_loss_``), both measured from the least value the loss
        can take (the smoothed targets' entropy; 0 with
        ``label_smoothing=0``), and above it by more than ``tol``: a fit that
        ends within a spike of the loss (Adam takes such spikes on small
        data sets, where the loss nears its floor) then keeps the weights of
        the epoch of lowest loss. ``partial_fit`` keeps the last.
    validation_fraction : float, default=0.1
        The held-out fraction. Only used when ``early_stopping=True``.
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's parameters. Only used when ``solver="adam"``.
    n_iter_no_change : int, default=10
        Patience in epochs; see ``tol``.
    max_grad_norm : float or None, default=1.0
        The gradient of every minibatch is scaled down to this global L2 norm
        when longer (Pascanu et al. 2013): LSTMs still see exploding
        gradients. None turns clipping off.
    scale_inputs : bool, default=True
        Whether ``fit`` learns the mean and standard deviation of each
        feature over every step of every training sequence
        (``input_mean_``, ``input_scale_``) and the network reads
        ``(x - input_mean_) / input_scale_``, in ``fit`` and ``predict``
        alike: data in raw sensor units need no scaler of their own.
    learning_rate : {"adaptive", "constant"}, default="adaptive"
        "adaptive" divides the optimizer's step size by 4 at each plateau
        (see ``tol``), as Keras' ``ReduceLROnPlateau`` and the "adaptive"
        schedule of :class:`~sklearn.neural_network.MLPClassifier` do; the
        fourth plateau stops training. "constant" stops at the first one.
    n_updates_no_change : int, default=100
        Patience in optimizer updates: a plateau also lasts at least this
        many minibatch updates. On small data sets an epoch is one or two
        updates, and ``n_iter_no_change`` epochs alone would be too short.
        0 leaves the patience to ``n_iter_no_change``.
    steps_per_frame : int or "auto", default="auto"
        The network reads each run of ``steps_per_frame`` consecutive steps
        as one frame of ``steps_per_frame * n_features`` values (the last
        frame of a sequence zero-padded, after standardisation): long series
        become short enough for the LSTM to learn and faster to train. "auto"
        is ``ceil(median training length / 64)``, so that a typical sequence
        is at most 64 frames (1 for sequences up to 64 steps).
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, as in scikit-learn's classifiers.
        ``partial_fit`` refuses "balanced", as
        :class:`~sklearn.linear_model.SGDClassifier` does.
    label_smoothing : float in [0, 1), default=0.3
        Training targets of ``1 - label_smoothing + label_smoothing /
        n_classes`` for the true class and ``label_smoothing / n_classes``
        for each other (Szegedy et al. 2016), as ``label_smoothing`` of
        PyTorch's ``CrossEntropyLoss`` and of Keras' cross-entropies: the loss
        no longer nears zero, which keeps small data sets from fitting their
        training series ever more confidently. The loss reported
        (``loss_curve_``, ``best_loss_``) is the smoothed one, and
        ``predict_proba`` of a confident prediction is near
        ``1 - label_smoothing + label_smoothing / n_classes`` rather than 1.
        0 is the plain cross-entropy. 0.3 was chosen by cross-validation
        (see Notes).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    recurrent_params_ : list of list of tuple
        ``recurrent_params_[layer][direction]`` is the ``(W, U, b)`` of that
        layer and direction (0 forward, 1 reverse) in the layout of
        :func:`sklstm.functional.lstm_forward`: ``W (4H, n_inputs)``,
        ``U (4H, H)``, ``b (4H,)``, gates stacked (i, f, g, o); ``U`` is
        ``(3H, H)`` with ``recurrent_input="cell"``; ``cell="peephole"``
        adds ``P (3, H)`` as a fourth array; ``cell="gru"`` stores
        ``(W, U, b_ih, b_hh)`` in :func:`sklstm.functional.gru_forward`'s
        layout. See ``docs/cells.rst``.
    output_coef_ : ndarray of shape (n_classes, n_pooled)
        Weights of the softmax layer; ``n_pooled`` is the last layer's size
        times the number of directions.
    output_intercept_ : ndarray of shape (n_classes,)
    loss_curve_ : list of float
        The mean training loss of each epoch.
    validation_scores_ : list of float or None
        Validation accuracy of each epoch, with early stopping.
    best_validation_score_ : float or None
        The best of them, whose weights were kept.
    best_loss_ : float or None
        The lowest training loss, without early stopping.
    n_iter_ : int
        Epochs run.
    t_ : int
        Sequences seen in training.
    n_features_in_ : int
        Features per step (sequences) or columns (tables).
    input_mean_, input_scale_ : ndarray of shape (n_step_features,)
        The standardisation of the inputs (zeros and ones when
        ``scale_inputs=False``); ``n_step_features`` is 1 for tables.
    steps_per_frame_ : int
        The steps read as one frame: the first layer's ``W`` has
        ``steps_per_frame_ * n_step_features`` columns, frame-major (column
        ``j * n_step_features + d`` is feature ``d`` of the ``j``-th step of
        a frame).

    See Also
    --------
    LSTMRegressor : The same network for real-valued targets.
    sklearn.neural_network.MLPClassifier : Whose names and behaviour these follow.
    Stream : Predictions step by step (``stream``, ``predict_step``) from a
        unidirectional model; see ``docs/streaming.rst``.

    Notes
    -----
    ``X`` is a 3-D array ``(n_sequences, n_timesteps, n_features)``, a list of
    ``(T_i, n_features)`` arrays of any lengths (univariate: ``(T_i, 1)`` or
    1-D), or a 2-D table read as univariate sequences of length
    ``n_columns``. Computation is in float32 when ``X`` is float32 and in
    float64 otherwise.

    The defaults were chosen on the twelve real data sets of the UCR
    development suite (16-600 training series of 24-577 steps, 2-26
    classes; ``benchmarks/bench_accuracy.py``) by 4-fold cross-validation
    inside each training split, the mean over the sets: one direction and
    the final state 0.804; bidirectional 0.814; bidirectional with max
    pooling 0.829; and with at most 48, 64 or 96 frames per sequence 0.839,
    0.840 and 0.827 (96 also 2.5x slower); at least four minibatches an
    epoch 0.839, kept because with one minibatch an epoch a seed of the
    16-series DiatomSizeReduction collapsed; 128 units 0.847, at 3-4 times
    the fit time; then, over seeds 0-2, label smoothing of 0 (the plain
    cross-entropy), 0.1, 0.2, 0.3 and 0.5: 0.837, 0.851, 0.860, 0.867 and
    0.858 (0.3 against 0.1: better on 9 sets, worse on 3, better on each
    seed). Input standardisation, the adaptive learning rate and patience in
    updates are in every row; before them the suite's mean test accuracy
    was 0.571, after them 0.810. With the defaults, three seeds: mean test
    accuracy 0.880 (0.878 with label smoothing 0.1, 0.866 with the plain
    cross-entropy), at or above 1-NN Euclidean on 12 of the 12 sets and
    1-NN DTW on 11, no seed more than 0.03 below 1-NN Euclidean, in under
    two minutes of fitting for the whole suite; see the accuracy page of the
    documentation. Adam's learning rate 1e-2 was chosen earlier on
    JapaneseVowels and the adding problem (1e-3: 0.951-0.968 accuracy, 3e-3:
    0.954-0.970, 1e-2: 0.970-0.978, 3e-2: 0.965-0.973), with clipping at norm 1
    to keep it stable.

    References
    ----------
    .. [1] S. Hochreiter and J. Schmidhuber, "Long short-term memory",
       Neural Computation 9(8), 1997.
    .. [2] F. A. Gers, J. Schmidhuber and F. Cummins, "Learning to forget:
       continual prediction with LSTM", Neural Computation 12(10), 2000.
    .. [3] C. Szegedy, V. Vanhoucke, S. Ioffe, J. Shlens and Z. Wojna,
       "Rethinking the Inception architecture for computer vision", CVPR
       2016 (label smoothing).

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm import LSTMClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(rng.integers(5, 15), 2)) for _ in range(60)]
    >>> y = [int(x[:, 0].sum() > 0) for x in X]
    >>> clf = LSTMClassifier(hidden_layer_sizes=(8,), max_iter=30,
    ...                      random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **BaseLSTM._parameter_constraints,
        "pooling": [StrOptions({"last", "mean", "max"})],
        "steps_per_frame": [StrOptions({"auto"}),
                            Interval(Integral, 1, None, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self, hidden_layer_sizes=(64,), *, bidirectional=True, cell="lstm",
        hidden_activation="tanh", recurrent_input="hidden", pooling="max",
        dropout=0.0, solver="adam", alpha=1e-4, batch_size="auto",
        learning_rate_init=1e-2, max_iter=200, shuffle=True, random_state=None,
        tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
        nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
        beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
        max_grad_norm=1.0, scale_inputs=True, learning_rate="adaptive",
        n_updates_no_change=100, steps_per_frame="auto", class_weight=None,
        label_smoothing=0.3,
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
        self.pooling = pooling
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to sequences ``X`` and their labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_sequences, n_timesteps, n_features) or list
            The sequences; see Notes.
        y : array-like of shape (n_sequences,)
            One label per sequence.
        sample_weight : array-like of shape (n_sequences,), default=None
            Weights of the sequences in the loss.

        Returns
        -------
        self : LSTMClassifier
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over ``X`` (no early stopping), from the current weights.

        As in :class:`~sklearn.neural_network.MLPClassifier`, training
        continues with the optimizer of the call that started it (the first
        ``partial_fit``, or the last ``fit``): its state and its
        ``solver``, ``learning_rate_init``, ``momentum``,
        ``nesterovs_momentum``, ``beta_1``, ``beta_2`` and ``epsilon`` are
        kept, and changing them with ``set_params`` takes effect at the next
        ``fit``. ``class_weight="balanced"`` is not supported: pass a dict.

        Parameters
        ----------
        X : array-like or list
            The sequences.
        y : array-like of shape (n_sequences,)
            Their labels.
        classes : array-like of shape (n_classes,), default=None
            Every label of the problem; required on the first call. Later
            calls may omit it, or must pass the same labels.
        sample_weight : array-like of shape (n_sequences,), default=None

        Returns
        -------
        self : LSTMClassifier
        """
        check_partial_fit_call(self, classes)
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    @classmethod
    def from_weights(cls, weights, *, classes, **params):
        """A fitted classifier from a PyTorch ``state_dict``, without training.

        ``weights`` holds the names that :meth:`get_weights` gives: those of a
        module with ``layers``, a ``torch.nn.ModuleList`` of one-layer
        ``batch_first`` ``nn.LSTM`` or ``nn.GRU`` (``layers.{k}.weight_ih_l0``,
        ``layers.{k}.weight_hh_l0``, ``layers.{k}.bias_ih_l0``,
        ``layers.{k}.bias_hh_l0``, and the same ending in ``_reverse`` when
        bidirectional), and ``head``, an ``nn.Linear`` (``head.weight``,
        ``head.bias``). The state_dict of one multi-layer ``nn.LSTM`` or
        ``nn.GRU`` (layers of equal width), under at most one attribute
        name, is read too: ``lstm.weight_ih_l0``, ``lstm.weight_ih_l1``, ...,
        with ``head.weight`` and ``head.bias``. torch is not imported: pass
        NumPy arrays, e.g. ``{k: v.numpy() for k, v in
        module.state_dict().items()}``, ``safetensors.numpy.load_file(path)``
        or ``np.load(path)`` of an ``.npz`` file.

        ``hidden_layer_sizes``, ``bidirectional`` and ``cell`` (4H rows an
        LSTM, 3H a GRU) are read from the shapes. The model reads its inputs
        as the weights do (``input_mean_`` 0, ``input_scale_`` 1), has no
        training history (``n_iter_`` 0, an empty ``loss_curve_``), predicts,
        pickles, and trains on with ``partial_fit`` or ``fit`` with
        ``warm_start=True``, from a fresh optimizer.

        Parameters
        ----------
        weights : mapping of str to array-like
            The state_dict, float32 or float64 arrays (kept; any other real
            dtype is read as float64, and a mix of float32 and float64 as
            float64).
        classes : array-like of shape (n_classes,)
            The label of each row of ``head.weight``, in order (the logits of
            a softmax over them); at least two. ``classes_`` is sorted, as
            scikit-learn's are, so the rows are reordered with it.
        **params
            Other parameters of the estimator, set as given: ``pooling``
            must be the module's (see ``docs/torch.rst``); an int
            ``steps_per_frame`` makes the model read frames of that many
            steps (the first layer's inputs then being that many steps of
            ``n_features``). Training parameters apply to further training.
            ``hidden_layer_sizes``, ``bidirectional`` and ``cell`` may be
            given if they agree with the weights.

        Returns
        -------
        estimator : LSTMClassifier
            Fitted.

        Raises
        ------
        ValueError
            For an unknown or missing name (all are listed), a shape that does
            not fit the layers around it, a non-finite value, a parameter
            that contradicts the weights, or ``classes`` that do not match
            the head's rows.

        See Also
        --------
        get_weights : The inverse: a fitted model's weights under these names.

        Examples
        --------
        >>> import numpy as np
        >>> from sklstm import LSTMClassifier
        >>> rng = np.random.default_rng(0)
        >>> H, n_features = 4, 2  # nn.LSTM(2, 4, batch_first=True), nn.Linear(4, 3)
        >>> weights = {"layers.0.weight_ih_l0": rng.normal(size=(4 * H, n_features)),
        ...            "layers.0.weight_hh_l0": rng.normal(size=(4 * H, H)),
        ...            "layers.0.bias_ih_l0": np.zeros(4 * H),
        ...            "layers.0.bias_hh_l0": np.zeros(4 * H),
        ...            "head.weight": rng.normal(size=(3, H)),
        ...            "head.bias": np.zeros(3)}
        >>> clf = LSTMClassifier.from_weights(weights, classes=["a", "b", "c"],
        ...                                   pooling="last")
        >>> clf.hidden_layer_sizes, clf.bidirectional, clf.cell
        ((4,), False, 'lstm')
        >>> clf.predict_proba([rng.normal(size=(7, 2)),
        ...                    rng.normal(size=(3, 2))]).shape
        (2, 3)
        """
        return cls._from_weights(weights, params, classes=classes)

    def _targets_from_weights(self, coef, intercept, classes):
        self._label_encoder, coef, intercept = sorted_head(coef, intercept, classes)
        self.classes_ = self._label_encoder.classes_
        return coef, intercept

    def _prepare_targets(self, y, first_call, classes=None):
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if first_call:
            if classes is not None:
                check_classification_targets(np.asarray(classes))
                self._label_encoder = LabelEncoder().fit(classes)
            else:
                self._label_encoder = LabelEncoder().fit(y)
            self.classes_ = self._label_encoder.classes_
            if len(self.classes_) < 2:
                raise ValueError(
                    f"The data has only one class ({self.classes_[0]!r}); a classifier "
                    "needs at least two."
                )
        unseen = np.setdiff1d(y, self.classes_)
        if unseen.size:
            shown = f"{unseen[:5].tolist()}{' ...' if unseen.size > 5 else ''}"
            if first_call:  # partial_fit's first call, with classes=
                raise ValueError(
                    f"y contains the classes {shown}, which are not in classes="
                    f"{self.classes_.tolist()}; pass every class of the problem in "
                    "classes=."
                )
            raise ValueError(
                f"y contains the classes {shown}, not seen when the model was first "
                f"fitted (classes_ = {self.classes_.tolist()}). Training that "
                "continues from the fitted model (warm_start=True, or partial_fit) "
                "keeps its classes: refit with warm_start=False to learn new "
                "classes, or declare every class up front with "
                "partial_fit(X, y, classes=...) on the first call."
            )
        return self._label_encoder.transform(y), len(self.classes_)

    def _class_weights(self, y):
        if self.class_weight is None:
            return 1.0
        return compute_sample_weight(self.class_weight, column_or_1d(y))

    def _stratify_validation(self):
        return True

    def _loss(self, logits, Y, weights, lengths):
        return softmax_cross_entropy(logits, Y, weights, self.label_smoothing)

    def _validation_score(self, network, flat, seqs, Y):
        logits = self._batched_outputs(network, flat, seqs)
        return float(np.mean(logits.argmax(axis=1) == Y))

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like or list
            The sequences.

        Returns
        -------
        log_proba : ndarray of shape (n_sequences, n_classes)
        """
        return log_softmax(self._decision(self._read_predict_input(X)), axis=1)

    def predict_proba(self, X):
        """Probability of each class for each sequence.

        Parameters
        ----------
        X : array-like or list
            The sequences.

        Returns
        -------
        proba : ndarray of shape (n_sequences, n_classes)
            Columns in the order of ``classes_``.
        """
        return self._proba_from_decision(self._decision(self._read_predict_input(X)))

    def predict(self, X):
        """The most probable class of each sequence.

        Parameters
        ----------
        X : array-like or list
            The sequences.

        Returns
        -------
        y : ndarray of shape (n_sequences,)
        """
        return self._predictions_from_decision(
            self._decision(self._read_predict_input(X)))

    # --- the head's outputs as predictions (predict and streaming alike) ------------

    def _predictions_from_decision(self, decision):
        """The label of the largest logit of each row of ``decision``."""
        return self.classes_[decision.argmax(axis=1)]

    def _proba_from_decision(self, decision):
        """The softmax of each row of logits ``decision``."""
        return np.exp(log_softmax(decision, axis=1))


def sorted_head(coef, intercept, classes):
    """``(encoder, coef, intercept)``: the label encoder of ``classes``, the
    label of each row of a head read from weights, and the head's rows in the
    order of its sorted classes (scikit-learn's ``classes_``)."""
    labels = np.asarray(classes)
    if labels.ndim != 1 or labels.size < 2:
        raise ValueError(
            f"classes must hold the label of each of head.weight's "
            f"{coef.shape[0]} rows, at least two; got {classes!r}.")
    check_classification_targets(labels)
    encoder = LabelEncoder().fit(labels)
    if encoder.classes_.size != labels.size:
        raise ValueError(
            f"classes={classes!r} repeats a label; each row of head.weight is "
            "a different class.")
    if coef.shape[0] != labels.size:
        raise ValueError(
            f"head.weight has {coef.shape[0]} rows but classes has "
            f"{labels.size} labels: the head has one row per class (two for a "
            "binary classifier, a softmax over both). Pass the label of each "
            "row.")
    rows = encoder.transform(labels)  # the sorted position of each row
    sorted_coef, sorted_intercept = np.empty_like(coef), np.empty_like(intercept)
    sorted_coef[rows], sorted_intercept[rows] = coef, intercept
    return encoder, sorted_coef, sorted_intercept


def check_partial_fit_call(est, classes, all_labels="y"):
    """Refuse a ``partial_fit`` call of a classifier ``est`` whose ``classes``
    are missing on the first call or differ from the fitted ones, or whose
    ``class_weight`` is "balanced"; ``all_labels`` is the expression of every
    training label, for the message."""
    if not hasattr(est, "classes_") and classes is None:
        raise ValueError("classes must be passed on the first call to partial_fit.")
    if (classes is not None and hasattr(est, "classes_")
            and not np.array_equal(est.classes_, unique_labels(classes))):
        # the check and message of scikit-learn's _check_partial_fit_first_call
        raise ValueError(
            f"`classes={classes!r}` is not the same as on last call to "
            f"partial_fit, was: {est.classes_!r}. The classes are fixed by the "
            "first call (or by fit): pass the same ones, or none."
        )
    if isinstance(est.class_weight, str) and est.class_weight == "balanced":
        raise ValueError(
            "class_weight='balanced' is not supported for partial_fit: each call "
            "would weigh the classes by their frequencies in its own batch. "
            "Compute the weights once with sklearn.utils.class_weight."
            f"compute_class_weight('balanced', classes=classes, y={all_labels}), on "
            "the whole training target or a large enough sample of it, and pass "
            "them as class_weight=dict(zip(classes, weights))."
        )
