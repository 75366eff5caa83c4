/* OpenMP when the build has it, one thread otherwise: kernels ask here.
 *
 * After fork, the child runs every kernel on its calling thread: libgomp's
 * thread pool does not survive fork (the child has only the forking thread,
 * while the pool's bookkeeping says its workers are there), and a parallel
 * region entered with more than one thread would wait for them forever. A
 * child made by multiprocessing's "fork" start method therefore computes
 * single-threaded, with the same results (the kernels do not depend on the
 * thread count). Each extension module keeps its own copy of this state and
 * registers its own handler at import (sklstm_omp_init). */
#ifndef SKLSTM_OMP_H
#define SKLSTM_OMP_H
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define SKLSTM_HAS_ATFORK 1
#else
#define SKLSTM_HAS_ATFORK 0
#endif

static int sklstm_forked = 0;

static void sklstm_after_fork_in_child(void) { sklstm_forked = 1; }

/* Registers the fork handler; called once per module, at import. */
static inline void sklstm_omp_init(void) {
#if SKLSTM_HAS_ATFORK
    pthread_atfork(NULL, NULL, sklstm_after_fork_in_child);
#endif
}

/* Whether this process is a fork child of a process that loaded the module. */
static inline int sklstm_is_fork_child(void) { return sklstm_forked; }

#ifdef _OPENMP
#include <omp.h>
static inline int sklstm_max_threads(void) {
    return sklstm_forked ? 1 : omp_get_max_threads();
}
#define SKLSTM_HAS_OPENMP 1
#else
static inline int sklstm_max_threads(void) { return 1; }
#define SKLSTM_HAS_OPENMP 0
#endif
#endif
