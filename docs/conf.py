"""Sphinx configuration for sklstm's documentation (``pip install .[docs]``).

Build it from the repository's root, running the gallery's examples::

    python -m sphinx -W -b html docs docs/_build/html

or without running them (the README's test command does this)::

    python -m sphinx -W -q -b html -D plot_gallery=0 docs docs/_build/html

Intersphinx links to Python, NumPy and scikit-learn need their inventories
from the network. ``SKLSTM_DOCS_INTERSPHINX=1`` fetches them, ``=0`` builds
without them; unset, they are fetched only when every host answers within a
second, so that an offline build (CI) neither hangs nor warns.
"""

import os
import socket
import threading

import sklstm

project = "sklstm"
author = "The sklstm developers"
release = sklstm.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
autosummary_generate = True
numpydoc_show_class_members = False
_intersphinx = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "sklearn": ("https://scikit-learn.org/stable", None),
}


def _reachable(urls, timeout=1.0):
    """Whether a TCP connection to port 443 of every host of ``urls`` opens
    within ``timeout`` seconds, name resolution included (run in threads, as
    ``getaddrinfo`` takes no timeout)."""
    hosts = {url.split("/")[2] for url in urls}
    answered = set()

    def connect(host):
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            answered.add(host)
        except OSError:
            pass

    threads = [threading.Thread(target=connect, args=(h,), daemon=True) for h in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return answered == hosts


_mode = os.environ.get("SKLSTM_DOCS_INTERSPHINX", "auto")
if _mode == "1" or (
    _mode == "auto" and _reachable([url for url, _ in _intersphinx.values()])
):
    intersphinx_mapping = _intersphinx
else:
    intersphinx_mapping = {}

# Labels of scikit-learn's user guide that the docstrings sklstm inherits from
# it refer to (``ClassifierMixin.score``, ``RegressorMixin.score``): without
# intersphinx they become plain links to the pages, not warnings.
_sklearn_labels = {
    "accuracy_score": "modules/model_evaluation.html#accuracy-score",
    "r2_score": "modules/model_evaluation.html#r2-score",
}


def _link_sklearn_label(app, env, node, contnode):
    from docutils import nodes

    if intersphinx_mapping or node.get("reftype") != "ref":
        return None
    path = _sklearn_labels.get(node.get("reftarget"))
    if path is None:
        return None
    reference = nodes.reference("", "", internal=False,
                                refuri=f"{_intersphinx['sklearn'][0]}/{path}")
    reference += contnode
    return reference


def setup(app):
    app.connect("missing-reference", _link_sklearn_label)


sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
}
html_theme = "pydata_sphinx_theme"
exclude_patterns = ["_build", "auto_examples/*.ipynb"]
