"""An evolution strategy over a flat float64 parameter vector, ask/tell style.

:class:`EvolutionCore` is sep-CMA-ES (Ros & Hansen, 2008): CMA-ES (Hansen &
Ostermeier, 2001; the update of Hansen's tutorial, arXiv:1604.00772, with
weighted recombination of the better half) restricted to a diagonal
covariance, so a generation costs O(population_size · n) and the learning
rates of the diagonal are raised by ``(n + 2) / 3``. One implementation serves
``solver="evolino"`` of :class:`~sklstm.LSTMRegressor` and
:class:`~sklstm.LSTMSequenceRegressor` and the trainers of reinforcement
learning that build on it::

    core = EvolutionCore(x0, sigma=0.5, random_state=0)
    for _ in range(n_generations):
        candidates = core.ask()                   # (population_size, n)
        core.tell([loss(x) for x in candidates])  # lower is better
    core.best, core.best_fitness

Why sep-CMA-ES rather than OpenAI-ES (Salimans et al., 2017: antithetic
sampling, centred rank shaping, an Adam step on the estimated gradient),
measured with ``benchmarks/bench_evolution.py``: 20 dimensions, x0 = 0, the
optimum at 1, 16 candidates a generation for both, the loss of the final
mean, median of 5 seeds (OpenAI-ES with sigma=0.1 and Adam's step 0.05):

==========================================  ============  =========
function, 300 generations (4800 calls)      sep-CMA-ES    OpenAI-ES
==========================================  ============  =========
sphere ``Σ (x_i - 1)²``                     1.3e-18       1.6e-2
ellipsoid, condition 10⁶                    1.8e-13       0.92
Rosenbrock                                  14.8          21.0
==========================================  ============  =========

sep-CMA-ES adapts its step size, so it converges linearly where OpenAI-ES
stalls at the noise floor of its fixed sigma, and it has no learning rate to
tune per problem; its diagonal learns a scale per coordinate (the
ellipsoid), which matters when the weights feeding different gates have
different sensitivities. A generation costs O(population_size · n) either
way (0.05 ms for these sizes), nothing beside a network's forward pass.
The figures on the Evolino task are in ``docs/evolino.rst``.

Determinism: the candidates of generation ``g`` come from
``numpy.random.default_rng([seed, g])``, so the same seed gives the same run
bit for bit, :meth:`ask` may be called again before :meth:`tell` (it returns
the same candidates), and :meth:`state` is plain values (str, int, float,
bool and float64 arrays: what ``skops.io`` loads without trusting a class)
from which :meth:`from_state` continues exactly.
"""

import math

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["EvolutionCore", "default_population_size"]


def default_population_size(n):
    """CMA-ES's default number of candidates per generation, ``4 + ⌊3 ln n⌋``."""
    return 4 + int(3 * math.log(max(int(n), 1)))


def _seed_from(random_state):
    """An int seed from an int, None, a RandomState or a Generator."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(np.iinfo(np.int32).max))
    if isinstance(random_state, (int, np.integer)) and not isinstance(
            random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state={random_state} must be >= 0.")
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


class EvolutionCore:
    """sep-CMA-ES: a diagonal-covariance CMA evolution strategy, ask/tell style.

    Parameters
    ----------
    x0 : array-like of shape (n,)
        The initial mean; copied into float64.
    sigma : float
        The initial step size (the standard deviation of each coordinate of
        the first generation's candidates around ``x0``). Adapted afterwards.
    population_size : int or None, default=None
        Candidates per generation, at least 2; ``None`` is CMA-ES's default
        ``4 + ⌊3 ln n⌋`` (:func:`default_population_size`).
    random_state : int, RandomState, Generator or None, default=None
        Seeds the run: an int is used as it is; anything else draws the seed
        once, here.
    maximize : bool, default=False
        Whether :meth:`tell` receives values to maximise (rewards) rather than
        to minimise (losses).

    Attributes
    ----------
    mean : ndarray of shape (n,)
        The distribution's mean: the current estimate of the optimum.
    sigma : float
        The current step size.
    diagonal : ndarray of shape (n,)
        The diagonal of the covariance (the per-coordinate variances, before
        ``sigma``).
    best : ndarray of shape (n,) or None
        The best candidate told so far.
    best_fitness : float
        Its value (``inf``, or ``-inf`` when maximising, before any).
    generation : int
        Generations told so far.

    References
    ----------
    R. Ros and N. Hansen, "A simple modification in CMA-ES achieving linear
    time and space complexity", PPSN X, 2008.
    N. Hansen, "The CMA evolution strategy: a tutorial", arXiv:1604.00772.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm._evolution import EvolutionCore
    >>> core = EvolutionCore(np.zeros(5), sigma=1.0, random_state=0)
    >>> for _ in range(150):
    ...     x = core.ask()
    ...     core.tell(((x - 3.0) ** 2).sum(axis=1))
    >>> bool(np.allclose(core.best, 3.0, atol=1e-4))
    True
    """

    def __init__(self, x0, *, sigma, population_size=None, random_state=None,
                 maximize=False):
        x0 = np.array(x0, dtype=np.float64).ravel()
        if x0.size == 0:
            raise ValueError("x0 is empty; an evolution strategy needs at least "
                             "one parameter.")
        if not np.all(np.isfinite(x0)):
            raise ValueError("x0 has non-finite values; start from finite ones.")
        sigma = float(sigma)
        if not (sigma > 0 and math.isfinite(sigma)):
            raise ValueError(f"sigma={sigma} must be a positive finite number.")
        n = x0.size
        if population_size is None:
            population_size = default_population_size(n)
        if (isinstance(population_size, bool)
                or not isinstance(population_size, (int, np.integer))
                or population_size < 2):
            raise ValueError(f"population_size={population_size!r} must be an "
                             "int >= 2 (or None for 4 + 3 ln n).")
        self.population_size = int(population_size)
        self.seed = _seed_from(random_state)
        self.maximize = bool(maximize)
        self.mean = x0
        self.sigma = sigma
        self.diagonal = np.ones(n)
        self.path_sigma = np.zeros(n)
        self.path_c = np.zeros(n)
        self.generation = 0
        self.best = None
        self.best_fitness = -math.inf if self.maximize else math.inf
        self._z = None  # this generation's standard normal draws, once asked

    # -- the strategy's constants (Hansen's tutorial, table 1; Ros & Hansen) --

    @property
    def n(self):
        return self.mean.size

    def _weights(self):
        mu = self.population_size // 2
        w = math.log(mu + 0.5) - np.log(np.arange(1, mu + 1))
        return w / w.sum()

    def _constants(self):
        n, w = self.n, self._weights()
        mu_eff = 1.0 / float(np.sum(w**2))
        c_sigma = (mu_eff + 2) / (n + mu_eff + 5)
        d_sigma = 1 + 2 * max(0.0, math.sqrt((mu_eff - 1) / (n + 1)) - 1) + c_sigma
        c_c = (4 + mu_eff / n) / (n + 4 + 2 * mu_eff / n)
        c_1 = 2 / ((n + 1.3) ** 2 + mu_eff)
        c_mu = min(1 - c_1, 2 * (mu_eff - 2 + 1 / mu_eff) / ((n + 2) ** 2 + mu_eff))
        # sep-CMA: a diagonal learns n times fewer numbers, so faster
        scale = (n + 2) / 3
        c_1, c_mu = c_1 * scale, c_mu * scale
        if c_1 + c_mu > 1:  # keep the old covariance's weight non-negative
            c_1, c_mu = c_1 / (c_1 + c_mu), c_mu / (c_1 + c_mu)
        chi_n = math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n))
        return w, mu_eff, c_sigma, d_sigma, c_c, c_1, c_mu, chi_n

    # -- ask / tell --

    def _draws(self):
        if self._z is None:
            rng = np.random.default_rng([self.seed, self.generation])
            self._z = rng.standard_normal((self.population_size, self.n))
        return self._z

    def ask(self):
        """This generation's candidates, ``(population_size, n)`` float64.

        A new array each call; calling again before :meth:`tell` gives the
        same candidates.
        """
        z = self._draws()
        return self.mean + self.sigma * (z * np.sqrt(self.diagonal))

    def tell(self, fitness):
        """Update the distribution from the values of :meth:`ask`'s candidates.

        Parameters
        ----------
        fitness : array-like of shape (population_size,)
            One value per candidate, in :meth:`ask`'s order: lower is better
            (a loss) unless ``maximize=True``. NaN counts as the worst value.
        """
        f = np.array(fitness, dtype=np.float64).ravel()
        if f.shape != (self.population_size,):
            raise ValueError(f"tell() needs {self.population_size} values, one "
                             f"per candidate of ask(); got shape {f.shape}.")
        z = self._draws()
        losses = -f if self.maximize else f.copy()
        losses[np.isnan(losses)] = np.inf
        order = np.argsort(losses, kind="stable")  # ties keep ask()'s order
        if self.best is None or losses[order[0]] < (
                -self.best_fitness if self.maximize else self.best_fitness):
            self.best = self.mean + self.sigma * z[order[0]] * np.sqrt(self.diagonal)
            self.best_fitness = float(f[order[0]])

        w, mu_eff, c_sigma, d_sigma, c_c, c_1, c_mu, chi_n = self._constants()
        sqrt_c = np.sqrt(self.diagonal)
        z_sel = z[order[:w.size]]
        y_sel = z_sel * sqrt_c
        z_w, y_w = w @ z_sel, w @ y_sel
        self.mean = self.mean + self.sigma * y_w
        # for a diagonal C, C^(-1/2) y_w is z_w exactly
        self.path_sigma = ((1 - c_sigma) * self.path_sigma
                           + math.sqrt(c_sigma * (2 - c_sigma) * mu_eff) * z_w)
        norm = float(np.linalg.norm(self.path_sigma))
        g = self.generation + 1
        h_sigma = (norm / math.sqrt(1 - (1 - c_sigma) ** (2 * g))
                   < (1.4 + 2 / (self.n + 1)) * chi_n)
        self.path_c = ((1 - c_c) * self.path_c
                       + h_sigma * math.sqrt(c_c * (2 - c_c) * mu_eff) * y_w)
        self.diagonal = ((1 - c_1 - c_mu + (not h_sigma) * c_1 * c_c * (2 - c_c))
                         * self.diagonal
                         + c_1 * self.path_c**2 + c_mu * (w @ y_sel**2))
        self.sigma *= math.exp(min(1.0, (c_sigma / d_sigma) * (norm / chi_n - 1)))
        self.generation = g
        self._z = None

    # -- plain state --

    def state(self):
        """The strategy as plain values (copies): str, int, float, bool, arrays."""
        return {"method": "sep-cma-es", "seed": int(self.seed),
                "population_size": int(self.population_size),
                "maximize": bool(self.maximize), "generation": int(self.generation),
                "sigma": float(self.sigma), "mean": self.mean.copy(),
                "diagonal": self.diagonal.copy(),
                "path_sigma": self.path_sigma.copy(), "path_c": self.path_c.copy(),
                "best": None if self.best is None else self.best.copy(),
                "best_fitness": float(self.best_fitness)}

    @classmethod
    def from_state(cls, state):
        """The strategy :meth:`state` describes, on copies of its arrays; it
        continues exactly as the original would."""
        if state.get("method") != "sep-cma-es":
            raise ValueError(f"Unknown method {state.get('method')!r} in the stored "
                             "evolution state; expected 'sep-cma-es'.")
        core = cls(state["mean"], sigma=state["sigma"],
                   population_size=state["population_size"],
                   random_state=state["seed"], maximize=state["maximize"])
        core.generation = int(state["generation"])
        core.diagonal = np.array(state["diagonal"], dtype=np.float64)
        core.path_sigma = np.array(state["path_sigma"], dtype=np.float64)
        core.path_c = np.array(state["path_c"], dtype=np.float64)
        core.best = (None if state["best"] is None
                     else np.array(state["best"], dtype=np.float64))
        core.best_fitness = float(state["best_fitness"])
        return core
