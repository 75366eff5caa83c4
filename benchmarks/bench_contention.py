"""Speed at the default thread count against one thread, on a quiet machine and
with another process spinning on one core.

A kernel whose threads meet at a barrier at every time step waits a
scheduler time slice at each barrier when another process holds one of the
cores; sklstm's time loops run in pieces of the batch that never wait for
each other (see ``sklstm/_core/_lstm.pyx``). For the JapaneseVowels fit and
predict of the default :class:`~sklstm.LSTMClassifier` and for training and
the forward pass of each ``bench_lstm.py`` config, this prints the median
of ``--repeat`` runs at the default thread count divided by the median at
one thread (``threadpool_limits(1)``), first quiet, then with a ``while
True: pass`` process at the same priority (target: at most 1.15). With
``--torch``, the same for ``torch.nn.LSTM`` on the kernel configs.

Run::

    python benchmarks/bench_contention.py
    python benchmarks/bench_contention.py --quick     # a shorter fit, 3 runs
"""

import argparse
import contextlib
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, __file__.rsplit("/", 1)[0])

from bench_lstm import CONFIGS, make_problem, sklstm_runners, torch_runners  # noqa: E402

from sklstm import LSTMClassifier  # noqa: E402
from sklstm._core import _math  # noqa: E402
from sklstm.datasets import load_japanese_vowels  # noqa: E402


@contextlib.contextmanager
def spinner(on):
    """A process spinning on one core for the duration, when ``on``."""
    if not on:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.5)
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


def ratio(fn, repeat):
    """Median seconds of ``fn`` at the default thread count over the median
    at one thread, runs interleaved; and both medians."""
    default, one = [], []
    fn()
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        default.append(time.perf_counter() - start)
        with threadpool_limits(limits=1):
            start = time.perf_counter()
            fn()
            one.append(time.perf_counter() - start)
    d, o = statistics.median(default), statistics.median(one)
    return d / o, d, o


def japanese_vowels(max_iter):
    X, y = load_japanese_vowels(subset="train", return_X_y=True)
    X_test, _ = load_japanese_vowels(subset="test", return_X_y=True)
    params = {"random_state": 0}
    if max_iter is not None:
        params["max_iter"] = max_iter
    fitted = {}

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted["clf"] = LSTMClassifier(**params).fit(X, y)

    fit()

    def predict():
        fitted["clf"].predict(X_test)

    return fit, predict


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true",
                        help="a 10-epoch fit and 3 runs of each")
    parser.add_argument("--torch", action="store_true",
                        help="also torch.nn.LSTM on the kernel configs")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args(argv)
    repeat = 3 if args.quick else args.repeat
    dtype = np.dtype(args.dtype)

    cases = []
    fit, predict = japanese_vowels(10 if args.quick else None)
    cases += [("JapaneseVowels fit", fit), ("JapaneseVowels predict", predict)]
    for T, B, D, H, variable in CONFIGS:
        problem = make_problem(T, B, D, H, variable, dtype)
        name = f"({T}, {B}, {D}, {H}{', var' if variable else ''})"
        forward, training = sklstm_runners(*problem)
        cases += [(f"{name} training", training), (f"{name} forward", forward)]
        if args.torch:
            forward, training = torch_runners(*problem)
            cases += [(f"{name} torch training", training),
                      (f"{name} torch forward", forward)]

    print(f"default threads: {_math._max_threads()}; medians of {repeat} runs; "
          "ratio = default / one thread")
    print(f"{'case':42s} {'quiet':>7s} {'spinner':>8s}   seconds (default, one; "
          "with the spinner)")
    rows = {name: [] for name, _ in cases}
    for busy in (False, True):
        with spinner(busy):
            for name, fn in cases:
                rows[name].append(ratio(fn, repeat))
    for name, ((q, qd, qo), (s, sd, so)) in rows.items():
        print(f"{name:42s} {q:7.2f} {s:8.2f}   {sd:.4f}, {so:.4f}")


if __name__ == "__main__":
    main()
