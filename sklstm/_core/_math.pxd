# Helpers shared by the kernels, declared from the C headers in src/.
from ._typedefs cimport float32_t, intp_t


cdef extern from "sklstm_omp.h" nogil:
    int sklstm_max_threads()
    int SKLSTM_HAS_OPENMP


cdef extern from "lstm_tile.h" nogil:
    double sklstm_sigmoid(double x)
    void sklstm_activation_f32(int kind, const float32_t* x, float32_t* y, intp_t n)
