"""Framewise speaker tagging: a bidirectional tagger against two baselines.

The task is :func:`sklstm.datasets.make_speaker_turns`: JapaneseVowels
utterances of alternating speakers one after the other, each frame labelled by
its speaker. Three models, each fitted on the same training sequences (drawn
from the archive's training utterances) and scored frame by frame on test
sequences (drawn from its test utterances):

- ``bidirectional``: ``LSTMTagger()``, the defaults, one label per frame from
  the whole sequence;
- ``unidirectional``: ``LSTMTagger(bidirectional=False)``, each frame's label
  from the frames up to it only;
- ``per-window``: ``LSTMClassifier(max_iter=15)`` trained on the centred
  window of ``width`` frames around every third frame of the training
  sequences (``--window-step``; windows are clipped at the ends of their
  sequence), labelled by the speaker of its centre frame, and predicting each
  test frame from its window. Its training set holds every frame about
  ``width / 3`` times, so its epoch costs several of a tagger's; 15 epochs
  (``--window-max-iter``) keep it to a few seconds, and more help it little
  (``--window-max-iter 200``, its default, trains it until the loss stops
  improving: measured, 112 epochs and 0.970 frame accuracy over seeds 0-2 at
  width 15, against 0.965 after 15 epochs).

``width`` is chosen on the training utterances alone, before anything is
scored on the test split: the 270 training utterances are split in two halves
(15 of each speaker's 30, by a fixed draw), per-window classifiers of each
width of ``--widths`` are fitted on sequences of one half and scored on
sequences of the other, and the best width is kept (``--width W`` skips the
search).

For each seed (the draw of the sequences and the models' ``random_state``)
it prints the frame accuracy (all test frames pooled), the
sequence-averaged accuracy (the mean of each test sequence's own accuracy),
the epochs and the fit time, at ``--n-threads`` threads; then the mean and
range over the seeds. Run::

    python benchmarks/bench_tagging.py --seeds 0 1 2

``--max-iter`` caps the epochs of the two taggers (their defaults train until
the loss stops improving). ``--json OUT`` also writes the runs and the summary
as JSON.
"""

import argparse
import json
import os
import platform
import shlex
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

import sklstm
from sklstm import LSTMClassifier, LSTMTagger
from sklstm.datasets import load_japanese_vowels, make_speaker_turns
from sklstm.datasets._speaker_turns import _concatenate_turns
from sklstm.metrics import frame_accuracy

SPLIT_SEED = 20261202  # the halves of the training utterances for --widths


def frame_windows(X, width, step=1):
    """The centred window of ``width`` frames around every ``step``-th frame."""
    half = width // 2
    return [x[max(0, t - half): t + half + 1]
            for x in X for t in range(0, len(x), step)]


def window_labels(y, step=1):
    return np.concatenate([labels[::step] for labels in y])


def per_window_predict(model, X, width):
    """Each sequence's per-frame labels, predicted from the frames' windows."""
    flat = model.predict(frame_windows(X, width))
    bounds = np.cumsum([0] + [len(x) for x in X])
    return [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def accuracies(y_true, y_pred):
    """``(frame, sequence)`` accuracy: pooled over frames, mean of sequences'."""
    return (frame_accuracy(y_true, y_pred),
            frame_accuracy(y_true, y_pred, average="sequence"))


def fit_quietly(model, X, y):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # --max-iter: a budget
        model.fit(X, y)
    return time.perf_counter() - start


def select_width(widths, n_sequences, max_iter, step):
    """The width of the best per-window classifier on held-out training utterances."""
    utterances, speakers = load_japanese_vowels(subset="train", return_X_y=True)
    speakers = np.asarray(speakers)
    rng = np.random.RandomState(SPLIT_SEED)
    first = np.zeros(len(speakers), dtype=bool)
    for s in np.unique(speakers):
        members = np.flatnonzero(speakers == s)
        first[rng.permutation(members)[: len(members) // 2]] = True
    halves = []
    for mask in (first, ~first):
        chosen = np.flatnonzero(mask)
        halves.append(_concatenate_turns([utterances[i] for i in chosen],
                                         speakers[chosen], n_sequences, 2, 5, rng))
    (X_fit, y_fit), (X_val, y_val) = halves
    scores = {}
    for width in widths:
        model = LSTMClassifier(random_state=0, max_iter=max_iter)
        seconds = fit_quietly(model, frame_windows(X_fit, width, step),
                              window_labels(y_fit, step))
        scores[width] = accuracies(y_val, per_window_predict(model, X_val, width))[0]
        print(f"  width {width:3d}: held-out frame accuracy {scores[width]:.4f} "
              f"({model.n_iter_} epochs, {seconds:.1f} s)", flush=True)
    return max(scores, key=scores.get), scores


def run_seed(seed, width, n_train, n_test, max_iter, window_max_iter, step):
    X_train, y_train = make_speaker_turns(n_train, random_state=seed)
    X_test, y_test = make_speaker_turns(n_test, subset="test",
                                        random_state=100 + seed)
    capped = {} if max_iter is None else {"max_iter": max_iter}
    rows = []
    for name, model in [
        ("bidirectional", LSTMTagger(random_state=seed, **capped)),
        ("unidirectional", LSTMTagger(bidirectional=False, random_state=seed,
                                      **capped)),
    ]:
        seconds = fit_quietly(model, X_train, y_train)
        frame, sequence = accuracies(y_test, model.predict(X_test))
        rows.append(dict(seed=seed, model=name, frame=frame, sequence=sequence,
                         epochs=model.n_iter_, fit_s=seconds))
    model = LSTMClassifier(random_state=seed, max_iter=window_max_iter)
    seconds = fit_quietly(model, frame_windows(X_train, width, step),
                          window_labels(y_train, step))
    frame, sequence = accuracies(y_test, per_window_predict(model, X_test, width))
    rows.append(dict(seed=seed, model=f"per-window (w={width})", frame=frame,
                     sequence=sequence, epochs=model.n_iter_, fit_s=seconds))
    for row in rows:
        print(f"  seed {seed}  {row['model']:<22} frame {row['frame']:.4f}  "
              f"sequence {row['sequence']:.4f}  {row['epochs']:3d} epochs  "
              f"{row['fit_s']:6.1f} s", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-train", type=int, default=300,
                        help="training sequences (default 300)")
    parser.add_argument("--n-test", type=int, default=300,
                        help="test sequences (default 300)")
    parser.add_argument("--widths", type=int, nargs="+", default=[5, 9, 13, 15, 17, 21],
                        help="per-window widths to choose from "
                             "(default 5 9 13 15 17 21)")
    parser.add_argument("--width", type=int, default=None,
                        help="use this width, skipping the search")
    parser.add_argument("--max-iter", type=int, default=None,
                        help="cap the epochs of the taggers (default: their defaults)")
    parser.add_argument("--window-max-iter", type=int, default=15,
                        help="epochs of the per-window classifier (default 15)")
    parser.add_argument("--window-step", type=int, default=3,
                        help="train the per-window classifier on the windows of "
                             "every this-th frame (default 3)")
    parser.add_argument("--n-threads", type=int, default=1)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)

    with threadpool_limits(limits=args.n_threads):
        scores = None
        if args.width is None:
            print("choosing the per-window width on the training utterances:")
            width, scores = select_width(args.widths, args.n_train,
                                         args.window_max_iter, args.window_step)
            print(f"  -> width {width}")
        else:
            width = args.width
        runs = []
        for seed in args.seeds:
            runs += run_seed(seed, width, args.n_train, args.n_test, args.max_iter,
                             args.window_max_iter, args.window_step)

    names = list(dict.fromkeys(row["model"] for row in runs))
    print(f"\n{len(args.seeds)} seeds, {args.n_train} training and {args.n_test} "
          f"test sequences, {args.n_threads} thread(s)")
    header = (f"{'model':<22} {'frame accuracy':>22} {'sequence accuracy':>22} "
              f"{'epochs':>7} {'fit (s)':>8}")
    print(header)
    print("-" * len(header))
    summary = {}
    for name in names:
        rows = [row for row in runs if row["model"] == name]
        entry = {key: (float(np.mean([r[key] for r in rows])),
                       float(min(r[key] for r in rows)),
                       float(max(r[key] for r in rows)))
                 for key in ("frame", "sequence", "epochs", "fit_s")}
        summary[name] = entry
        frame, sequence = (f"{m:.3f} ({lo:.3f}-{hi:.3f})"
                           for m, lo, hi in (entry["frame"], entry["sequence"]))
        print(f"{name:<22} {frame:>22} {sequence:>22} {entry['epochs'][0]:7.0f} "
              f"{entry['fit_s'][0]:8.1f}")
    if args.json:
        with open(args.json, "w") as file:
            json.dump({
                "command": shlex.join([os.path.basename(sys.executable)] + sys.argv),
                "width": width, "width_scores": scores, "summary": summary,
                "runs": runs, "sklstm": sklstm.__version__,
                "numpy": np.__version__, "machine": platform.processor()
                or platform.machine(), "cpu_count": os.cpu_count(),
            }, file, indent=1)


if __name__ == "__main__":
    main()
