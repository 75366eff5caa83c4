"""Time sklstm's CTC loss + gradient against torch.nn.functional.ctc_loss.

Configs ``(T, B, C, S)``: T frames, B sequences, C classes (blank
included), targets of S labels. PyTorch's side is ``log_softmax`` then
``ctc_loss`` (float32, ``reduction="mean"``) and ``backward()`` to the
logits, so both compute the same loss and the same gradient; the
contenders' calls are interleaved. Printed: milliseconds, nanoseconds per
lattice cell (``B * T * (2S + 1)``), and ``time_torch / time_sklstm``. Also
greedy and beam decoding (beam 16), per 1000 frames. Run::

    python benchmarks/bench_ctc.py --n-threads 1 2
"""

import argparse
import json
import statistics
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from sklstm.functional import ctc_beam_search, ctc_greedy_decode, ctc_loss

CONFIGS = [(100, 32, 30, 20), (500, 16, 80, 100), (50, 256, 11, 8),
           (1000, 4, 5000, 200)]


def _time(fns, repeat):
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, record in zip(fns, times):
            start = time.perf_counter()
            fn()
            record.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        torch = None
        print("# torch is not installed: timing sklstm only", file=sys.stderr)
    rows = []
    for n_threads in args.n_threads:
        if torch is not None:
            torch.set_num_threads(n_threads)
        for T, B, C, S in CONFIGS:
            rng = np.random.default_rng(0)
            logits = rng.normal(size=(B, T, C)).astype(args.dtype)
            targets = rng.integers(1, C, size=(B, S))
            fns = [lambda: ctc_loss(logits, targets, target_lengths=np.full(B, S))]
            if torch is not None:
                x = torch.from_numpy(logits).transpose(0, 1).contiguous()  # (T, B, C)
                tt = torch.from_numpy(targets)
                il, tl = torch.full((B,), T), torch.full((B,), S)

                def torch_loss():
                    xg = x.detach().requires_grad_(True)
                    lp = torch.nn.functional.log_softmax(xg, dim=2)
                    torch.nn.functional.ctc_loss(lp, tt, il, tl).backward()

                fns.append(torch_loss)
            with threadpool_limits(limits=n_threads):
                times = _time(fns, args.repeat)
                decode = _time([lambda: ctc_greedy_decode(logits),
                                lambda: ctc_beam_search(logits, beam_width=16)],
                               max(1, args.repeat // 2))
            cells = B * T * (2 * S + 1)
            row = {"T": T, "B": B, "C": C, "S": S, "n_threads": n_threads,
                   "dtype": args.dtype, "sklstm_ms": 1e3 * times[0],
                   "sklstm_ns_per_cell": 1e9 * times[0] / cells,
                   "torch_ms": 1e3 * times[1] if torch is not None else None,
                   "greedy_ms_per_1000_frames": 1e6 * decode[0] / (B * T),
                   "beam16_ms_per_1000_frames": 1e6 * decode[1] / (B * T)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    print()
    print(f"{'thr':>3} {'T':>5} {'B':>4} {'C':>5} {'S':>4} | {'sklstm ms':>9} "
          f"{'ns/cell':>7} | {'torch ms':>8} {'ratio':>6} | "
          f"{'greedy':>7} {'beam16':>7}")
    for r in rows:
        torch_part = (f"{r['torch_ms']:>8.2f} {r['torch_ms'] / r['sklstm_ms']:>6.2f}"
                      if r["torch_ms"] else f"{'-':>8} {'-':>6}")
        print(f"{r['n_threads']:>3} {r['T']:>5} {r['B']:>4} {r['C']:>5} {r['S']:>4} | "
              f"{r['sklstm_ms']:>9.2f} {r['sklstm_ns_per_cell']:>7.1f} | "
              f"{torch_part} | "
              f"{r['greedy_ms_per_1000_frames']:>7.2f} "
              f"{r['beam16_ms_per_1000_frames']:>7.1f}")
    print("ratio: time_torch / time_sklstm; greedy, beam16: ms per 1000 frames")


if __name__ == "__main__":
    main()
