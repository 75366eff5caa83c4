"""The CUDA sources of the GPU backend and the kernels each one defines.

Each source under ``kernels/`` is compiled as one module (a
``cupy.RawModule`` on the GPU, with ``name_expressions`` naming every
template instance it needs). A :class:`Kernel` is one template with its
parameters (C types, ``T`` for the element type) and the instances the
backend launches, so that the same table drives the GPU build, the NVRTC
compile check (``sklstm._cuda._nvrtc``) and the tests' CPU emulation of the
kernels' bodies.
"""

from dataclasses import dataclass
from importlib import resources

__all__ = ["KERNELS", "SOURCES", "Kernel", "read_source", "name_expressions"]

ELEMENT_TYPES = {"float32": "float", "float64": "double"}

# The step forms of the LSTM kernels: the kind flags of sklstm.functional
# (peephole 1, identity output 2, cell input 4); the GRU has its own kernels.
LSTM_KINDS = tuple(range(8))


@dataclass(frozen=True)
class Kernel:
    """One kernel template of a source: its name, its parameters as
    ``(C type, name)`` pairs (``T`` is the element type) and the template
    arguments after the element type of every instance, one tuple each."""

    source: str
    name: str
    params: tuple
    instances: tuple = ((),)
    #: whether the kernel synchronises its block (SK_SYNC): the emulator then
    #: runs it with one thread per block (see kernels/prelude.cuh)
    block_sync: bool = False

    def expression(self, dtype, args=()):
        """The C++ name of one instance, e.g. ``lstm_cell_forward<float, 1>``."""
        return f"{self.name}<{', '.join((ELEMENT_TYPES[dtype], *map(str, args)))}>"

    def expressions(self):
        return [self.expression(dtype, args) for dtype in ELEMENT_TYPES
                for args in self.instances]


_N = ("long long", "n")
_H = ("int", "H")
# The CTC kernels' shapes, per-frame normalisers and targets (see kernels/ctc.cu).
_B = ("long long", "B")
_T_MAX = ("long long", "T_max")
_C = ("long long", "C")
_CTC_FRAMES = (("const double*", "frame_max"), ("const double*", "frame_norm"))
_CTC_TARGETS = (("const long long*", "lengths"), ("const long long*", "labels"),
                ("const long long*", "offsets"), ("long long", "blank"))
KERNELS = {
    kernel.name: kernel for kernel in (
        Kernel("recurrent.cu", "lstm_cell_forward",
               (_N, _H, ("T*", "gates"), ("const T*", "cprev"), ("const T*", "P"),
                ("T*", "cells"), ("T*", "hidden")),
               tuple((kind,) for kind in LSTM_KINDS)),
        Kernel("recurrent.cu", "lstm_cell_backward",
               (_N, _H, ("const T*", "gates"), ("const T*", "cprev"),
                ("const T*", "cells"), ("const T*", "d_hidden"),
                ("const T*", "dh_carry"), ("T*", "dc_carry"), ("const T*", "P"),
                ("T*", "dgates")),
               tuple((kind,) for kind in LSTM_KINDS)),
        Kernel("recurrent.cu", "gru_cell_forward",
               (_N, _H, ("T*", "gates"), ("const T*", "hprev"), ("T*", "hidden"))),
        Kernel("recurrent.cu", "gru_cell_backward",
               (_N, _H, ("const T*", "gates"), ("const T*", "hprev"),
                ("const T*", "d_hidden"), ("const T*", "dh_carry"),
                ("T*", "dc_carry"), ("T*", "dgates"))),
        Kernel("ctc.cu", "ctc_frame_norm",
               (_N, _C, ("const T*", "logits"), ("double*", "frame_max"),
                ("double*", "frame_norm"))),
        Kernel("ctc.cu", "ctc_alpha",
               (_B, _T_MAX, _C, ("const T*", "logits"), *_CTC_FRAMES, *_CTC_TARGETS,
                ("double*", "lattice"), ("const long long*", "lattice_offsets"),
                ("double*", "losses")),
               block_sync=True),
        Kernel("ctc.cu", "ctc_beta",
               (_B, _T_MAX, _C, ("long long", "S_max"), ("const T*", "logits"),
                *_CTC_FRAMES, *_CTC_TARGETS, ("const double*", "losses"),
                ("double*", "lattice"), ("const long long*", "lattice_offsets"),
                ("double*", "rows")),
               block_sync=True),
        Kernel("ctc.cu", "ctc_grad",
               (_N, _T_MAX, _C, ("const T*", "logits"), *_CTC_FRAMES, *_CTC_TARGETS,
                ("const double*", "lattice"), ("const long long*", "lattice_offsets"),
                ("const double*", "losses"), ("const double*", "weights"),
                ("T*", "grad"))),
    )
}

SOURCES = sorted({kernel.source for kernel in KERNELS.values()})


def _read(name):
    return resources.files("sklstm._cuda").joinpath("kernels", name).read_text()


def read_source(name):
    """The text of one source under ``sklstm/_cuda/kernels``, after
    ``prelude.cuh``: what NVRTC (or the emulator) compiles."""
    return _read("prelude.cuh") + f'\n#line 1 "{name}"\n' + _read(name)


def name_expressions(source):
    """Every instance the backend launches from ``source``."""
    return [expr for kernel in KERNELS.values() if kernel.source == source
            for expr in kernel.expressions()]
