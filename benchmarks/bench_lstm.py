"""Time sklstm's LSTM kernels against the machine's GEMM rate and torch.nn.LSTM.

For each ``(T, B, D, H)`` config and thread count this times, in float32 by
default, the forward pass alone and forward + backward (the gradient of
``out.sum()`` with respect to every input, ``dX`` included), and prints:

- GFLOP/s, counting ``2 * sum(T_i) * 4H * (D + H)`` for the forward pass and
  three times that for training;
- that rate as a fraction of numpy's float32 2048 x 2048 x 2048 matmul at the
  same thread count, measured in the same run (the "GEMM rate");
- when ``torch`` is installed, the same for ``torch.nn.LSTM`` (variable
  lengths through ``pack_padded_sequence``) and ``time_torch / time_sklstm``.

One JSON line per point goes to stdout (and to ``benchmarks/results/`` with
``--save``), then a table. Run::

    python benchmarks/bench_lstm.py --n-threads 1 2

``--json OUT`` also writes the table as one JSON document: the command line,
``measured_on`` (CPU, core count, the load average before and after the run),
``note`` (``--note TEXT``: say whether the machine was quiet), the versions
and one entry per point with its times and the ratios
``forward_ratio``, ``train_ratio`` (``time_torch / time_sklstm``). The
gallery's speed chart reads ``docs/results/speed.json``, made by::

    python benchmarks/bench_lstm.py --n-threads 1 2 --json docs/results/speed.json \
        --note "quiet machine"
"""

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

import sklstm
from sklstm.functional import lstm_backward, lstm_forward

# (T, B, D, H, variable lengths)
CONFIGS = [
    (50, 32, 16, 64, False),
    (100, 32, 64, 128, False),
    (100, 64, 128, 256, False),
    (200, 16, 40, 512, False),
    (1000, 1, 8, 32, False),
    (100, 32, 64, 128, True),
]


def _time(fns, repeat, min_seconds=0.3):
    """Median and min seconds of each of ``fns``, run in turn after a warm-up.

    Interleaving the contenders spreads the drift of a shared machine (other
    tenants, frequency changes) evenly over them.
    """
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    deadline = time.perf_counter() + min_seconds * len(fns)
    while len(times[0]) < repeat or time.perf_counter() < deadline:
        for fn, record in zip(fns, times):
            start = time.perf_counter()
            fn()
            record.append(time.perf_counter() - start)
        if len(times[0]) >= 50 * repeat:
            break
    return [(statistics.median(t), min(t)) for t in times]


def gemm_rate(n_threads, repeat, dtype=np.float32):
    """GFLOP/s of numpy's 2048^3 matmul in ``dtype`` with ``n_threads`` threads."""
    rng = np.random.default_rng(0)
    a = rng.random((2048, 2048)).astype(dtype)
    b = rng.random((2048, 2048)).astype(dtype)
    with threadpool_limits(limits=n_threads):
        ((median, _),) = _time([lambda: a @ b], repeat)
    return 2 * 2048**3 / median / 1e9


def make_problem(T, B, D, H, variable, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(B, T, D)).astype(dtype)
    if variable:
        lengths = rng.integers(T // 2, T + 1, size=B)
        lengths[0] = T
    else:
        lengths = np.full(B, T)
    W = rng.normal(scale=1 / np.sqrt(H), size=(4 * H, D)).astype(dtype)
    U = rng.normal(scale=1 / np.sqrt(H), size=(4 * H, H)).astype(dtype)
    b = np.zeros(4 * H, dtype=dtype)
    return X, lengths, W, U, b


def sklstm_runners(X, lengths, W, U, b):
    kwargs = {} if np.all(lengths == X.shape[1]) else {"lengths": lengths}

    def forward():
        lstm_forward(X, W, U, b, **kwargs)

    def training():
        out, _, cache = lstm_forward(X, W, U, b, **kwargs)
        lstm_backward(cache, np.ones_like(out), compute_dX=True)

    return forward, training


def torch_runners(X, lengths, W, U, b):
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence

    B, T, D = X.shape
    H = U.shape[1]
    dtype = torch.float32 if X.dtype == np.float32 else torch.float64
    lstm = torch.nn.LSTM(D, H, batch_first=True).to(dtype)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(W))
        lstm.weight_hh_l0.copy_(torch.from_numpy(U))
        lstm.bias_ih_l0.copy_(torch.from_numpy(b))
        lstm.bias_hh_l0.zero_()
    x = torch.from_numpy(X).clone()
    variable = not np.all(lengths == T)
    lengths_t = torch.from_numpy(lengths.astype(np.int64))

    def run(x):
        if variable:
            packed = pack_padded_sequence(x, lengths_t, batch_first=True,
                                          enforce_sorted=False)
            out, _ = lstm(packed)
            return out.data
        out, _ = lstm(x)
        return out

    def forward():
        with torch.no_grad():
            run(x)

    def training():
        xg = x.detach().requires_grad_(True)
        lstm.zero_grad(set_to_none=True)
        run(xg).sum().backward()

    return forward, training


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--device", choices=["cpu"], default="cpu")
    parser.add_argument("--n-threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-torch", action="store_true", help="skip torch.nn.LSTM")
    parser.add_argument("--save", action="store_true",
                        help="also write the JSON lines to benchmarks/results/")
    parser.add_argument("--json", default=None, metavar="OUT",
                        help="also write the table here, as one JSON document")
    parser.add_argument("--note", default=None,
                        help="with --json: how the machine was (quiet, shared, ...)")
    args = parser.parse_args(argv)
    load_before = load_average()
    dtype = np.dtype(args.dtype).type

    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("# torch is not installed: timing sklstm only", file=sys.stderr)
    versions = {"sklstm": sklstm.__version__, "numpy": np.__version__,
                "python": platform.python_version(), "machine": platform.machine()}
    if torch is not None:
        versions["torch"] = torch.__version__

    records = []
    for n_threads in args.n_threads:
        rate = gemm_rate(n_threads, args.repeat, dtype)
        if torch is not None:
            torch.set_num_threads(n_threads)
        for T, B, D, H, variable in CONFIGS:
            X, lengths, W, U, b = make_problem(T, B, D, H, variable, dtype)
            flops = 2 * int(lengths.sum()) * 4 * H * (D + H)
            record = {
                "T": T, "B": B, "D": D, "H": H, "variable": variable,
                "dtype": args.dtype, "device": args.device, "n_threads": n_threads,
                "gemm_gflops": rate, **versions,
            }
            fwd, train = sklstm_runners(X, lengths, W, U, b)
            forward, training = [fwd], [train]
            if torch is not None:
                fwd, train = torch_runners(X, lengths, W, U, b)
                forward.append(fwd)
                training.append(train)
            with threadpool_limits(limits=n_threads):
                fwd_times = _time(forward, args.repeat)
                train_times = _time(training, args.repeat)
            record["forward_s"], record["forward_min_s"] = fwd_times[0]
            record["train_s"], record["train_min_s"] = train_times[0]
            if torch is not None:
                record["torch_forward_s"], record["torch_forward_min_s"] = fwd_times[1]
                record["torch_train_s"], record["torch_train_min_s"] = train_times[1]
            record["forward_gflops"] = flops / record["forward_s"] / 1e9
            record["train_gflops"] = 3 * flops / record["train_s"] / 1e9
            print(json.dumps(record), flush=True)
            records.append(record)

    if args.save:
        os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
        path = os.path.join(os.path.dirname(__file__), "results",
                            time.strftime("bench_lstm-%Y%m%d-%H%M%S.jsonl"))
        with open(path, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)
    if args.json:
        write_json(args.json, records, args, argv, load_before, torch is not None)
    print_table(records, torch is not None, args.dtype)


def load_average():
    """The 1-minute load average where the system has one, else None."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def cpu_name():
    """The CPU's model name where the system says it (Linux), else its
    architecture."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.machine()


def write_json(out, records, args, argv, load_before, with_torch):
    """The table, where and how it was measured, as one JSON document."""
    argv = sys.argv[1:] if argv is None else list(argv)
    points = []
    for r in records:
        point = {k: r[k] for k in (
            "T", "B", "D", "H", "variable", "n_threads", "forward_s", "forward_min_s",
            "train_s", "train_min_s", "forward_gflops", "train_gflops")}
        point["gemm_fraction_forward"] = r["forward_gflops"] / r["gemm_gflops"]
        point["gemm_fraction_train"] = r["train_gflops"] / r["gemm_gflops"]
        if with_torch:
            for k in ("torch_forward_s", "torch_forward_min_s", "torch_train_s",
                      "torch_train_min_s"):
                point[k] = r[k]
            point["forward_ratio"] = r["torch_forward_s"] / r["forward_s"]
            point["train_ratio"] = r["torch_train_s"] / r["train_s"]
        points.append(point)
    versions = {k: records[0][k] for k in ("sklstm", "numpy", "python", "torch")
                if records and k in records[0]}
    document = {
        "benchmark": "benchmarks/bench_lstm.py",
        "command": shlex.join(["python", "benchmarks/bench_lstm.py", *argv]),
        "dtype": args.dtype,
        "repeat": args.repeat,
        "date": time.strftime("%Y-%m-%d"),
        "measured_on": {"cpu": cpu_name(), "n_cpus": os.cpu_count(),
                        "system": platform.system(),
                        "load_average_before": load_before,
                        "load_average_after": load_average()},
        "note": args.note,
        "versions": versions,
        "gemm_gflops": {str(r["n_threads"]): r["gemm_gflops"] for r in records},
        "ratio": "time_torch / time_sklstm, medians (above 1: sklstm is faster)",
        "points": points,
    }
    directory = os.path.dirname(os.path.abspath(out))
    os.makedirs(directory, exist_ok=True)
    with open(out, "w") as f:
        f.write(json.dumps(document, indent=1) + "\n")


def print_table(records, with_torch, dtype):
    header = (f"{'thr':>3} {'T':>5} {'B':>3} {'D':>4} {'H':>4} {'len':>4} | "
              f"{'fwd ms':>8} {'GF/s':>6} {'%gemm':>6} | "
              f"{'train ms':>9} {'GF/s':>6} {'%gemm':>6}")
    if with_torch:
        header += f" | {'torch fwd':>9} {'torch trn':>9} {'fwd x':>6} {'train x':>7}"
    print()
    print(header)
    print("-" * len(header))
    for r in records:
        line = (f"{r['n_threads']:>3} {r['T']:>5} {r['B']:>3} {r['D']:>4} {r['H']:>4} "
                f"{'var' if r['variable'] else 'eq':>4} | "
                f"{1e3 * r['forward_s']:>8.2f} {r['forward_gflops']:>6.1f} "
                f"{r['forward_gflops'] / r['gemm_gflops']:>6.0%} | "
                f"{1e3 * r['train_s']:>9.2f} {r['train_gflops']:>6.1f} "
                f"{r['train_gflops'] / r['gemm_gflops']:>6.0%}")
        if with_torch:
            line += (f" | {1e3 * r['torch_forward_s']:>9.2f} "
                     f"{1e3 * r['torch_train_s']:>9.2f} "
                     f"{r['torch_forward_s'] / r['forward_s']:>6.2f} "
                     f"{r['torch_train_s'] / r['train_s']:>7.2f}")
        print(line)
    rates = sorted({(r["n_threads"], r["gemm_gflops"]) for r in records})
    print(f"GEMM rate (numpy {dtype} 2048^3): " + ", ".join(
        f"{g:.1f} GFLOP/s with {n} thread{'s' * (n > 1)}" for n, g in rates))
    if with_torch:
        print("fwd x, train x: time_torch / time_sklstm (above 1: sklstm is faster)")


if __name__ == "__main__":
    main()
