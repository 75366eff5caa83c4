"""Launching the backend's kernels: the engine over CuPy.

The GPU drivers (``_recurrent``, ``_ctc``) are written against a small
engine interface, so that the same host code runs on the GPU and, in the
tests, on the CPU with the kernels' bodies emulated (``tests/cuda``):

- ``xp``: the array module (``cupy``; ``numpy`` in the emulator);
- ``launch(name, dtype, targs, grid, block, *args)``: run one instance of a
  kernel of ``_sources.KERNELS`` (its template arguments after the element
  type in ``targs``), its arguments in the order of its parameters;
- ``gemm(a, b, out, transa="N", transb="N", alpha=1, beta=0)``:
  ``out = alpha op(a) op(b) + beta out`` on 2-D C-contiguous arrays and
  row blocks of them (``cupy.cublas.gemm``, which, unlike ``cupy.matmul``,
  accumulates);
- ``asarray`` (host to device) and ``asnumpy`` (device to host).
"""

import threading

import numpy as np

from sklstm._cuda._nvrtc import OPTIONS
from sklstm._cuda._sources import KERNELS, name_expressions, read_source

__all__ = ["CupyEngine", "elementwise_grid", "typed_arguments"]

# Threads per block of the element-wise kernels, and at most this many blocks
# (each kernel is a grid-stride loop, so any grid covers every index).
BLOCK = 256
MAX_BLOCKS = 65535

_SCALARS = {"long long": np.int64, "int": np.int32, "double": np.float64,
            "float": np.float32}


def elementwise_grid(n):
    """``(grid, block)`` for a grid-stride kernel over ``n`` indices."""
    return max(1, min(-(-n // BLOCK), MAX_BLOCKS)), BLOCK


def typed_arguments(name, dtype, args, is_array):
    """``args`` of kernel ``name`` with each scalar cast to its C type (``T``
    is ``dtype``), after checking each array's dtype and contiguity: a view
    that is not C-contiguous would be read with the wrong strides."""
    kernel = KERNELS[name]
    if len(args) != len(kernel.params):
        raise TypeError(f"{name} takes {len(kernel.params)} arguments, "
                        f"not {len(args)}")
    out = []
    for (ctype, pname), value in zip(kernel.params, args):
        if ctype.endswith("*"):
            base = ctype.replace("const ", "").rstrip("*").strip()
            want = np.dtype(dtype) if base == "T" else np.dtype(_SCALARS[base])
            if not is_array(value) or value.dtype != want:
                raise TypeError(f"{name}: {pname} must be a {want} array")
            if not value.flags.c_contiguous:
                raise ValueError(f"{name}: {pname} must be C-contiguous")
            out.append(value)
        else:
            scalar = np.dtype(dtype).type if ctype == "T" else _SCALARS[ctype]
            out.append(scalar(value))
    return out


class CupyEngine:
    """The engine on an NVIDIA GPU: kernels compiled by NVRTC through
    ``cupy.RawModule`` (one module per source, every instance named, compiled
    on first use and cached), products by cuBLAS."""

    name = "cupy"

    def __init__(self):
        import cupy
        import cupy.cublas

        self.xp = cupy
        self._cublas = cupy.cublas
        self._functions = {}
        self._modules = {}
        self._lock = threading.Lock()

    def _function(self, name, expression):
        fn = self._functions.get(expression)
        if fn is None:
            with self._lock:
                source = KERNELS[name].source
                module = self._modules.get(source)
                if module is None:
                    module = self.xp.RawModule(
                        code=read_source(source), options=OPTIONS,
                        name_expressions=name_expressions(source))
                    self._modules[source] = module
                fn = self._functions[expression] = module.get_function(expression)
        return fn

    def launch(self, name, dtype, targs, grid, block, *args):
        fn = self._function(name, KERNELS[name].expression(np.dtype(dtype).name,
                                                           targs))
        fn((int(grid),), (int(block),),
           tuple(typed_arguments(name, dtype, args, self._is_array)))

    def _is_array(self, value):
        return isinstance(value, self.xp.ndarray)

    def gemm(self, a, b, out, transa="N", transb="N", alpha=1.0, beta=0.0):
        self._cublas.gemm(transa, transb, a, b, out=out, alpha=alpha, beta=beta)
        return out

    def asarray(self, value, dtype=None):
        return self.xp.asarray(value, dtype=dtype)

    def asnumpy(self, value):
        return self.xp.asnumpy(value)
