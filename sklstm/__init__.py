"""sklstm: long short-term memory networks with a scikit-learn API.

Estimators: :class:`LSTMClassifier`, :class:`LSTMRegressor` (a label or
values per sequence), :class:`LSTMTagger`, :class:`LSTMSequenceRegressor` (a
label or values per step), :class:`CTCSequenceLabeler` (a label sequence per
sequence); a transformer for pipelines:
:class:`sklstm.preprocessing.SequenceScaler`. The kernels under them are
public in :mod:`sklstm.functional`; :mod:`sklstm.io` saves and loads fitted
models without pickle, :mod:`sklstm.onnx` exports them to ONNX.
"""

from ._classifier import LSTMClassifier
from ._ctc import CTCSequenceLabeler
from ._regressor import LSTMRegressor
from ._sequence_regressor import LSTMSequenceRegressor
from ._tagger import LSTMTagger
from ._version import __version__

__all__ = ["CTCSequenceLabeler", "LSTMClassifier", "LSTMRegressor",
           "LSTMSequenceRegressor", "LSTMTagger", "__version__", "functional",
           "preprocessing"]


def __getattr__(name):
    # sklstm.io and sklstm.onnx are importable this way but left out of
    # __all__: a star import would shadow the standard library's io, and
    # importing sklstm.onnx imports skl2onnx, when installed, to register the
    # converters
    if name in ("functional", "io", "onnx", "preprocessing"):
        import importlib

        return importlib.import_module(f"sklstm.{name}")
    raise AttributeError(f"module 'sklstm' has no attribute {name!r}")
