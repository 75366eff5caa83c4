"""Time and peak memory of CTC prefix beam search with exact rescoring.

Cases (one sequence, C = 30 classes, blank 0, float32 logits):

- ``beam1000_random``: 2000 frames of standard normal logits, beam width 1000;
- ``blank20000``: 20 000 frames, mostly blank (the blank's logit raised by 6,
  and one frame in four raising a random label's by 9 instead), beam width 16;
- ``random10000``: 10 000 frames of standard normal logits, beam width 16.

Random logits make a greedy labelling of about 0.9 labels a frame, so the
rescored candidates have ``S = 2L + 1`` of about 1.8 states a frame: a
rescoring lattice of ``T x S`` doubles is quadratic in the number of frames.

Each case runs in a fresh subprocess, so that its peak resident memory is its
own: printed are seconds, the peak of NumPy's allocations (``tracemalloc``,
in a second call), the process's peak resident set (``ru_maxrss``, which
also sees the kernels' ``malloc`` scratch) and its growth during the call
(Linux: the peak is reset through ``/proc/self/clear_refs`` just before), and
a digest of the labellings and log-probabilities found. ``--baseline DIR``
runs every case a second time with ``DIR`` (a directory holding another
build of the ``sklstm`` package, e.g. a checkout of an earlier commit built
in place) first on ``PYTHONPATH``, and
says whether both builds found the same results, bit for bit. Run::

    python benchmarks/bench_ctc_memory.py --n-threads 1
    python benchmarks/bench_ctc_memory.py --cases blank20000 --baseline ../old
"""

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc

import numpy as np

CASES = {  # name: (n_timesteps, beam_width)
    "beam1000_random": (2000, 1000),
    "blank20000": (20000, 16),
    "random10000": (10000, 16),
}
N_CLASSES = 30


def _logits(case, dtype):
    n_timesteps, _ = CASES[case]
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(1, n_timesteps, N_CLASSES))
    if case.startswith("blank"):
        spikes = rng.random(n_timesteps) < 0.25
        logits[0, ~spikes, 0] += 6.0
        labels = rng.integers(1, N_CLASSES, size=spikes.sum())
        logits[0, np.flatnonzero(spikes), labels] += 9.0
    return logits.astype(dtype)


def _status_kib(field):
    with open("/proc/self/status") as f:
        return int(next(line.split()[1] for line in f if line.startswith(field)))


def _reset_peak_rss():
    """Restart the peak resident set (VmHWM) from the current one; False where
    the platform cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _worker(case, dtype, n_threads, n_best):
    """Run one case in this (fresh) process; print one JSON line."""
    from threadpoolctl import threadpool_limits

    import sklstm
    from sklstm.functional import ctc_beam_search

    logits = _logits(case, dtype)
    _, beam_width = CASES[case]
    def decode():
        return ctc_beam_search(logits, beam_width=beam_width, n_best=n_best,
                               return_log_probs=True)

    with threadpool_limits(limits=n_threads):
        reset = _reset_peak_rss()
        rss_before = (_status_kib("VmRSS:") if reset else
                      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        start = time.perf_counter()
        found, log_probs = decode()
        seconds = time.perf_counter() - start
        rss_after = (_status_kib("VmHWM:") if reset else
                     resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # a second call for NumPy's peak: tracing every Python allocation
        # would slow the timed one
        tracemalloc.start()
        decode()
        _, numpy_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    digest = hashlib.sha256(log_probs.tobytes())
    for labelling in (found if n_best == 1 else found[0]):
        digest.update(np.asarray(labelling, dtype=np.int64).tobytes())
    print(json.dumps({
        "case": case, "n_timesteps": logits.shape[1], "beam_width": beam_width,
        "n_classes": N_CLASSES, "dtype": dtype, "n_threads": n_threads,
        "n_best": n_best, "seconds": seconds,
        "numpy_peak_mib": numpy_peak / 2**20,
        # ru_maxrss and /proc/self/status are in KiB on Linux
        "peak_rss_mib": peak_rss / 2**10,
        "rss_growth_mib": (rss_after - rss_before) / 2**10,
        "best_length": int(len(found[0] if n_best == 1 else found[0][0])),
        "best_log_prob": float(log_probs[0, 0]),
        "results_sha256": digest.hexdigest()[:16],
        "sklstm": os.path.dirname(os.path.dirname(sklstm.__file__)),
    }), flush=True)


def _run(case, args, path=None):
    env = dict(os.environ, OMP_NUM_THREADS=str(args.n_threads))
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            [os.path.abspath(path)] + [p for p in [env.get("PYTHONPATH")] if p])
    command = [sys.executable, os.path.abspath(__file__), "--worker", case,
               "--dtype", args.dtype, "--n-threads", str(args.n_threads),
               "--n-best", str(args.n_best)]
    out = subprocess.run(command, env=env, check=True, stdout=subprocess.PIPE,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES),
                        default=list(CASES))
    parser.add_argument("--n-threads", type=int, default=1)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--n-best", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--baseline", metavar="DIR",
                        help="another build of sklstm to compare with")
    parser.add_argument("--worker", choices=list(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker, args.dtype, args.n_threads, args.n_best)
        return
    rows = []
    for case in args.cases:
        for _ in range(args.repeat):
            builds = [("current", None)]
            if args.baseline:
                builds.append(("baseline", args.baseline))
            for build, path in builds:
                row = dict(_run(case, args, path), build=build)
                print(json.dumps(row), flush=True)
                rows.append(row)
    print()
    print(f"{'case':<16} {'build':<8} {'T':>6} {'W':>5} | {'seconds':>8} "
          f"{'numpy MiB':>9} {'peak RSS':>8} {'growth':>8} | results")
    for r in rows:
        print(f"{r['case']:<16} {r['build']:<8} {r['n_timesteps']:>6} "
              f"{r['beam_width']:>5} | {r['seconds']:>8.2f} "
              f"{r['numpy_peak_mib']:>9.1f} {r['peak_rss_mib']:>8.1f} "
              f"{r['rss_growth_mib']:>8.1f} | "
              f"{r['results_sha256']}")
    if args.baseline:
        for case in args.cases:
            digests = {r["results_sha256"] for r in rows if r["case"] == case}
            print(f"{case}: {'identical' if len(digests) == 1 else 'DIFFERENT'} "
                  "results in both builds")
    print("MiB; peak RSS: of the whole process; growth: of the peak during the call")


if __name__ == "__main__":
    main()
