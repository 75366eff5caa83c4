"""Root pytest configuration: the doctests of the sklstm package."""

import pytest
from _pytest.doctest import DoctestItem


def pytest_collection_modifyitems(items):
    # Docstring examples train for a handful of epochs on purpose.
    for item in items:
        if isinstance(item, DoctestItem):
            item.add_marker(pytest.mark.filterwarnings(
                "ignore::sklearn.exceptions.ConvergenceWarning"))
