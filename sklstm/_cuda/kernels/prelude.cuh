/*
 * What every source of the GPU backend starts with (sklstm._cuda._sources
 * puts it in front). A source compiles two ways:
 *
 * - with NVRTC, for the GPU (CuPy's RawModule; the NVRTC check of the tests);
 * - as C++ with SKLSTM_EMULATE defined, for the CPU: the tests' emulator
 *   runs each kernel's body once per (block, thread) of the launch, one
 *   after the other. A kernel that synchronises its block (SK_SYNC) is
 *   emulated with one thread per block, so such a kernel must give the same
 *   result whatever its block size (block-stride loops over its work).
 *
 * Kernels use SK_GLOBAL, SK_DEVICE, SK_BLOCK, SK_THREAD, SK_BLOCK_DIM,
 * SK_GRID_DIM and SK_SYNC, never the CUDA names themselves.
 */
/* Once per program: the emulator compiles every source into one. */
#ifndef SKLSTM_PRELUDE_CUH
#define SKLSTM_PRELUDE_CUH
#ifdef SKLSTM_EMULATE
#include <cmath>
#define SK_GLOBAL
#define SK_DEVICE static inline
#define SK_BLOCK ((long long)sk_emu_block)
#define SK_THREAD ((long long)sk_emu_thread)
#define SK_BLOCK_DIM ((long long)sk_emu_block_dim)
#define SK_GRID_DIM ((long long)sk_emu_grid_dim)
#define SK_SYNC() ((void)0)
#define SK_ATOMIC_ADD(address, value) (*(address) += (value))
#else
#define SK_GLOBAL __global__
#define SK_DEVICE __device__ __forceinline__
#define SK_BLOCK ((long long)blockIdx.x)
#define SK_THREAD ((long long)threadIdx.x)
#define SK_BLOCK_DIM ((long long)blockDim.x)
#define SK_GRID_DIM ((long long)gridDim.x)
#define SK_SYNC() __syncthreads()
#define SK_ATOMIC_ADD(address, value) atomicAdd((address), (value))
#endif

/* A grid-stride loop's first index and stride. */
#define SK_FIRST_INDEX (SK_BLOCK * SK_BLOCK_DIM + SK_THREAD)
#define SK_STRIDE (SK_BLOCK_DIM * SK_GRID_DIM)

SK_DEVICE float sk_tanh(float x) { return tanhf(x); }
SK_DEVICE double sk_tanh(double x) { return tanh(x); }
SK_DEVICE float sk_exp(float x) { return expf(x); }
SK_DEVICE double sk_exp(double x) { return exp(x); }
SK_DEVICE float sk_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
SK_DEVICE double sk_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

#endif /* SKLSTM_PRELUDE_CUH */
