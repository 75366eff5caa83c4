"""Streaming prediction: a fitted unidirectional model fed one step at a time.

:class:`StreamingMixin` gives an estimator :meth:`~StreamingMixin.stream`
and :meth:`~StreamingMixin.predict_step`; :class:`Stream` holds the state of
``n_streams`` sequences between calls. The estimator supplies two hooks:
``_predictions_from_decision(decision)`` (its ``predict`` from the head's
outputs) and, for probabilities, ``_proba_from_decision(decision)``.

The output of every step is the estimator's prediction on the prefix seen so
far, computed from the recurrent state carried from the previous step (one
step of work per call, whatever the length of the prefix). With frames of
``k = steps_per_frame_`` steps, the network reads a frame once it is
complete; before that, ``predict`` on the prefix zero-pads the partial frame
(after standardisation), so the stream keeps the state of the last complete
frame (*committed*), the partial frame, and computes each step's output by a
*tentative* step from the committed state over the zero-padded frame; the
step that completes the frame commits its result.
"""

import copy

import numpy as np
from sklearn.utils._available_if import available_if
from sklearn.utils.validation import check_is_fitted

from .functional import _POOL_CODES, _network_step, _pack_step_layers

__all__ = ["Stream", "StreamingMixin"]


class StepWeights:
    """A unidirectional network's weights packed for the compiled step
    (``_core._step.network_step``), in ``dtype``: what a :class:`Stream` and
    an :class:`~sklstm.rl.LSTMPolicy` step with. ``recurrent`` is the
    network's ``recurrent[layer][direction]`` arrays, ``coef`` and
    ``intercept`` its head."""

    def __init__(self, network, recurrent, coef, intercept, dtype):
        self.dtype = np.dtype(dtype)
        self.weights, self.layout = _pack_step_layers(
            [(network.cell.kind, layer[0]) for layer in recurrent], self.dtype)
        self.hidden_sizes = [int(H) for H in network.hidden_sizes]
        self.coef = np.ascontiguousarray(coef, dtype=self.dtype)
        self.intercept = np.ascontiguousarray(intercept, dtype=self.dtype)
        # per stream: h and c of every layer, then the pooling accumulator
        self.state_size = 2 * sum(self.hidden_sizes) + self.hidden_sizes[-1]


class _StreamModel(StepWeights):
    """What every stream of one fitted model shares, read-only: the packed
    weights, the head and the input map, in the precision of the weights."""

    def __init__(self, estimator):
        recurrent = estimator.recurrent_params_
        dtype = np.dtype(recurrent[0][0][0].dtype)
        if dtype not in (np.float32, np.float64):
            dtype = np.dtype(np.float64)
        super().__init__(estimator._fitted_network(), recurrent,
                         estimator.output_coef_, estimator.output_intercept_, dtype)
        if type(estimator)._per_step:
            pooling = "last"
        else:
            pooling = estimator._fitted_structure.get("pooling", "last")
        self.pooling = pooling
        self.pool_code = _POOL_CODES[pooling]
        self.mean = np.ascontiguousarray(estimator.input_mean_, dtype=np.float64)
        self.scale = np.ascontiguousarray(estimator.input_scale_, dtype=np.float64)
        self.n_features = int(estimator._n_step_features)
        self.steps_per_frame = int(estimator.steps_per_frame_)
        # a shallow copy: the fitted attributes as they are now (a refit
        # assigns new ones), for the estimator's conversion hooks
        self.estimator = copy.copy(estimator)
        self.name = type(estimator).__name__

    def fresh_state(self, n_streams):
        state = np.zeros(n_streams * self.state_size, dtype=self.dtype)
        if self.pooling == "max":
            state[n_streams * (self.state_size - self.hidden_sizes[-1]):] = -np.inf
        return state


class Stream:
    """The recurrent state of ``n_streams`` sequences fed to a fitted model one
    step at a time.

    Made by :meth:`StreamingMixin.stream` (``est.stream(n_streams)``). Each
    :meth:`push` takes the next step of every stream and returns the
    estimator's prediction for each stream's sequence so far: what
    ``est.predict`` returns on those prefixes (to rounding: 1e-12 relative in
    float64, 1e-5 in float32), at the cost of one step, not of the prefix.

    The stream computes in float32 when the model's weights are float32 (a
    model fitted on float32 data) and in float64 otherwise. It uses the model
    as fitted when the stream was made: refitting the estimator later does not
    change the stream. Its buffers are allocated once; a push allocates only
    its result. Streams share nothing that they write, so two threads may push
    into two streams at once (the step runs without the GIL); one stream is
    for one thread at a time.

    Parameters
    ----------
    model : object
        Internal; use :meth:`StreamingMixin.stream`.
    n_streams : int
        The number of sequences advanced together.

    Attributes
    ----------
    n_streams : int
        The sequences advanced by each push.
    n_features : int
        Values of one step of one stream (the estimator's features per step).
    n_steps_ : int
        Steps pushed since the stream was made or reset.
    steps_per_frame : int
        The steps the network reads as one frame (``steps_per_frame_`` of the
        estimator).
    dtype : numpy.dtype
        The precision of the computation.

    See Also
    --------
    StreamingMixin.predict_step : The functional form, which returns a new
        state instead of changing one.

    Notes
    -----
    Pooling carries a running sum (``pooling="mean"``) or maximum
    (``"max"``) of the last layer's output; ``"last"`` needs none. With
    ``steps_per_frame_ = k > 1``, the state of the last complete frame is
    kept with the steps of the partial frame, and each step's output comes
    from a tentative step over that frame zero-padded, as ``predict`` pads
    it; the step that completes the frame commits it.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm import LSTMRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(10, 2)) for _ in range(20)]
    >>> y = [x[:, 0].sum() for x in X]
    >>> reg = LSTMRegressor(hidden_layer_sizes=(4,), bidirectional=False,
    ...                     max_iter=2, random_state=0).fit(X, y)
    >>> stream = reg.stream()
    >>> for x_t in X[0]:
    ...     y_t = stream.push(x_t[None, :])
    >>> stream.n_steps_, y_t.shape
    (10, (1,))
    >>> bool(np.allclose(y_t, reg.predict(X[:1])))
    True
    """

    def __init__(self, model, n_streams):
        self._model = model
        self.n_streams = int(n_streams)
        self.n_features = model.n_features
        self.steps_per_frame = model.steps_per_frame
        self.dtype = model.dtype
        n, H_max = self.n_streams, max(model.hidden_sizes)
        self._scratch = np.empty(4 * n * H_max, dtype=self.dtype)
        self._tentative = np.empty(n * model.state_size, dtype=self.dtype)
        self._decision = np.empty((n, model.coef.shape[0]), dtype=self.dtype)
        self.reset()

    def reset(self):
        """Start every stream afresh: no step seen.

        Returns
        -------
        self : Stream
        """
        model, n = self._model, self.n_streams
        self._committed = model.fresh_state(n)
        self._spare = np.empty_like(self._committed)
        self._frame = np.zeros((n, self.steps_per_frame * self.n_features),
                               dtype=self.dtype)
        self.n_steps_ = 0
        self._n_frames = 0  # complete frames in the committed state
        return self

    def copy(self):
        """An independent stream in the same state (sharing only the model).

        Returns
        -------
        stream : Stream
        """
        other = copy.copy(self)
        for name in ("_scratch", "_tentative", "_decision", "_committed", "_spare",
                     "_frame"):
            setattr(other, name, getattr(self, name).copy())
        return other

    def __repr__(self):
        return (f"Stream({self._model.name}, n_streams={self.n_streams}, "
                f"n_steps_={self.n_steps_})")

    def _read(self, x_t):
        """``x_t`` as a C-contiguous float64 ``(n_streams, n_features)`` array."""
        try:
            x = np.asarray(x_t)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"x_t must be an array of numbers; got {exc}.") from None
        if x.dtype.kind not in "biuf":
            raise TypeError(
                f"x_t has dtype {x.dtype}; pass real numbers (float, int or bool), "
                f"one row of {self.n_features} per stream.")
        n, F = self.n_streams, self.n_features
        if x.ndim == 1 and n == 1 and x.shape[0] == F:
            x = x.reshape(1, F)
        if x.ndim != 2:
            raise ValueError(
                f"x_t has shape {x.shape}; expected (n_streams, n_features) = "
                f"({n}, {F}): one step of every stream"
                + (", or a 1-D array of the features." if n == 1 else "."))
        if x.shape[0] != n:
            raise ValueError(
                f"x_t has {x.shape[0]} rows, but the stream advances n_streams={n} "
                "sequences, one row each; pass one row per stream, or make a stream "
                f"of {x.shape[0]} with est.stream(n_streams={x.shape[0]}).")
        if x.shape[1] != F:
            raise ValueError(
                f"x_t has {x.shape[1]} features per step, but "
                f"{self._model.name} is expecting {F} features as input; pass "
                f"({n}, {F}) values.")
        return np.ascontiguousarray(x, dtype=np.float64)

    def _push(self, x_t):
        """The head's outputs after the step ``x_t`` (the estimator's
        ``_decision`` on each prefix), in a buffer the next push overwrites."""
        x = self._read(x_t)
        model, k = self._model, self.steps_per_frame
        slot = self.n_steps_ % k
        commit = slot == k - 1
        out = self._spare if commit else self._tentative
        status = _network_step(x, model.mean, model.scale, self._frame, slot,
                               model.weights, model.layout, self._committed, out,
                               self._scratch, model.pool_code, self._n_frames,
                               model.coef, model.intercept, self._decision)
        if status:
            r, d = divmod(status - 1, self.n_features)
            raise ValueError(
                f"x_t contains NaN or infinity (stream {r}, feature {d}); remove or "
                "impute these values first. The stream was left as it was.")
        if commit:
            self._committed, self._spare = out, self._committed
            self._n_frames += 1
        self.n_steps_ += 1
        return self._decision

    def push(self, x_t):
        """Feed the next step of every stream; return the predictions so far.

        Parameters
        ----------
        x_t : array-like of shape (n_streams, n_features)
            Step ``n_steps_`` of each stream, in the units of the training data
            (the estimator standardises it). With one stream, a 1-D array of
            ``n_features`` values is read as its row.

        Returns
        -------
        y : ndarray of shape (n_streams,) or (n_streams, n_outputs)
            What the estimator's ``predict`` returns on each stream's steps so
            far: a label per stream for a classifier, values for a regressor.

        Raises
        ------
        ValueError
            For a step of the wrong shape or with non-finite values; the
            stream is left as it was.
        """
        return self._model.estimator._predictions_from_decision(self._push(x_t).copy())

    def push_proba(self, x_t):
        """Feed the next step of every stream; return the class probabilities.

        Only for classifiers.

        Parameters
        ----------
        x_t : array-like of shape (n_streams, n_features)
            As for :meth:`push`.

        Returns
        -------
        proba : ndarray of shape (n_streams, n_classes)
            What ``predict_proba`` returns on each stream's steps so far.
        """
        hook = getattr(self._model.estimator, "_proba_from_decision", None)
        if hook is None:
            raise AttributeError(
                f"{self._model.name} has no class probabilities; use push.")
        return hook(self._push(x_t).copy())


def _refuse_bidirectional(estimator, what):
    check_is_fitted(estimator)
    if estimator._fitted_structure.get("bidirectional", False):
        raise ValueError(
            f"{what} needs a unidirectional model, but this "
            f"{type(estimator).__name__} was fitted with bidirectional=True: its "
            "reverse direction reads each sequence from its end, so no output "
            "exists before the whole sequence is known. Fit it with "
            "bidirectional=False to predict step by step.")


def _has_proba(estimator):
    return hasattr(estimator, "_proba_from_decision")


class StreamingMixin:
    """Streaming prediction for a fitted unidirectional estimator.

    Gives :meth:`stream` (a :class:`Stream` carrying the recurrent state of
    ``n_streams`` sequences from one call to the next) and the functional
    :meth:`predict_step`; classifiers also get :meth:`predict_proba_step`.
    The estimator converts the head's outputs through its
    ``_predictions_from_decision`` and ``_proba_from_decision`` hooks, the
    ones its ``predict`` and ``predict_proba`` use.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm import LSTMClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(8, 2)) for _ in range(20)]
    >>> y = [int(x[:, 0].sum() > 0) for x in X]
    >>> clf = LSTMClassifier(hidden_layer_sizes=(4,), bidirectional=False,
    ...                      max_iter=2, random_state=0).fit(X, y)
    >>> proba, state = clf.predict_proba_step(X[0][:1])
    >>> for x_t in X[0][1:]:
    ...     proba, state = clf.predict_proba_step(x_t[None, :], state)
    >>> bool(np.allclose(proba, clf.predict_proba(X[:1])))
    True
    """

    def stream(self, n_streams=1):
        """A :class:`Stream` of ``n_streams`` sequences, before their first step.

        Parameters
        ----------
        n_streams : int, default=1
            The number of sequences fed together, one row each per push.

        Returns
        -------
        stream : Stream

        Raises
        ------
        ValueError
            For a bidirectional model, whose reverse direction needs the whole
            sequence: fit with ``bidirectional=False`` to stream.
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        """
        _refuse_bidirectional(self, "stream")
        if (not isinstance(n_streams, (int, np.integer)) or isinstance(n_streams, bool)
                or n_streams < 1):
            raise ValueError(
                f"n_streams must be a positive integer; got {n_streams!r}.")
        return Stream(_StreamModel(self), n_streams)

    def _step_state(self, x_t, state, what):
        if state is None:
            _refuse_bidirectional(self, what)
            x = np.asarray(x_t)
            n = x.shape[0] if x.ndim == 2 else 1
            return self.stream(n_streams=n)
        if not isinstance(state, Stream):
            raise TypeError(
                f"state must be None or the state that {what} returned, not "
                f"{type(state).__name__}.")
        if state._model.estimator.recurrent_params_ is not getattr(
                self, "recurrent_params_", None):
            raise ValueError(
                f"state was made by another model (or before this one was refitted); "
                f"pass the state that this estimator's {what} returned, or None to "
                "start afresh.")
        return state.copy()

    def predict_step(self, x_t, state=None):
        """Predict after one more step, from a state that is left unchanged.

        The functional form of :meth:`stream`: ``state`` is what the previous
        call returned (None starts every stream afresh), and the call returns
        a new one, so that one state may be continued in several ways.

        Parameters
        ----------
        x_t : array-like of shape (n_streams, n_features)
            The next step of each stream (a 1-D array for one stream).
        state : Stream or None, default=None
            The state after the previous steps, not modified.

        Returns
        -------
        y : ndarray of shape (n_streams,) or (n_streams, n_outputs)
            ``predict`` on each stream's steps so far.
        state : Stream
            The state after this step.
        """
        new = self._step_state(x_t, state, "predict_step")
        return new.push(x_t), new

    @available_if(_has_proba)
    def predict_proba_step(self, x_t, state=None):
        """Class probabilities after one more step; see :meth:`predict_step`.

        Parameters
        ----------
        x_t : array-like of shape (n_streams, n_features)
            The next step of each stream.
        state : Stream or None, default=None
            The state after the previous steps, not modified.

        Returns
        -------
        proba : ndarray of shape (n_streams, n_classes)
            ``predict_proba`` on each stream's steps so far.
        state : Stream
            The state after this step.
        """
        new = self._step_state(x_t, state, "predict_proba_step")
        return new.push_proba(x_t), new
