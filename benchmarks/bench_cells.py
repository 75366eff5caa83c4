"""Time each cell's kernels: the LSTM, the peephole LSTM and the GRU, beside
``torch.nn.LSTM`` and ``torch.nn.GRU``.

For each ``(T, B, D, H)`` config of ``bench_lstm.py``, precision and thread
count, this times the forward pass alone and forward + backward (the gradient
of ``out.sum()`` with respect to every input, ``dX`` included) of
``lstm_forward`` (plain and with ``peephole``) and ``gru_forward``, and, when
torch is installed, of torch's LSTM and GRU on the same batch (variable
lengths through ``pack_padded_sequence``). Printed per point: milliseconds
per call and the ratios

- ``peephole / lstm``: the cost of peephole connections in sklstm;
- ``torch GRU / GRU``: how much faster sklstm's GRU is than torch's;
- ``GRU / lstm``: sklstm's GRU against its own LSTM.

Every contender of one point runs interleaved with the others (see
``bench_lstm._time``), so the ratios of one point compare. Run::

    python benchmarks/bench_cells.py --n-threads 1 2 --dtype float32 float64
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from sklstm.functional import gru_backward, gru_forward, lstm_backward, lstm_forward

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_lstm import CONFIGS, _time  # noqa: E402


def make_problem(T, B, D, H, variable, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(B, T, D)).astype(dtype)
    lengths = np.full(B, T)
    if variable:
        lengths = rng.integers(T // 2, T + 1, size=B)
        lengths[0] = T
    scale = 1 / np.sqrt(H)
    p = {
        "W": rng.normal(scale=scale, size=(4 * H, D)).astype(dtype),
        "U": rng.normal(scale=scale, size=(4 * H, H)).astype(dtype),
        "b": np.zeros(4 * H, dtype=dtype),
        "P": rng.normal(scale=scale, size=(3, H)).astype(dtype),
        "Wg": rng.normal(scale=scale, size=(3 * H, D)).astype(dtype),
        "Ug": rng.normal(scale=scale, size=(3 * H, H)).astype(dtype),
        "bg": np.zeros(3 * H, dtype=dtype),
    }
    return X, lengths, p


def sklstm_runners(X, lengths, p):
    kw = {} if np.all(lengths == X.shape[1]) else {"lengths": lengths}
    calls = {
        "lstm": (lambda: lstm_forward(X, p["W"], p["U"], p["b"], **kw), lstm_backward),
        "peephole": (lambda: lstm_forward(X, p["W"], p["U"], p["b"], peephole=p["P"],
                                          **kw), lstm_backward),
        "gru": (lambda: gru_forward(X, p["Wg"], p["Ug"], p["bg"], p["bg"], **kw),
                gru_backward),
    }
    runners = {}
    for name, (forward, backward) in calls.items():
        def training(forward=forward, backward=backward):
            out, _, cache = forward()
            backward(cache, np.ones_like(out), compute_dX=True)
        runners[name] = (forward, training)
    return runners


def torch_runners(X, lengths, p):
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence

    B, T, D = X.shape
    H = p["U"].shape[1]
    dtype = torch.float32 if X.dtype == np.float32 else torch.float64
    x = torch.from_numpy(X).clone()
    variable = not np.all(lengths == T)
    lengths_t = torch.from_numpy(lengths.astype(np.int64))
    runners = {}
    for name, module in (("torch lstm", torch.nn.LSTM), ("torch gru", torch.nn.GRU)):
        net = module(D, H, batch_first=True).to(dtype)

        def run(x, net=net):
            if variable:
                packed = pack_padded_sequence(x, lengths_t, batch_first=True,
                                              enforce_sorted=False)
                return net(packed)[0].data
            return net(x)[0]

        def forward(run=run):
            with torch.no_grad():
                run(x)

        def training(run=run, net=net):
            xg = x.detach().requires_grad_(True)
            net.zero_grad(set_to_none=True)
            run(xg).sum().backward()

        runners[name] = (forward, training)
    return runners


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", nargs="+", choices=["float32", "float64"],
                        default=["float32"])
    parser.add_argument("--n-threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.no_torch:
            raise ImportError
        import torch
    except ImportError:
        torch = None
    header = (f"{'T':>5} {'B':>3} {'D':>4} {'H':>4} {'var':>3} {'dtype':>7} {'thr':>3} "
              f"{'pass':>8} | {'lstm ms':>8} {'peep ms':>8} {'gru ms':>8} "
              f"{'t-lstm':>8} {'t-gru':>8} | {'peep/lstm':>9} {'t-gru/gru':>9} "
              f"{'gru/lstm':>8}")
    print(header)
    print("-" * len(header))
    for dtype in args.dtype:
        for T, B, D, H, variable in CONFIGS:
            X, lengths, p = make_problem(T, B, D, H, variable, np.dtype(dtype).type)
            for n_threads in args.n_threads:
                runners = sklstm_runners(X, lengths, p)
                if torch is not None:
                    torch.set_num_threads(n_threads)
                    runners.update(torch_runners(X, lengths, p))
                names = list(runners)
                for k, pass_name in enumerate(("forward", "training")):
                    with threadpool_limits(limits=n_threads):
                        timed = _time([runners[n][k] for n in names], args.repeat,
                                      min_seconds=0.2)
                    ms = {n: t[0] * 1e3 for n, t in zip(names, timed)}
                    t_lstm = ms.get("torch lstm", float("nan"))
                    t_gru = ms.get("torch gru", float("nan"))
                    var = "yes" if variable else "no"
                    print(f"{T:>5} {B:>3} {D:>4} {H:>4} {var:>3} "
                          f"{dtype:>7} {n_threads:>3} {pass_name:>8} | "
                          f"{ms['lstm']:>8.2f} {ms['peephole']:>8.2f} "
                          f"{ms['gru']:>8.2f} "
                          f"{t_lstm:>8.2f} {t_gru:>8.2f} | "
                          f"{ms['peephole'] / ms['lstm']:>9.2f} "
                          f"{t_gru / ms['gru']:>9.2f} {ms['gru'] / ms['lstm']:>8.2f}",
                          flush=True)


if __name__ == "__main__":
    main()
