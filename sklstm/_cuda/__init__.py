"""The optional GPU backend: sklstm's kernels on an NVIDIA GPU through CuPy.

The array type picks the backend: :mod:`sklstm.functional` given CuPy arrays
runs here, given NumPy arrays on the CPU kernels of ``sklstm._core``. (The
estimators' ``device="cpu" | "cuda"`` waits for the GPU checks; see
``docs/gpu.rst``.) Nothing here imports CuPy until a CuPy array asks for it,
so the package works without it.

- ``kernels/``: the CUDA sources (element-wise passes of every recurrent
  step, the CTC forward-backward), compiled by NVRTC through
  ``cupy.RawModule``; ``_sources`` lists their kernels and instances;
- ``_engine``: launching them, and cuBLAS products (``cupy.cublas.gemm``);
- ``_recurrent``, ``_ctc``: the host code, written against the engine, so
  that the tests run it on the CPU with the kernels emulated;
- ``_nvrtc``: the compile check of every source, which needs no GPU.

**Status: not yet run on a GPU.** What CI verifies without one: that every
source compiles with NVRTC for ``compute_90``, and that the host code with
the kernels' bodies emulated on the CPU matches the CPU kernels. The GPU
checks (``benchmarks/gpu_check.sh``) have not run.
"""

import threading

import numpy as np

__all__ = ["check_device", "engine", "is_device_array", "namespace", "to_device",
           "to_host"]

_ENGINE = None
_LOCK = threading.Lock()


def is_device_array(value):
    """Whether ``value`` is a CuPy array (checked without importing CuPy)."""
    return type(value).__module__.split(".", 1)[0] == "cupy" and hasattr(
        value, "__cuda_array_interface__")


def namespace(*values):
    """``numpy``, or ``cupy`` when any of ``values`` is a CuPy array; a mix of
    NumPy and CuPy arrays is refused with the fix."""
    device = [is_device_array(v) for v in values if v is not None]
    if not any(device):
        return np
    if not all(device):
        raise TypeError(
            "the arrays of one call must all be NumPy arrays (the CPU) or all "
            "CuPy arrays (the GPU); move them with cupy.asarray or cupy.asnumpy.")
    import cupy

    return cupy


def engine():
    """The process's GPU engine (``_engine.CupyEngine``), made on first use."""
    global _ENGINE
    if _ENGINE is None:
        with _LOCK:
            if _ENGINE is None:
                from sklstm._cuda._engine import CupyEngine

                _ENGINE = CupyEngine()
    return _ENGINE


def _unavailable():
    """Why ``device="cuda"`` cannot run here, or None when it can."""
    try:
        import cupy
    except ImportError as exc:
        return (f"CuPy is not installed ({exc}); install the wheel for your CUDA "
                "version, e.g. pip install 'sklstm[cuda]' (cupy-cuda13x)")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver, no device
        return f"CuPy finds no GPU ({type(exc).__name__}: {exc})"
    if count < 1:
        return "CuPy finds no GPU"
    return None


def check_device(device):
    """Check an estimator's ``device``: ``"cpu"`` always works; ``"cuda"``
    needs CuPy and a GPU, else a ValueError saying which is missing."""
    if device == "cuda":
        why = _unavailable()
        if why is not None:
            raise ValueError(f"device='cuda' cannot run here: {why}. Use "
                             "device='cpu' (the default).")
    return device


def to_device(array, xp):
    """``array`` (NumPy) on the device of ``xp`` (unchanged for NumPy)."""
    return array if xp is np else xp.asarray(array)


def to_host(array):
    """``array`` as a NumPy array (from the GPU if it is there)."""
    if is_device_array(array):
        return array.get()
    return array


def read_device_arrays(X, lengths=None, name="X"):
    """``sklstm._sequences.read_arrays`` for CuPy input (the functional API's
    strict policy): a padded ``(n, T, D)`` CuPy array with host ``lengths``,
    or a list of ``(T_i, D)`` CuPy arrays. Returns ``(data, starts, lengths,
    n_timesteps)``, ``data`` on the GPU, the rest on the host. Finiteness is
    left to the caller, once the rows are packed."""
    from sklstm._sequences import _check_lengths

    xp = namespace(*(X if isinstance(X, (list, tuple)) else [X]))
    shape = "n_classes" if name == "logits" else "n_features"

    def checked(a, name):
        if a.dtype.kind != "f" or a.dtype.itemsize not in (4, 8):
            raise TypeError(f"{name} has dtype {a.dtype}; pass float32 or float64 "
                            "values.")
        return a

    if not isinstance(X, (list, tuple)):
        array = checked(X, name)
        if array.ndim != 3 or 0 in array.shape:
            raise ValueError(
                f"{name} has shape {array.shape}; on the GPU pass a non-empty "
                f"(n_sequences, n_timesteps, {shape}) CuPy array or a list of "
                f"(n_timesteps_i, {shape}) CuPy arrays.")
        n, T, D = array.shape
        lengths = (np.full(n, T, dtype=np.intp) if lengths is None
                   else _check_lengths(to_host(lengths), n, T, array.shape))
        data = xp.ascontiguousarray(array).reshape(n * T, D)
        return data, np.arange(n, dtype=np.intp) * T, lengths, T
    if lengths is not None:
        which = "input_lengths" if name == "logits" else "lengths"
        raise ValueError(f"{which} must not be passed with a list of sequences: "
                         "each sequence's length is its number of rows.")
    if len(X) == 0:
        raise ValueError(f"{name} is empty; pass at least one sequence.")
    parts = [checked(x, f"{name}[{i}]") for i, x in enumerate(X)]
    for i, a in enumerate(parts):
        if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] != parts[0].shape[1]:
            raise ValueError(
                f"{name}[{i}] has shape {a.shape}; each sequence must be a non-empty "
                f"2-D array (n_timesteps, {parts[0].shape[1]}).")
    if len({a.dtype for a in parts}) > 1:
        raise TypeError(f"the sequences of {name} mix float32 and float64; pass one "
                        "precision.")
    lengths = np.array([a.shape[0] for a in parts], dtype=np.intp)
    starts = np.zeros(len(parts), dtype=np.intp)
    np.cumsum(lengths[:-1], out=starts[1:])
    return xp.concatenate(parts), starts, lengths, int(lengths.max())
