"""Test-only twins of the activation helpers and the OpenMP query the kernels use."""
import numpy as np

from ._math cimport SKLSTM_HAS_OPENMP, sklstm_activation_f32, sklstm_activation_f64
from ._math cimport sklstm_is_fork_child, sklstm_max_threads, sklstm_omp_init
from ._math cimport sklstm_wide
from ._typedefs cimport float32_t, float64_t

sklstm_wide()  # the vector width, decided at import
sklstm_omp_init()


def _py_sigmoid(x):
    """σ(x) elementwise, as the kernels compute it in the precision of ``x``."""
    return _activation(x, 0)


def _py_tanh(x):
    """tanh(x) elementwise, as the kernels compute it in the precision of ``x``."""
    return _activation(x, 1)


def _activation(x, int kind):
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    cdef float32_t[::1] x32, y32
    cdef float64_t[::1] x64, y64
    if x.dtype == np.float32:
        x32, y32 = x.ravel(), out.ravel()
        if x32.shape[0]:
            sklstm_activation_f32(kind, &x32[0], &y32[0], x32.shape[0])
    else:
        x64, y64 = x.ravel(), out.ravel()
        if x64.shape[0]:
            sklstm_activation_f64(kind, &x64[0], &y64[0], x64.shape[0])
    return out


def _max_threads():
    """The number of threads a kernel would use now (OpenMP's current limit)."""
    return sklstm_max_threads()


def _is_fork_child():
    """Whether this process was forked after the module was imported."""
    return bool(sklstm_is_fork_child())


def _has_openmp():
    """Whether the extensions were built with OpenMP."""
    return bool(SKLSTM_HAS_OPENMP)
