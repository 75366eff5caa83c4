#!/usr/bin/env bash
# The GPU checks of the CuPy backend, in one run: build, GPU tests, GPU
# benchmark, each result written to a file under $OUT (docs/gpu.rst).
#
# The GPU machine has CuPy, PyTorch with CUDA, Cython, pytest and NumPy, but
# no package index: sklstm is built there from source, without build
# isolation, and its other runtime dependencies (scikit-learn, SciPy, joblib,
# threadpoolctl) come as wheels prepared here beforehand:
#
#     bash benchmarks/gpu_check.sh --prepare    # on a machine with an index:
#                                               # wheels into .gpu_wheels/
#                                               # (git-ignored; carry it)
#     OUT=results bash benchmarks/gpu_check.sh  # on the GPU machine
#
# Budget: about 6 minutes (build 1, tests 2, benchmark 3); rerun it once if
# a step fails for a reason outside the code.
set -uo pipefail
cd "$(dirname "$0")/.."
WHEELS=.gpu_wheels
PYVER=${GPU_PYTHON_VERSION:-3.12}

if [ "${1:-}" = "--prepare" ]; then
    rm -rf "$WHEELS" && mkdir -p "$WHEELS"
    # NumPy is there already; scikit-learn's other requirements are not
    # (about 45 MB of wheels, within the 64 MiB a run carries with the tree)
    pip download --only-binary=:all: --no-deps --python-version "$PYVER" \
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux_2_28_x86_64 -d "$WHEELS" \
        "scikit-learn>=1.6" "threadpoolctl>=3.1" joblib scipy narwhals cloudpickle
    ls -la "$WHEELS"
    exit 0
fi

OUT=${OUT:-gpu_results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
status=0

{
    date -u
    nvidia-smi || true
    python -V
    python -c "import cupy, numpy; print('cupy', cupy.__version__, 'CUDA runtime', \
cupy.cuda.runtime.runtimeGetVersion(), 'numpy', numpy.__version__)"
    python -c "import torch; print('torch', torch.__version__, torch.version.cuda, \
'cudnn', torch.backends.cudnn.version())" || true
} > "$OUT/env.txt" 2>&1

# 1. Build (the Cython kernels; the CUDA sources compile on first use).
{
    if ! python -c "import sklearn, scipy, joblib, threadpoolctl" 2>/dev/null; then
        pip install --no-index --no-deps "$WHEELS"/*.whl
    fi
    pip install --no-build-isolation --no-deps -e .
} > "$OUT/build.txt" 2>&1 || { echo "build failed:"; tail -30 "$OUT/build.txt"; exit 1; }
echo "build: ok"

# 2. The GPU tests: the backend's parity tests over CuPy (the emulated ones
#    run too where a C++ compiler is), then the CPU suite's functional tests.
timeout 240 python -m pytest -q -rs -p no:cacheprovider tests/cuda \
    > "$OUT/tests.txt" 2>&1 || status=1
tail -5 "$OUT/tests.txt"

# 3. The benchmark against cuDNN, TF32 off on both sides.
timeout 240 python benchmarks/bench_gpu.py --out "$OUT" > "$OUT/bench.txt" 2>&1 \
    || status=1
cat "$OUT/bench.txt"
exit $status
