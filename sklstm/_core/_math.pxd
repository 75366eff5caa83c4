# Helpers shared by the kernels, declared from the C headers in src/.
from ._typedefs cimport float32_t, float64_t, intp_t


cdef extern from "sklstm_omp.h" nogil:
    int sklstm_max_threads()
    void sklstm_omp_init()
    int sklstm_is_fork_child()
    double sklstm_now()
    int sklstm_team_size(int n)
    void sklstm_team_report(double start, double done, double end, intp_t n_first,
                            intp_t n_items)
    int SKLSTM_HAS_OPENMP


cdef extern from "lstm_tile.h" nogil:
    void sklstm_activation_f32(int kind, const float32_t* x, float32_t* y, intp_t n)
    void sklstm_activation_f64(int kind, const float64_t* x, float64_t* y, intp_t n)
    int sklstm_wide()
