"""
=====================================================
Framewise tagging: who is speaking, frame by frame
=====================================================

An :class:`~sklstm.LSTMTagger` gives every step of a sequence its own label.
Here the sequences are real speakers taking turns:
:func:`sklstm.datasets.make_speaker_turns` puts JapaneseVowels utterances of
alternating speakers one after the other (2 to 5 turns, 7 to 29 frames of 12
LPC cepstrum coefficients each) and labels each frame with its speaker; where
one turn ends and the next begins is not given. Test sequences are made of
the archive's test utterances only.

Three models, trained on the same 300 sequences:

- a **bidirectional** tagger (the defaults): each frame's label reads the
  whole sequence, what comes after the frame as well as before;
- a **unidirectional** tagger (``bidirectional=False``): each frame's label
  reads the frames up to it only, so the first frames of every turn are
  labelled before much of the new voice has been heard;
- a **per-window** classifier: an :class:`~sklstm.LSTMClassifier` that labels
  each frame from the centred window of 9 frames around it, trained on the
  windows of every second training frame, each labelled by its centre frame's
  speaker. The width was chosen among 5, 7, 9, 11 and 15 frames on the
  training utterances alone (fitting on half of them, scoring on the other
  half: ``benchmarks/bench_tagging.py``). Its training set holds every frame
  about five times, so an epoch costs several of a tagger's; it is stopped
  after 15 epochs, which costs it nothing (trained to convergence it scores
  no better).

Frame accuracy on 300 test sequences, mean (min-max) over three seeds, and
fit time at one thread (``python benchmarks/bench_tagging.py --seeds 0 1 2``):

==================  ===================  ====================  ======  =======
model               frame accuracy       sequence accuracy     epochs  fit (s)
==================  ===================  ====================  ======  =======
bidirectional       TBD                  TBD                   TBD     TBD
unidirectional      TBD                  TBD                   TBD     TBD
per-window (w=9)    TBD                  TBD                   TBD     TBD
==================  ===================  ====================  ======  =======

("sequence accuracy" is each test sequence's own accuracy averaged over the
sequences: :func:`sklstm.metrics.frame_accuracy` with
``average="sequence"``.) The bidirectional tagger is right on TBD of the
frames; the unidirectional one loses most of its errors at the start of each
turn, the per-window classifier around the boundaries, where its window
holds two voices.

The figure shows one test sequence: its coefficients over time, and under
them each tagger's per-frame posteriors of the nine speakers, the true turns
marked.
"""

# %%
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklstm import LSTMClassifier, LSTMTagger
from sklstm.datasets import make_speaker_turns
from sklstm.metrics import frame_accuracy

X_train, y_train = make_speaker_turns(300, random_state=0)
X_test, y_test = make_speaker_turns(300, subset="test", random_state=100)
print(f"{len(X_train)} training sequences ({sum(map(len, X_train))} frames), "
      f"{len(X_test)} test sequences ({sum(map(len, X_test))} frames)")

# %%
# The two taggers
# ---------------
# ``y`` holds one array of labels per sequence, one label per frame.
results = {}
taggers = {"bidirectional": LSTMTagger(random_state=0),
           "unidirectional": LSTMTagger(bidirectional=False, random_state=0)}
for name, tagger in taggers.items():
    start = time.perf_counter()
    tagger.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    results[name] = tagger.predict(X_test), tagger.n_iter_, seconds

# %%
# The per-window classifier
# -------------------------
# Windows are clipped at the ends of their sequence, so they have 5 to 9
# frames: the classifier reads variable-length sequences as they are.
WIDTH = 9


def frame_windows(X, width, step=1):
    """The centred window of ``width`` frames around every ``step``-th frame."""
    half = width // 2
    return [x[max(0, t - half): t + half + 1]
            for x in X for t in range(0, len(x), step)]


window_clf = LSTMClassifier(max_iter=15, random_state=0)
start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # 15 epochs: a budget
    window_clf.fit(frame_windows(X_train, WIDTH, step=2),
                   np.concatenate([labels[::2] for labels in y_train]))
seconds = time.perf_counter() - start
flat = window_clf.predict(frame_windows(X_test, WIDTH))
ends = np.cumsum([len(x) for x in X_test])
results[f"per-window (w={WIDTH})"] = (np.split(flat, ends[:-1]),
                                      window_clf.n_iter_, seconds)

print(f"{'model':<18} {'frame acc.':>10} {'seq. acc.':>10} {'epochs':>7} "
      f"{'fit (s)':>8}")
for name, (y_pred, epochs, seconds) in results.items():
    print(f"{name:<18} {frame_accuracy(y_test, y_pred):10.3f} "
          f"{frame_accuracy(y_test, y_pred, average='sequence'):10.3f} "
          f"{epochs:7d} {seconds:8.1f}")

# %%
# Where the errors are
# --------------------
# Frame accuracy by position in the turn: its first 3 frames, where the
# unidirectional tagger has heard little of the new speaker yet; its last 3,
# where a centred window already holds the next speaker; and the frames in
# between.
def turn_positions(labels):
    """Each frame's distance to the start and to the end of its turn."""
    steps = np.arange(len(labels))
    change = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts, ends = np.r_[0, change], np.r_[change, len(labels)]
    turn = np.searchsorted(starts, steps, side="right") - 1
    return steps - starts[turn], ends[turn] - 1 - steps


since, until = (np.concatenate(d) for d in
                zip(*(turn_positions(labels) for labels in y_test)))
truth = np.concatenate(y_test)
where = {"first 3": since < 3, "middle": (since >= 3) & (until >= 3),
         "last 3": until < 3}
print(f"{'model':<18} " + " ".join(f"{k:>8}" for k in where))
for name, (y_pred, _, _) in results.items():
    hit = np.concatenate(y_pred) == truth
    print(f"{name:<18} " + " ".join(f"{hit[m].mean():8.3f}" for m in where.values()))

# %%
# One test sequence and its posteriors
# ------------------------------------
x, labels = X_test[0], y_test[0]
starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
bounds = np.r_[starts, len(labels)]
try:
    import matplotlib.pyplot as plt
except ImportError:  # the figure is optional
    plt = None
if plt is not None:
    fig, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True,
                             height_ratios=[1.2, 1, 1])
    axes[0].imshow(x.T, aspect="auto", cmap="coolwarm", interpolation="nearest")
    axes[0].set_ylabel("coefficient")
    axes[0].set_title("input: 12 LPC cepstrum coefficients per frame")
    colors = plt.get_cmap("tab10")
    classes = list(taggers["bidirectional"].classes_)
    for ax, name in zip(axes[1:], taggers):
        proba = taggers[name].predict_proba([x])[0]   # (n_frames, 9)
        for j, speaker in enumerate(classes):
            ax.plot(proba[:, j], color=colors(j), label=f"speaker {speaker}")
        ax.set_ylim(-0.02, 1.15)
        ax.set_ylabel("posterior")
        ax.set_title(f"{name} tagger")
    for ax in axes:
        for b in bounds[1:-1]:
            ax.axvline(b - 0.5, color="k", ls="--", lw=1)
    for a, b in zip(bounds[:-1], bounds[1:]):  # the true speaker of each turn
        j = classes.index(labels[a])
        for ax in axes[1:]:
            ax.text((a + b - 1) / 2, 1.07, f"speaker {labels[a]}", ha="center",
                    va="center", fontsize="small", color=colors(j))
    axes[-1].set_xlabel("frame (dashed: true turn boundaries)")
    axes[-1].legend(ncol=9, fontsize="x-small", loc="upper center",
                    bbox_to_anchor=(0.5, -0.35))
    fig.tight_layout()
    plt.show()
