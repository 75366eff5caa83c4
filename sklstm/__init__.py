"""sklstm: long short-term memory networks with a scikit-learn API.

The public functional kernels live in :mod:`sklstm.functional`.
"""

__version__ = "0.1.0.dev0"

__all__ = ["__version__", "functional"]


def __getattr__(name):
    # Import the compiled layer lazily, so that ``import sklstm`` stays cheap.
    if name == "functional":
        import importlib

        return importlib.import_module("sklstm.functional")
    raise AttributeError(f"module 'sklstm' has no attribute {name!r}")
