"""LSTMTagger: a label for every step of every sequence."""

from numbers import Number, Real

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets

from ._base import BaseLSTM, log_softmax, softmax_cross_entropy
from ._classifier import check_partial_fit_call, sorted_head
from ._steps import (
    PerStepMixin,
    check_step_lengths,
    pack_targets,
    read_step_targets,
    split_rows,
)
from ._streaming import StreamingMixin
from .metrics import frame_accuracy


class LSTMTagger(PerStepMixin, ClassifierMixin, StreamingMixin, BaseLSTM):
    """Framewise sequence labelling: a class for every step of every sequence.

    A stack of (by default bidirectional) LSTM layers and a softmax layer
    applied to every step's output: each step gets a label, as in Graves &
    Schmidhuber's framewise phoneme classification (2005), activity
    segmentation of a sensor stream, or tagging a token sequence. Training
    minimises the cross-entropy of every labelled step, with Adam or SGD on
    minibatches of sequences.

    ``y`` holds one array of labels per sequence, as long as the sequence.
    Steps that carry no label are marked with ``ignore_label`` and left out
    of the loss, the early-stopping score and :meth:`score` (PyTorch's
    ``ignore_index``).

    Read more in the User Guide (``docs/tagging.rst``).

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers,) or int, default=(64,)
        The number of LSTM units of each layer (per direction), first layer
        first.
    bidirectional : bool, default=True
        Whether each layer also reads every sequence backwards and
        concatenates both directions' outputs, so that a step's label can
        depend on what follows it (Graves & Schmidhuber 2005). A
        unidirectional tagger labels each step from the steps up to it
        alone, and can label a stream as it arrives (:meth:`predict_step`).
    cell : {"lstm", "peephole", "gru"}, default="lstm"
        The recurrent cell of every layer; see :class:`LSTMClassifier`.
    hidden_activation : {"tanh", "identity"}, default="tanh"
        σ_h of the LSTM cells; see :class:`LSTMClassifier`.
    recurrent_input : {"hidden", "cell"}, default="hidden"
        What the LSTM cells' gates read from the previous step; see
        :class:`LSTMClassifier`.
    ignore_label : label or None, default=None
        Steps whose label equals it carry no label: they are read as input
        but left out of the loss, the early-stopping score and
        :meth:`score`. ``-1`` (as PyTorch's ``ignore_index=-100``), ``""``
        or ``np.nan`` (for float labels) are common choices; it is never one
        of ``classes_``.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, per step: "balanced" weighs each
        class by ``n_labelled_steps / (n_classes * its steps)``, as
        scikit-learn's classifiers do per sample. ``partial_fit`` refuses
        "balanced".
    label_smoothing : float in [0, 1), default=0.0
        Training targets smoothed towards the uniform distribution over the
        classes, per step; see :class:`LSTMClassifier`. 0 is the plain
        cross-entropy.
    dropout : float in [0, 1), default=0.0
        Fraction of the outputs of each layer but the last zeroed while
        training.
    solver : {"adam", "sgd"}, default="adam"
    alpha : float, default=1e-4
        L2 penalty on the weights, divided by the batch size.
    batch_size : int or "auto", default="auto"
        Sequences per minibatch; "auto" is ``min(32, ceil(n_sequences / 4))``.
    learning_rate_init : float, default=0.01
    max_iter : int, default=200
        The maximum number of epochs.
    shuffle : bool, default=True
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling, the validation split and
        dropout.
    tol : float, default=1e-4
    verbose : bool, default=False
    warm_start : bool, default=False
    momentum : float, default=0.9
        Only used when ``solver="sgd"``.
    nesterovs_momentum : bool, default=True
        Only used when ``solver="sgd"``.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training sequences, stop when
        their per-step accuracy stops improving, and keep the best epoch's
        weights. Without it, a fit that ends within a spike of the training
        loss keeps the weights of the epoch of lowest loss, as in
        :class:`LSTMClassifier`.
    validation_fraction : float, default=0.1
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Only used when ``solver="adam"``.
    n_iter_no_change : int, default=10
    max_grad_norm : float or None, default=1.0
        Global-norm gradient clipping; None turns it off.
    scale_inputs : bool, default=True
        Standardise each input feature with the training steps' statistics
        (``input_mean_``, ``input_scale_``).
    learning_rate : {"adaptive", "constant"}, default="adaptive"
        Divide the step size by 4 at each plateau, or stop at the first; see
        :class:`LSTMClassifier`.
    n_updates_no_change : int, default=100
        Patience in optimizer updates; see :class:`LSTMClassifier`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels seen in training (``ignore_label`` excluded), sorted.
    recurrent_params_ : list of list of tuple
        ``recurrent_params_[layer][direction]``, in the layouts of
        :class:`LSTMClassifier`.
    output_coef_ : ndarray of shape (n_classes, n_directions * H_last)
    output_intercept_ : ndarray of shape (n_classes,)
    loss_curve_ : list of float
        The mean training loss of each epoch (per labelled step).
    validation_scores_ : list of float or None
    best_validation_score_ : float or None
    best_loss_ : float or None
    n_iter_ : int
    t_ : int
        Sequences seen in training.
    n_features_in_ : int
    input_mean_, input_scale_ : ndarray of shape (n_step_features,)
    steps_per_frame_ : int
        Always 1: the tagger reads every step, giving each its label.

    See Also
    --------
    LSTMClassifier : One label per sequence.
    CTCSequenceLabeler : A label sequence per sequence, not aligned to its steps.
    LSTMSequenceRegressor : A real value per step.
    sklstm.metrics.frame_accuracy : The per-step accuracy, for ``make_scorer``.

    Notes
    -----
    The loss of a minibatch is the weighted mean of the cross-entropy of its
    labelled steps, each step weighted by its sequence's ``sample_weight``
    times its class's weight: PyTorch's ``CrossEntropyLoss(weight=...,
    ignore_index=..., reduction="mean")`` over the steps, with the sequence
    weights on top. A long sequence therefore counts more than a short one,
    as every step is a sample.

    The defaults are :class:`LSTMClassifier`'s (chosen on the UCR
    development suite), but for pooling and frames, which do not apply: every
    step is read and labelled. Two directions are the default because a
    step's label often depends on what follows: on the framewise speaker
    task of :func:`sklstm.datasets.make_speaker_turns` (300 training and 300
    test sequences of 2-5 JapaneseVowels utterances, three seeds,
    ``benchmarks/bench_tagging.py``) the default tagger labels 0.979 of the
    test frames right (0.975-0.983), with ``bidirectional=False`` 0.933
    (0.926-0.945), and an :class:`LSTMClassifier` of the 13 frames around
    each frame 0.968; the unidirectional tagger loses most on the first
    frames of a turn (0.913 against 0.977), before it has heard the new
    speaker.

    Scikit-learn's own checks build one label per sample, which is not a
    tagger's target; ``cross_val_score`` and ``GridSearchCV`` split the
    sequences with ``KFold`` (``y`` is not a list of class labels), and
    ``make_scorer(frame_accuracy)`` scores them.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm import LSTMTagger
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(int(rng.integers(5, 15)), 1)) for _ in range(60)]
    >>> y = [(x[:, 0] > 0).astype(int) for x in X]  # the sign of each step
    >>> tagger = LSTMTagger(hidden_layer_sizes=(8,), max_iter=20,
    ...                     random_state=0).fit(X, y)
    >>> [labels.shape for labels in tagger.predict(X[:2])]
    [(13,), (11,)]
    """

    _parameter_constraints: dict = {
        **BaseLSTM._parameter_constraints,
        "ignore_label": "no_validation",
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self, hidden_layer_sizes=(64,), *, bidirectional=True, cell="lstm",
        hidden_activation="tanh", recurrent_input="hidden", ignore_label=None,
        class_weight=None, label_smoothing=0.0, dropout=0.0, solver="adam",
        alpha=1e-4, batch_size="auto", learning_rate_init=1e-2, max_iter=200,
        shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
        momentum=0.9, nesterovs_momentum=True, early_stopping=False,
        validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
        n_iter_no_change=10, max_grad_norm=1.0, scale_inputs=True,
        learning_rate="adaptive", n_updates_no_change=100,
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
        self.ignore_label = ignore_label
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to sequences ``X`` and their per-step labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_sequences, n_timesteps, n_features) or list
            The sequences, in any form of :class:`LSTMClassifier`.
        y : list of array-like of shape (n_timesteps_i,)
            The label of every step of each sequence (``ignore_label`` for
            steps without one); a 2-D array ``(n_sequences, n_timesteps)``
            for sequences of equal length.
        sample_weight : array-like of shape (n_sequences,), default=None
            Weights of the sequences: each of its steps has its weight.

        Returns
        -------
        self : LSTMTagger
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over ``X`` (no early stopping), from the current weights.

        As :meth:`LSTMClassifier.partial_fit`: training continues with the
        optimizer of the call that started it, and the classes are fixed by
        the first call.

        Parameters
        ----------
        X : array-like or list
            The sequences.
        y : list of array-like of shape (n_timesteps_i,)
            Their per-step labels.
        classes : array-like of shape (n_classes,), default=None
            Every label of the problem; required on the first call.
        sample_weight : array-like of shape (n_sequences,), default=None

        Returns
        -------
        self : LSTMTagger
        """
        check_partial_fit_call(self, classes, all_labels="np.concatenate(y)")
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    @classmethod
    def from_weights(cls, weights, *, classes, **params):
        """A fitted tagger from a PyTorch ``state_dict``, without training.

        The names and what the model can do are those of
        :meth:`LSTMClassifier.from_weights`; ``head`` is applied to every
        step's output.

        Parameters
        ----------
        weights : mapping of str to array-like
            The state_dict, as NumPy arrays.
        classes : array-like of shape (n_classes,)
            The label of each row of ``head.weight``, in order; at least two.
        **params
            Other parameters of the estimator, set as given.

        Returns
        -------
        estimator : LSTMTagger
            Fitted.

        See Also
        --------
        get_weights : The inverse.

        Examples
        --------
        >>> import numpy as np
        >>> from sklstm import LSTMTagger
        >>> rng = np.random.default_rng(0)
        >>> H = 3  # nn.LSTM(2, 3, batch_first=True), nn.Linear(3, 2)
        >>> weights = {"layers.0.weight_ih_l0": rng.normal(size=(4 * H, 2)),
        ...            "layers.0.weight_hh_l0": rng.normal(size=(4 * H, H)),
        ...            "layers.0.bias_ih_l0": np.zeros(4 * H),
        ...            "layers.0.bias_hh_l0": np.zeros(4 * H),
        ...            "head.weight": rng.normal(size=(2, H)),
        ...            "head.bias": np.zeros(2)}
        >>> tagger = LSTMTagger.from_weights(weights, classes=["off", "on"])
        >>> [p.shape for p in tagger.predict_proba([rng.normal(size=(4, 2))])]
        [(4, 2)]
        """
        return cls._from_weights(weights, params, classes=classes)

    def _targets_from_weights(self, coef, intercept, classes):
        self._label_encoder, coef, intercept = sorted_head(coef, intercept, classes)
        self.classes_ = self._label_encoder.classes_
        return coef, intercept

    # --- targets -----------------------------------------------------------------

    def _target_array(self, y):
        return read_step_targets(y, "label")

    def _labelled(self, labels):
        """The mask of the steps of ``labels`` that carry a label."""
        if self.ignore_label is None:
            return np.ones(labels.shape, dtype=bool)
        return ~_equal(labels, self.ignore_label)

    def _prepare_targets(self, y, first_call, classes=None):
        parts = [_label_array(part, i) for i, part in enumerate(y)]
        kinds = {part.dtype.kind in "OUS" for part in parts if part.size}
        if len(kinds) > 1:
            raise ValueError(
                "y mixes sequences of string labels and of numeric labels; pass one "
                "kind of label.")
        every = np.concatenate(parts) if parts else np.empty(0)
        labelled = self._labelled(every)
        seen = every[labelled]
        if not seen.size:
            raise ValueError(
                f"No step of y carries a label (every step is ignore_label="
                f"{self.ignore_label!r}); there is nothing to learn.")
        check_classification_targets(seen)
        if first_call:
            if classes is not None:
                check_classification_targets(np.asarray(classes))
                self._label_encoder = LabelEncoder().fit(classes)
            else:
                self._label_encoder = LabelEncoder().fit(seen)
            self.classes_ = self._label_encoder.classes_
            if self.ignore_label is not None and _equal(
                    self.classes_, self.ignore_label).any():
                raise ValueError(
                    f"classes={self.classes_.tolist()} contains ignore_label="
                    f"{self.ignore_label!r}, which marks steps without a label; "
                    "leave it out of classes.")
            if len(self.classes_) < 2:
                raise ValueError(
                    f"The labelled steps have only {len(self.classes_)} class"
                    f"{'' if len(self.classes_) == 1 else 'es'} "
                    f"{self.classes_.tolist()}; a tagger needs at least two.")
        unseen = np.setdiff1d(seen, self.classes_)
        if unseen.size:
            shown = f"{unseen[:5].tolist()}{' ...' if unseen.size > 5 else ''}"
            raise ValueError(
                f"y contains the labels {shown}, which are not in classes_ = "
                f"{self.classes_.tolist()}. Training that continues from the "
                "fitted model (warm_start=True, or partial_fit) keeps its classes: "
                "refit with warm_start=False, declare every class with "
                "partial_fit(X, y, classes=...) on the first call, or mark steps "
                "without a label with ignore_label.")
        codes = np.zeros(every.shape, dtype=np.intp)
        codes[labelled] = self._label_encoder.transform(seen)
        step_weights = labelled * self._class_weight_vector(seen)[codes]
        Y = np.empty(len(parts), dtype=object)
        ends = np.cumsum([part.size for part in parts])
        for i, (c, w) in enumerate(zip(np.split(codes, ends[:-1]),
                                       np.split(step_weights, ends[:-1]))):
            Y[i] = (c, w)
        return Y, len(self.classes_)

    def _class_weight_vector(self, seen):
        """The loss weight of each class, in the order of ``classes_``."""
        if self.class_weight is None:
            return np.ones(len(self.classes_))
        return compute_class_weight(self.class_weight, classes=self.classes_, y=seen)

    def _check_targets(self, Y, lengths, weights):
        check_step_lengths([codes for codes, _ in Y], lengths, "label")
        if not any(w.any() for _, w in Y):
            raise ValueError(
                "Every labelled step of y has a class weight of 0; there is nothing "
                "to learn.")
        return weights

    # --- loss and scores ---------------------------------------------------------

    def _loss(self, logits, Y, weights, lengths):
        plan = logits.plan
        codes = pack_targets([c for c, _ in Y], plan)
        step_weights = pack_targets([w for _, w in Y], plan) \
            * weights[plan.order][plan.slot]
        return softmax_cross_entropy(logits.rows, codes, step_weights,
                                     self.label_smoothing)

    def _validation_score(self, network, flat, seqs, Y):
        predicted = self._step_rows(network, flat, seqs).argmax(axis=1)
        codes = np.concatenate([c for c, _ in Y])
        labelled = np.concatenate([w for _, w in Y]) > 0
        return float(np.mean(predicted[labelled] == codes[labelled]))

    # --- prediction --------------------------------------------------------------

    def _predictions_from_decision(self, decision):
        return self.classes_[decision.argmax(axis=-1)]

    def _proba_from_decision(self, decision):
        return np.exp(log_softmax(decision, axis=-1))

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like or list
            The sequences.

        Returns
        -------
        log_proba : list of ndarray of shape (n_timesteps_i, n_classes)
        """
        rows, lengths = self._step_decision(X)
        return split_rows(log_softmax(rows, axis=1), lengths)

    def predict_proba(self, X):
        """Probability of each class at each step of each sequence.

        Parameters
        ----------
        X : array-like or list
            The sequences.

        Returns
        -------
        proba : list of ndarray of shape (n_timesteps_i, n_classes)
            One array per sequence, columns in the order of ``classes_``.
        """
        rows, lengths = self._step_decision(X)
        return split_rows(self._proba_from_decision(rows), lengths)

    def predict(self, X):
        """The most probable class of each step of each sequence.

        Parameters
        ----------
        X : array-like or list
            The sequences.

        Returns
        -------
        y : list of ndarray of shape (n_timesteps_i,)
            One array of labels per sequence, as long as the sequence.
        """
        rows, lengths = self._step_decision(X)
        return split_rows(self._predictions_from_decision(rows), lengths)

    def score(self, X, y, sample_weight=None):
        """The accuracy over every labelled step of every sequence.

        Steps labelled ``ignore_label`` are not counted. This is
        :func:`sklstm.metrics.frame_accuracy` with ``average="frame"``.

        Parameters
        ----------
        X : array-like or list
            The sequences.
        y : list of array-like of shape (n_timesteps_i,)
            Their true per-step labels.
        sample_weight : array-like of shape (n_sequences,), default=None
            Weights of the sequences: each of its steps has its weight.

        Returns
        -------
        score : float
        """
        y = read_step_targets(y, "label")
        return frame_accuracy(y, self.predict(X), sample_weight=sample_weight,
                              ignore_label=self.ignore_label)


def _label_array(part, i):
    """``part`` as a 1-D array of labels, or a ValueError naming ``y[i]``."""
    labels = np.asarray(part)
    if labels.ndim != 1:
        raise ValueError(
            f"y[{i}] has shape {labels.shape}; pass a 1-D array with one label per "
            "step of X[i].")
    return labels


def _equal(labels, value):
    """Elementwise ``labels == value``, False (not an error) where the types
    differ: a string marker among numeric labels, or a number among strings."""
    labels = np.asarray(labels)
    if isinstance(value, Number) and value != value:  # NaN marks them
        if labels.dtype.kind == "f":
            return np.isnan(labels)
        return np.array([v != v for v in labels.ravel().tolist()],
                        dtype=bool).reshape(labels.shape)
    if labels.dtype.kind in "biuf" and isinstance(value, Number):
        return labels == value
    return np.array([v == value for v in labels.ravel().tolist()],
                    dtype=bool).reshape(labels.shape)
