"""Compile the GPU backend's sources with NVRTC, without a GPU.

NVRTC (NVIDIA's runtime compiler, the one CuPy's ``RawModule`` calls) turns
CUDA C++ into PTX on any machine that has its library, GPU or not. Through
``cuda-bindings`` and the ``nvidia-cuda-nvrtc`` wheel (in the test extra),
the tests compile every source here with every template instance the
backend launches, so that a kernel that does not compile fails CI, which
has no GPU.
"""

from sklstm._cuda._sources import SOURCES, name_expressions, read_source

__all__ = ["CompileError", "compile_source", "nvrtc_available"]

# Hopper (the H100 and H200); PTX for it JIT-compiles on any later GPU too.
DEFAULT_ARCH = "compute_90"
OPTIONS = ("-std=c++17",)


class CompileError(RuntimeError):
    """NVRTC refused a source; the message holds its log."""


def _nvrtc():
    from cuda.bindings import nvrtc

    return nvrtc


def nvrtc_available():
    """``(True, version)`` when NVRTC can be loaded, else ``(False, why)``."""
    try:
        nvrtc = _nvrtc()
        err, major, minor = nvrtc.nvrtcVersion()
    except Exception as exc:  # ImportError, or the library not found
        return False, f"{type(exc).__name__}: {exc}"
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        return False, f"nvrtcVersion returned {err}"
    return True, f"{major}.{minor}"


def _check(nvrtc, result, what):
    err = result[0]
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        raise CompileError(f"{what} failed: {err}")
    return result[1:]


def compile_source(text, name, expressions, *, arch=DEFAULT_ARCH, options=OPTIONS):
    """Compile ``text`` to PTX with each of ``expressions`` instantiated.

    Returns ``(ptx, lowered)``: the PTX text and each expression's mangled
    name. Raises :class:`CompileError` with NVRTC's log when the source does
    not compile.
    """
    nvrtc = _nvrtc()
    (prog,) = _check(nvrtc, nvrtc.nvrtcCreateProgram(
        text.encode(), name.encode(), 0, [], []), "nvrtcCreateProgram")
    try:
        for expr in expressions:
            _check(nvrtc, nvrtc.nvrtcAddNameExpression(prog, expr.encode()),
                   f"nvrtcAddNameExpression({expr})")
        opts = [f"--gpu-architecture={arch}".encode(), *(o.encode() for o in options)]
        (err,) = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            (size,) = _check(nvrtc, nvrtc.nvrtcGetProgramLogSize(prog), "log size")
            log = b" " * size
            nvrtc.nvrtcGetProgramLog(prog, log)
            raise CompileError(
                f"{name} does not compile ({err}):\n"
                f"{log.decode(errors='replace').rstrip(chr(0))}")
        lowered = {}
        for expr in expressions:
            (low,) = _check(nvrtc, nvrtc.nvrtcGetLoweredName(prog, expr.encode()),
                            f"nvrtcGetLoweredName({expr})")
            lowered[expr] = low.decode() if isinstance(low, bytes) else low
        (size,) = _check(nvrtc, nvrtc.nvrtcGetPTXSize(prog), "nvrtcGetPTXSize")
        ptx = b" " * size
        _check(nvrtc, nvrtc.nvrtcGetPTX(prog, ptx), "nvrtcGetPTX")
        return ptx.decode(errors="replace").rstrip("\0"), lowered
    finally:
        nvrtc.nvrtcDestroyProgram(prog)


def compile_all(arch=DEFAULT_ARCH):
    """Compile every source of the backend; ``{source: (ptx, lowered)}``."""
    return {source: compile_source(read_source(source), source,
                                   name_expressions(source), arch=arch)
            for source in SOURCES}
