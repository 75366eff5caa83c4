"""Export fitted sklstm models to ONNX.

:func:`to_onnx` writes a fitted :class:`~sklstm.LSTMClassifier`,
:class:`~sklstm.LSTMRegressor`, :class:`~sklstm.LSTMTagger`,
:class:`~sklstm.LSTMSequenceRegressor` or :class:`~sklstm.CTCSequenceLabeler`, a
fitted :class:`~sklstm.preprocessing.SequenceScaler`, or a
:class:`~sklearn.pipeline.Pipeline` of scalers followed by one of them, as
an ONNX model with two inputs: ``X`` ``(batch, time, n_features)`` float32,
a padded batch, and ``lengths`` ``(batch,)`` int32. What lies past a
sequence's length is never read, NaN included, so a ragged batch padded with
anything gives the answers of the estimator on the sequences themselves.

The graph does what the estimator does, in this order:

1. Each step past its sequence's length is replaced (``Where``) by the value
   the estimator gives a missing step: the fitted input mean, which the
   standardisation folded into the first layer maps to zero.
2. Scalers of a pipeline standardise in float64 (``Cast``): with the fitted
   statistics, or with each sequence's own mean and standard deviation over
   its own steps (``per_sequence=True``), sums masked by ``lengths``.
3. Step grouping (``steps_per_frame_ = k > 1``): the padded batch is
   extended with ``k - 1`` steps of the input mean, cut to a multiple of
   ``k`` steps and reshaped to frames of ``k * n_features`` values (column
   ``j * n_features + d`` is feature ``d`` of the ``j``-th step);
   ``ceil(lengths / k)`` frames per sequence. The CTC labeler's
   per-frame outputs are then repeated over each frame's steps (step 6),
   a row per input step, as its ``predict_proba`` gives them.
4. The recurrent layers are the ONNX ``LSTM`` or ``GRU`` operators with
   ``sequence_lens``; onnxruntime runs them only time-major
   (``layout=0``), so ``X`` is transposed once and each layer's output
   ``(time, directions, batch, H)`` is transposed to ``(time, batch,
   directions * H)`` for the next. The input standardisation is folded
   into the first layer's ``W`` and bias and the regressor's target scaling
   into the head (:func:`sklstm._export.folded`); the gate order and the
   cells' attributes come from the cell classes.
5. Pooling: ``"last"`` is the operator's ``Y_h`` (each direction's final
   state); ``"mean"`` and ``"max"`` reduce the last layer's output over each
   sequence's own frames, masked by the frame lengths (no runtime is
   trusted to fill the outputs past a length with zeros).
6. The dense head: softmax probabilities and the label for the classifier,
   the predictions for the regressor; on every step, softmax probabilities
   and the label for the tagger, the predictions for the per-step
   regressor, log-probabilities for the CTC labeler, whose decoding stays
   in Python.

Importing this module registers sklstm's estimators and scaler with
skl2onnx when it is installed, so that :func:`skl2onnx.to_onnx` converts
pipelines that end with them; skl2onnx gives a pipeline a single input, so
that route is for sequences of one length (tables or 3-D arrays). See
``docs/onnx.rst``.
"""

from numbers import Integral

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ._classifier import LSTMClassifier
from ._ctc import CTCSequenceLabeler
from ._export import folded
from ._regressor import LSTMRegressor
from ._sequence_regressor import LSTMSequenceRegressor
from ._tagger import LSTMTagger
from ._version import __version__
from .preprocessing import SequenceScaler

__all__ = ["DEFAULT_OPSET", "register", "to_onnx"]

# Opset 18 is the first in which every reduction takes its axes as an input;
# onnxruntime has run it since 1.14. The LSTM and GRU operators the graph uses
# are those of opset 14 (which added ``layout``), unchanged since but for
# their types; older opsets lack ``layout`` and are refused.
DEFAULT_OPSET = 18
_MIN_OPSET = 14

_ESTIMATORS = (LSTMClassifier, LSTMRegressor, CTCSequenceLabeler, LSTMTagger,
               LSTMSequenceRegressor)

_INSTALL = 'pip install "sklstm[onnx]"'


def _import_onnx():
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(
            f"Exporting to ONNX requires the onnx package; install it with "
            f"'{_INSTALL}'."
        ) from exc
    return onnx


# --- the graph under construction ---------------------------------------------


class _Graph:
    """A graph under construction, written by one of two back ends: plain
    ``onnx.helper`` lists (:func:`to_onnx`) or skl2onnx's container and
    scope (the converters :func:`register` declares).

    ``op`` adds a node and returns its output names, ``const`` adds an
    initializer and returns its name; ``emit_node(op_type, inputs,
    outputs, attrs)``, ``emit_const(name, array)`` and ``unique(seed)`` are
    the back end's. ``opset`` decides the form of the operators that changed
    between the opsets accepted.
    """

    def __init__(self, opset, emit_node, emit_const, unique):
        self.opset = opset
        self._emit_node = emit_node
        self._emit_const = emit_const
        self._unique = unique

    def const(self, value, dtype, name="const"):
        array = np.asarray(value, dtype=dtype)
        name = self._unique(name)
        self._emit_const(name, array)
        return name

    def op(self, op_type, *inputs, n_outputs=1, **attrs):
        outputs = [self._unique(op_type.lower()) for _ in range(n_outputs)]
        self._emit_node(op_type, list(inputs), outputs, attrs)
        return outputs[0] if n_outputs == 1 else outputs

    def axes(self, *axes):
        return self.const(list(axes), np.int64, "axes")

    def reduce(self, op_type, x, axes, keepdims):
        """``op_type`` over ``axes``: an input from opset 18 (13 for
        ReduceSum), an attribute before."""
        since = 13 if op_type == "ReduceSum" else 18
        if self.opset >= since:
            return self.op(op_type, x, self.axes(*axes), keepdims=keepdims)
        return self.op(op_type, x, axes=list(axes), keepdims=keepdims)


def _tensor_type(dtype):
    """The ONNX element type of a NumPy dtype among those the graphs use."""
    from onnx import TensorProto

    kinds = {"f4": TensorProto.FLOAT, "f8": TensorProto.DOUBLE,
             "i4": TensorProto.INT32, "i8": TensorProto.INT64, "b1": TensorProto.BOOL}
    dtype = np.dtype(dtype)
    if dtype.kind in "OUS":
        return TensorProto.STRING
    return kinds[dtype.kind + str(dtype.itemsize)]


# --- pieces of the graph ------------------------------------------------------


def _step_mask(g, x, lengths):
    """``(batch, time)`` bool: step ``t`` of sequence ``b`` is one of its own
    (``t < lengths[b]``); ``x`` is ``(batch, time, ...)``, ``lengths`` int64."""
    n_steps = g.op("Gather", g.op("Shape", x), g.const(1, np.int64))
    steps = g.op("Range", g.const(0, np.int64), n_steps, g.const(1, np.int64))
    return g.op("Less", g.op("Unsqueeze", steps, g.axes(0)),
                g.op("Unsqueeze", lengths, g.axes(1)))


def _scaler_graph(g, scaler, x, lengths, mask, to=None):
    """The output of fitted ``scaler`` for ``x`` ``(batch, time, features)``:
    :meth:`SequenceScaler.transform` computed in float64 (as it computes it),
    zero past each length, given back as ONNX type ``to`` (float32 by
    default)."""
    from onnx import TensorProto

    x = g.op("Cast", x, to=TensorProto.DOUBLE)
    inside = g.op("Unsqueeze", mask, g.axes(2))
    zero = g.const(0.0, np.float64)
    mean = scale = None
    if not scaler.per_sequence:
        if scaler.with_mean:
            mean = g.const(scaler.mean_, np.float64, "mean")
        if scaler.scale_ is not None:
            scale = g.const(scaler.scale_, np.float64, "scale")
    else:
        # each sequence's mean and variance over its own steps (ddof 0), and
        # safe_scale's bound for a zero variance over n values:
        # var <= n eps var + (n mean eps)^2 gives 1
        n = g.op("Unsqueeze", g.op("Cast", lengths, to=TensorProto.DOUBLE),
                 g.axes(1, 2))
        own = g.op("Where", inside, x, zero)
        mean = g.op("Div", g.reduce("ReduceSum", own, [1], keepdims=1), n)
        if scaler.with_std:
            dev = g.op("Where", inside, g.op("Sub", x, mean), zero)
            var = g.op("Div", g.reduce("ReduceSum", g.op("Mul", dev, dev), [1],
                                       keepdims=1), n)
            eps = g.const(np.finfo(np.float64).eps, np.float64, "eps")
            n_eps = g.op("Mul", n, eps)
            bound = g.op("Mul", g.op("Mul", n_eps, mean), n_eps)
            bound = g.op("Add", g.op("Mul", n_eps, var), g.op("Mul", bound, bound))
            scale = g.op("Where", g.op("LessOrEqual", var, bound),
                         g.const(1.0, np.float64), g.op("Sqrt", var))
        if not scaler.with_mean:
            mean = None
    if mean is not None:
        x = g.op("Sub", x, mean)
    if scale is not None:
        x = g.op("Div", x, scale)
    x = g.op("Where", inside, x, zero)
    return g.op("Cast", x, to=TensorProto.FLOAT if to is None else to)


def _frames(g, x, lengths, k, pad):
    """:func:`sklstm._export.frame` as operations: ``(frames, frame
    lengths)`` of ``x`` ``(batch, time, F)`` whose steps past each length are
    already ``pad``."""
    F = pad.size
    shape = g.op("Shape", x)
    batch = g.op("Gather", shape, g.const([0], np.int64))
    fill_shape = g.op("Concat", batch, g.const([k - 1, F], np.int64), axis=0)
    fill = g.op("Expand", g.const(pad.reshape(1, 1, F), np.float32, "pad"),
                fill_shape)
    x = g.op("Concat", x, fill, axis=1)
    n_steps = g.op("Gather", shape, g.const(1, np.int64))
    k_ = g.const(k, np.int64)
    n_frames = g.op("Div", g.op("Add", n_steps, g.const(k - 1, np.int64)), k_)
    end = g.op("Unsqueeze", g.op("Mul", n_frames, k_), g.axes(0))
    x = g.op("Slice", x, g.const([0], np.int64), end, g.axes(1))
    x = g.op("Reshape", x, g.const([0, -1, k * F], np.int64))
    lengths = g.op("Div", g.op("Add", lengths, g.const(k - 1, np.int64)), k_)
    return x, lengths


def _unframe(g, out, k, mask):
    """Per-frame outputs ``out`` ``(batch, frames, C)`` as per-step ones
    ``(batch, n_steps, C)``: each frame's row repeated over its ``k`` steps,
    zero past each sequence's length (``mask``, ``(batch, n_steps)``), as
    :meth:`CTCSequenceLabeler.predict_proba` gives them."""
    n_steps = g.op("Gather", g.op("Shape", mask), g.const([1], np.int64))
    shape = g.op("Shape", out)
    batch = g.op("Gather", shape, g.const([0], np.int64))
    columns = g.op("Gather", shape, g.const([2], np.int64))
    out = g.op("Expand", g.op("Unsqueeze", out, g.axes(2)),
               g.op("Concat", g.op("Gather", shape, g.const([0, 1], np.int64)),
                    g.const([k], np.int64), columns, axis=0))
    out = g.op("Reshape", out, g.op("Concat", batch, g.const([-1], np.int64),
                                    columns, axis=0))
    out = g.op("Slice", out, g.const([0], np.int64), n_steps, g.axes(1))
    return g.op("Where", g.op("Unsqueeze", mask, g.axes(2)), out,
                g.const(0.0, np.float32))


def _check_exportable(est):
    """Raise, before any graph is built, for what ONNX cannot express."""
    network = est._fitted_network()
    network.cell.onnx_attributes(network.n_directions)


def _estimator_graph(g, est, x, lengths):
    """The head's output of fitted ``est`` for float32 ``x`` ``(batch,
    time, n_features)`` and int64 ``lengths``: the classifier's logits, the
    regressor's predictions, or the CTC labeler's per-frame
    log-probabilities."""
    from onnx import TensorProto

    f = folded(est)
    cell_attrs = f.cell.onnx_attributes(f.n_directions)
    mask = step_mask = _step_mask(g, x, lengths)
    x = g.op("Where", g.op("Unsqueeze", mask, g.axes(2)), x,
             g.const(f.pad, np.float32, "pad"))
    if f.steps_per_frame > 1:
        x, lengths = _frames(g, x, lengths, f.steps_per_frame, f.pad)
        mask = _step_mask(g, x, lengths)
    sequence_lens = g.op("Cast", lengths, to=TensorProto.INT32)
    h = g.op("Transpose", x, perm=[1, 0, 2])  # (time, batch, features)
    direction = "bidirectional" if f.n_directions == 2 else "forward"
    for H, layer in zip(f.hidden_sizes, f.recurrent):
        W, R, B, P = zip(*(f.cell.onnx_weights(params) for params in layer))
        inputs = [h] + [g.const(np.stack(a), np.float32, name)
                        for a, name in ((W, "W"), (R, "R"), (B, "B"))]
        inputs.append(sequence_lens)
        if P[0] is not None:
            # P comes after the initial states, which are zero: given as
            # tensors, for skl2onnx's graph sort has no empty input names
            batch = g.op("Gather", g.op("Shape", h), g.const([1], np.int64))
            state_shape = g.op("Concat", g.const([1], np.int64), batch,
                               g.const([1], np.int64), axis=0)
            zeros = g.op("Expand", g.const(np.zeros((f.n_directions, 1, H)),
                                           np.float32, "zeros"), state_shape)
            inputs += [zeros, zeros, g.const(np.stack(P), np.float32, "P")]
        y, y_h = g.op(f.cell.onnx_op, *inputs, n_outputs=2, hidden_size=H,
                      direction=direction, layout=0, **cell_attrs)
        h = g.op("Reshape", g.op("Transpose", y, perm=[0, 2, 1, 3]),
                 g.const([0, 0, -1], np.int64))
    coef = f.coef.astype(np.float32)
    intercept = f.intercept.astype(np.float32)
    if f.head.per_step or f.head.pooling != "last":
        # (time, batch, 1): the frames of each sequence's own
        inside = g.op("Unsqueeze", g.op("Transpose", mask, perm=[1, 0]), g.axes(2))
    if f.head.per_step:
        order = np.arange(coef.shape[0])
        if isinstance(est, CTCSequenceLabeler):
            # the columns of predict_proba: classes_, then the blank (row 0)
            order = np.r_[1 : coef.shape[0], 0]
        out = g.op("Add", g.op("MatMul", h, g.const(coef[order].T, np.float32)),
                   g.const(intercept[order], np.float32))
        if isinstance(est, CTCSequenceLabeler):
            out = g.op("LogSoftmax", out, axis=2)
        elif isinstance(est, LSTMTagger):
            out = g.op("Softmax", out, axis=2)
        out = g.op("Where", inside, out, g.const(0.0, np.float32))
        out = g.op("Transpose", out, perm=[1, 0, 2])
        if f.steps_per_frame > 1:  # the CTC labeler's frames: a row per step
            out = _unframe(g, out, f.steps_per_frame, step_mask)
        if getattr(est, "_y_1d", False):  # per-step values fitted on 1-D targets
            out = g.op("Squeeze", out, g.axes(2))
        return out
    if f.head.pooling == "last":
        pooled = g.op("Reshape", g.op("Transpose", y_h, perm=[1, 0, 2]),
                      g.const([0, -1], np.int64))
    elif f.head.pooling == "mean":
        total = g.reduce("ReduceSum", g.op("Where", inside, h,
                                           g.const(0.0, np.float32)),
                         [0], keepdims=0)
        n = g.op("Unsqueeze", g.op("Cast", lengths, to=TensorProto.FLOAT), g.axes(1))
        pooled = g.op("Div", total, n)
    else:
        pooled = g.reduce("ReduceMax", g.op("Where", inside, h,
                                            g.const(-np.inf, np.float32)),
                          [0], keepdims=0)
    out = g.op("Gemm", pooled, g.const(coef, np.float32, "coef"),
               g.const(intercept, np.float32, "intercept"), transB=1)
    if getattr(est, "_y_1d", False):  # the regressor fitted on a 1-D y
        out = g.op("Reshape", out, g.const([-1], np.int64))
    return out


def _label_graph(g, logits, classes):
    """``(label, probabilities)`` of the classifier's logits: ``classes``
    at the first largest logit (NumPy's argmax), and the softmax."""
    index = g.op("ArgMax", logits, axis=1, keepdims=0)
    label = g.op("Gather", g.const(classes, classes.dtype, "classes"), index, axis=0)
    return label, g.op("Softmax", logits, axis=1)


def _step_label_graph(g, proba, classes):
    """The tagger's label at each step of ``proba`` ``(batch, time,
    n_classes)``: ``classes`` at the first largest probability."""
    index = g.op("ArgMax", proba, axis=2, keepdims=0)
    return g.op("Gather", g.const(classes, classes.dtype, "classes"), index, axis=0)


def _label_values(classes):
    """``classes_`` as the constant the label is read from: int64 for
    integers and booleans, float64 for other numbers, strings for strings."""
    classes = np.asarray(classes)
    if classes.dtype.kind in "biu":
        return classes.astype(np.int64)
    if classes.dtype.kind == "f":
        return classes.astype(np.float64)
    if all(isinstance(c, str) for c in classes):
        return np.array([str(c) for c in classes], dtype=object)
    raise TypeError(
        f"The classifier's classes_ {classes[:5].tolist()} are neither all numbers "
        "nor all strings; an ONNX label tensor has one element type. Fit on integer "
        "or string labels to export.")


# --- what is exported ---------------------------------------------------------


def _parts(model):
    """``(scalers, final)`` of ``model``: the scalers in front, and the
    estimator (or None when the model is scalers only)."""
    steps = [model]
    if isinstance(model, Pipeline):
        steps = [step for _, step in model.steps
                 if step is not None and not (isinstance(step, str)
                                              and step == "passthrough")]
        if not steps:
            raise ValueError("The pipeline has no step to export.")
    scalers, final = steps[:-1], steps[-1]
    for step in scalers:
        if not isinstance(step, SequenceScaler):
            raise TypeError(
                f"Cannot export a pipeline step {type(step).__name__} before the "
                "last: sklstm.onnx exports SequenceScaler steps followed by an "
                "LSTMClassifier, LSTMRegressor, LSTMTagger, LSTMSequenceRegressor, "
                "CTCSequenceLabeler or SequenceScaler.")
    if isinstance(final, SequenceScaler):
        scalers, final = steps, None
    elif not isinstance(final, _ESTIMATORS):
        raise TypeError(
            f"Cannot export {type(final).__name__}: sklstm.onnx exports a fitted "
            "LSTMClassifier, LSTMRegressor, LSTMTagger, LSTMSequenceRegressor, "
            "CTCSequenceLabeler or SequenceScaler, or a Pipeline of SequenceScaler "
            "steps followed by one of them.")
    for step in scalers:
        check_is_fitted(step, "_n_step_features")
    if final is not None:
        check_is_fitted(final, "recurrent_params_")
        _check_exportable(final)
    return scalers, final


def _check_opset(opset):
    onnx = _import_onnx()
    if opset is None:
        return DEFAULT_OPSET
    latest = onnx.defs.onnx_opset_version()
    if (not isinstance(opset, Integral) or isinstance(opset, bool)
            or not _MIN_OPSET <= opset <= latest):
        raise ValueError(
            f"opset={opset!r} is not an opset this export can write: pass an integer "
            f"in [{_MIN_OPSET}, {latest}] (the LSTM and GRU operators need the "
            f"'layout' of opset {_MIN_OPSET}; {latest} is the newest this onnx "
            f"{onnx.__version__} knows), or None for {DEFAULT_OPSET}.")
    return int(opset)


def to_onnx(model, *, opset=None):
    """Export a fitted sklstm model as an ONNX model for ragged batches.

    Parameters
    ----------
    model : LSTMClassifier, LSTMRegressor, LSTMTagger, LSTMSequenceRegressor, \
CTCSequenceLabeler, SequenceScaler or Pipeline
        Fitted. A :class:`~sklearn.pipeline.Pipeline` may hold
        :class:`~sklstm.preprocessing.SequenceScaler` steps followed by one
        of the estimators (or scalers only); ``"passthrough"`` steps are
        skipped. An LSTM fitted with ``recurrent_input="cell"`` is refused:
        the ONNX LSTM operator has no such cell.
    opset : int, default=None
        The ONNX opset of the model, at least 14; None is
        :data:`DEFAULT_OPSET` (18).

    Returns
    -------
    onnx_model : onnx.ModelProto
        Inputs ``X`` ``(batch, time, n_features)`` float32, padded with
        anything past each length (a model fitted on a table reads
        ``n_features = 1``: the table's rows as ``(batch, n_columns, 1)``),
        and ``lengths`` ``(batch,)`` int32 in ``[1, time]``. Outputs: for
        the classifier ``label`` ``(batch,)`` (int64 for integer or
        boolean classes, double for other numbers, string for strings) and
        ``probabilities`` ``(batch, n_classes)`` float32, the columns of
        ``classes_``; for the regressor ``predictions`` ``(batch,)`` when it
        was fitted on a 1-D ``y``, ``(batch, n_outputs)`` otherwise; for the
        tagger ``label`` ``(batch, time)`` and ``probabilities`` ``(batch,
        time, n_classes)``, zero past each length (the label there is
        ``classes_[0]``); for the per-step regressor ``predictions``
        ``(batch, time)`` or ``(batch, time, n_outputs)``, zero past each
        length; for the CTC labeler ``log_probabilities`` ``(batch, time,
        n_classes + 1)``,
        the log of :meth:`~sklstm.CTCSequenceLabeler.predict_proba` (columns
        ``classes_``, then the blank), zero past each length; for scalers
        alone ``X_scaled`` ``(batch, time, n_features)``, zero past each
        length (the lengths are unchanged).

    Raises
    ------
    ImportError
        When onnx is not installed.

    See Also
    --------
    register : The skl2onnx converters, for pipelines of fixed-length input.

    Notes
    -----
    The model computes in float32 (onnxruntime runs the recurrent operators
    in float32 only): on ragged batches its outputs agree with the
    estimator's float64 ones to about 1e-6 (the tests require 1e-5). The
    input standardisation is folded into the first layer's weights, which
    read raw inputs: features whose mean is large next to their spread lose
    digits in float32 (with a mean 1000 spreads, about 1e-4 relative); a
    :class:`~sklstm.preprocessing.SequenceScaler` in front, computed in
    float64, avoids that.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm import LSTMClassifier
    >>> from sklstm.onnx import to_onnx
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(int(rng.integers(3, 8)), 2)) for _ in range(16)]
    >>> y = [int(x[:, 0].sum() > 0) for x in X]
    >>> clf = LSTMClassifier(hidden_layer_sizes=(3,), max_iter=20,
    ...                      random_state=0).fit(X, y)
    >>> model = to_onnx(clf)
    >>> [i.name for i in model.graph.input], [o.name for o in model.graph.output]
    (['X', 'lengths'], ['label', 'probabilities'])

    Run it in onnxruntime on a padded batch:

    >>> import onnxruntime as ort
    >>> session = ort.InferenceSession(model.SerializeToString(),
    ...                                providers=["CPUExecutionProvider"])
    >>> lengths = np.array([len(x) for x in X[:4]], dtype=np.int32)
    >>> padded = np.full((4, lengths.max(), 2), np.nan, dtype=np.float32)
    >>> for b, x in enumerate(X[:4]):
    ...     padded[b, : len(x)] = x
    >>> label, proba = session.run(None, {"X": padded, "lengths": lengths})
    >>> bool(np.all(label == clf.predict(X[:4])))
    True
    >>> bool(np.abs(proba - clf.predict_proba(X[:4])).max() < 1e-5)
    True
    """
    onnx = _import_onnx()
    from onnx import TensorProto, helper, numpy_helper

    opset = _check_opset(opset)
    scalers, final = _parts(model)
    first = scalers[0] if scalers else final
    n_features = int(first._n_step_features)

    nodes, initializers, taken = [], [], {"X", "lengths"}
    counts = {}

    def unique(seed):
        while True:
            counts[seed] = counts.get(seed, 0) + 1
            name = f"{seed}_{counts[seed]}"
            if name not in taken:
                taken.add(name)
                return name

    def emit_node(op_type, inputs, outputs, attrs):
        nodes.append(helper.make_node(op_type, inputs, outputs,
                                      name=unique(f"{op_type}_node"), **attrs))

    def emit_const(name, array):
        if array.dtype.kind in "OUS":
            array = np.array([str(v) for v in array.ravel()],
                             dtype=object).reshape(array.shape)
        initializers.append(numpy_helper.from_array(array, name))

    g = _Graph(opset, emit_node, emit_const, unique)
    lengths = g.op("Cast", "lengths", to=TensorProto.INT64)
    x = "X"
    if scalers:
        mask = _step_mask(g, x, lengths)
        for scaler in scalers:
            x = _scaler_graph(g, scaler, x, lengths, mask)
    batch, time = "batch", "time"
    if final is None:
        outputs = [(x, "X_scaled", TensorProto.FLOAT, [batch, time, n_features])]
    elif isinstance(final, LSTMClassifier):
        classes = _label_values(final.classes_)
        logits = _estimator_graph(g, final, x, lengths)
        label, proba = _label_graph(g, logits, classes)
        outputs = [(label, "label", _tensor_type(classes.dtype), [batch]),
                   (proba, "probabilities", TensorProto.FLOAT,
                    [batch, len(classes)])]
    elif isinstance(final, LSTMRegressor):
        pred = _estimator_graph(g, final, x, lengths)
        shape = [batch] if final._y_1d else [batch, int(final.n_outputs_)]
        outputs = [(pred, "predictions", TensorProto.FLOAT, shape)]
    elif isinstance(final, LSTMTagger):
        classes = _label_values(final.classes_)
        proba = _estimator_graph(g, final, x, lengths)
        label = _step_label_graph(g, proba, classes)
        outputs = [(label, "label", _tensor_type(classes.dtype), [batch, time]),
                   (proba, "probabilities", TensorProto.FLOAT,
                    [batch, time, len(classes)])]
    elif isinstance(final, LSTMSequenceRegressor):
        pred = _estimator_graph(g, final, x, lengths)
        shape = [batch, time] + ([] if final._y_1d else [int(final.n_outputs_)])
        outputs = [(pred, "predictions", TensorProto.FLOAT, shape)]
    else:
        log_p = _estimator_graph(g, final, x, lengths)
        outputs = [(log_p, "log_probabilities", TensorProto.FLOAT,
                    [batch, time, len(final.classes_) + 1])]
    for value, name, _, _ in outputs:
        nodes.append(helper.make_node("Identity", [value], [name],
                                      name=unique("Identity_node")))
    graph = helper.make_graph(
        nodes, f"sklstm_{type(final or scalers[-1]).__name__}",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT,
                                       [batch, time, n_features]),
         helper.make_tensor_value_info("lengths", TensorProto.INT32, [batch])],
        [helper.make_tensor_value_info(name, elem, shape)
         for _, name, elem, shape in outputs],
        initializers)
    opset_ids = [helper.make_opsetid("", opset)]
    onnx_model = helper.make_model(
        graph, opset_imports=opset_ids, producer_name="sklstm",
        producer_version=__version__,
        ir_version=helper.find_min_ir_version_for(opset_ids))
    onnx.checker.check_model(onnx_model)
    return onnx_model


# --- skl2onnx -----------------------------------------------------------------


def _skl2onnx_graph(scope, container):
    """A :class:`_Graph` that writes into skl2onnx's container."""
    from onnx import TensorProto, numpy_helper

    opset = container.target_opset
    if opset is None:
        from skl2onnx import get_latest_tested_opset_version

        opset = get_latest_tested_opset_version()
    if opset < _MIN_OPSET:
        raise ValueError(
            f"target_opset={opset} is too old for sklstm's converters: the LSTM and "
            f"GRU operators need the 'layout' of opset {_MIN_OPSET}; pass "
            f"target_opset={DEFAULT_OPSET} (or any from {_MIN_OPSET}) to "
            "skl2onnx.to_onnx.")

    def emit_node(op_type, inputs, outputs, attrs):
        container.add_node(op_type, inputs, outputs,
                           name=scope.get_unique_operator_name(f"sklstm_{op_type}"),
                           **attrs)

    def emit_const(name, array):
        if array.dtype.kind in "OUS":
            container.add_initializer(name, TensorProto.STRING, list(array.shape),
                                      [str(v).encode("utf-8") for v in array.ravel()])
        else:
            container.add_initializer(name, None, None,
                                      numpy_helper.from_array(array, name))

    return _Graph(opset, emit_node, emit_const, scope.get_unique_variable_name)


def _skl2onnx_sequences(g, variable, n_features, model):
    """``(x, lengths)`` of a converter's one input: a 3-D array of sequences,
    or a table read as univariate sequences of length ``n_columns``; every
    sequence full length."""
    shape = variable.type.shape
    x = variable.full_name
    if len(shape) == 2:
        if n_features != 1:
            raise ValueError(
                f"{type(model).__name__} reads {n_features} features per step, but "
                f"skl2onnx gives it a table {shape}, which sklstm reads as "
                "univariate sequences. Pass 3-D initial types (n_sequences, "
                f"n_timesteps, {n_features}).")
        x = g.op("Reshape", x, g.const([0, -1, 1], np.int64))
    elif len(shape) != 3:
        raise ValueError(
            f"{type(model).__name__} reads 3-D arrays (n_sequences, n_timesteps, "
            f"n_features) or tables; skl2onnx gives it an input of shape {shape}.")
    elif isinstance(shape[2], Integral) and shape[2] != n_features:
        raise ValueError(
            f"{type(model).__name__} was fitted on {n_features} features per step, "
            f"but skl2onnx gives it sequences of {shape[2]}: pass initial types "
            f"of shape (None, n_timesteps, {n_features}).")
    x_shape = g.op("Shape", x)
    n_steps = g.op("Gather", x_shape, g.const(1, np.int64))
    lengths = g.op("Expand", n_steps, g.op("Gather", x_shape, g.const([0], np.int64)))
    return x, lengths


def _scaler_shape(operator):
    """skl2onnx's shape calculator of the scaler: the input's type and shape."""
    x = operator.inputs[0].type
    operator.outputs[0].type = type(x)(list(x.shape))


def _scaler_converter(scope, operator, container):
    """skl2onnx's converter of the scaler: :func:`_scaler_graph` on full-length
    sequences, in the input's shape and type."""
    scaler = operator.raw_operator
    g = _skl2onnx_graph(scope, container)
    x, lengths = _skl2onnx_sequences(g, operator.inputs[0],
                                     scaler._n_step_features, scaler)
    elem = operator.inputs[0].type.to_onnx_type().tensor_type.elem_type
    out = _scaler_graph(g, scaler, x, lengths, _step_mask(g, x, lengths), to=elem)
    container.add_node("Reshape", [out, g.op("Shape", operator.inputs[0].full_name)],
                       [operator.outputs[0].full_name],
                       name=scope.get_unique_operator_name("sklstm_Reshape"))


def _skl2onnx_labels(scope, model):
    """The classifier's labels as skl2onnx's classifiers give them (its
    ``nocl`` option included): int64 for numbers, strings otherwise."""
    from skl2onnx.common.utils_classifier import get_label_classes

    classes = np.asarray(get_label_classes(scope, model))
    if classes.dtype.kind == "f":
        if not np.all(classes == np.round(classes)):
            raise ValueError(
                f"skl2onnx gives classifiers int64 or string labels, and the "
                f"classes {classes.tolist()} are not integers; fit on integer or "
                "string labels, or export with sklstm.onnx.to_onnx, whose label "
                "keeps them.")
        return classes.astype(np.int64)
    return _label_values(classes)


def _estimator_shape(operator):
    """skl2onnx's shape calculator of the estimators: float32 outputs, the
    classifier's label int64 or string."""
    from skl2onnx.common.data_types import (
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )

    model = operator.raw_operator
    N = operator.inputs[0].get_first_dimension()
    if isinstance(model, LSTMClassifier):
        classes = _skl2onnx_labels(operator.scope_inst, model)
        label = StringTensorType if classes.dtype == object else Int64TensorType
        operator.outputs[0].type = label([N])
        operator.outputs[1].type = FloatTensorType([N, len(classes)])
    elif isinstance(model, LSTMRegressor):
        shape = [N] if model._y_1d else [N, int(model.n_outputs_)]
        operator.outputs[0].type = FloatTensorType(shape)
    elif isinstance(model, LSTMSequenceRegressor):
        shape = operator.inputs[0].type.shape
        n_steps = shape[1] if len(shape) > 1 else None
        operator.outputs[0].type = FloatTensorType(
            [N, n_steps] + ([] if model._y_1d else [int(model.n_outputs_)]))
    else:
        shape = operator.inputs[0].type.shape
        n_steps = shape[1] if len(shape) > 1 else None
        operator.outputs[0].type = FloatTensorType(
            [N, n_steps, len(model.classes_) + 1])


def _estimator_converter(scope, operator, container):
    """skl2onnx's converter of the estimators: :func:`_estimator_graph` on
    full-length sequences (cast to float32), and the classifier's label."""
    from onnx import TensorProto

    model = operator.raw_operator
    _check_exportable(model)
    g = _skl2onnx_graph(scope, container)
    x, lengths = _skl2onnx_sequences(g, operator.inputs[0], model._n_step_features,
                                     model)
    x = g.op("Cast", x, to=TensorProto.FLOAT)
    value = _estimator_graph(g, model, x, lengths)
    values = [value]
    if isinstance(model, LSTMClassifier):
        values = list(_label_graph(g, value, _skl2onnx_labels(scope, model)))
    for value, out in zip(values, operator.outputs):
        container.add_node("Identity", [value], [out.full_name],
                           name=scope.get_unique_operator_name("sklstm_Identity"))


def register():
    """Register sklstm's estimators and scaler with skl2onnx.

    Called when :mod:`sklstm.onnx` is imported, if skl2onnx is installed;
    afterwards :func:`skl2onnx.to_onnx` converts a fitted
    :class:`~sklstm.preprocessing.SequenceScaler`,
    :class:`~sklstm.LSTMClassifier`, :class:`~sklstm.LSTMRegressor`,
    :class:`~sklstm.LSTMSequenceRegressor` or
    :class:`~sklstm.CTCSequenceLabeler`, alone or in a pipeline.
    :class:`~sklstm.LSTMTagger` is exported by :func:`to_onnx` only: its
    per-step label and probabilities fit none of skl2onnx's classifier
    outputs.

    skl2onnx gives a model one input, so every sequence of a batch is read
    at full length: a 3-D array ``(n_sequences, n_timesteps,
    n_features)``, or a table ``(n_sequences, n_columns)`` read as
    univariate sequences, as the estimators read it. Ragged batches, with
    their ``lengths``, go through :func:`to_onnx`. The outputs follow
    skl2onnx's conventions: a classifier's label (int64 for numeric
    classes, string for strings) and probabilities, the probabilities by
    default as a list of dictionaries (skl2onnx's ZipMap; the option
    ``{"zipmap": False}`` keeps a ``(n_sequences, n_classes)`` tensor, and
    ``"columns"`` gives one output per class); a regressor's predictions (per
    step for the per-step regressor); the CTC labeler's per-frame
    log-probabilities, as :func:`to_onnx` gives them.

    Raises
    ------
    ImportError
        When skl2onnx is not installed.

    Examples
    --------
    >>> import numpy as np
    >>> import skl2onnx
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklstm import LSTMRegressor
    >>> from sklstm.preprocessing import SequenceScaler
    >>> import sklstm.onnx  # registers the converters
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(16, 5, 2))
    >>> pipe = make_pipeline(SequenceScaler(), LSTMRegressor(
    ...     hidden_layer_sizes=(3,), max_iter=20, random_state=0))
    >>> pipe = pipe.fit(X, X[:, :, 0].sum(axis=1))
    >>> model = skl2onnx.to_onnx(pipe, X[:1].astype(np.float32))
    >>> [o.name for o in model.graph.output]
    ['variable']
    """
    try:
        from skl2onnx import update_registered_converter
    except ImportError as exc:
        raise ImportError(
            f"Registering sklstm with skl2onnx requires skl2onnx; install it with "
            f"'{_INSTALL}'."
        ) from exc
    update_registered_converter(SequenceScaler, "SklstmSequenceScaler",
                                _scaler_shape, _scaler_converter)
    update_registered_converter(
        LSTMClassifier, "SklstmLSTMClassifier", _estimator_shape,
        _estimator_converter, options={"zipmap": [True, False, "columns"],
                                       "nocl": [True, False]})
    for cls in (LSTMRegressor, LSTMSequenceRegressor, CTCSequenceLabeler):
        update_registered_converter(cls, f"Sklstm{cls.__name__}", _estimator_shape,
                                    _estimator_converter)


try:
    import skl2onnx  # noqa: F401
except ImportError:
    pass
else:
    register()
