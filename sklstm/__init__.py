"""sklstm: long short-term memory networks with a scikit-learn API.

Estimators: :class:`LSTMClassifier`, :class:`LSTMRegressor`,
:class:`CTCSequenceLabeler`; a transformer for pipelines:
:class:`sklstm.preprocessing.SequenceScaler`. The kernels under them are
public in :mod:`sklstm.functional`.
"""

__version__ = "0.1.0.dev0"

from ._classifier import LSTMClassifier  # noqa: E402
from ._ctc import CTCSequenceLabeler  # noqa: E402
from ._regressor import LSTMRegressor  # noqa: E402

__all__ = ["CTCSequenceLabeler", "LSTMClassifier", "LSTMRegressor", "__version__",
           "functional", "preprocessing"]


def __getattr__(name):
    if name in ("functional", "preprocessing"):
        import importlib

        return importlib.import_module(f"sklstm.{name}")
    raise AttributeError(f"module 'sklstm' has no attribute {name!r}")
