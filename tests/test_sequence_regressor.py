"""LSTMSequenceRegressor: values per step — targets checked against lengths,
outputs of each sequence's length, the loss of the equations, targets scaled
inside and unscaled on the way out, R² over every step."""

import numpy as np
import pytest
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline

from sklstm import LSTMSequenceRegressor
from sklstm._network import StepOutputs
from sklstm._packing import PackedPlan
from sklstm.preprocessing import SequenceScaler

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")


def running_task(n=60, seed=0, two=False):
    """The running sum of the first feature at each step (and, with ``two``,
    ten times the second feature's running maximum)."""
    rng = np.random.default_rng(seed)
    X = [rng.normal(size=(int(rng.integers(4, 14)), 2)) for _ in range(n)]
    if not two:
        return X, [np.cumsum(x[:, 0]) for x in X]
    return X, [np.c_[np.cumsum(x[:, 0]), 10 * np.maximum.accumulate(x[:, 1])]
               for x in X]


def small(**kwargs):
    return LSTMSequenceRegressor(**{"hidden_layer_sizes": (8,), "max_iter": 5,
                                    "random_state": 0, **kwargs})


def test_learns_a_per_step_map():
    X, y = running_task(200, two=True)
    X_test, y_test = running_task(60, seed=1, two=True)
    reg = LSTMSequenceRegressor(hidden_layer_sizes=(16,), bidirectional=False,
                                max_iter=60, random_state=0).fit(X, y)
    assert reg.score(X_test, y_test) > 0.95
    # both outputs, though their scales differ tenfold
    pred = np.concatenate(reg.predict(X_test))
    truth = np.concatenate(y_test)
    assert r2_score(truth, pred, multioutput="raw_values").min() > 0.9


def test_outputs_have_each_sequences_length():
    X, y = running_task()
    reg = small().fit(X, y)
    assert [p.shape for p in reg.predict(X[:3])] == [(len(x),) for x in X[:3]]
    X, y = running_task(two=True)
    reg = small().fit(X, y)
    assert reg.n_outputs_ == 2
    assert [p.shape for p in reg.predict(X[:3])] == [(len(x), 2) for x in X[:3]]
    # 3-D targets of equal-length sequences
    rng = np.random.default_rng(0)
    X3 = rng.normal(size=(10, 5, 2))
    reg = small().fit(X3, np.cumsum(X3, axis=1))
    assert [p.shape for p in reg.predict(X3[:2])] == [(5, 2)] * 2


def test_targets_are_unscaled_on_the_way_out():
    """Trained on y and on 1000 y + 7, the predictions agree up to that map."""
    X, y = running_task(two=True)
    a = small().fit(X, y)
    b = small().fit(X, [1000 * t + 7 for t in y])
    np.testing.assert_allclose(b.target_mean_, 1000 * a.target_mean_ + 7, rtol=1e-12)
    for pa, pb in zip(a.predict(X), b.predict(X)):
        np.testing.assert_allclose(pb, 1000 * pa + 7, rtol=1e-6)


def test_loss_is_the_weighted_mean_squared_error_of_every_step(rng):
    reg = LSTMSequenceRegressor(scale_targets=False)
    lengths = np.array([3, 5, 1, 4])
    y = [rng.normal(size=(n, 2)) for n in lengths]
    Y, _ = reg._prepare_targets(reg._target_array(y), first_call=True)
    weights = np.array([1.0, 0.5, 3.0, 0.0])
    pred = [rng.normal(size=(n, 2)) for n in lengths]
    plan = PackedPlan(lengths)
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    rows = np.concatenate(pred)[plan.source_rows(starts)]
    loss, _ = reg._loss(StepOutputs(plan, rows), Y, weights, lengths)
    num = sum(w * 0.5 * np.mean((p - t) ** 2, axis=1).sum()
              for p, t, w in zip(pred, y, weights))
    den = sum(w * n for w, n in zip(weights, lengths))
    assert loss == pytest.approx(num / den, rel=1e-12)


@pytest.mark.parametrize("bad, message", [
    (lambda y: [t[:-1] for t in y], "y\\[0\\] has 3 but X\\[0\\] has 4"),
    (lambda y: np.array([t[0] for t in y]), "one target per sequence"),
    (lambda y: [np.c_[t, t] if i == 1 else t for i, t in enumerate(y)],
     "different numbers of outputs"),
    (lambda y: [np.full(len(t), np.nan) for t in y], "NaN"),
    (lambda y: [t.reshape(-1, 1, 1) for t in y], "y\\[0\\] has shape"),
])
def test_bad_targets_are_refused_and_leave_the_model(bad, message):
    X = [np.arange(n, dtype=float)[:, None] for n in (4, 5, 6)]
    y = [np.cumsum(x[:, 0]) for x in X]
    reg = small().fit(X, y)
    before = dict(vars(reg))
    with pytest.raises(ValueError, match=message):
        reg.fit(X, bad(y))
    assert all(vars(reg)[k] is v for k, v in before.items())
    assert vars(reg).keys() == before.keys()


def test_score_is_r2_over_every_step_with_sequence_weights():
    X, y = running_task()
    reg = small().fit(X, y)
    pred = reg.predict(X)
    assert reg.score(X, y) == pytest.approx(r2_score(np.concatenate(y),
                                                     np.concatenate(pred)))
    w = np.linspace(0.5, 2, len(X))
    expected = r2_score(np.concatenate(y), np.concatenate(pred),
                        sample_weight=np.repeat(w, [len(t) for t in y]))
    assert reg.score(X, y, sample_weight=w) == pytest.approx(expected)


def test_partial_fit_and_warm_start_continue():
    X, y = running_task(two=True)
    reg = small().partial_fit(X, y)
    reg.partial_fit(X, y)
    assert reg.n_iter_ == 2
    with pytest.raises(ValueError, match="outputs per step but the model has 2"):
        reg.partial_fit(X, [t[:, 0] for t in y])
    warm = small(warm_start=True, max_iter=2).fit(X, y)
    warm.fit(X, y)
    assert len(warm.loss_curve_) == 4


def test_pipeline_and_model_selection():
    X, y = running_task(n=30)
    X = [100 * x - 20 for x in X]
    pipe = make_pipeline(SequenceScaler(), small(max_iter=3))
    assert cross_val_score(pipe, X, y, cv=3).shape == (3,)
    search = GridSearchCV(pipe, {"lstmsequenceregressor__alpha": [1e-4, 1e-2]},
                          cv=3).fit(X, y)
    assert len(search.predict(X[:2])) == 2


def test_weights_round_trip():
    X, y = running_task(two=True)
    reg = small(cell="gru").fit(X, y)
    same = LSTMSequenceRegressor.from_weights(reg.get_weights())
    for a, b in zip(reg.predict(X), same.predict(X)):
        np.testing.assert_allclose(a, b, rtol=1e-10)
