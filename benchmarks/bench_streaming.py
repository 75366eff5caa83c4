"""Time streaming prediction, one frame of one stream at a time, against torch.

A one-layer unidirectional LSTM (``n_features`` inputs, ``H`` units, a dense
head of one output) is fed one frame per call, its state carried from call
to call. Per ``H`` this times, in microseconds per frame (the median of
``--repeat`` runs of ``--steps`` frames each, the contenders interleaved):

- ``push``: :meth:`sklstm.Stream.push` of an :class:`~sklstm.LSTMRegressor`
  (input check, standardisation, the step, the head, the prediction);
- ``predict_step``: the functional form, which copies the state each call;
- ``kernel``: the step kernel alone (``sklstm._core._step.network_step``,
  the same work as ``push`` less the Python around it);
- ``torch``: ``torch.nn.LSTM`` called on one frame with ``(h, c)`` carried,
  under ``torch.no_grad()`` (the recurrent layer alone: no head, no input
  check), with the same weights;

and the ratios ``time_torch / time_sklstm`` (above 1: sklstm is faster).
Everything runs on one thread (``torch.set_num_threads(1)``, threadpoolctl's
limit for sklstm; the step kernel never starts threads). Run::

    python benchmarks/bench_streaming.py
    python benchmarks/bench_streaming.py --hidden 64 256 --dtype float64 --json out.json

One JSON line per point goes to stdout, then a table.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

import sklstm
from sklstm import LSTMRegressor


def make_model(n_features, H, dtype, seed=0):
    """An LSTMRegressor and the PyTorch state_dict of its weights."""
    rng = np.random.default_rng(seed)
    bound = 1 / np.sqrt(H)
    weights = {
        "layers.0.weight_ih_l0": rng.uniform(-bound, bound, (4 * H, n_features)),
        "layers.0.weight_hh_l0": rng.uniform(-bound, bound, (4 * H, H)),
        "layers.0.bias_ih_l0": rng.uniform(-bound, bound, 4 * H),
        "layers.0.bias_hh_l0": np.zeros(4 * H),
        "head.weight": rng.uniform(-bound, bound, (1, H)),
        "head.bias": np.zeros(1),
    }
    weights = {k: v.astype(dtype) for k, v in weights.items()}
    return LSTMRegressor.from_weights(weights, pooling="last"), weights


def _time(fns, repeat):
    """Median and min seconds of each of ``fns`` (one run of frames each),
    run in turn after a warm-up."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, record in zip(fns, times):
            start = time.perf_counter()
            fn()
            record.append(time.perf_counter() - start)
    return [(statistics.median(t), min(t)) for t in times]


def runners(est, weights, frames, dtype, with_torch):
    """The contenders, each running all of ``frames`` (n_steps, n_features)."""
    from sklstm._core import _step

    stream = est.stream()
    rows = [f[None, :] for f in frames]

    def push():
        for x_t in rows:
            stream.push(x_t)

    def predict_step():
        state = None
        for x_t in rows:
            _, state = est.predict_step(x_t, state)

    # the kernel on the stream's own buffers, as push calls it
    model, s = stream._model, stream
    out = np.empty_like(s._committed)

    def kernel():
        a, b = s._committed, out
        for x_t in rows:
            _step.network_step(x_t, model.mean, model.scale, s._frame, 0,
                               model.weights, model.layout, a, b, s._scratch,
                               model.pool_code, 0, model.coef, model.intercept,
                               s._decision)
            a, b = b, a

    fns = {"push": push, "predict_step": predict_step, "kernel": kernel}
    if with_torch:
        import torch

        torch_dtype = torch.float32 if dtype == np.float32 else torch.float64
        n_features, H = frames.shape[1], weights["layers.0.weight_hh_l0"].shape[1]
        lstm = torch.nn.LSTM(n_features, H, batch_first=True).to(torch_dtype)
        with torch.no_grad():
            for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
                getattr(lstm, name).copy_(torch.from_numpy(weights[f"layers.0.{name}"]))
        steps = [torch.from_numpy(f.astype(dtype)).reshape(1, 1, -1) for f in frames]

        def torch_steps():
            h = (torch.zeros(1, 1, H, dtype=torch_dtype),
                 torch.zeros(1, 1, H, dtype=torch_dtype))
            with torch.no_grad():
                for x in steps:
                    _, h = lstm(x, h)
            return h[0].numpy().reshape(-1)

        fns["torch"] = torch_steps
        # the same function: torch's last h against a fresh stream's
        check = est.stream()
        for x_t in rows:
            check.push(x_t)
        ours = check._committed[:H]
        np.testing.assert_allclose(ours, torch_steps(), rtol=1e-3, atol=1e-4)
    return fns


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--device", choices=["cpu"], default="cpu")
    parser.add_argument("--n-threads", type=int, default=1,
                        help="threads (sklstm's step uses one whatever the limit)")
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--n-features", type=int, default=16)
    parser.add_argument("--steps", type=int, default=1000,
                        help="frames per timed run")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--json", default=None, metavar="OUT",
                        help="also write the records here, as one JSON document")
    args = parser.parse_args(argv)
    dtype = np.dtype(args.dtype).type

    torch = None
    if not args.no_torch:
        try:
            import torch
            torch.set_num_threads(args.n_threads)
        except ImportError:
            print("# torch is not installed: timing sklstm only", file=sys.stderr)
    versions = {"sklstm": sklstm.__version__, "numpy": np.__version__,
                "python": platform.python_version(), "machine": platform.machine()}
    if torch is not None:
        versions["torch"] = torch.__version__

    records = []
    rng = np.random.default_rng(0)
    for H in args.hidden:
        est, weights = make_model(args.n_features, H, dtype)
        frames = rng.normal(size=(args.steps, args.n_features))
        fns = runners(est, weights, frames, dtype, torch is not None)
        with threadpool_limits(limits=args.n_threads):
            times = dict(zip(fns, _time(list(fns.values()), args.repeat)))
        record = {"H": H, "n_features": args.n_features, "dtype": args.dtype,
                  "n_threads": args.n_threads, "steps": args.steps, **versions}
        for name, (median, best) in times.items():
            record[f"{name}_us"] = 1e6 * median / args.steps
            record[f"{name}_min_us"] = 1e6 * best / args.steps
        if torch is not None:
            for name in ("push", "predict_step", "kernel"):
                record[f"{name}_ratio"] = record["torch_us"] / record[f"{name}_us"]
        print(json.dumps(record), flush=True)
        records.append(record)

    if args.json:
        directory = os.path.dirname(os.path.abspath(args.json))
        os.makedirs(directory, exist_ok=True)
        with open(args.json, "w") as f:
            f.write(json.dumps({"benchmark": "benchmarks/bench_streaming.py",
                                "date": time.strftime("%Y-%m-%d"),
                                "ratio": "time_torch / time_sklstm, medians",
                                "records": records}, indent=1) + "\n")
    print_table(records, torch is not None)


def print_table(records, with_torch):
    header = (f"{'H':>4} {'dtype':>7} | {'push':>7} {'step':>7} {'kernel':>7}")
    if with_torch:
        header += f" | {'torch':>7} | {'push x':>6} {'step x':>6} {'kern x':>6}"
    print()
    print(header + "   (microseconds per frame, one stream)")
    print("-" * len(header))
    for r in records:
        line = (f"{r['H']:>4} {r['dtype']:>7} | {r['push_us']:>7.1f} "
                f"{r['predict_step_us']:>7.1f} {r['kernel_us']:>7.1f}")
        if with_torch:
            line += (f" | {r['torch_us']:>7.1f} | {r['push_ratio']:>6.1f} "
                     f"{r['predict_step_ratio']:>6.1f} {r['kernel_ratio']:>6.1f}")
        print(line)
    if with_torch:
        print("x: time_torch / time_sklstm (above 1: sklstm is faster)")


if __name__ == "__main__":
    main()
