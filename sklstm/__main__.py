"""``python -m sklstm``: the README's demo.

Until the estimators land, it runs the LSTM kernels on random data, checks
one gradient against finite differences, and prints a small timing table.
"""

import time

import numpy as np

from sklstm import __version__
from sklstm.functional import lstm_backward, lstm_forward

CONFIGS = [  # (T, B, D, H)
    (50, 32, 16, 64),
    (100, 32, 64, 128),
    (1000, 1, 8, 32),
]


def _best_time(fn, repeat=5):
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    rng = np.random.default_rng(0)
    print(f"sklstm {__version__}: LSTM kernels on random float32 data")
    print(f"{'T':>5} {'B':>4} {'D':>4} {'H':>4} | {'forward ms':>10} "
          f"{'fwd+bwd ms':>10} {'fwd GFLOP/s':>11}")
    for T, B, D, H in CONFIGS:
        X = rng.normal(size=(B, T, D)).astype(np.float32)
        W = rng.normal(scale=0.1, size=(4 * H, D)).astype(np.float32)
        U = rng.normal(scale=0.1, size=(4 * H, H)).astype(np.float32)
        b = np.zeros(4 * H, dtype=np.float32)

        def forward():
            return lstm_forward(X, W, U, b)

        def training():
            out, _, cache = lstm_forward(X, W, U, b)
            return lstm_backward(cache, np.ones_like(out))

        t_fwd = _best_time(forward)
        t_train = _best_time(training)
        gflops = 2 * T * B * 4 * H * (D + H) / t_fwd / 1e9
        print(f"{T:>5} {B:>4} {D:>4} {H:>4} | {1e3 * t_fwd:>10.2f} "
              f"{1e3 * t_train:>10.2f} {gflops:>11.1f}")

    # One gradient against central differences, in float64.
    X = rng.normal(size=(2, 5, 3))
    W, U, b = rng.normal(size=(8, 3)), rng.normal(size=(8, 2)), rng.normal(size=8)
    out, _, cache = lstm_forward(X, W, U, b, lengths=[5, 3])
    grad = lstm_backward(cache, np.ones_like(out)).dW[0, 0]
    eps = 1e-6
    W_up, W_down = W.copy(), W.copy()
    W_up[0, 0] += eps
    W_down[0, 0] -= eps
    up = lstm_forward(X, W_up, U, b, lengths=[5, 3])[0].sum()
    down = lstm_forward(X, W_down, U, b, lengths=[5, 3])[0].sum()
    numeric = (up - down) / (2 * eps)
    print(f"dL/dW[0, 0]: backward {grad:.8f}, finite differences {numeric:.8f}")


if __name__ == "__main__":
    main()
