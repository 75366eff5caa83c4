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
- a **per-window** classifier: an :class:`~sklstm.LSTMClassifier` (the
  defaults but ``max_iter``) that labels each frame from the centred window
  of 15 frames around it, trained on the windows of every third training
  frame, each labelled by its centre frame's speaker. The width was chosen
  among 5, 9, 13, 15, 17 and 21 frames on the training utterances alone,
  fitting on sequences of half of them and scoring on sequences of the other
  half (``benchmarks/bench_tagging.py``). Its training set holds every frame
  about four times, so an epoch costs about five of a tagger's; it is
  stopped after 15 epochs to keep this example short. Trained until its loss
  stops improving (its defaults: 112 epochs, seven to eight times as long) it
  gains 0.005 ("converged" below), still short of the bidirectional tagger.

The taggers keep all their defaults.

Frame accuracy on 300 test sequences, mean (min-max) over three seeds, and
mean fit time at one thread on a shared, busy machine (the times vary by up
to a factor of two from run to run), measured with
``python benchmarks/bench_tagging.py --seeds 0 1 2`` (the converged
per-window line with ``--width 15 --window-max-iter 200``):

=====================  ===================  ===================  ======  =======
model                  frame accuracy       sequence accuracy    epochs  fit (s)
=====================  ===================  ===================  ======  =======
bidirectional tagger   0.979 (0.975-0.983)  0.978 (0.976-0.980)  59      8.1
unidirectional tagger  0.933 (0.926-0.945)  0.930 (0.923-0.941)  89      6.3
per-window, 15 epochs  0.965 (0.958-0.970)  0.964 (0.956-0.971)  15      10.1
per-window, converged  0.970 (0.966-0.976)  0.970 (0.965-0.976)  112     76.5
=====================  ===================  ===================  ======  =======

("sequence accuracy" is each test sequence's own accuracy averaged over the
sequences: :func:`sklstm.metrics.frame_accuracy` with
``average="sequence"``.) The bidirectional tagger beats both baselines on
every seed but one: it makes a third of the unidirectional tagger's errors,
and about three fifths of the per-window classifier's after 15 epochs
(seven tenths of them trained to convergence, which ties it on seed 2:
frame accuracy 0.9757 against 0.9755). The table under the accuracies below
shows where the errors are: the unidirectional tagger is worst in the first
frames of each turn, before it has heard enough of the new voice, and
weaker all along, since it never hears the rest of the utterance; the
per-window classifier is worst at both edges of a turn, where its window
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
# Windows are clipped at the ends of their sequence, so they have 7 to 13
# frames: the classifier reads variable-length sequences as they are.
WIDTH, STEP = 15, 3


def frame_windows(X, width, step=1):
    """The centred window of ``width`` frames around every ``step``-th frame."""
    half = width // 2
    return [x[max(0, t - half): t + half + 1]
            for x in X for t in range(0, len(x), step)]


window_clf = LSTMClassifier(max_iter=15, random_state=0)
start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # 15 epochs: a budget
    window_clf.fit(frame_windows(X_train, WIDTH, STEP),
                   np.concatenate([labels[::STEP] for labels in y_train]))
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
# between. Measured: the bidirectional tagger 0.977, 0.985, 0.979; the
# unidirectional one 0.913, 0.948, 0.965 (better the more of the utterance it
# has heard); the per-window classifier 0.939, 0.979, 0.908.
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
# The first test sequence of four turns; its coefficients are shown
# standardised with the statistics of the training frames, one row each.
n_turns = [1 + np.count_nonzero(labels[1:] != labels[:-1]) for labels in y_test]
index = n_turns.index(4)
x, labels = X_test[index], y_test[index]
starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
bounds = np.r_[starts, len(labels)]
frames = np.concatenate(X_train)
z = (x - frames.mean(axis=0)) / frames.std(axis=0)
try:
    import matplotlib.pyplot as plt
except ImportError:  # the figure is optional
    plt = None
if plt is not None:
    fig, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True,
                             height_ratios=[1.2, 1, 1])
    axes[0].imshow(z.T, aspect="auto", cmap="coolwarm", interpolation="nearest",
                   vmin=-3, vmax=3)
    axes[0].set_ylabel("coefficient")
    axes[0].set_title(f"test sequence {index}: 12 LPC cepstrum coefficients per "
                      "frame (standardised)")
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
