"""sep-CMA-ES (sklstm._evolution) against OpenAI-ES on test functions.

OpenAI-ES here is Salimans et al. (2017): antithetic pairs, centred ranks in
[-0.5, 0.5], the gradient estimate ``Σ r_i ε_i / (λ σ)`` and an Adam step on
it, sigma fixed. Both get the same candidates per generation and the same
number of generations; the figure is the loss of the final mean, the median
over seeds. One JSON line per (function, method).
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


def run_cma(f, n, population_size, generations, seed, sigma=0.5):
    core = EvolutionCore(np.zeros(n), sigma=sigma, population_size=population_size,
                         random_state=seed)
    for _ in range(generations):
        core.tell(f(core.ask()))
    return float(f(core.mean))


def run_openai_es(f, n, population_size, generations, seed, sigma=0.1,
                  learning_rate=0.05):
    rng = np.random.default_rng(seed)
    mean = np.zeros(n)
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


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--population-size", type=int, default=16)
    parser.add_argument("--generations", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for name, f in [("sphere", sphere), ("ellipsoid", ellipsoid),
                    ("rosenbrock", rosenbrock)]:
        for method, run in [("sep-cma-es", run_cma), ("openai-es", run_openai_es)]:
            start = time.perf_counter()
            values = [run(f, args.n, args.population_size, args.generations, seed)
                      for seed in range(args.repeat)]
            print(json.dumps({"function": name, "method": method, "n": args.n,
                              "population_size": args.population_size,
                              "generations": args.generations,
                              "median_loss": float(np.median(values)),
                              "seconds": (time.perf_counter() - start) / args.repeat}))


if __name__ == "__main__":
    main()
