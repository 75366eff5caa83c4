"""Time the GPU backend against PyTorch (cuDNN) on the same GPU, in one run.

LSTM training (forward and backward of ``out.sum()`` with respect to every
input, ``dX`` included) at the configs ``(T, B, D, H)`` of the CuPy issue,
and the CTC loss with its gradient, beside ``torch.nn.LSTM`` (cuDNN) and
``torch.nn.functional.ctc_loss`` on the same device. float32, TF32 off on
both sides (``torch.backends.cuda.matmul.allow_tf32 = False``,
``torch.backends.cudnn.allow_tf32 = False``; CuPy does not use TF32 unless
asked). Each contender is timed between device synchronisations, the
contenders interleaved (``bench_lstm._time``). Printed per config:
milliseconds per call and ``torch / sklstm`` (above 1: sklstm is faster);
``--out DIR`` also writes ``bench_gpu.json``. Run on a GPU machine::

    python benchmarks/bench_gpu.py --out results

``--engine emulated --tiny`` runs the same code paths on the CPU at toy
sizes, the kernels emulated and torch on the CPU: a check of the script
itself, not a timing (the tests run it so).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent))
from bench_lstm import _time  # noqa: E402

CONFIGS = [  # (T, B, D, H, variable lengths)
    (100, 64, 128, 256, False),
    (200, 128, 512, 1024, False),
    (100, 256, 1024, 1024, False),
    (200, 128, 512, 1024, True),  # lengths uniform in [20, 200]
]
TINY = [(6, 3, 4, 5, False), (7, 4, 3, 6, True)]
CTC_CONFIGS = [(200, 64, 30, 40)]  # (T, B, C, target length)
CTC_TINY = [(12, 3, 5, 4)]


class _Device:
    """What differs between the GPU run and the emulated smoke run: the
    array module, synchronisation, and the sklstm calls."""

    def __init__(self, engine):
        import torch

        self.torch = torch
        if engine == "cupy":
            import cupy

            from sklstm import functional

            self.xp, self.F = cupy, functional
            self.torch_device = "cuda"
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
            self.engine = None
        else:
            from tests.cuda._emulator import EmulatedEngine

            self.xp, self.F = np, None
            self.torch_device = "cpu"
            self.engine = EmulatedEngine()

    def sync(self):
        if self.torch_device == "cuda":
            self.xp.cuda.Device().synchronize()
            self.torch.cuda.synchronize()

    def timed(self, fn):
        def run():
            fn()
            self.sync()
        return run


def lstm_runners(dev, T, B, D, H, variable, rng):
    xp, torch = dev.xp, dev.torch
    lengths = (rng.integers(20 if T >= 20 else 1, T + 1, size=B) if variable
               else np.full(B, T))
    lengths[0] = T
    X = rng.normal(size=(B, T, D)).astype(np.float32)
    scale = 1 / np.sqrt(H)
    W = rng.uniform(-scale, scale, (4 * H, D)).astype(np.float32)
    U = rng.uniform(-scale, scale, (4 * H, H)).astype(np.float32)
    b = np.zeros(4 * H, np.float32)
    if dev.engine is None:
        Xd, Wd, Ud, bd = (xp.asarray(a) for a in (X, W, U, b))
        kw = {"lengths": lengths} if variable else {}

        def ours():
            out, _, cache = dev.F.lstm_forward(Xd, Wd, Ud, bd, **kw)
            dev.F.lstm_backward(cache, xp.ones_like(out))
    else:  # the driver itself, on the emulated engine
        from sklstm._cuda import _recurrent
        from sklstm._packing import PackedPlan

        plan = PackedPlan(lengths)
        starts = np.arange(B) * T
        Xp = np.ascontiguousarray(X.reshape(B * T, D)[plan.source_rows(starts)])
        zeros = np.zeros((B, H), np.float32)

        def ours():
            cache = _recurrent.lstm_packed(dev.engine, plan, Xp, W, U, b, zeros, zeros)
            _recurrent.lstm_packed_backward(dev.engine, cache, np.ones_like(
                cache.hidden))

    lstm = torch.nn.LSTM(D, H, batch_first=True).to(dev.torch_device)
    Xt = torch.tensor(X, device=dev.torch_device, requires_grad=True)
    lt = torch.tensor(lengths)

    def theirs():
        if variable:
            packed = torch.nn.utils.rnn.pack_padded_sequence(Xt, lt, batch_first=True,
                                                             enforce_sorted=False)
            out, _ = lstm(packed)
            out = out.data
        else:
            out, _ = lstm(Xt)
        out.sum().backward()

    return dev.timed(ours), dev.timed(theirs)


def ctc_runners(dev, T, B, C, L, rng):
    xp, torch = dev.xp, dev.torch
    logits = rng.normal(size=(B, T, C)).astype(np.float32)
    targets = rng.integers(1, C, size=(B, L))
    if dev.engine is None:
        ld = xp.asarray(logits)

        def ours():
            dev.F.ctc_loss(ld, list(targets), reduction="sum")
    else:
        from sklstm._cuda import _ctc

        flat = targets.ravel().astype(np.intp)
        offsets = np.arange(B + 1) * L
        weights = np.ones(B)

        def ours():
            _ctc.ctc_loss(dev.engine, logits, np.full(B, T), flat, offsets, 0, weights)

    lt = torch.tensor(logits, device=dev.torch_device).transpose(0, 1).contiguous()
    lt.requires_grad_(True)
    tt = torch.tensor(targets, device=dev.torch_device)
    il = torch.full((B,), T, dtype=torch.long)
    tl = torch.full((B,), L, dtype=torch.long)

    def theirs():
        loss = torch.nn.functional.ctc_loss(lt.log_softmax(2), tt, il, tl,
                                            reduction="sum")
        loss.backward()

    return dev.timed(ours), dev.timed(theirs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["cupy", "emulated"], default="cupy")
    parser.add_argument("--tiny", action="store_true", help="toy sizes (smoke run)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    dev = _Device(args.engine)
    rng = np.random.default_rng(0)
    rows = []
    print(f"{'T':>5} {'B':>4} {'D':>5} {'H':>5} {'var':>4} | {'sklstm ms':>10} "
          f"{'torch ms':>9} | torch/sklstm")
    for T, B, D, H, variable in (TINY if args.tiny else CONFIGS):
        ours, theirs = lstm_runners(dev, T, B, D, H, variable, rng)
        (ms_ours, _), (ms_theirs, _) = _time([ours, theirs], args.repeat,
                                             min_seconds=0 if args.tiny else 0.5)
        rows.append({"what": "lstm training", "T": T, "B": B, "D": D, "H": H,
                     "variable": variable, "sklstm_ms": 1e3 * ms_ours,
                     "torch_ms": 1e3 * ms_theirs, "ratio": ms_theirs / ms_ours})
        print(f"{T:5d} {B:4d} {D:5d} {H:5d} {'yes' if variable else 'no':>4} | "
              f"{1e3 * ms_ours:10.2f} {1e3 * ms_theirs:9.2f} | "
              f"{ms_theirs / ms_ours:.2f}")
    for T, B, C, L in (CTC_TINY if args.tiny else CTC_CONFIGS):
        ours, theirs = ctc_runners(dev, T, B, C, L, rng)
        (ms_ours, _), (ms_theirs, _) = _time([ours, theirs], args.repeat,
                                             min_seconds=0 if args.tiny else 0.5)
        rows.append({"what": "ctc loss + grad", "T": T, "B": B, "C": C, "L": L,
                     "sklstm_ms": 1e3 * ms_ours, "torch_ms": 1e3 * ms_theirs,
                     "ratio": ms_theirs / ms_ours})
        print(f"CTC T={T} B={B} C={C} L={L} | {1e3 * ms_ours:10.2f} "
              f"{1e3 * ms_theirs:9.2f} | {ms_theirs / ms_ours:.2f}")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench_gpu.json").write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
