"""Time ``LSTMClassifier.fit`` per epoch against an equivalent PyTorch loop.

Two data sets: JapaneseVowels (270 sequences of 7-29 steps, 12 features, 9
classes) and a larger synthetic set (4000 sequences of 50-100 steps, 16
features, 10 classes). Both sides train the same network (one LSTM layer, the
final hidden state, a linear layer, softmax cross-entropy) on variable-length
minibatches of the same size with Adam and global-norm clipping at 1; PyTorch
packs each minibatch with ``pack_padded_sequence``. Printed: seconds per
epoch, ``time_torch / time_sklstm``, and the share of sklstm's epoch spent
inside its LSTM kernels (the rest is the output layer, the optimizer and
Python). Run::

    python benchmarks/bench_estimators.py --n-threads 1 2
"""

import argparse
import json
import sys
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

import sklstm._network as network
from sklstm import LSTMClassifier
from sklstm.datasets import load_japanese_vowels


def japanese_vowels(dtype):
    X, y = load_japanese_vowels(return_X_y=True)
    frames = np.concatenate(X)
    mean, std = frames.mean(axis=0), frames.std(axis=0)
    return [((x - mean) / std).astype(dtype) for x in X], y, 64, 32


def synthetic(dtype, n=4000, seed=0):
    rng = np.random.default_rng(seed)
    X = [rng.normal(size=(int(rng.integers(50, 101)), 16)).astype(dtype)
         for _ in range(n)]
    y = np.array([int(np.argmax(x[:, :10].mean(axis=0))) for x in X])
    return X, y, 128, 64


class KernelTimer:
    """Seconds spent inside the network's LSTM kernel calls while active."""

    def __init__(self):
        self.seconds = 0.0

    def __enter__(self):
        self._saved = network._lstm_packed, network._lstm_packed_backward

        def timed(fn):
            def wrapper(*args, **kwargs):
                start = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    self.seconds += time.perf_counter() - start
            return wrapper

        network._lstm_packed, network._lstm_packed_backward = (
            timed(f) for f in self._saved)
        return self

    def __exit__(self, *exc):
        network._lstm_packed, network._lstm_packed_backward = self._saved


def time_sklstm(X, y, hidden, batch_size, epochs):
    # the network of the PyTorch loop: one direction, the final state, every
    # step read, inputs as given, a constant learning rate, the plain
    # cross-entropy
    clf = LSTMClassifier(hidden_layer_sizes=(hidden,), batch_size=batch_size,
                         max_iter=epochs, n_iter_no_change=epochs, alpha=0.0,
                         bidirectional=False, pooling="last", steps_per_frame=1,
                         scale_inputs=False, learning_rate="constant",
                         n_updates_no_change=0, label_smoothing=0.0,
                         random_state=0)
    with warnings.catch_warnings(), KernelTimer() as timer:
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        clf.fit(X, y)
        seconds = time.perf_counter() - start
    return seconds / epochs, timer.seconds / seconds


def time_torch(X, y, hidden, batch_size, epochs):
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

    torch.manual_seed(0)
    classes, labels = np.unique(y, return_inverse=True)
    lstm = torch.nn.LSTM(X[0].shape[1], hidden, batch_first=True)
    head = torch.nn.Linear(hidden, len(classes))
    params = list(lstm.parameters()) + list(head.parameters())
    optimizer = torch.optim.Adam(params, lr=3e-3)
    seqs = [torch.from_numpy(x) for x in X]
    targets = torch.from_numpy(labels)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            batch = pad_sequence([seqs[i] for i in idx], batch_first=True)
            lengths = torch.tensor([len(X[i]) for i in idx])
            packed = pack_padded_sequence(batch, lengths, batch_first=True,
                                          enforce_sorted=False)
            _, (h_n, _) = lstm(packed)
            loss = torch.nn.functional.cross_entropy(head(h_n[0]), targets[idx])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
    return (time.perf_counter() - start) / epochs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        torch = None
        print("# torch is not installed: timing sklstm only", file=sys.stderr)
    rows = []
    for name, make in (("JapaneseVowels", japanese_vowels), ("synthetic", synthetic)):
        X, y, hidden, batch_size = make(np.dtype(args.dtype).type)
        for n_threads in args.n_threads:
            if torch is not None:
                torch.set_num_threads(n_threads)
            with threadpool_limits(limits=n_threads):
                ours, share = time_sklstm(X, y, hidden, batch_size, args.epochs)
            theirs = (time_torch(X, y, hidden, batch_size, args.epochs)
                      if torch is not None and args.dtype == "float32" else None)
            row = {"data": name, "n_sequences": len(X), "hidden": hidden,
                   "batch_size": batch_size, "dtype": args.dtype,
                   "n_threads": n_threads, "sklstm_s_per_epoch": ours,
                   "kernel_share": share, "torch_s_per_epoch": theirs}
            print(json.dumps(row), flush=True)
            rows.append(row)
    print()
    print(f"{'data':>15} {'thr':>3} | {'sklstm s/epoch':>14} {'in kernels':>10} | "
          f"{'torch s/epoch':>13} {'ratio':>6}")
    for r in rows:
        torch_s = r["torch_s_per_epoch"]
        tail = (f"{torch_s:>13.3f} {torch_s / r['sklstm_s_per_epoch']:>6.2f}"
                if torch_s else f"{'-':>13} {'-':>6}")
        print(f"{r['data']:>15} {r['n_threads']:>3} | {r['sklstm_s_per_epoch']:>14.3f} "
              f"{r['kernel_share']:>10.0%} | {tail}")
    print("ratio: time_torch / time_sklstm (above 1: sklstm is faster)")


if __name__ == "__main__":
    main()
