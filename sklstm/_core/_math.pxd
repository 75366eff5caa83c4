# Scalar helpers shared by the kernels: `cdef inline ... noexcept nogil`.
from libc.math cimport exp, expf, tanh, tanhf

from ._typedefs cimport floating


cdef extern from "sklstm_omp.h" nogil:
    int sklstm_max_threads()
    int SKLSTM_HAS_OPENMP


cdef inline floating _sigmoid(floating x) noexcept nogil:
    """1 / (1 + exp(-x)), without overflow: exp of a negative argument only."""
    cdef floating z
    if floating is float:
        if x >= 0:
            return 1.0 / (1.0 + expf(-x))
        z = expf(x)
        return z / (1.0 + z)
    else:
        if x >= 0:
            return 1.0 / (1.0 + exp(-x))
        z = exp(x)
        return z / (1.0 + z)


cdef inline floating _tanh(floating x) noexcept nogil:
    """tanh(x) from libm, in the precision of x."""
    if floating is float:
        return tanhf(x)
    else:
        return tanh(x)
