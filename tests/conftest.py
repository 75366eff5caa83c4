import os

import numpy as np
import pytest

SEED = int(os.environ.get("SKLSTM_SEED", "20261125"))


def pytest_report_header(config):
    return f"sklstm test seed: {SEED} (set SKLSTM_SEED to change it)"


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs CuPy and an NVIDIA GPU")
    config.addinivalue_line(
        "markers", "slow: the short version of a heavy check (a benchmark runs it all)")


@pytest.fixture
def rng():
    return np.random.default_rng(SEED)


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return request.param
