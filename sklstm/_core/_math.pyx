"""Test-only twins of the scalar helpers in ``_math.pxd``."""
from ._typedefs cimport float32_t, float64_t
from ._math cimport _sigmoid, _tanh, sklstm_max_threads, SKLSTM_HAS_OPENMP


def _py_sigmoid(double x, bint single=False):
    """σ(x) as the kernels compute it, in float32 when ``single``."""
    if single:
        return _sigmoid[float32_t](<float32_t>x)
    return _sigmoid[float64_t](x)


def _py_tanh(double x, bint single=False):
    """tanh(x) as the kernels compute it, in float32 when ``single``."""
    if single:
        return _tanh[float32_t](<float32_t>x)
    return _tanh[float64_t](x)


def _max_threads():
    """The number of threads a kernel would use now (OpenMP's current limit)."""
    return sklstm_max_threads()


def _has_openmp():
    """Whether the extensions were built with OpenMP."""
    return bool(SKLSTM_HAS_OPENMP)
