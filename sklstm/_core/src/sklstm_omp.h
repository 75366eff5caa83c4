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
#include <stddef.h>
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

/* Busy machines. Threads that never wait for each other still meet once,
 * at the end of a parallel region, and a thread that lost its core to
 * another process (or was not scheduled in time to start) leaves the others
 * waiting for it: on two cores with one other process running, a call on
 * two threads could take longer than on one. Each region of the time loops
 * reports its length against what its first thread took per item: a region
 * that took more than 0.8 of the time one thread would have (its items at
 * that rate) did not gain from its team, and the next regions run on one
 * thread, a number of them that doubles while it lasts (4 up to 256) and
 * halves after each region that gained, so that a lucky region amid a busy
 * spell does not bring the team back for long. Results do not depend on it
 * (they do not depend on the thread count). */
#include <time.h>

static int sklstm_calls_alone = 0;  /* regions left to run on one thread */
static int sklstm_backoff = 0;      /* length of the last such run */

static inline double sklstm_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The team for a region that wants n threads: n, or 1 while backing off. */
static inline int sklstm_team_size(int n) {
    if (n <= 1) return 1;
    if (__atomic_load_n(&sklstm_calls_alone, __ATOMIC_RELAXED) > 0) {
        __atomic_fetch_sub(&sklstm_calls_alone, 1, __ATOMIC_RELAXED);
        return 1;
    }
    return n;
}

/* A region of n_items items began at start; its first thread finished its
 * n_first items at done, and the region ended at end. */
static inline void sklstm_team_report(double start, double done, double end,
                                      ptrdiff_t n_first, ptrdiff_t n_items) {
    if (n_first <= 0) return;
    double alone = (done - start) / (double)n_first * (double)n_items;
    if (end - start > 0.8 * alone) {
        int b = __atomic_load_n(&sklstm_backoff, __ATOMIC_RELAXED);
        b = b >= 4 ? (b < 128 ? 2 * b : 256) : 4;
        __atomic_store_n(&sklstm_backoff, b, __ATOMIC_RELAXED);
        __atomic_store_n(&sklstm_calls_alone, b, __ATOMIC_RELAXED);
    } else {
        int b = __atomic_load_n(&sklstm_backoff, __ATOMIC_RELAXED);
        __atomic_store_n(&sklstm_backoff, b / 2, __ATOMIC_RELAXED);
    }
}

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
