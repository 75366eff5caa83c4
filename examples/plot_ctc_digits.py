"""
=====================================================
Reading handwritten digit strings with CTC
=====================================================

A :class:`~sklstm.CTCSequenceLabeler` learns to read lines of handwritten
digits knowing only each line's string, never where a digit starts or ends:
connectionist temporal classification sums over every alignment (Graves et
al. 2006). The lines are built from scikit-learn's 8×8 digit images
(:func:`sklstm.datasets.make_digit_strings`), read column by column; test
lines use images never seen in training.

Eight epochs over 2000 lines (about ten seconds on two cores) bring the
label error rate on 300 test lines to 1.4 % (edits per true digit). The
figure shows a test line, the network's per-frame posteriors — CTC's
characteristic spikes: one frame per digit, the blank everywhere else — and
the decoded string.
"""

# %%
import time
import warnings

from sklearn.exceptions import ConvergenceWarning

from sklstm import CTCSequenceLabeler
from sklstm.datasets import make_digit_strings
from sklstm.metrics import label_error_rate

X_train, y_train = make_digit_strings(2000, random_state=0)
X_test, y_test = make_digit_strings(300, subset="test", random_state=1)

model = CTCSequenceLabeler(hidden_layer_sizes=(64,), max_iter=8, random_state=0)
start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # 8 epochs: a budget
    model.fit(X_train, y_train)
print(f"{model.n_iter_} epochs in {time.perf_counter() - start:.0f} s; test label "
      f"error rate {label_error_rate(y_test, model.predict(X_test)):.2%}")

# %%
# One test line, its posteriors and its reading
# ---------------------------------------------
x, truth = X_test[0], y_test[0]
proba = model.predict_proba([x])[0]           # (n_frames, 11): "0".."9", blank
reading = model.predict([x])[0]
print(f"true string {truth!r}, read as {reading!r}")

try:
    import matplotlib.pyplot as plt
except ImportError:  # the figure is optional
    plt = None
if plt is not None:
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    ax1.imshow(x.T, cmap="gray_r", aspect="auto")
    ax1.set_yticks([])
    ax1.set_title(f"input frames: {truth!r}, read as {reading!r}")
    for j, label in enumerate(model.classes_):
        ax2.plot(proba[:, j], label=label)
    ax2.plot(proba[:, -1], "k--", lw=1, label="blank")
    # the best path's labels, where a spike starts: what greedy decoding reads
    best = proba.argmax(axis=1)
    for t in range(len(best)):
        if best[t] < len(model.classes_) and (t == 0 or best[t] != best[t - 1]):
            ax2.annotate(model.classes_[best[t]], (t, proba[t, best[t]]),
                         xytext=(0, 4), textcoords="offset points", ha="center",
                         fontweight="bold")
    ax2.set_ylim(0, 1.15)
    ax2.set_xlabel("frame (one column of pixels)")
    ax2.set_ylabel("posterior")
    ax2.legend(ncol=11, fontsize="small", loc="upper center",
               bbox_to_anchor=(0.5, -0.3))
    fig.tight_layout()
    plt.show()
