"""Every cell in the estimators: layouts of the fitted weights, the options
that belong to the LSTM cells, persistence, and a change of cell."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklstm import CTCSequenceLabeler, LSTMClassifier, LSTMRegressor

H, D = 5, 3
LAYOUTS = {
    "lstm": [(4 * H, D), (4 * H, H), (4 * H,)],
    "peephole": [(4 * H, D), (4 * H, H), (4 * H,), (3, H)],
    "gru": [(3 * H, D), (3 * H, H), (3 * H,), (3 * H,)],
}


@pytest.fixture
def data(rng):
    X = [rng.normal(size=(int(n), D)) for n in rng.integers(3, 9, size=24)]
    y = np.array([int(x[:, 0].mean() > 0) for x in X])
    return X, y


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


@pytest.mark.parametrize("cell", list(LAYOUTS))
def test_fitted_weights_have_the_cells_layout(data, cell):
    X, y = data
    clf = _fit(LSTMClassifier(H, cell=cell, max_iter=3, random_state=0), X, y)
    for direction in clf.recurrent_params_[0]:
        assert [a.shape for a in direction] == LAYOUTS[cell]
    if cell == "peephole":  # peepholes start at zero and then learn
        assert np.any(clf.recurrent_params_[0][0][3] != 0)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


def test_cell_input_takes_three_recurrent_blocks(data):
    X, y = data
    reg = _fit(LSTMRegressor(H, recurrent_input="cell", max_iter=2, random_state=0),
               X, y.astype(float))
    assert reg.recurrent_params_[0][0][1].shape == (3 * H, H)


def test_a_peephole_model_starts_as_the_plain_one(data):
    X, y = data
    plain = LSTMClassifier(H, max_iter=1, random_state=0)
    peep = LSTMClassifier(H, cell="peephole", max_iter=1, random_state=0)
    net_plain, net_peep = plain._network(), peep._network()
    a = net_plain.init(np.random.RandomState(0), D, 2, np.float64)
    b = net_peep.init(np.random.RandomState(0), D, 2, np.float64)
    from sklstm._sequences import Sequences
    seqs = Sequences(np.concatenate(X), [len(x) for x in X])
    idx = np.arange(len(X))
    np.testing.assert_array_equal(plain._outputs(net_plain, a, seqs, idx),
                                  peep._outputs(net_peep, b, seqs, idx))


@pytest.mark.parametrize("Estimator", [LSTMClassifier, LSTMRegressor,
                                       CTCSequenceLabeler])
@pytest.mark.parametrize("option", [{"hidden_activation": "identity"},
                                    {"recurrent_input": "cell"}])
def test_lstm_options_with_the_gru_are_refused(data, Estimator, option):
    X, y = data
    if Estimator is CTCSequenceLabeler:
        y = [[int(v)] for v in y]
    est = Estimator(H, cell="gru", **option)
    name = next(iter(option))
    with pytest.raises(ValueError, match=f"{name}=.*cell='gru' has no such option"):
        est.fit(X, y)
    assert not hasattr(est, "recurrent_params_")


def test_changing_the_cell_on_warm_start_is_refused(data):
    X, y = data
    clf = _fit(LSTMClassifier(H, max_iter=1, warm_start=True, random_state=0), X, y)
    before = [a.copy() for d in clf.recurrent_params_[0] for a in d]
    clf.set_params(cell="gru")
    with pytest.raises(ValueError, match="keep the architecture"):
        clf.fit(X, y)
    after = [a for d in clf.recurrent_params_[0] for a in d]
    assert all(np.array_equal(p, q) for p, q in zip(before, after))
