"""sep-CMA-ES (sklstm._evolution) against OpenAI-ES on test functions and
on the Evolino task of examples/plot_evolino.py.

OpenAI-ES here is Salimans et al. (2017): antithetic pairs, centred ranks in
[-0.5, 0.5], the gradient estimate ``Σ r_i ε_i / (λ σ)`` and an Adam step on
it, sigma fixed. Both get the same candidates per generation and the same
number of generations; the figure is the loss of the final mean, the median
over seeds. One JSON line per (function, method). ``--evolino`` runs the
Evolino task instead: the recurrent weights of a 10-unit LSTM reading
``sin(0.2 t) + sin(0.311 t)``, each candidate scored by the training loss of
its ridge head (one-step-ahead prediction, 400 steps), as
``LSTMSequenceRegressor(solver="evolino")`` scores them.
"""

import argparse
import json
import time

import numpy as np

from sklstm._evolution import EvolutionCore


def sphere(x):
    return ((x - 1.0) ** 2).sum(axis=-1)


def ellipsoid(x):
    n = x.shape[-1]
    scales = 10.0 ** (3 * np.arange(n) / max(n - 1, 1))  # condition 10^6
    return (scales * (x - 1.0) ** 2).sum(axis=-1)


def rosenbrock(x):
    return (100 * (x[..., 1:] - x[..., :-1] ** 2) ** 2
            + (1 - x[..., :-1]) ** 2).sum(axis=-1)


def run_cma(f, x0, population_size, generations, seed, sigma=0.5):
    core = EvolutionCore(x0, sigma=sigma, population_size=population_size,
                         random_state=seed)
    for _ in range(generations):
        core.tell(f(core.ask()))
    return float(f(core.mean))


def run_openai_es(f, x0, population_size, generations, seed, sigma=0.1,
                  learning_rate=0.05):
    rng = np.random.default_rng(seed)
    mean = np.array(x0, dtype=np.float64)
    n = mean.size
    m, v = np.zeros(n), np.zeros(n)
    half = population_size // 2
    for t in range(1, generations + 1):
        eps = rng.standard_normal((half, n))
        eps = np.concatenate([eps, -eps])
        losses = f(mean + sigma * eps)
        ranks = np.empty(len(losses))
        ranks[np.argsort(losses, kind="stable")] = np.arange(len(losses))
        shaped = ranks / (len(losses) - 1) - 0.5
        grad = shaped @ eps / (len(losses) * sigma)
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        mean = mean - learning_rate * (m / (1 - 0.9**t)) / (
            np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return float(f(mean))


def evolino_task():
    """``(f, x0)``: the loss of candidate recurrent weights, and the initial ones."""
    import warnings

    from sklstm import LSTMSequenceRegressor
    from sklstm._evolino import EvolinoProblem

    t = np.arange(401)
    s = np.sin(0.2 * t) + np.sin(0.311 * t)
    X, y = [s[:-1, None]], [s[1:]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = LSTMSequenceRegressor(hidden_layer_sizes=(10,), bidirectional=False,
                                    solver="evolino", max_iter=1,
                                    random_state=0).fit(X, y)
    seqs = reg._read_predict_input(X)
    Y = reg._prepare_targets(y, first_call=False)[0]
    network = reg._network()
    flat = network.init(np.random.RandomState(0), seqs.n_features, 1, seqs.dtype)
    problem = EvolinoProblem(network, flat, seqs, Y, np.ones(1), np.arange(1),
                             reg.alpha)
    return (lambda xs: np.array([problem.evaluate(x)[0]
                                 for x in np.atleast_2d(xs)]).squeeze(),
            problem.vector(flat))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--population-size", type=int, default=16)
    parser.add_argument("--generations", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--evolino", action="store_true")
    parser.add_argument("--sigma", type=float, default=None,
                        help="both methods' sigma (default: 0.5 and 0.1)")
    parser.add_argument("--learning-rate", type=float, default=0.05,
                        help="OpenAI-ES's Adam step")
    args = parser.parse_args()
    if args.evolino:
        f, x0 = evolino_task()
        tasks = [("evolino", f, x0)]
    else:
        tasks = [(name, f, np.zeros(args.n)) for name, f in [
            ("sphere", sphere), ("ellipsoid", ellipsoid), ("rosenbrock", rosenbrock)]]
    for name, f, x0 in tasks:
        for method, run in [("sep-cma-es", run_cma), ("openai-es", run_openai_es)]:
            options = {} if args.sigma is None else {"sigma": args.sigma}
            if method == "openai-es":
                options["learning_rate"] = args.learning_rate
            start = time.perf_counter()
            values = [run(f, x0, args.population_size, args.generations, seed,
                          **options) for seed in range(args.repeat)]
            print(json.dumps({"function": name, "method": method, "n": int(x0.size),
                              "population_size": args.population_size,
                              "generations": args.generations,
                              "median_loss": float(np.median(values)),
                              "seconds": (time.perf_counter() - start) / args.repeat}))


if __name__ == "__main__":
    main()
