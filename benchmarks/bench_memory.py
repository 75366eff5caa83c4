"""Peak memory of fit and predict against what the data needs.

Each point prints one JSON line: the peak of the call as ``tracemalloc``
sees it (NumPy reports its allocations there; the kernels' scratch, outside
it, is a few rows a thread), the reference it is held to and their ratio.

- predict: the reference is one array of the widest layer's outputs for
  every sequence (``sum T_i * n_directions * max(hidden_layer_sizes)``
  values).
- fit: the reference is what backpropagation must keep for the largest
  minibatch, 6H values a step for each layer and direction (gates, cell and
  hidden states), plus the input data.

Run ``python benchmarks/bench_memory.py`` (about a minute on one core);
``--quick`` runs the smaller sizes of the tests.
"""

import argparse
import json
import platform
import time
import tracemalloc
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

import sklstm
from sklstm import CTCSequenceLabeler, LSTMClassifier
from sklstm._network import Network


def traced_peak(call):
    """``(peak bytes above the start, seconds)`` of ``call()``."""
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        t = time.perf_counter()
        call()
        seconds = time.perf_counter() - t
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    return peak, seconds


def minibatch_rows(call):
    """``call()``, and the packed rows of every minibatch it trained on (the
    plans :meth:`Network.forward` saw with an ``rng``)."""
    rows, forward = [], Network.forward

    def recording(self, flat, plan, X, rng=None):
        if rng is not None:
            rows.append(plan.n_rows)
        return forward(self, flat, plan, X, rng)

    Network.forward = recording
    try:
        call()
    finally:
        Network.forward = forward
    return rows


def fit_reference(estimator, X, y):
    """Bytes backpropagation must keep for the largest minibatch of
    ``estimator.fit(X, y)`` (a dry run finds it), plus the input's."""
    rows = minibatch_rows(lambda: estimator.fit(X, y))
    n_directions = 2 if estimator.bidirectional else 1
    per_row = 6 * sum(estimator.hidden_layer_sizes) * n_directions
    itemsize = np.dtype(X[0].dtype).itemsize
    input_bytes = sum(x.size for x in X) * itemsize
    return max(rows) * per_row * itemsize + input_bytes


def predict_reference(estimator, X):
    n_directions = 2 if estimator.bidirectional else 1
    width = max(estimator.hidden_layer_sizes) * n_directions
    return sum(len(x) for x in X) * width * np.dtype(X[0].dtype).itemsize


def mixed(rng, n_long, n_short, n_features, dtype):
    """One sequence of ``n_long`` steps and ``n_short`` of 20-99."""
    X = [rng.normal(size=(n_long, n_features))]
    X += [rng.normal(size=(rng.integers(20, 100), n_features)) for _ in range(n_short)]
    return [x.astype(dtype) for x in X]


def spread(rng, n, low, high, n_features, dtype):
    return [rng.normal(size=(rng.integers(low, high + 1), n_features)).astype(dtype)
            for _ in range(n)]


def classifier(**params):
    # one frame a step, whatever the lengths, so that T is what the network reads
    return LSTMClassifier(max_iter=1, random_state=0, steps_per_frame=1, **params)


def point(kind, name, peak, reference, seconds, **fields):
    return {"kind": kind, "case": name, "peak_mib": round(peak / 2**20, 2),
            "reference_mib": round(reference / 2**20, 2),
            "ratio": round(peak / reference, 3), "seconds": round(seconds, 2),
            **fields}


def predict_point(name, estimator, X):
    peak, seconds = traced_peak(lambda: estimator.predict_proba(X))
    return point("predict", name, peak, predict_reference(estimator, X), seconds,
                 n_steps=int(sum(len(x) for x in X)),
                 hidden=list(estimator.hidden_layer_sizes),
                 pooling=estimator.pooling)


def fit_point(name, estimator, X, y):
    reference = fit_reference(estimator, X, y)
    peak, seconds = traced_peak(lambda: estimator.fit(X, y))
    return point("fit", name, peak, reference, seconds,
                 n_steps=int(sum(len(x) for x in X)),
                 hidden=list(estimator.hidden_layer_sizes),
                 early_stopping=estimator.early_stopping)


def grid(quick, dtype):
    rng = np.random.default_rng(0)
    scale = 10 if quick else 1
    n_long = 100_000 // scale
    points = []
    # predict: a model fitted on short sequences reads the mixed batch
    train = spread(rng, 64, 20, 99, 2, dtype)
    labels = rng.integers(0, 2, len(train))
    X = mixed(rng, n_long, 511, 2, dtype)
    for pooling in ("last", "mean", "max"):
        for hidden in ((32,), (32, 32)):
            clf = classifier(hidden_layer_sizes=hidden, pooling=pooling)
            points.append(predict_point(f"mixed_{n_long}", clf.fit(train, labels), X))
    # fit: the mixed batch, and many sequences with early stopping
    y = rng.integers(0, 2, len(X))
    for pooling in ("last", "max"):
        points.append(fit_point(f"mixed_{n_long}", classifier(
            hidden_layer_sizes=(32,), pooling=pooling), X, y))
    X_mixed = X
    labels = ["".join(rng.choice(list("abcdefghij"), 5)) for _ in X_mixed]
    ctc = CTCSequenceLabeler((32,), max_iter=1, random_state=0)
    reference = fit_reference(ctc, X_mixed, labels)
    peak, seconds = traced_peak(lambda: ctc.fit(X_mixed, labels))
    points.append(point("fit", f"ctc_mixed_{n_long}", peak, reference, seconds,
                        n_steps=int(sum(len(x) for x in X_mixed)), hidden=[32],
                        early_stopping=False))
    X = spread(rng, 10_000 // scale, 50, 500, 2, dtype)
    y = rng.integers(0, 2, len(X))
    points.append(fit_point(f"spread_{len(X)}", classifier(
        hidden_layer_sizes=(32,), early_stopping=True, n_iter_no_change=1), X, y))
    # one long sequence, one epoch, H = 32: bytes per step at two lengths
    for T in (n_long // 2, n_long):
        X = [rng.normal(size=(T, 2)).astype(dtype), rng.normal(size=(T, 2)).astype(
            dtype)]
        clf = classifier(hidden_layer_sizes=(32,), batch_size=1)
        peak, seconds = traced_peak(lambda clf=clf, X=X: clf.fit(X, [0, 1]))
        points.append({"kind": "fit_long", "n_steps": T, "peak_mib": round(
            peak / 2**20, 2), "bytes_per_step": round(peak / T, 1),
            "seconds": round(seconds, 2)})
    return points


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--device", default="cpu", choices=["cpu"])
    parser.add_argument("--n-threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1,
                        help="unused: the peak does not vary between runs")
    parser.add_argument("--quick", action="store_true",
                        help="the tests' sizes: a tenth of the sequences and steps")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    info = {"sklstm": sklstm.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "device": args.device,
            "dtype": args.dtype, "n_threads": args.n_threads}
    with threadpool_limits(args.n_threads):
        for p in grid(args.quick, np.dtype(args.dtype)):
            print(json.dumps({**p, **info}))


if __name__ == "__main__":
    main()
