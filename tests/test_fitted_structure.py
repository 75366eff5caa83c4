"""A fitted model predicts from the structure recorded at fit, whatever the
parameters say since; training on from its weights requires that structure."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklstm import CTCSequenceLabeler, LSTMClassifier, LSTMRegressor


def quiet(call, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return call(*args)


def fitted_state(est):
    return {key: pickle.dumps(value) for key, value in vars(est).items()
            if key.endswith("_") or key.startswith("_")}


@pytest.fixture
def data(rng):
    X = [rng.normal(size=(int(rng.integers(3, 15)), 2)) for _ in range(30)]
    y = np.array([int(x[:, 0].sum() > 0) for x in X])
    return X, y


CHANGES = [
    {"bidirectional": True},
    {"hidden_layer_sizes": (4, 3)},
    {"pooling": "max"},
    {"cell": "gru"},
    {"cell": "peephole"},
    {"hidden_activation": "identity"},
    {"recurrent_input": "cell"},
    {"bidirectional": True, "hidden_layer_sizes": (4, 4), "pooling": "mean",
     "cell": "gru"},
]


def fitted(cls, X, y, **params):
    est = cls(hidden_layer_sizes=(4,), bidirectional=False, max_iter=3,
              random_state=0, **params)
    return quiet(est.fit, X, y)


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: ",".join(c))
@pytest.mark.parametrize("cls", [LSTMClassifier, LSTMRegressor])
def test_pooled_estimators_predict_from_the_fitted_structure(data, cls, change):
    X, y = data
    est = fitted(cls, X, y, pooling="last")
    calls = ["predict"] + (["predict_proba", "predict_log_proba"]
                           if cls is LSTMClassifier else [])
    before = {name: getattr(est, name)(X) for name in calls}
    score = est.score(X, y)
    est.set_params(**change)
    for name in calls:
        np.testing.assert_array_equal(getattr(est, name)(X), before[name])
    assert est.score(X, y) == score
    assert est.get_params()["pooling"] == change.get("pooling", "last")


@pytest.mark.parametrize("change", [c for c in CHANGES if "pooling" not in c],
                         ids=lambda c: ",".join(c))
def test_labeler_predicts_from_the_fitted_structure(data, change):
    X, y = data
    labels = ["ab"[t] + "ba"[int(x[-1, 1] > 0)] for x, t in zip(X, y)]
    est = fitted(CTCSequenceLabeler, X, labels)
    decoded, proba = est.predict(X), est.predict_proba(X)
    score = est.score(X, labels)
    est.set_params(**change)
    assert est.predict(X) == decoded
    for p, q in zip(est.predict_proba(X), proba):
        np.testing.assert_array_equal(p, q)
    assert est.score(X, labels) == score


@pytest.mark.parametrize("change", CHANGES[:4] + CHANGES[5:7],
                         ids=lambda c: ",".join(c))
@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
def test_training_on_with_a_changed_structure_names_the_parameter(data, change, how):
    X, y = data
    est = fitted(LSTMClassifier, X, y, pooling="last")
    before = fitted_state(est)
    est.set_params(**change)
    name = next(iter(change))
    with pytest.raises(ValueError, match=f"{name}=.*fitted with.*keep the architec"):
        if how == "partial_fit":
            est.partial_fit(X, y)
        else:
            est.set_params(warm_start=True).fit(X, y)
    assert fitted_state(est) == before
    # the fitted value back: training goes on from the fitted weights
    est.set_params(**{key: LSTMClassifier(hidden_layer_sizes=(4,), bidirectional=False,
                                          pooling="last").get_params()[key]
                      for key in change})
    est.partial_fit(X, y)
    assert est.n_iter_ == 4


def test_a_fresh_fit_records_the_new_structure(data):
    X, y = data
    est = fitted(LSTMClassifier, X, y, pooling="last")
    est.set_params(bidirectional=True, hidden_layer_sizes=(3, 5), pooling="max")
    quiet(est.fit, X, y)
    assert [len(layer) for layer in est.recurrent_params_] == [2, 2]
    assert est.output_coef_.shape == (2, 10)
    fresh = quiet(LSTMClassifier(hidden_layer_sizes=(3, 5), bidirectional=True,
                                 pooling="max", max_iter=3, random_state=0).fit, X, y)
    np.testing.assert_array_equal(est.predict_proba(X), fresh.predict_proba(X))
