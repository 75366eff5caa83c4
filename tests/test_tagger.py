"""LSTMTagger: a label per step — targets checked against lengths, outputs of
each sequence's length, the loss of the equations, steps without a label,
weights, what a bidirectional tagger can learn and a unidirectional one
cannot, model selection with the frame scorer."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import make_scorer
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline

from sklstm import LSTMTagger
from sklstm.metrics import frame_accuracy
from sklstm.preprocessing import SequenceScaler

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")


def sign_task(n=40, seed=0):
    """Each step labelled by the sign of the running sum so far."""
    rng = np.random.default_rng(seed)
    X = [rng.normal(size=(int(rng.integers(3, 12)), 2)) for _ in range(n)]
    y = [np.where(np.cumsum(x[:, 0]) > 0, "up", "down") for x in X]
    return X, y


def small(**kwargs):
    return LSTMTagger(**{"hidden_layer_sizes": (6,), "max_iter": 5,
                         "random_state": 0, **kwargs})


def future_mark_task(n, seed):
    """A mark of sign ±1 arrives in the second half of each sequence; every
    step is labelled by the mark's sign, the steps before it included: only
    a reader of what follows can label those."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for _ in range(n):
        T = int(rng.integers(8, 13))
        x = np.zeros((T, 2))
        x[:, 0] = rng.normal(scale=0.3, size=T)
        at, sign = int(rng.integers(T // 2, T)), rng.choice([-1.0, 1.0])
        x[at, 1] = sign
        X.append(x)
        y.append(np.full(T, int(sign > 0)))
    return X, y


def test_bidirectional_learns_labels_that_depend_on_the_future():
    X, y = future_mark_task(300, seed=0)
    X_test, y_test = future_mark_task(100, seed=1)
    params = dict(hidden_layer_sizes=(12,), max_iter=40, random_state=0)
    bi = LSTMTagger(bidirectional=True, **params).fit(X, y)
    uni = LSTMTagger(bidirectional=False, **params).fit(X, y)
    # the unidirectional tagger can only guess the steps before the mark:
    # about a quarter of all steps are wrong at best
    assert bi.score(X_test, y_test) > 0.95
    assert uni.score(X_test, y_test) < 0.85
    # where it has seen the mark it labels right: it learnt what it could
    after = [np.arange(len(x)) >= np.flatnonzero(x[:, 1])[0] for x in X_test]
    predicted = uni.predict(X_test)
    seen = np.concatenate([p[a] == t[a] for p, t, a in zip(predicted, y_test, after)])
    assert seen.mean() > 0.95


def test_outputs_have_each_sequences_length_and_classes():
    X, y = sign_task()
    tagger = small().fit(X, y)
    assert tagger.classes_.tolist() == ["down", "up"]
    predicted, proba = tagger.predict(X), tagger.predict_proba(X)
    log_proba = tagger.predict_log_proba(X)
    assert len(predicted) == len(proba) == len(X)
    for x, p, q, lq in zip(X, predicted, proba, log_proba):
        assert p.shape == (len(x),) and q.shape == (len(x), 2)
        np.testing.assert_allclose(q.sum(axis=1), 1.0, rtol=1e-12)
        np.testing.assert_allclose(np.exp(lq), q, rtol=1e-12)
        assert np.array_equal(p, tagger.classes_[q.argmax(axis=1)])
    # any grouping of the sequences gives the same numbers
    order = np.random.default_rng(0).permutation(len(X))
    again = tagger.predict_proba([X[i] for i in order])
    for k, i in enumerate(order):
        np.testing.assert_allclose(again[k], proba[i], rtol=1e-7, atol=1e-9)


def test_equal_length_arrays_are_read_as_sequences():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 6, 1))
    y = (np.cumsum(X[:, :, 0], axis=1) > 0).astype(int)  # (n, T) labels
    tagger = small().fit(X, y)
    assert [p.shape for p in tagger.predict(X[:3])] == [(6,)] * 3
    assert tagger.score(X, y) == frame_accuracy(list(y), tagger.predict(X))


def test_float32_in_float32_out():
    X, y = sign_task()
    tagger = small().fit([x.astype(np.float32) for x in X], y)
    assert tagger.output_coef_.dtype == np.float32
    assert tagger.predict_proba([X[0].astype(np.float32)])[0].dtype == np.float32


@pytest.mark.parametrize("bad, message", [
    (lambda y: [labels[:-1] for labels in y], "y\\[0\\] has 2 but X\\[0\\] has 3"),
    (lambda y: np.array([labels[0] for labels in y]), "one label per sequence"),
    (lambda y: ["up"] + y[1:], "y\\[0\\] is the single value 'up'"),
    (lambda y: [labels.reshape(-1, 1) for labels in y], "y\\[0\\] has shape"),
    (lambda y: y[:-1], "sequences but y has"),
    (lambda y: [np.zeros(len(labels)) if i == 1 else labels
                for i, labels in enumerate(y)], "mixes"),
    (lambda y: [np.full(len(labels), "up") for labels in y], "only 1 class"),
])
def test_bad_targets_are_refused_and_leave_the_model(bad, message):
    X = [np.zeros((n, 1)) + np.arange(n)[:, None] for n in (3, 4, 5)]
    y = [np.array(["up", "down", "up", "down", "up"][:n]) for n in (3, 4, 5)]
    tagger = small().fit(X, y)
    before = {k: v for k, v in vars(tagger).items()}
    with pytest.raises(ValueError, match=message):
        tagger.fit(X, bad(y))
    assert vars(tagger).keys() == before.keys()
    assert all(vars(tagger)[k] is v for k, v in before.items())


def test_ignored_steps_are_left_out_of_loss_and_score():
    X, y = sign_task()
    rng = np.random.default_rng(1)
    marked = [np.where(rng.random(len(labels)) < 0.3, "?", labels) for labels in y]
    tagger = small(ignore_label="?").fit(X, marked)
    assert tagger.classes_.tolist() == ["down", "up"]
    # the loss does not see the labels of ignored steps: any other label there
    # trains the same model, bit for bit
    relabelled = [np.where(m == "?", "?", labels) for m, labels in zip(marked, y)]
    same = small(ignore_label="?").fit(X, relabelled)
    np.testing.assert_array_equal(same.output_coef_, tagger.output_coef_)
    # score counts only labelled steps
    predicted = tagger.predict(X)
    keep = np.concatenate([m != "?" for m in marked])
    truth, guess = np.concatenate(marked)[keep], np.concatenate(predicted)[keep]
    assert tagger.score(X, marked) == pytest.approx(np.mean(truth == guess))
    with pytest.raises(ValueError, match="No step of y carries a label"):
        small(ignore_label="?").fit(X, [np.full(len(x), "?") for x in X])
    with pytest.raises(ValueError, match="contains ignore_label"):
        small(ignore_label="up").partial_fit(X, y, classes=["down", "up"])


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_loss_is_the_weighted_cross_entropy_of_the_labelled_steps(rng, eps):
    """The packed loss against the equations on padded arrays, in NumPy; with
    ``label_smoothing=eps``, against targets ``1 - eps + eps / K`` and
    ``eps / K``."""
    tagger = LSTMTagger(ignore_label=-1, class_weight={0: 2.0, 1: 1.0, 2: 0.25},
                        label_smoothing=eps)
    lengths = np.array([3, 5, 1, 4])
    y = [rng.integers(-1, 3, size=n) for n in lengths]
    y[1][:3] = [0, 1, 2]
    Y, n_classes = tagger._prepare_targets(tagger._target_array(y), first_call=True)
    weights = np.array([1.0, 0.5, 3.0, 2.0])
    logits = [rng.normal(size=(n, n_classes)) for n in lengths]
    network = tagger._network()
    from sklstm._network import StepOutputs
    from sklstm._packing import PackedPlan
    plan = PackedPlan(lengths)
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    rows = np.concatenate(logits)[plan.source_rows(starts)]
    loss, d_rows = tagger._loss(StepOutputs(plan, rows), Y, weights, lengths)
    assert network.head.per_step
    class_weight = np.array([2.0, 1.0, 0.25])
    num = den = 0.0
    for z, labels, w in zip(logits, y, weights):
        for t, label in enumerate(labels):
            if label < 0:
                continue
            log_p = z[t] - np.log(np.exp(z[t]).sum())
            target = np.full(n_classes, eps / n_classes)
            target[label] += 1 - eps
            num -= w * class_weight[label] * (target @ log_p)
            den += w * class_weight[label]
    assert loss == pytest.approx(num / den, rel=1e-12)
    # ignored steps get no gradient
    ignored = np.concatenate([labels < 0 for labels in y])[plan.source_rows(starts)]
    assert ignored.any() and not d_rows[ignored].any()


def test_balanced_class_weight_counts_steps():
    X, y = sign_task()
    tagger = small(class_weight="balanced")
    Y, _ = tagger._prepare_targets(tagger._target_array(y), first_call=True)
    every = np.concatenate(y)
    weights = np.concatenate([w for _, w in Y])
    for label in ("down", "up"):
        expected = every.size / (2 * np.sum(every == label))
        np.testing.assert_allclose(weights[every == label], expected)
    with pytest.raises(ValueError, match="not supported for partial_fit"):
        tagger.partial_fit(X, y, classes=["down", "up"])


def test_partial_fit_keeps_the_classes():
    X, y = sign_task()
    tagger = small()
    with pytest.raises(ValueError, match="classes must be passed"):
        tagger.partial_fit(X, y)
    tagger.partial_fit(X, y, classes=["down", "flat", "up"])
    assert tagger.classes_.tolist() == ["down", "flat", "up"]
    assert tagger.predict_proba(X[:1])[0].shape[1] == 3
    with pytest.raises(ValueError, match="not in classes_"):
        tagger.partial_fit(X, [np.full(len(x), "new") for x in X])


def test_zero_sample_weight_removes_a_sequence_from_the_loss():
    X, y = sign_task(n=8)
    flipped = [np.where(labels == "up", "down", "up") if i == 0 else labels
               for i, labels in enumerate(y)]
    weights = np.r_[0.0, np.ones(len(X) - 1)]
    a = small(batch_size=8, shuffle=False).fit(X, y, sample_weight=weights)
    b = small(batch_size=8, shuffle=False).fit(X, flipped, sample_weight=weights)
    np.testing.assert_array_equal(a.output_coef_, b.output_coef_)


def test_frame_accuracy():
    y_true = [np.array([0, 0, 1, 1]), np.array([1, 1])]
    y_pred = [np.array([0, 1, 1, 1]), np.array([0, 0])]
    assert frame_accuracy(y_true, y_pred) == 0.5
    assert frame_accuracy(y_true, y_pred, average="sequence") == 0.375
    assert frame_accuracy(y_true, y_pred, sample_weight=[1, 0]) == 0.75
    assert frame_accuracy(y_true, y_pred, average="sequence",
                          sample_weight=[3, 1]) == pytest.approx(0.5625)
    with_marks = [np.array([0, -1, 1, 1]), np.array([-1, -1])]
    assert frame_accuracy(with_marks, y_pred, ignore_label=-1) == 1.0
    assert frame_accuracy(with_marks, y_pred, ignore_label=-1,
                          average="sequence") == 1.0
    with pytest.raises(ValueError, match="average="):
        frame_accuracy(y_true, y_pred, average="macro")
    with pytest.raises(ValueError, match="one label per step"):
        frame_accuracy(y_true, [y_pred[0][:3], y_pred[1]])
    with pytest.raises(ValueError, match="sequences but y_pred"):
        frame_accuracy(y_true, y_pred[:1])


def test_pipeline_grid_search_and_cross_validation_with_the_frame_scorer():
    X, y = sign_task(n=30)
    X = [100 * x + 50 for x in X]  # raw units: the scaler is in the pipeline
    pipe = make_pipeline(SequenceScaler(), small(max_iter=3))
    scorer = make_scorer(frame_accuracy, average="sequence")
    scores = cross_val_score(pipe, X, y, cv=3, scoring=scorer)
    assert scores.shape == (3,) and np.all((0 <= scores) & (scores <= 1))
    search = GridSearchCV(pipe, {"lstmtagger__hidden_layer_sizes": [(3,), (6,)]},
                          cv=KFold(3), scoring=scorer).fit(X, y)
    assert len(search.cv_results_["mean_test_score"]) == 2
    assert len(search.predict(X[:2])) == 2
    # the default score is the frame accuracy
    default = cross_val_score(clone(pipe), X, y, cv=3)
    assert np.all((0 <= default) & (default <= 1))


@pytest.mark.parametrize("cell", [dict(cell="peephole"), dict(cell="gru"),
                                  dict(recurrent_input="cell"),
                                  dict(hidden_activation="identity")])
def test_every_cell_stacked_with_dropout(cell):
    X, y = sign_task()
    tagger = small(hidden_layer_sizes=(5, 4), dropout=0.2, **cell).fit(X, y)
    assert [p.shape for p in tagger.predict_proba(X[:2])] == [
        (len(X[0]), 2), (len(X[1]), 2)]


def test_early_stopping_keeps_the_best_epoch():
    X, y = sign_task(n=60)
    tagger = small(early_stopping=True, max_iter=8).fit(X, y)
    assert len(tagger.validation_scores_) == tagger.n_iter_
    assert tagger.best_validation_score_ == max(tagger.validation_scores_)


def test_weights_round_trip():
    X, y = sign_task()
    tagger = small(bidirectional=False).fit(X, y)
    same = LSTMTagger.from_weights(tagger.get_weights(), classes=tagger.classes_)
    for a, b in zip(tagger.predict_proba(X), same.predict_proba(X)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_the_per_step_page_examples_run():
    """docs/tagging.rst's examples are doctests of their own."""
    import doctest
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "tagging.rst"
    result = doctest.testfile(str(page), module_relative=False,
                              optionflags=doctest.ELLIPSIS)
    assert result.attempted > 5 and result.failed == 0


def test_nan_marks_unlabelled_steps_of_float_labels():
    X, y = sign_task()
    codes = [np.where(labels == "up", 1.0, 0.0) for labels in y]
    marked = [np.r_[np.nan, c[1:]] for c in codes]
    tagger = small(ignore_label=np.nan).fit(X, marked)
    assert tagger.classes_.tolist() == [0.0, 1.0]
    predicted = tagger.predict(X)
    expected = np.mean(np.concatenate([p[1:] == c[1:]
                                       for p, c in zip(predicted, codes)]))
    assert tagger.score(X, marked) == pytest.approx(expected)


def test_bad_inputs_are_refused_and_leave_the_model():
    X, y = sign_task()
    tagger = small().fit(X, y)
    before = dict(vars(tagger))
    bad = [x.copy() for x in X]
    bad[2][1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        tagger.fit(bad, y)
    with pytest.raises(ValueError, match="features"):
        tagger.predict([x[:, :1] for x in X])
    with pytest.raises(ValueError, match="at least one step|zero"):
        tagger.fit([np.zeros((0, 2))] + X[1:], [np.array([])] + y[1:])
    assert all(vars(tagger)[k] is v for k, v in before.items())
