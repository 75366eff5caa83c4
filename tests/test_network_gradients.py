"""The estimators' whole-network gradient (layers, pooling, dropout, head)
against central finite differences of their own loss, in float64."""

import numpy as np
import pytest

from sklstm import LSTMClassifier, LSTMRegressor
from sklstm._sequences import Sequences

CONFIGS = {
    "one-layer-last": dict(hidden_layer_sizes=(3,)),
    "two-layers-mean-bidirectional": dict(hidden_layer_sizes=(3, 2), pooling="mean",
                                          bidirectional=True),
    "max-bidirectional": dict(hidden_layer_sizes=(4,), pooling="max",
                              bidirectional=True),
    "two-layers-dropout": dict(hidden_layer_sizes=(3, 3), dropout=0.4),
    "three-layers-last-bidirectional": dict(hidden_layer_sizes=(2, 3, 2),
                                            bidirectional=True),
}


@pytest.mark.parametrize("Estimator", [LSTMClassifier, LSTMRegressor])
@pytest.mark.parametrize("config", list(CONFIGS), ids=list(CONFIGS))
def test_network_gradient_matches_finite_differences(rng, Estimator, config):
    est = Estimator(**CONFIGS[config])
    lengths = [4, 2, 5, 1, 3]
    seqs = Sequences(rng.normal(size=(sum(lengths), 2)), lengths)
    n_outputs = 3
    recurrent, coef, intercept = est._initial_params(2, n_outputs, np.float64,
                                                     np.random.RandomState(0))
    flat = est._flatten(recurrent, coef, intercept)
    if Estimator is LSTMClassifier:
        Y = np.array([0, 2, 1, 1, 0])
    else:
        Y = rng.normal(size=(5, n_outputs))
    weights = np.array([1.0, 0.5, 2.0, 1.0, 0.0])
    batch, lens = seqs.batch(range(5)), seqs.lengths

    def loss(flat):
        # the same dropout mask at every evaluation: a fresh, equal seed
        logits, _ = est._forward(flat, batch, lens, np.random.RandomState(1))
        return est._loss(logits, Y, weights, lens)[0]

    logits, memory = est._forward(flat, batch, lens, np.random.RandomState(1))
    _, d_logits = est._loss(logits, Y, weights, lens)
    grads = est._backward(flat, memory, d_logits, lens)
    assert len(grads) == len(flat)
    eps = 1e-6
    for k, (param, grad) in enumerate(zip(flat, grads)):
        assert grad.shape == param.shape
        numeric = np.zeros_like(param)
        for idx in np.ndindex(param.shape):
            saved = param[idx]
            param[idx] = saved + eps
            up = loss(flat)
            param[idx] = saved - eps
            down = loss(flat)
            param[idx] = saved
            numeric[idx] = (up - down) / (2 * eps)
        scale = max(np.abs(numeric).max(), 1e-12)
        assert np.abs(grad - numeric).max() / scale < 1e-6, k
