"""
=====================================================
Accuracy and speed, as measured
=====================================================

Two charts drawn from result files committed under ``docs/results/``; the
gallery does not rerun the benchmarks that made them (the UCR development
suite is not shipped with sklstm, and PyTorch is not a dependency of the
docs).

**Accuracy** (``docs/results/ucr_accuracy.json``): the default
:class:`~sklstm.LSTMClassifier` (only ``random_state`` set; seeds 0, 1 and
2) on the twelve univariate data sets of the UCR development suite, beside
the archive's 1-NN Euclidean and 1-NN DTW (full window) figures. It is at or
above 1-NN ED on all 12 sets and above 1-NN DTW on 11, mean test accuracy
0.880 (1-NN ED: 0.771, 1-NN DTW: 0.813). Made by::

    python benchmarks/bench_accuracy.py FOLDER --n-jobs 2 \\
        --json docs/results/ucr_accuracy.json

where ``FOLDER`` holds the suite's ``.npz`` files and ``reference.json``
(``docs/accuracy.rst`` describes them).

**Speed** (``docs/results/speed.json``): one LSTM layer, forward and forward +
backward, against ``torch.nn.LSTM`` on the same data and weights in the same
run, float32; a bar above 1 means sklstm is faster. Made by::

    python benchmarks/bench_lstm.py --n-threads 1 2 --json docs/results/speed.json \\
        --note "quiet machine"

(``pip install torch`` first). The file committed now was measured on a
quiet 2-core AMD EPYC virtual machine, as its ``note`` says; runs there
differ by about ±5 %, and ``docs/performance.rst`` has the tables.
"""

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np


def results_folder():
    """``docs/results`` of the source tree, from the gallery or a checkout."""
    try:  # run as a file (``__file__`` is set by Python and by sphinx-gallery)
        here = Path(__file__).resolve().parent
    except NameError:  # pasted into a notebook or a console in examples/
        here = Path.cwd()
    return here.parent / "docs" / "results"


accuracy = json.loads((results_folder() / "ucr_accuracy.json").read_text())
speed = json.loads((results_folder() / "speed.json").read_text())

# %%
# Accuracy against the 1-NN baselines
# -----------------------------------
sets = accuracy["sets"]
summary = accuracy["summary"]
print(f"{accuracy['estimator']}, seeds {accuracy['seeds']}, {accuracy['date']}: "
      f"at or above 1-NN ED on {summary['at_or_above_one_nn_ed']} of "
      f"{summary['n_sets']}, at or above 1-NN DTW on "
      f"{summary['at_or_above_one_nn_dtw']}; mean accuracy "
      f"{summary['mean_accuracy']:.3f} (1-NN ED "
      f"{np.mean([s['one_nn_ed'] for s in sets]):.3f}, 1-NN DTW "
      f"{np.mean([s['one_nn_dtw'] for s in sets]):.3f})")

names = [s["set"] for s in sets]
rows = np.arange(len(sets))
height = 0.27
fig, ax = plt.subplots(figsize=(8, 7))
ax.barh(rows - height, [s["one_nn_ed"] for s in sets], height, label="1-NN ED",
        color="0.75")
ax.barh(rows, [s["one_nn_dtw"] for s in sets], height, label="1-NN DTW",
        color="0.45")
mean = np.array([s["mean"] for s in sets])
spread = np.array([[s["mean"] - s["min"] for s in sets],
                   [s["max"] - s["mean"] for s in sets]])
ax.barh(rows + height, mean, height, xerr=spread, capsize=2, color="C0",
        label=f"LSTMClassifier() (mean, min-max over {len(accuracy['seeds'])} "
              "seeds)")
ax.set_yticks(rows, names)
ax.invert_yaxis()
ax.set_xlim(0.4, 1.0)
ax.set_xlabel("test accuracy")
ax.set_title("UCR development suite: the default classifier and 1-NN")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3,
          fontsize="small")
fig.tight_layout()
plt.show()

# %%
# Speed against PyTorch
# ---------------------
# ``time_torch / time_sklstm`` of the median call (log scale), per
# configuration ``(T, B, D, H)``: steps, sequences, features and units; "var"
# marks sequences of unequal lengths (PyTorch's packed path).
print(f"measured {speed['date']} on {speed['measured_on']['cpu']} "
      f"({speed['measured_on']['n_cpus']} CPUs, load average "
      f"{speed['measured_on']['load_average_before']} before the run), "
      f"torch {speed['versions'].get('torch')}: {speed['note']}")
points = speed["points"]
threads = sorted({p["n_threads"] for p in points})
configs = list(dict.fromkeys(
    (p["T"], p["B"], p["D"], p["H"], p["variable"]) for p in points))
labels = [f"({T}, {B}, {D}, {H}{', var' if v else ''})" for T, B, D, H, v in configs]
fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), sharey=True)
width = 0.8 / len(threads)
x = np.arange(len(configs))
for ax, key, title in zip(axes, ("forward_ratio", "train_ratio"),
                          ("forward", "forward + backward")):
    for k, n in enumerate(threads):
        ratio = {(p["T"], p["B"], p["D"], p["H"], p["variable"]): p[key]
                 for p in points if p["n_threads"] == n}
        ax.bar(x + (k - (len(threads) - 1) / 2) * width,
               [ratio[c] for c in configs], width,
               label=f"{n} thread{'s' * (n > 1)}")
    ax.axhline(1, color="k", lw=0.8)
    ax.set_yscale("log")
    ax.set_yticks([0.5, 1, 2, 4, 8], ["0.5", "1", "2", "4", "8"])
    ax.minorticks_off()
    ax.set_xticks(x, labels, rotation=35, ha="right", fontsize="small")
    ax.set_title(f"{title}, {speed['dtype']}")
axes[0].set_ylabel("time_torch / time_sklstm (above 1: sklstm faster)")
axes[0].legend(fontsize="small")
fig.suptitle(f"One LSTM layer against torch.nn.LSTM ({speed['measured_on']['cpu']}, "
             f"{speed['date']}; see the note)", fontsize="medium")
fig.tight_layout()
plt.show()
