"""The engines the GPU backend's test bodies run over: the CPU emulation of
the CUDA kernels (in CI) and CuPy on a GPU (skipped, saying why, without
one)."""

import pytest

from sklstm import _cuda
from tests.cuda._emulator import EmulatedEngine, compiler


@pytest.fixture(scope="module", params=["emulated", "cupy"])
def engine(request):
    if request.param == "cupy":
        why = _cuda._unavailable()
        if why is not None:
            pytest.skip(f"needs CuPy and a GPU: {why}")
        from sklstm._cuda._engine import CupyEngine

        return CupyEngine()
    if compiler() is None:
        pytest.skip("the kernel emulator needs a C++ compiler (g++)")
    return EmulatedEngine()
