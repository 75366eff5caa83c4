/* OpenMP when the build has it, one thread otherwise: kernels ask here. */
#ifndef SKLSTM_OMP_H
#define SKLSTM_OMP_H
#ifdef _OPENMP
#include <omp.h>
static inline int sklstm_max_threads(void) { return omp_get_max_threads(); }
#define SKLSTM_HAS_OPENMP 1
#else
static inline int sklstm_max_threads(void) { return 1; }
#define SKLSTM_HAS_OPENMP 0
#endif
#endif
