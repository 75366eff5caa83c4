"""Backend selection: the array type picks the kernels, and the GPU backend's
functional API matches the CPU's (the GPU tests skip without CuPy and a GPU).
"""

import numpy as np
import pytest

from sklstm import _cuda
from sklstm import functional as F


class _FakeDeviceArray:
    """Looks like a CuPy array to the backend's type check."""

    __module__ = "cupy._core.core"
    __cuda_array_interface__ = {}


def test_numpy_arrays_pick_the_cpu():
    assert _cuda.namespace(np.zeros(2), None, np.ones(3)) is np
    assert not _cuda.is_device_array(np.zeros(2))
    assert _cuda.is_device_array(_FakeDeviceArray())


def test_a_mix_of_numpy_and_device_arrays_is_refused():
    with pytest.raises(TypeError, match="all be NumPy arrays .* or all CuPy arrays"):
        _cuda.namespace(np.zeros(2), _FakeDeviceArray())


def test_device_cpu_always_works():
    assert _cuda.check_device("cpu") == "cpu"


def test_device_cuda_says_what_is_missing():
    if _cuda._unavailable() is None:
        pytest.skip("CuPy and a GPU are here")
    with pytest.raises(ValueError, match="device='cuda' cannot run here: CuPy"):
        _cuda.check_device("cuda")


def test_importing_sklstm_does_not_import_cupy():
    import subprocess
    import sys

    code = ("import sys, sklstm, sklstm.functional, numpy as np; "
            "sklstm.functional.lstm_forward(np.zeros((1, 2, 1)), np.zeros((4, 1)), "
            "np.zeros((4, 1)), np.zeros(4)); print('cupy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


# --- on a GPU --------------------------------------------------------------


@pytest.fixture(scope="module")
def cp():
    why = _cuda._unavailable()
    if why is not None:
        pytest.skip(f"needs CuPy and a GPU: {why}")
    import cupy

    return cupy


TOL = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-5)}


def _compare(cp, got, want, dtype):
    for g, w in zip(got, want):
        if w is None:
            assert g is None
        elif isinstance(w, tuple):
            _compare(cp, g, w, dtype)
        elif isinstance(w, np.ndarray):
            assert isinstance(g, cp.ndarray) and g.dtype == w.dtype
            np.testing.assert_allclose(cp.asnumpy(g), w, **TOL[dtype])


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", [
    {}, {"reverse": True}, {"peephole": True}, {"hidden_activation": "identity"},
    {"recurrent_input": "cell"}, {"peephole": True, "recurrent_input": "cell"},
])
def test_lstm_on_cupy_arrays_matches_numpy(cp, dtype, options):
    rng = np.random.default_rng(0)
    B, T, D, H = 5, 9, 3, 4
    n_rec = 3 if options.get("recurrent_input") == "cell" else 4
    X = rng.normal(size=(B, T, D)).astype(dtype)
    W, U = rng.normal(size=(4 * H, D)).astype(dtype), rng.normal(
        size=(n_rec * H, H)).astype(dtype)
    b, h0, c0 = (rng.normal(size=s).astype(dtype) for s in ((4 * H,), (B, H), (B, H)))
    lengths = np.array([9, 3, 7, 1, 9])
    kw = dict(options)
    if kw.pop("peephole", False):
        kw["peephole"] = rng.normal(size=(3, H)).astype(dtype)
    host = F.lstm_forward(X, W, U, b, lengths=lengths, h0=h0, c0=c0, **kw)
    dev_kw = {k: cp.asarray(v) if isinstance(v, np.ndarray) else v
              for k, v in kw.items()}
    device = F.lstm_forward(*(cp.asarray(a) for a in (X, W, U, b)), lengths=lengths,
                            h0=cp.asarray(h0), c0=cp.asarray(c0), **dev_kw)
    _compare(cp, device[:2], host[:2], dtype)
    d_out = rng.normal(size=host[0].shape).astype(dtype)
    d_hn = rng.normal(size=(B, H)).astype(dtype)
    _compare(cp, F.lstm_backward(device[2], cp.asarray(d_out), d_hn=cp.asarray(d_hn)),
             F.lstm_backward(host[2], d_out, d_hn=d_hn), dtype)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gru_on_a_list_of_cupy_arrays_matches_numpy(cp, dtype):
    rng = np.random.default_rng(1)
    X = [rng.normal(size=(n, 3)).astype(dtype) for n in (4, 1, 6)]
    W, U = rng.normal(size=(6, 3)).astype(dtype), rng.normal(size=(6, 2)).astype(dtype)
    b_ih, b_hh = rng.normal(size=(2, 6)).astype(dtype)
    host = F.gru_forward(X, W, U, b_ih, b_hh, reverse=True)
    device = F.gru_forward([cp.asarray(x) for x in X],
                           *(cp.asarray(a) for a in (W, U, b_ih, b_hh)), reverse=True)
    _compare(cp, device[:2], host[:2], dtype)
    d_out = np.ones_like(host[0])
    _compare(cp, F.gru_backward(device[2], cp.asarray(d_out)),
             F.gru_backward(host[2], d_out), dtype)


@pytest.mark.gpu
def test_mixing_host_weights_with_device_input_is_refused(cp):
    with pytest.raises(TypeError, match="all be NumPy arrays"):
        F.lstm_forward(cp.zeros((1, 2, 1)), np.zeros((4, 1)), np.zeros((4, 1)),
                       np.zeros(4))


@pytest.mark.gpu
def test_nan_on_the_gpu_is_refused(cp):
    X = cp.zeros((1, 2, 1))
    X[0, 1, 0] = cp.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        F.lstm_forward(X, *(cp.zeros(s) for s in ((4, 1), (4, 1), (4,))))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ctc_loss_on_cupy_logits_matches_numpy(cp, dtype, reduction):
    rng = np.random.default_rng(3)
    logits = [rng.normal(size=(n, 5)).astype(dtype) for n in (9, 4, 12)]
    targets = [[1, 2, 2], [4], [3, 1, 3, 4]]
    want_loss, want_grad = F.ctc_loss(logits, targets, reduction=reduction)
    loss, grad = F.ctc_loss([cp.asarray(x) for x in logits], targets,
                            reduction=reduction)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-10)
    assert isinstance(grad, cp.ndarray) and grad.dtype == dtype
    np.testing.assert_allclose(cp.asnumpy(grad), want_grad, **TOL[dtype])


@pytest.mark.gpu
def test_ctc_loss_refuses_nan_logits_on_the_gpu(cp):
    logits = cp.zeros((2, 3, 4))
    logits[1, 2, 0] = cp.nan
    with pytest.raises(ValueError, match="NaN at sequence 1, frame 2"):
        F.ctc_loss(logits, [[1], [2]])


def test_the_gpu_benchmark_runs_on_the_emulated_engine(tmp_path):
    """benchmarks/bench_gpu.py's code paths at toy sizes (torch on the CPU, the
    kernels emulated): the script the GPU run depends on works."""
    pytest.importorskip("torch")
    from tests.cuda._emulator import compiler

    if compiler() is None:
        pytest.skip("the kernel emulator needs a C++ compiler (g++)")
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_gpu.py"
    spec = importlib.util.spec_from_file_location("bench_gpu", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = bench.main(["--engine", "emulated", "--tiny", "--repeat", "1",
                       "--out", str(tmp_path)])
    assert [r["what"] for r in rows] == ["lstm training"] * 2 + ["ctc loss + grad"]
    assert json.loads((tmp_path / "bench_gpu.json").read_text()) == rows
    assert all(r["sklstm_ms"] > 0 and r["torch_ms"] > 0 for r in rows)
