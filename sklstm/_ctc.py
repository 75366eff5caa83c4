"""CTCSequenceLabeler: an unsegmented label sequence per input sequence."""

import warnings
from numbers import Integral

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils import metadata_routing
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import BaseLSTM, log_softmax, pass_batches
from ._products import dot
from ._sequences import auto_steps_per_frame, refuse_one_pass
from .functional import ctc_beam_search, ctc_greedy_decode, ctc_loss
from .metrics import label_error_rate

_BLANK = 0  # inside the model, class 0 is the blank and class j + 1 is classes_[j]


class CTCSequenceLabeler(BaseLSTM):
    """Sequence labelling with connectionist temporal classification.

    A stack of (by default bidirectional) LSTM layers with a softmax over the
    labels plus a blank at every step, trained with the CTC loss (Graves et
    al. 2006): each training sequence comes with the labels it contains, in
    order, but not where they are — handwriting or speech to text. ``predict``
    decodes each sequence's outputs into a label sequence.

    It is not a classifier: its targets are sequences, so model selection
    splits with plain ``KFold``; ``score`` is ``1 - label_error_rate``.

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers,) or int, default=(64,)
        The number of LSTM units of each layer (per direction).
    bidirectional : bool, default=True
        Whether each layer also reads every sequence backwards (Graves &
        Schmidhuber 2005): labels often depend on what follows.
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
    beam_width : int, default=1
        Prefixes kept by the prefix beam search of ``predict``; 1 is greedy
        (best-path) decoding. Wider beams are never worse than greedy (see
        :func:`sklstm.functional.ctc_beam_search`).
    zero_infinity : bool, default=False
        What to do with training sequences too short for their labels (a
        string of L labels needs L frames, plus one between equal neighbours):
        raise a ``ValueError`` naming them, or skip them with a warning.
    dropout, solver, alpha, batch_size, learning_rate_init, max_iter, shuffle, \
random_state, tol, verbose, warm_start, momentum, nesterovs_momentum, \
early_stopping, validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change, \
max_grad_norm, scale_inputs, learning_rate, n_updates_no_change
        As in :class:`LSTMClassifier`; early stopping watches ``score``
        (one minus the label error rate) on the held-out sequences (without
        it, a fit that ends within a spike of the training loss keeps the
        weights of the epoch of lowest loss).
    steps_per_frame : int or "auto", default="auto"
        The network reads each run of ``steps_per_frame`` consecutive steps
        as one frame of ``steps_per_frame * n_features`` values (the last
        frame zero-padded, after standardisation), and emits one output per
        frame: a frame carries at most one label (a string of L labels needs
        L frames, plus one between equal neighbours). ``predict_proba``
        still has a row per input step: each frame's row repeated over its
        steps. "auto" is the classifier's rule, ``ceil(median training
        length / 64)``, lowered until every training sequence has at least
        twice the frames its labels need (see Notes); it is 1 for sequences
        up to 64 steps.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The label alphabet, sorted (characters when ``y`` holds strings). The
        blank is internal.
    recurrent_params_ : list of list of tuple
        ``recurrent_params_[layer][direction]`` is ``(W, U, b)`` in the layout
        of :func:`sklstm.functional.lstm_forward` (``(W, U, b, P)`` with
        ``cell="peephole"``, ``(W, U, b_ih, b_hh)`` of
        :func:`sklstm.functional.gru_forward` with ``cell="gru"``); see
        ``docs/cells.rst``.
    output_coef_ : ndarray of shape (n_classes + 1, n_hidden_last)
        The per-step output layer; row 0 is the blank, row ``j + 1`` is
        ``classes_[j]``.
    output_intercept_ : ndarray of shape (n_classes + 1,)
    loss_curve_, validation_scores_, best_validation_score_, best_loss_, \
n_iter_, t_, n_features_in_, input_mean_, input_scale_, steps_per_frame_
        As in :class:`LSTMClassifier`; the loss is the CTC loss of each
        sequence divided by its number of labels.

    See Also
    --------
    sklstm.functional.ctc_loss : The loss, usable on its own.

    Notes
    -----
    ``steps_per_frame="auto"`` was chosen on lines of 2 to 5 series of UCR
    sets joined without a gap (``benchmarks/bench_ctc_ucr.py``, 2000
    training and 500 test lines, one thread; ``docs/accuracy.rst``). On CBF
    (128-step series, lines of 256 to 640 steps), reading every step gave a
    label error rate of 0.067 in 656 s (seed 0); frames of 4, 8 (the rule)
    and 16 steps gave 0.045, 0.009 and 0.057 in 69, 26 and 13 s. With the
    rule, over seeds 0-2: CBF 0.009 (frames of 8 steps), Chinatown 0.029
    (2 steps; 0.040 in 259 s step by step) and ECG5000 0.079 (9 steps),
    each below 1.5 times the error of :class:`LSTMClassifier` on the
    series with their boundaries given, plus 0.02, in 18 to 61 s a fit.
    Twice the frames the labels need is a margin, so that the rule never
    makes a target infeasible; the digit strings of ``python -m sklstm``
    (up to 58 steps) are read step by step.

    References
    ----------
    .. [1] A. Graves, S. Fernández, F. Gomez and J. Schmidhuber,
       "Connectionist temporal classification: labelling unsegmented
       sequence data with recurrent neural networks", ICML 2006.

    Examples
    --------
    >>> from sklstm import CTCSequenceLabeler
    >>> from sklstm.datasets import make_digit_strings
    >>> X, y = make_digit_strings(200, max_digits=3, random_state=0)
    >>> model = CTCSequenceLabeler(hidden_layer_sizes=(16,), max_iter=2,
    ...                            random_state=0).fit(X, y)
    >>> [type(s).__name__ for s in model.predict(X[:2])]  # strings in, strings out
    ['str', 'str']
    """

    _per_step = True

    # score takes no weights (it refuses any): offer no set_score_request for them
    __metadata_request__score = {"sample_weight": metadata_routing.UNUSED}

    _parameter_constraints: dict = {
        **BaseLSTM._parameter_constraints,
        "beam_width": [Interval(Integral, 1, None, closed="left")],
        "zero_infinity": ["boolean"],
        "steps_per_frame": [StrOptions({"auto"}),
                            Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self, hidden_layer_sizes=(64,), *, bidirectional=True, cell="lstm",
        hidden_activation="tanh", recurrent_input="hidden", beam_width=1,
        zero_infinity=False, dropout=0.0, solver="adam", alpha=1e-4,
        batch_size="auto", learning_rate_init=1e-2, max_iter=200, shuffle=True,
        random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
        nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
        beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
        max_grad_norm=1.0, scale_inputs=True, learning_rate="adaptive",
        n_updates_no_change=100, steps_per_frame="auto",
    ):
        super().__init__(
            hidden_layer_sizes, bidirectional=bidirectional, cell=cell,
            hidden_activation=hidden_activation, recurrent_input=recurrent_input,
            dropout=dropout,
            solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate_init=learning_rate_init, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_grad_norm=max_grad_norm, scale_inputs=scale_inputs,
            learning_rate=learning_rate, n_updates_no_change=n_updates_no_change,
        )
        self.beam_width = beam_width
        self.zero_infinity = zero_infinity
        self.steps_per_frame = steps_per_frame

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to sequences ``X`` and their label sequences ``y``.

        Parameters
        ----------
        X : list of ndarray of shape (n_timesteps_i, n_features), or 3-D array
        y : list of sequences
            One label sequence per input sequence: strings (read as sequences
            of characters), or lists or arrays of hashable labels.
        sample_weight : array-like of shape (n_sequences,), default=None

        Returns
        -------
        self : CTCSequenceLabeler
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``X`` (no early stopping), from the current weights.

        The label alphabet is fixed by the first call: later calls may only
        use its labels.

        As in :class:`~sklearn.neural_network.MLPClassifier`, training continues
        with the optimizer of the call that started it (the first
        ``partial_fit``, or the last ``fit``): its state and its ``solver``,
        ``learning_rate_init``, ``momentum``, ``nesterovs_momentum``,
        ``beta_1``, ``beta_2`` and ``epsilon`` are kept, and changing them
        with ``set_params`` takes effect at the next ``fit``.

        Parameters
        ----------
        X : list of ndarray or 3-D array
        y : list of sequences
        sample_weight : array-like of shape (n_sequences,), default=None

        Returns
        -------
        self : CTCSequenceLabeler
        """
        return self._fit(X, y, sample_weight, incremental=True)

    @classmethod
    def from_weights(cls, weights, *, classes, **params):
        """A fitted labeler from a PyTorch ``state_dict``, without training.

        ``weights`` holds the names that :meth:`get_weights` gives, or a
        multi-layer ``nn.LSTM``'s or ``nn.GRU``'s, with ``head.weight`` and
        ``head.bias`` of the per-step output layer; the architecture is read
        from the shapes. See :meth:`LSTMClassifier.from_weights` for the
        names, the dtypes and what the model can do.

        Parameters
        ----------
        weights : mapping of str to array-like
            The state_dict (NumPy arrays: ``{k: v.numpy() for k, v in
            module.state_dict().items()}``, ``safetensors.numpy.load_file``,
            ``np.load`` of an ``.npz``).
        classes : str or array-like of shape (n_classes,)
            The labels of rows 1 to ``n_classes`` of ``head.weight``, in
            order; row 0 is the blank (``torch.nn.CTCLoss(blank=0)``), so the
            head has ``n_classes + 1`` rows. A string is its characters, and a
            model whose labels are all characters predicts strings.
            ``classes_`` is sorted, as after ``fit``, so the label rows are
            reordered with it.
        **params
            Other parameters of the estimator, set as given (``beam_width``,
            training parameters).

        Returns
        -------
        estimator : CTCSequenceLabeler
            Fitted.

        See Also
        --------
        get_weights : The inverse: a fitted model's weights under these names.

        Examples
        --------
        >>> import numpy as np
        >>> from sklstm import CTCSequenceLabeler
        >>> rng = np.random.default_rng(0)
        >>> H = 4  # nn.LSTM(2, 4, batch_first=True), nn.Linear(4, 1 + 3)
        >>> weights = {"layers.0.weight_ih_l0": rng.normal(size=(4 * H, 2)),
        ...            "layers.0.weight_hh_l0": rng.normal(size=(4 * H, H)),
        ...            "layers.0.bias_ih_l0": np.zeros(4 * H),
        ...            "layers.0.bias_hh_l0": np.zeros(4 * H),
        ...            "head.weight": rng.normal(size=(4, H)),
        ...            "head.bias": np.zeros(4)}
        >>> model = CTCSequenceLabeler.from_weights(weights, classes="abc")
        >>> model.classes_.tolist()
        ['a', 'b', 'c']
        >>> [p.shape for p in model.predict_proba([rng.normal(size=(6, 2))])]
        [(6, 4)]
        """
        return cls._from_weights(weights, params, classes=classes)

    def _targets_from_weights(self, coef, intercept, classes):
        labels = list(classes) if isinstance(classes, str) \
            else list(np.asarray(classes, dtype=object).ravel())
        if not labels or coef.shape[0] != len(labels) + 1:
            raise ValueError(
                f"head.weight has {coef.shape[0]} rows but classes has "
                f"{len(labels)} labels: the CTC head has a row for the blank (row "
                "0) and one per label after it. Pass the label of each row after "
                "the first.")
        if len(set(labels)) != len(labels):
            raise ValueError(
                f"classes={classes!r} repeats a label; each row of head.weight is "
                "a different label.")
        is_str = all(isinstance(label, str) and len(label) == 1 for label in labels)
        order = sorted(range(len(labels)), key=lambda j: _sort_key(labels[j]))
        self.classes_ = np.array([labels[j] for j in order],
                                 dtype=str if is_str else object)
        self._y_is_str = is_str
        rows = np.r_[_BLANK, np.asarray(order, dtype=np.intp) + 1]
        return coef[rows], intercept[rows]

    def _target_array(self, y):
        y = list(y)
        array = np.empty(len(y), dtype=object)
        for i, labels in enumerate(y):
            array[i] = labels
        return array

    def _prepare_targets(self, y, first_call, classes=None):
        is_str = [isinstance(t, str) for t in y]
        if any(is_str) and not all(is_str):
            raise ValueError(
                "y mixes strings and other label sequences; pass one kind.")
        seqs = []
        for i, t in enumerate(y):
            if isinstance(t, str):
                seqs.append(list(t))
            else:
                t = np.asarray(t, dtype=object).ravel() if np.ndim(t) else None
                if t is None:
                    raise ValueError(
                        f"y[{i}] is a single value; each target must be a sequence of "
                        "labels (a string, list or 1-D array).")
                seqs.append(list(t))
        if first_call:
            alphabet = sorted({label for s in seqs for label in s}, key=_sort_key)
            if not alphabet:
                raise ValueError("y holds no labels at all; nothing to learn.")
            self.classes_ = np.array(alphabet, dtype=object if not all(is_str)
                                     else str)
            self._y_is_str = all(is_str) and len(y) > 0
        index = {label: k + 1 for k, label in enumerate(self.classes_)}
        Y = np.empty(len(seqs), dtype=object)
        for i, s in enumerate(seqs):
            try:
                Y[i] = np.array([index[label] for label in s], dtype=np.intp)
            except KeyError as exc:
                raise ValueError(
                    f"y[{i}] contains the label {exc.args[0]!r}, which is not in the "
                    "alphabet classes_ of the first fit. Training that continues "
                    "from the fitted model (warm_start=True, or partial_fit) keeps "
                    "that alphabet: refit with warm_start=False to learn new labels, "
                    "or give every label in the first call's y.") from None
        return Y, len(self.classes_) + 1

    def _choose_steps_per_frame(self, lengths, Y):
        """The parameter, or the classifier's rule lowered until every
        training sequence that fits its labels step by step has at least
        twice the frames they need."""
        if self.steps_per_frame != "auto":
            return int(self.steps_per_frame)
        k = auto_steps_per_frame(lengths)
        needed = _frames_needed(Y)
        fits = (needed > 0) & (needed <= lengths)
        if k > 1 and fits.any():
            k = min(k, max(1, int(np.min(lengths[fits] // (2 * needed[fits])))))
        return k

    def _check_targets(self, Y, lengths, weights):
        """Zero the weight of, or raise for, sequences shorter than their labels."""
        bad = np.flatnonzero(_frames_needed(Y) > lengths)
        if not bad.size:
            return weights
        k = self.steps_per_frame_
        frame = "frame" if k == 1 else \
            f"frame of {k} steps (steps_per_frame_={k})"
        if bad.size == len(Y):
            raise ValueError(
                f"all {len(Y)} sequences are too short for their labels (a label "
                f"per {frame}, plus a frame between equal neighbours): there is "
                "nothing to train on, even with zero_infinity=True. Pass longer "
                "sequences or shorter label sequences"
                f"{'' if k == 1 else ', or a smaller steps_per_frame'}.")
        if not self.zero_infinity:
            shown = ", ".join(str(i) for i in bad[:10])
            raise ValueError(
                f"{bad.size} sequences are shorter than their labels need (a label "
                f"per {frame}, plus a frame between equal neighbours), so their "
                f"CTC loss is infinite: indices {shown}"
                f"{' ...' if bad.size > 10 else ''}. Drop them, or pass "
                "zero_infinity=True to skip them"
                f"{'' if k == 1 else ', or fit with a smaller steps_per_frame'}.")
        warnings.warn(
            f"Skipping {bad.size} of {len(Y)} sequences that are too short for their "
            "labels (zero_infinity=True).", UserWarning, stacklevel=6)
        weights = weights.copy()
        weights[bad] = 0
        return weights

    def _loss(self, logits, Y, weights, lengths):
        """Over :meth:`StepOutputs.groups`; the gradient packed like ``logits.rows``."""
        per_label = np.array([max(len(t), 1) for t in Y], dtype=np.float64)
        total = weights.sum()
        w = weights / (total if total > 0 else 1.0) / per_label
        d_rows = np.empty_like(logits.rows)
        loss = 0.0
        for group in logits.groups():
            losses, grad = ctc_loss(group.padded, [Y[i] for i in group.positions],
                                    input_lengths=group.lengths, blank=_BLANK,
                                    reduction="none", zero_infinity=True)
            grad *= w[group.positions].astype(grad.dtype)[:, None, None]
            d_rows[group.rows] = grad[group.cells]
            loss += dot(w[group.positions], losses)
        return loss, d_rows

    def _validation_score(self, network, flat, seqs, Y):
        decoded = [None] * len(seqs)
        for idx, logits, lengths in self._batched_logits(network, flat, seqs):
            for i, d in zip(idx, ctc_greedy_decode(logits, input_lengths=lengths,
                                                   blank=_BLANK)):
                decoded[i] = d
        return 1.0 - label_error_rate(list(Y), decoded)

    def _batched_logits(self, network, flat, seqs):
        """``(idx, logits, lengths)`` of each group of each of
        :func:`pass_batches`: ``logits`` padded ``(len(idx), longest,
        n_classes + 1)``, the sequences ``idx`` of ``seqs`` in that order."""
        for idx in pass_batches(network, flat, seqs.lengths):
            for group in self._outputs(network, flat, seqs, idx).groups():
                yield idx[group.positions], group.padded, group.lengths

    def _per_sequence_logits(self, X):
        """:meth:`_batched_logits` of ``X``, and the number of steps of each
        sequence of ``X`` (the logits have one row per frame)."""
        seqs = self._read_predict_steps(X)
        return self._batched_logits(self._fitted_network(), self._fitted_flat(),
                                    self._map_inputs(seqs)), seqs.lengths

    def predict(self, X):
        """Decode the label sequence of each input sequence.

        Parameters
        ----------
        X : list of ndarray or 3-D array

        Returns
        -------
        y : list
            Strings when the model was fitted on strings; lists of labels
            otherwise.
        """
        out = []
        batches, _ = self._per_sequence_logits(X)
        for idx, logits, lengths in batches:
            if self.beam_width == 1:
                decoded = ctc_greedy_decode(logits, input_lengths=lengths, blank=_BLANK)
            else:
                decoded = ctc_beam_search(logits, input_lengths=lengths, blank=_BLANK,
                                          beam_width=self.beam_width)
            for i, d in zip(idx, decoded):
                labels = self.classes_[np.asarray(d, dtype=np.intp) - 1]
                out.append((i, "".join(labels) if self._y_is_str else list(labels)))
        return [labels for _, labels in sorted(out, key=lambda pair: pair[0])]

    def predict_proba(self, X):
        """Per-frame probabilities of each label and of the blank.

        Parameters
        ----------
        X : list of ndarray or 3-D array

        Returns
        -------
        proba : list of ndarray of shape (n_timesteps_i, n_classes + 1)
            Column ``j`` is ``classes_[j]``; the last column is the blank.
            One row per input step: with ``steps_per_frame_ = k > 1``, the
            network's output for each frame, repeated over its ``k`` steps.
        """
        out = []
        batches, steps = self._per_sequence_logits(X)  # checks that it is fitted
        k = self.steps_per_frame_
        for idx, logits, lengths in batches:
            p = np.exp(log_softmax(logits, axis=2))
            p = np.concatenate([p[:, :, 1:], p[:, :, :1]], axis=2)
            out.extend((i, np.repeat(p[b, :n], k, axis=0)[:steps[i]] if k > 1
                        else p[b, :n])
                       for b, (i, n) in enumerate(zip(idx, lengths)))
        return [proba for _, proba in sorted(out, key=lambda pair: pair[0])]

    def score(self, X, y, sample_weight=None):
        """``1 - label_error_rate(y, predict(X))``: 1 is perfect.

        Parameters
        ----------
        X : list of ndarray or 3-D array
        y : list of sequences
        sample_weight : None
            Not supported; present for scikit-learn's API.

        Returns
        -------
        score : float
        """
        if sample_weight is not None:
            raise ValueError(
                "CTCSequenceLabeler.score does not take sample_weight: the label "
                "error rate counts every label of every sequence once. Pass "
                "sample_weight=None.")
        refuse_one_pass(y, "y", "a list of label sequences, one per sequence of X")
        return 1.0 - label_error_rate([list(t) for t in y],
                                      [list(p) for p in self.predict(X)])


def _frames_needed(Y):
    """The fewest frames each label sequence of ``Y`` needs: a frame per
    label, plus one between equal neighbours."""
    return np.array([len(t) + int(np.sum(t[1:] == t[:-1])) for t in Y],
                    dtype=np.intp)


def _sort_key(label):
    return (type(label).__name__, label)
