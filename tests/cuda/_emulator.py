"""The GPU backend's kernels, emulated on the CPU.

Each CUDA source of ``sklstm/_cuda/kernels`` is compiled as C++ with
``SKLSTM_EMULATE`` defined (see ``prelude.cuh``), with one C wrapper per
kernel instance that runs the kernel's body once per (block, thread) of the
launch, one after the other (one thread per block for kernels that
synchronise their block). :class:`EmulatedEngine` offers the engine
interface of ``sklstm._cuda._engine`` over NumPy, so the drivers' host code
(packing, offsets, carries, the cuBLAS products' shapes and transposes) and
the kernels' arithmetic run in CI, which has no GPU. What it cannot show:
that the kernels compile for the GPU (the NVRTC test does that), and races
or launch limits of a real device.
"""

import ctypes
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from sklstm._cuda._engine import typed_arguments
from sklstm._cuda._sources import ELEMENT_TYPES, KERNELS, SOURCES, read_source

__all__ = ["EmulatedEngine", "build_emulator", "compiler"]

_CTYPES = {"long long": ctypes.c_longlong, "int": ctypes.c_int,
           "double": ctypes.c_double, "float": ctypes.c_float}


def compiler():
    """The C++ compiler the emulator is built with, or None."""
    return shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")


def _symbol(expression):
    return "emu_" + "".join(c if c.isalnum() else "_" for c in expression)


def _wrapper(kernel, dtype, targs):
    expression = kernel.expression(dtype, targs)
    ctype = ELEMENT_TYPES[dtype]
    params = [(c.replace("T", ctype) if c in ("T", "T*", "const T*") else c, n)
              for c, n in kernel.params]
    signature = ", ".join(f"{c} {n}" for c, n in params)
    names = ", ".join(n for _, n in params)
    block = "1" if kernel.block_sync else "block"
    return f"""
extern "C" void {_symbol(expression)}(long long grid, long long block, {signature}) {{
    sk_emu_grid_dim = grid;
    sk_emu_block_dim = {block};
    for (sk_emu_block = 0; sk_emu_block < grid; ++sk_emu_block)
        for (sk_emu_thread = 0; sk_emu_thread < sk_emu_block_dim; ++sk_emu_thread)
            {expression}({names});
}}
"""


def _program():
    parts = ["#include <math.h>\n#define SKLSTM_EMULATE 1\n",
             "static long long sk_emu_block, sk_emu_thread, sk_emu_block_dim, "
             "sk_emu_grid_dim;\n"]
    for source in SOURCES:
        parts.append(read_source(source))
        parts.append('\n#line 1 "emulator wrappers"\n')
        for kernel in KERNELS.values():
            if kernel.source == source:
                for dtype in ELEMENT_TYPES:
                    for targs in kernel.instances:
                        parts.append(_wrapper(kernel, dtype, targs))
    return "".join(parts)


_LIBRARY = None


def build_emulator(directory=None):
    """Compile the emulator (once per process and set of sources)."""
    global _LIBRARY
    if _LIBRARY is not None:
        return _LIBRARY
    program = _program()
    digest = hashlib.sha1(program.encode()).hexdigest()[:16]
    directory = Path(directory or tempfile.gettempdir()) / f"sklstm-emulator-{digest}"
    directory.mkdir(parents=True, exist_ok=True)
    library = directory / "emulator.so"
    if not library.exists():
        cpp = directory / "emulator.cpp"
        cpp.write_text(program)
        tmp = directory / f"emulator.{np.random.randint(1 << 30)}.so"
        subprocess.run([compiler(), "-O1", "-std=c++17", "-shared", "-fPIC",
                        "-Wall", "-Werror", "-Wno-unused-function", str(cpp),
                        "-o", str(tmp)], check=True, capture_output=True, text=True)
        tmp.replace(library)
    _LIBRARY = ctypes.CDLL(str(library))
    return _LIBRARY


class EmulatedEngine:
    """The engine interface on NumPy arrays, the kernels emulated."""

    name = "emulated"
    xp = np

    def __init__(self):
        self._lib = build_emulator()
        self.launches = {}  # kernel name -> number of launches (for the tests)

    def launch(self, name, dtype, targs, grid, block, *args):
        kernel = KERNELS[name]
        dtype = np.dtype(dtype).name
        args = typed_arguments(name, dtype, args, lambda v: isinstance(v, np.ndarray))
        fn = getattr(self._lib, _symbol(kernel.expression(dtype, targs)))
        fn.restype = None
        ctype = ELEMENT_TYPES[dtype]
        fn.argtypes = [ctypes.c_longlong, ctypes.c_longlong] + [
            ctypes.c_void_p if c.endswith("*") else
            _CTYPES[ctype if c == "T" else c] for c, _ in kernel.params]
        values = [a.ctypes.data if isinstance(a, np.ndarray) else a.item()
                  for a in args]
        if grid < 1 or block < 1:
            raise ValueError(f"{name}: empty launch ({grid}, {block})")
        fn(int(grid), int(block), *values)
        self.launches[name] = self.launches.get(name, 0) + 1

    def gemm(self, a, b, out, transa="N", transb="N", alpha=1.0, beta=0.0):
        for m in (a, b, out):
            if not m.flags.c_contiguous:
                raise ValueError("gemm takes C-contiguous arrays")
        product = (a.T if transa == "T" else a) @ (b.T if transb == "T" else b)
        if product.shape != out.shape:
            raise ValueError(f"gemm: product {product.shape} into {out.shape}")
        if beta == 0:  # out may hold garbage (np.empty); never read it
            out[...] = alpha * product
        else:
            out[...] = alpha * product + beta * out
        return out

    def asarray(self, value, dtype=None):
        return np.asarray(value, dtype=dtype)

    def asnumpy(self, value):
        return np.asarray(value)
