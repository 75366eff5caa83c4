"""Save and load fitted models without pickle: :func:`dump` and :func:`load`.

Loading a pickle (:mod:`pickle`, :func:`joblib.load`) can run any code the
file asks for, so a pickle from someone else is as dangerous as a program
from them. These functions use the format of `skops.io
<https://skops.readthedocs.io/en/stable/persistence.html>`_ instead: a zip of
JSON and ``.npy`` files from which :func:`load` builds only the types it
trusts. It trusts skops' defaults (builtins, NumPy and SciPy types,
scikit-learn's estimators, such as a :class:`~sklearn.pipeline.Pipeline`) and
sklstm's estimators and transformer (:data:`TRUSTED_TYPES`), whose fitted
state is made of NumPy arrays, builtins and scikit-learn types only.

They need skops (``pip install "sklstm[io]"``); the module itself imports
without it.
"""

import os

from ._classifier import LSTMClassifier
from ._ctc import CTCSequenceLabeler
from ._regressor import LSTMRegressor
from ._sequence_regressor import LSTMSequenceRegressor
from ._tagger import LSTMTagger
from .preprocessing import SequenceScaler

__all__ = ["TRUSTED_TYPES", "dump", "load"]

#: The sklstm types :func:`load` trusts on top of skops' defaults, by the
#: names ``skops.io.get_untrusted_types`` reports (module, then class); pass
#: them as ``trusted=`` to ``skops.io.load`` to load sklstm models directly.
TRUSTED_TYPES = [f"{cls.__module__}.{cls.__qualname__}"
                 for cls in (CTCSequenceLabeler, LSTMClassifier, LSTMRegressor,
                             LSTMSequenceRegressor, LSTMTagger, SequenceScaler)]


def _skops_io():
    """The ``skops.io`` module, or an ImportError that says how to get it."""
    try:
        import skops.io
    except ImportError as exc:
        raise ImportError(
            "sklstm.io saves and loads models with skops, which is not installed; "
            'install it with pip install "sklstm[io]" (or pip install skops).'
        ) from exc
    return skops.io


def _file(path):
    """A str for a path (skops takes str and pathlib paths); a file as given."""
    return os.fspath(path) if isinstance(path, (str, os.PathLike)) else path


def dump(estimator, path):
    """Save a fitted (or unfitted) estimator in skops' format.

    Parameters
    ----------
    estimator : object
        An sklstm estimator, a :class:`~sklstm.preprocessing.SequenceScaler`,
        or a scikit-learn object holding them, such as a
        :class:`~sklearn.pipeline.Pipeline`. (A fitted
        :class:`~sklearn.model_selection.GridSearchCV` also holds a scorer and
        a splitter, which skops does not trust by default: save its
        ``best_estimator_``.)
    path : str, path-like or binary file object
        Where to write it; ``.skops`` is the usual extension.

    See Also
    --------
    load : Read it back.
    skops.io.dump : What this calls.

    Notes
    -----
    Anything the file holds that is neither trusted by skops by default nor
    one of :data:`TRUSTED_TYPES` (a function of yours in a
    :class:`~sklearn.preprocessing.FunctionTransformer`, a class of yours) is
    saved too, but :func:`load` will refuse the file; load it with
    ``skops.io.load(path, trusted=...)`` after reviewing
    ``skops.io.get_untrusted_types(file=path)``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklstm import LSTMClassifier
    >>> from sklstm.io import dump, load
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(int(rng.integers(5, 10)), 2)) for _ in range(20)]
    >>> y = [int(x[:, 0].sum() > 0) for x in X]
    >>> clf = LSTMClassifier(hidden_layer_sizes=(4,), max_iter=2,
    ...                      random_state=0).fit(X, y)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "model.skops")
    ...     dump(clf, path)
    ...     loaded = load(path)
    >>> bool((loaded.predict_proba(X) == clf.predict_proba(X)).all())
    True
    """
    _skops_io().dump(estimator, _file(path))


def load(path):
    """Load an estimator saved by :func:`dump` (or by ``skops.io.dump``).

    Only skops' default trusted types and :data:`TRUSTED_TYPES` are built;
    a file holding any other type is refused before anything is built from
    it.

    Parameters
    ----------
    path : str, path-like or binary file object
        The file to read.

    Returns
    -------
    estimator : object
        The estimator, as it was saved: predictions are the same, bit for
        bit, and ``partial_fit`` or a ``warm_start`` fit continue as they
        would have on the saved object.

    Raises
    ------
    skops.io.exceptions.UntrustedTypesFoundException
        If the file holds another type; its message names them. Review them,
        then load with ``skops.io.load(path, trusted=...)`` if you trust them.

    See Also
    --------
    dump : Write a model.
    skops.io.load : What this calls, with ``trusted=TRUSTED_TYPES``.

    Notes
    -----
    A model saved by one version of sklstm loaded by another warns with a
    ``UserWarning``, as a pickle does: refit it to be safe.

    Examples
    --------
    >>> import io
    >>> from sklstm.preprocessing import SequenceScaler
    >>> from sklstm.io import dump, load
    >>> buffer = io.BytesIO()
    >>> dump(SequenceScaler().fit([[1.0, 3.0], [5.0, 7.0]]), buffer)
    >>> _ = buffer.seek(0)
    >>> load(buffer).mean_
    array([4.])
    """
    return _skops_io().load(_file(path), trusted=TRUSTED_TYPES)
