"""Every CUDA source of the GPU backend compiles with NVRTC, without a GPU.

NVRTC comes with the test extra (``cuda-bindings`` and ``nvidia-cuda-nvrtc``);
where it cannot be loaded these tests skip, saying why.
"""

import pytest

from sklstm._cuda import _nvrtc
from sklstm._cuda._sources import KERNELS, SOURCES, name_expressions, read_source

available, detail = _nvrtc.nvrtc_available()
pytestmark = pytest.mark.skipif(not available,
                                reason=f"NVRTC is not available: {detail}")


@pytest.mark.parametrize("source", SOURCES)
def test_source_compiles_with_every_instance(source):
    expressions = name_expressions(source)
    assert expressions
    ptx, lowered = _nvrtc.compile_source(read_source(source), source, expressions)
    assert set(lowered) == set(expressions)
    for mangled in lowered.values():  # each instance is an entry of the PTX
        assert f".entry {mangled}(" in ptx


def test_kernels_cover_both_precisions():
    for kernel in KERNELS.values():
        names = kernel.expressions()
        assert any("<float" in n for n in names) and any("<double" in n for n in names)


def test_a_broken_source_is_refused_with_its_log():
    broken = (read_source(SOURCES[0])
              + "\nSK_GLOBAL void broken(float* x) { x[0] = y; }\n")
    with pytest.raises(_nvrtc.CompileError, match='identifier "y" is undefined'):
        _nvrtc.compile_source(broken, "broken.cu", [])
