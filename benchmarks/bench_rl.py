"""The T-maze (Bakker 2002) solved by RecurrentPolicyGradient and
EvolutionStrategy, and CartPole with its velocities hidden (with gymnasium).

Each run trains from scratch, then acts by the most probable action on 100
test episodes of new seeds; a T-maze is solved at 95 % correct turns or more,
CartPole at an average return of 195 or more. One JSON line per run: the
method, the task, the iterations, the training time, the test success rate
and mean return, the versions.

    python benchmarks/bench_rl.py --task tmaze --corridor 50 --method rpg
    python benchmarks/bench_rl.py --task tmaze --corridor 100 --method es
    python benchmarks/bench_rl.py --task tmaze --corridor 50 --method rpg --no-memory
    python benchmarks/bench_rl.py --task cartpole --method rpg

Run with ``OMP_NUM_THREADS`` set to the cores to use; the figures of
docs/rl.rst are on two cores.
"""

import argparse
import json
import platform
import time

import numpy as np

import sklstm
from sklstm.rl import EvolutionStrategy, LSTMPolicy, RecurrentPolicyGradient, evaluate
from sklstm.rl.envs import TMaze

# The settings of the quoted figures, per (task, method).
SETTINGS = {
    ("tmaze", "rpg"): dict(hidden=16, forget_bias=3.0,
                           rpg=dict(n_envs=32, learning_rate=0.01, gamma=0.99)),
    ("tmaze", "es"): dict(hidden=8, forget_bias=1.0,
                          es=dict(n_episodes=16, sigma=0.5)),
    ("cartpole", "rpg"): dict(hidden=32, forget_bias=1.0,
                              rpg=dict(n_envs=32, learning_rate=0.005, gamma=0.99,
                                       entropy_coef=0.0, reward_scale=0.01)),
    ("cartpole", "es"): dict(hidden=8, forget_bias=1.0,
                             es=dict(n_episodes=8, sigma=0.5)),
}
DEFAULT_ITERATIONS = {
    ("tmaze", "rpg", 50): 600, ("tmaze", "rpg", 100): 1500,
    ("tmaze", "es", 50): 300, ("tmaze", "es", 100): 600,
    ("cartpole", "rpg", None): 500, ("cartpole", "es", None): 200,
}


class HiddenVelocities:
    """CartPole-v1 observing only the cart's position and the pole's angle
    (the velocities, its 2nd and 4th values, hidden): a POMDP whose velocities
    a policy must infer from successive observations."""

    def __init__(self):
        import gymnasium

        from sklstm.rl.envs import Box

        self.env = gymnasium.make("CartPole-v1")
        self.action_space = self.env.action_space
        high = self.env.observation_space.high[[0, 2]]
        self.observation_space = Box(-high, high, (2,))

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed)
        return obs[[0, 2]], info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(int(action))
        return obs[[0, 2]], reward, terminated, truncated, info


def run(task, method, corridor, n_iterations, memory, seed):
    key = (task, method)
    settings = SETTINGS[key]
    if task == "tmaze":
        def factory():
            return TMaze(corridor)
    else:
        factory = HiddenVelocities
    policy = LSTMPolicy((settings["hidden"],), memory=memory,
                        forget_bias=settings["forget_bias"])
    if method == "rpg":
        est = RecurrentPolicyGradient(policy, n_iterations=n_iterations,
                                      random_state=seed, **settings["rpg"])
    else:
        est = EvolutionStrategy(policy, n_iterations=n_iterations, random_state=seed,
                                **settings["es"])
    start = time.perf_counter()
    est.fit(factory)
    fit_time = time.perf_counter() - start
    scores = evaluate(est.policy_, factory, 100, seed=10**6)
    history = est.history_["mean_return"]
    return {"task": task, "method": method, "corridor": corridor, "memory": memory,
            "n_iterations": n_iterations, "seed": seed,
            "fit_time_s": round(fit_time, 2),
            # None (JSON's null) where the environment has no success
            "test_success_rate": (None if np.isnan(scores["success_rate"])
                                  else scores["success_rate"]),
            "test_mean_return": round(scores["mean_return"], 3),
            "train_return_first": round(history[0], 3),
            "train_return_last": round(history[-1], 3),
            "solved": bool(scores["success_rate"] >= 0.95 if task == "tmaze"
                           else scores["mean_return"] >= 195),
            "sklstm": sklstm.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=["tmaze", "cartpole"], default="tmaze")
    parser.add_argument("--method", choices=["rpg", "es"], default="rpg")
    parser.add_argument("--corridor", type=int, default=50)
    parser.add_argument("--n-iterations", type=int, default=None)
    parser.add_argument("--no-memory", action="store_true",
                        help="reset the LSTM's state at every step")
    parser.add_argument("--seed", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    corridor = args.corridor if args.task == "tmaze" else None
    n_iterations = args.n_iterations or DEFAULT_ITERATIONS[
        (args.task, args.method, corridor)]
    for seed in args.seed:
        print(json.dumps(run(args.task, args.method, corridor, n_iterations,
                             not args.no_memory, seed)), flush=True)


if __name__ == "__main__":
    main()
