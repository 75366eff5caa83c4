"""The API reference: every public name is in docs/api.rst, with an example.

A public module's public names are its ``__all__``. Each must appear in an
``autosummary`` of ``docs/api.rst`` (under ``.. currentmodule::`` of its module,
or by its full name), and each class and function must have a numpydoc
``Examples`` section with at least one ``>>>`` line, which pytest runs as a
doctest (``--doctest-modules``); constants need only be listed. Dunder names
(``__version__``) are exempt, and a submodule in ``__all__`` must itself be in
``PUBLIC_MODULES``. A new public module goes in ``PUBLIC_MODULES``; those that
are not there yet (not importable) are skipped.
"""

import importlib
import inspect
import re
import types
from pathlib import Path

import pytest

PUBLIC_MODULES = [
    "sklstm",
    "sklstm.functional",
    "sklstm.preprocessing",
    "sklstm.datasets",
    "sklstm.metrics",
    "sklstm.io",
    "sklstm.onnx",
    "sklstm.rl",
    "sklstm.rl.envs",
]

API_RST = Path(__file__).resolve().parents[1] / "docs" / "api.rst"
_MISSING = object()


def documented_names(text):
    """The full names listed in the autosummaries of an api.rst text."""
    names, module, in_summary = set(), None, False
    for line in text.splitlines():
        stripped = line.strip()
        if match := re.fullmatch(r"\.\. (?:py:)?currentmodule:: (\S+)", stripped):
            module, in_summary = match[1], False
        elif stripped.startswith(".. autosummary::"):
            in_summary = True
        elif in_summary and stripped and not stripped.startswith(":"):
            if not line.startswith((" ", "\t")):  # a heading or the next directive
                in_summary = False
                continue
            name = stripped.lstrip("~")
            names.add(name)
            if module is not None:
                names.add(f"{module}.{name}")
    return names


def has_examples(obj):
    """Whether ``obj``'s own docstring has an Examples section with a doctest."""
    doc = inspect.cleandoc(getattr(obj, "__doc__", None) or "")
    match = re.search(r"^Examples\n-{8,}\n(.*?)(?=^\S[^\n]*\n-{3,}\n|\Z)", doc,
                      re.M | re.S)
    return match is not None and ">>>" in match[1]


def problems(module, documented, public_modules):
    """What is wrong with the documentation of ``module``'s ``__all__``."""
    found = []
    if not hasattr(module, "__all__"):
        return [f"{module.__name__} has no __all__"]
    for name in module.__all__:
        full = f"{module.__name__}.{name}"
        if name.startswith("__") and name.endswith("__"):
            continue  # __version__
        obj = getattr(module, name, _MISSING)
        if obj is _MISSING:
            found.append(f"{full} is in __all__ but not defined")
        elif isinstance(obj, types.ModuleType):
            if obj.__name__ not in public_modules:
                found.append(f"{obj.__name__} is public but not in PUBLIC_MODULES "
                             "of tests/test_docs.py")
        else:
            if full not in documented:
                found.append(f"{full} is not in docs/api.rst")
            # a constant's docstring is its type's: only classes and functions
            # can carry examples
            if (inspect.isclass(obj) or callable(obj)) and not has_examples(obj):
                found.append(f"{full}'s docstring has no Examples section with >>>")
    return found


def import_or_skip(name):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name == name:  # the module itself is missing, not what it imports
            pytest.skip(f"{name} is not part of sklstm yet")
        raise


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_public_names_documented_with_examples(name):
    module = import_or_skip(name)
    found = problems(module, documented_names(API_RST.read_text()), PUBLIC_MODULES)
    assert not found, "\n".join(found)


def test_the_check_can_fail():
    def with_example():
        """A function.

        Examples
        --------
        >>> 1 + 1
        2
        """

    def without_example():
        """A function.

        Parameters
        ----------
        x : int
        """

    def example_without_doctest():
        """A function.

        Examples
        --------
        Call it.

        Notes
        -----
        >>> this is in the notes
        """

    module = types.ModuleType("fake")
    module.__all__ = ["with_example", "without_example", "example_without_doctest",
                      "undocumented", "missing", "types", "__version__", "CONSTANT",
                      "UNLISTED"]
    module.CONSTANT = module.UNLISTED = 18
    module.with_example = module.undocumented = with_example
    module.without_example = without_example
    module.example_without_doctest = example_without_doctest
    module.types = types
    module.__version__ = "0"
    text = """
Title
-----

.. currentmodule:: fake

.. autosummary::
   :toctree: generated/

   with_example
   without_example
   ~example_without_doctest
   CONSTANT

undocumented
"""
    assert problems(module, documented_names(text), ["fake"]) == [
        "fake.without_example's docstring has no Examples section with >>>",
        "fake.example_without_doctest's docstring has no Examples section with >>>",
        "fake.undocumented is not in docs/api.rst",
        "fake.missing is in __all__ but not defined",
        "types is public but not in PUBLIC_MODULES of tests/test_docs.py",
        "fake.UNLISTED is not in docs/api.rst",
    ]
    del module.__all__
    assert problems(module, set(), ["fake"]) == ["fake has no __all__"]


def test_api_rst_is_read():
    names = documented_names(API_RST.read_text())
    assert {"sklstm.LSTMClassifier", "sklstm.functional.lstm_forward",
            "sklstm.metrics.edit_distance"} <= names
