"""The estimators' whole-network gradient (layers, pooling, dropout, head,
every cell) against central finite differences of their own loss, in float64."""

import numpy as np
import pytest

from sklstm import (
    CTCSequenceLabeler,
    LSTMClassifier,
    LSTMRegressor,
    LSTMSequenceRegressor,
    LSTMTagger,
)
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
CELLS = {
    "lstm": dict(cell="lstm"),
    "peephole": dict(cell="peephole"),
    "peephole-identity": dict(cell="peephole", hidden_activation="identity"),
    "cell-input": dict(cell="lstm", recurrent_input="cell"),
    "peephole-cell-input-identity": dict(cell="peephole", recurrent_input="cell",
                                         hidden_activation="identity"),
    "gru": dict(cell="gru"),
}


def _check_gradient(flat, loss, grads):
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
        # central differences of a loss near 1 carry ~1e-10 of rounding: the
        # floor keeps tiny gradients (deep layers) from measuring only that
        scale = max(np.abs(numeric).max(), 1e-3)
        assert np.abs(grad - numeric).max() / scale < 1e-6, k


def _random_peepholes(est, flat, rng):
    """Peepholes start at zero; give them values so that their paths count."""
    if est.cell == "peephole":
        for k, a in enumerate(flat):
            if a.ndim == 2 and a.shape[0] == 3:
                flat[k] = rng.normal(scale=0.5, size=a.shape)
    return flat


@pytest.mark.parametrize("cell", list(CELLS), ids=list(CELLS))
@pytest.mark.parametrize("Estimator", [LSTMClassifier, LSTMRegressor])
@pytest.mark.parametrize("config", list(CONFIGS), ids=list(CONFIGS))
def test_network_gradient_matches_finite_differences(rng, Estimator, config, cell):
    if cell != "lstm" and config in ("one-layer-last", "two-layers-dropout"):
        pytest.skip("each cell runs on the bidirectional and stacked configurations")
    est = Estimator(**CONFIGS[config], **CELLS[cell])
    lengths = [4, 2, 5, 1, 3]
    seqs = Sequences(rng.normal(size=(sum(lengths), 2)), lengths)
    n_outputs = 3
    network = est._network()
    flat = _random_peepholes(est, network.init(np.random.RandomState(0), 2,
                                               n_outputs, np.float64), rng)
    if Estimator is LSTMClassifier:
        Y = np.array([0, 2, 1, 1, 0])
    else:
        Y = rng.normal(size=(5, n_outputs))
    weights = np.array([1.0, 0.5, 2.0, 1.0, 0.0])
    lens = seqs.lengths
    plan, X = network.pack(seqs, np.arange(5))

    def loss(flat):
        # the same dropout mask at every evaluation: a fresh, equal seed
        outputs, _ = network.forward(flat, plan, X, np.random.RandomState(1))
        return est._loss(outputs, Y, weights, lens)[0]

    outputs, memory = network.forward(flat, plan, X, np.random.RandomState(1))
    _, d_outputs = est._loss(outputs, Y, weights, lens)
    _check_gradient(flat, loss, network.backward(flat, memory, d_outputs))


@pytest.mark.parametrize("cell", list(CELLS), ids=list(CELLS))
def test_ctc_network_gradient_matches_finite_differences(rng, cell):
    est = CTCSequenceLabeler(hidden_layer_sizes=(3, 2), **CELLS[cell])
    lengths = [6, 3, 5]
    seqs = Sequences(rng.normal(size=(sum(lengths), 2)), lengths)
    network = est._network()
    flat = _random_peepholes(est, network.init(np.random.RandomState(0), 2, 3,
                                               np.float64), rng)
    Y = [np.array([1, 2]), np.array([2]), np.array([1, 1])]
    weights = np.ones(3)
    lens = seqs.lengths
    plan, X = network.pack(seqs, np.arange(3))

    def loss(flat):
        return est._loss(network.forward(flat, plan, X), Y, weights, lens)[0]

    outputs, memory = network.forward(flat, plan, X, np.random.RandomState(1))
    _, d_outputs = est._loss(outputs, Y, weights, lens)
    _check_gradient(flat, loss, network.backward(flat, memory, d_outputs))


@pytest.mark.parametrize("cell", list(CELLS), ids=list(CELLS))
@pytest.mark.parametrize("Estimator", [LSTMTagger, LSTMSequenceRegressor])
def test_per_step_network_gradient_matches_finite_differences(rng, Estimator, cell):
    """The per-step heads: a loss on every step, some steps ignored, classes
    and sequences weighted, both directions and two layers."""
    kwargs = dict(ignore_label=-1, class_weight={0: 1.0, 1: 3.0, 2: 0.5}) \
        if Estimator is LSTMTagger else {}
    est = Estimator(hidden_layer_sizes=(3, 2), **CELLS[cell], **kwargs)
    lengths = np.array([4, 2, 5, 1, 3])
    seqs = Sequences(rng.normal(size=(lengths.sum(), 2)), lengths)
    if Estimator is LSTMTagger:
        y = [rng.integers(-1, 3, size=n) for n in lengths]
        y[0][:3] = [0, 1, 2]  # every class is seen
    else:
        y = [rng.normal(size=(n, 3)) for n in lengths]
    Y, n_outputs = est._prepare_targets(est._target_array(y), first_call=True)
    network = est._network()
    flat = _random_peepholes(est, network.init(np.random.RandomState(0), 2,
                                               n_outputs, np.float64), rng)
    weights = np.array([1.0, 0.5, 2.0, 1.0, 0.0])
    # a minibatch in another order than the data's
    idx = np.array([2, 0, 4, 1, 3])
    plan, X = network.pack(seqs, idx)

    def loss(flat):
        return est._loss(network.forward(flat, plan, X), Y[idx], weights[idx],
                         lengths[idx])[0]

    outputs, memory = network.forward(flat, plan, X, np.random.RandomState(1))
    _, d_outputs = est._loss(outputs, Y[idx], weights[idx], lengths[idx])
    _check_gradient(flat, loss, network.backward(flat, memory, d_outputs))
