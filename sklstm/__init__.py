"""sklstm: long short-term memory networks with a scikit-learn API.

Estimators: :class:`LSTMClassifier`, :class:`LSTMRegressor`,
:class:`CTCSequenceLabeler`; a transformer for pipelines:
:class:`sklstm.preprocessing.SequenceScaler`. The kernels under them are
public in :mod:`sklstm.functional`.
"""

from ._classifier import LSTMClassifier
from ._ctc import CTCSequenceLabeler
from ._regressor import LSTMRegressor
from ._version import __version__

__all__ = ["CTCSequenceLabeler", "LSTMClassifier", "LSTMRegressor", "__version__",
           "functional", "preprocessing"]


def __getattr__(name):
    if name in ("functional", "preprocessing"):
        import importlib

        return importlib.import_module(f"sklstm.{name}")
    raise AttributeError(f"module 'sklstm' has no attribute {name!r}")
