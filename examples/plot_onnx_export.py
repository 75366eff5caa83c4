"""
==================================================
Exporting a JapaneseVowels classifier to ONNX
==================================================

:func:`sklstm.onnx.to_onnx` writes a fitted estimator as an ONNX model that
an ONNX runtime runs without sklstm, or Python: here a speaker
classifier trained on JapaneseVowels (utterances of 7 to 29 frames of 12 LPC
cepstrum coefficients; :func:`sklstm.datasets.load_japanese_vowels`),
run in onnxruntime on the test utterances as one padded batch. The graph
reads ``X`` ``(batch, time, 12)`` float32 and ``lengths`` ``(batch,)``
int32, and ignores whatever lies past each length.

With the defaults (one bidirectional layer of 64 units, max pooling) the
classifier (``random_state=0``) stops after 76 epochs at a test accuracy
of 0.986. The ONNX model, computing in float32, gives the estimator's label
for every one of the 370 test utterances, probabilities within 4e-7 of its
float64 ones, and the same accuracy. The script runs in about half a
minute on two cores.
"""

# %%
import numpy as np

from sklstm import LSTMClassifier
from sklstm.datasets import load_japanese_vowels
from sklstm.onnx import to_onnx

X_train, y_train = load_japanese_vowels(subset="train", return_X_y=True)
X_test, y_test = load_japanese_vowels(subset="test", return_X_y=True)
clf = LSTMClassifier(random_state=0).fit(X_train, y_train)
print(f"{clf.n_iter_} epochs; test accuracy {clf.score(X_test, y_test):.3f}")

# %%
# Export
# ------
# The model's inputs and outputs: ``label`` holds ``classes_`` (the
# speakers' numbers, int64) and ``probabilities`` their columns. The
# standardisation the classifier learnt (``input_mean_``, ``input_scale_``)
# is folded into the first layer's weights; the graph needs nothing else.
model = to_onnx(clf)
for value in list(model.graph.input) + list(model.graph.output):
    dims = [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
    print(f"{value.name}: {dims}")
print(f"opset {model.opset_import[0].version}, "
      f"{len(model.SerializeToString()) / 1024:.0f} KiB")

# %%
# Run it in onnxruntime
# ---------------------
# The test utterances as one batch, padded to the longest with NaN: the graph
# masks every step past a length before the LSTM reads it, so the padding's
# value never matters. ``model.SerializeToString()`` is what
# ``onnx.save(model, "vowels.onnx")`` would write to a file.
import onnxruntime as ort  # noqa: E402

lengths = np.array([len(x) for x in X_test], dtype=np.int32)
X = np.full((len(X_test), lengths.max(), X_test[0].shape[1]), np.nan,
            dtype=np.float32)
for b, x in enumerate(X_test):
    X[b, : len(x)] = x
session = ort.InferenceSession(model.SerializeToString(),
                               providers=["CPUExecutionProvider"])
label, proba = session.run(None, {"X": X, "lengths": lengths})

agree = np.mean(label == clf.predict(X_test))
gap = np.abs(proba - clf.predict_proba(X_test)).max()
print(f"labels agreeing with the estimator: {agree:.3f}; largest probability "
      f"difference {gap:.1e}")
print(f"onnxruntime's test accuracy: {np.mean(label == y_test):.3f}")
