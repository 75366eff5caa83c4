"""Weights in and out: ``get_weights`` names a fitted network as a PyTorch
``state_dict`` and ``from_weights`` builds a fitted estimator from one.

The tests at the top need no torch: round trips, names, shapes, dtypes,
errors, and what a model built from weights can do. Those at the bottom
(``pytest.importorskip("torch")``) write the module of ``docs/torch.rst`` in
torch and compare outputs both ways.
"""

import pickle
import re

import numpy as np
import pytest
from sklearn.utils.validation import check_is_fitted

from sklstm import (
    CTCSequenceLabeler,
    LSTMClassifier,
    LSTMRegressor,
    LSTMSequenceRegressor,
    LSTMTagger,
)
from sklstm._export import frame
from sklstm.datasets import make_digit_strings

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

KINDS = ["classifier", "regressor", "ctc"]
CELLS = ["lstm", "gru"]
TOL = 1e-6  # the bound; float64 models agree to about 1e-14


def make_problem(kind, n=24, seed=0):
    """``(estimator class, X, y, head keywords of from_weights)``: inputs far
    from standardised (mean 3, scale 5) and, for the regressor, targets too
    (mean 10, scale 4), so that the folded scalings matter."""
    if kind == "ctc":
        X, y = make_digit_strings(n, max_digits=2, random_state=seed)
        X = [3 + 5 * x for x in X]
        return CTCSequenceLabeler, X, y, {}
    rng = np.random.default_rng(seed)
    X = [3 + 5 * rng.normal(size=(int(rng.integers(3, 10)), 2)) for _ in range(n)]
    if kind == "classifier":
        y = np.array(["a", "b", "c"])[[int(x[:, 0].mean() > 3) + int(x[0, 1] > 3)
                                       for x in X]]
        return LSTMClassifier, X, y, {}
    y = np.array([10 + 4 * (x[:, 0].mean() - 3) / 5 for x in X])
    return LSTMRegressor, X, y, {}


def fitted(kind, **params):
    cls, X, y, _ = make_problem(kind)
    base = dict(hidden_layer_sizes=(6, 4), max_iter=2, random_state=0)
    if kind != "ctc":
        base["steps_per_frame"] = 1
    return cls(**{**base, **params}).fit(X, y), X, y


def head_keywords(est):
    """What from_weights needs besides the weights to rebuild ``est``."""
    if isinstance(est, LSTMRegressor):
        return {"n_outputs": est.n_outputs_, "pooling": est.pooling}
    if isinstance(est, LSTMClassifier):
        return {"classes": est.classes_, "pooling": est.pooling}
    return {"classes": est.classes_}


def outputs(est, X):
    """The estimator's numbers: probabilities, predictions, or per-frame
    probabilities of every sequence stacked."""
    if isinstance(est, LSTMClassifier):
        return est.predict_proba(X)
    if isinstance(est, CTCSequenceLabeler):
        return np.concatenate(est.predict_proba(X))
    return est.predict(X)


def padded(X, dtype=np.float64):
    """Ragged ``X`` as ``(padded (B, T, F), lengths)``, zeros past each length."""
    lengths = np.array([len(x) for x in X])
    out = np.zeros((len(X), lengths.max(), X[0].shape[1]), dtype=dtype)
    for b, x in enumerate(X):
        out[b, : len(x)] = x
    return out, lengths


# --- get_weights ------------------------------------------------------------------


def test_names_shapes_and_copies():
    est, X, _ = fitted("classifier", bidirectional=True)
    weights = est.get_weights()
    names = [f"layers.{k}.{kind}_l0{rev}" for k in range(2) for rev in ("", "_reverse")
             for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    assert list(weights) == names + ["head.weight", "head.bias"]
    assert weights["layers.0.weight_ih_l0"].shape == (24, 2)
    assert weights["layers.1.weight_ih_l0_reverse"].shape == (16, 12)
    assert weights["layers.1.weight_hh_l0"].shape == (16, 4)
    assert weights["head.weight"].shape == (3, 8)
    # the LSTM's one bias travels as bias_ih; PyTorch adds bias_hh to it
    np.testing.assert_array_equal(weights["layers.1.bias_hh_l0"], 0)
    np.testing.assert_array_equal(weights["layers.1.bias_ih_l0"],
                                  est.recurrent_params_[1][0][2])
    for a in weights.values():
        assert a.flags.c_contiguous and a.flags.writeable and a.dtype == np.float64
        a[...] = 0  # new arrays: the estimator is untouched
    assert np.isfinite(est.predict_proba(X)).all()
    assert not np.array_equal(est.get_weights()["head.weight"], 0)


def test_float32_model_gives_float32_weights():
    cls, X, y, _ = make_problem("classifier")
    est = cls(hidden_layer_sizes=(4,), max_iter=1, random_state=0).fit(
        [x.astype(np.float32) for x in X], y)
    assert {a.dtype for a in est.get_weights().values()} == {np.dtype(np.float32)}


def test_gru_keeps_both_biases():
    est, _, _ = fitted("regressor", cell="gru", hidden_layer_sizes=(4,),
                       scale_inputs=False)
    weights = est.get_weights()
    W, U, b_ih, b_hh = est.recurrent_params_[0][0]
    np.testing.assert_array_equal(weights["layers.0.bias_ih_l0"], b_ih)
    np.testing.assert_array_equal(weights["layers.0.bias_hh_l0"], b_hh)
    assert weights["layers.0.weight_hh_l0"].shape == (12, 4)


@pytest.mark.parametrize("params, named", [
    (dict(cell="peephole"), "cell='peephole': torch.nn.LSTM has no peephole"),
    (dict(hidden_activation="identity"), "hidden_activation='identity'"),
    (dict(recurrent_input="cell"), "recurrent_input='cell'"),
])
def test_cells_without_a_torch_layer_are_refused(params, named):
    est, _, _ = fitted("classifier", hidden_layer_sizes=(3,), **params)
    with pytest.raises(ValueError, match=re.escape(named)) as info:
        est.get_weights()
    assert "sklstm.onnx.to_onnx" in str(info.value)
    assert "pickle" in str(info.value)


def test_unfitted_raises_not_fitted():
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        LSTMClassifier().get_weights()


# --- round trips without torch -----------------------------------------------------


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_predicts_the_same(kind, cell, bidirectional):
    est, X, _ = fitted(kind, cell=cell, bidirectional=bidirectional)
    back = type(est).from_weights(est.get_weights(), **head_keywords(est))
    assert back.hidden_layer_sizes == (6, 4)
    assert back.bidirectional is bidirectional and back.cell == cell
    np.testing.assert_allclose(outputs(back, X), outputs(est, X), rtol=0, atol=TOL)
    if kind != "regressor":
        assert list(back.predict(X)) == list(est.predict(X))
    assert np.abs(outputs(back, X) - outputs(est, X)).max() < 1e-12


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_round_trip_with_frames_through_the_frame_transform(kind):
    """steps_per_frame_ > 1: the weights read frames of the raw steps, the
    last frame padded with input_mean_ (the recipe's transform)."""
    est, X, _ = fitted(kind, steps_per_frame=3, pooling="mean")
    weights = est.get_weights()
    assert weights["layers.0.weight_ih_l0"].shape[1] == 3 * 2
    back = type(est).from_weights(weights, **head_keywords(est))
    assert back.steps_per_frame_ == 1 and back.n_features_in_ == 6
    data, lengths = padded(X)
    frames, frame_lengths = frame(data, lengths, est.steps_per_frame_, est.input_mean_)
    framed = [f[:n] for f, n in zip(frames, frame_lengths)]
    np.testing.assert_allclose(outputs(back, framed), outputs(est, X), rtol=0,
                               atol=TOL)


def test_steps_per_frame_param_reads_raw_steps():
    """With from_weights(steps_per_frame=k) the model frames raw steps itself,
    padding with zeros: the fitted model's padding when its input mean is 0."""
    est, X, _ = fitted("classifier", steps_per_frame=2, scale_inputs=False)
    back = LSTMClassifier.from_weights(est.get_weights(), steps_per_frame=2,
                                       **head_keywords(est))
    assert back.steps_per_frame_ == 2 and back.n_features_in_ == 2
    np.testing.assert_allclose(back.predict_proba(X), est.predict_proba(X), rtol=0,
                               atol=TOL)
    with pytest.raises(ValueError, match=r"steps_per_frame=3, but the first layer "
                       r"reads 4 inputs, not a multiple of 3"):
        LSTMClassifier.from_weights(est.get_weights(), steps_per_frame=3,
                                    **head_keywords(est))


def stacked_names(weights, prefix):
    """``layers.{k}.weight_ih_l0`` renamed as one multi-layer module's
    ``{prefix}weight_ih_l{k}``."""
    out = {}
    for name, a in weights.items():
        m = re.fullmatch(r"layers\.(\d+)\.(\w+)_l0(_reverse)?", name)
        out[name if m is None else f"{prefix}{m[2]}_l{m[1]}{m[3] or ''}"] = a
    return out


@pytest.mark.parametrize("prefix", ["lstm.", "rnn.", ""])
def test_multi_layer_module_names(prefix):
    est, X, _ = fitted("classifier", hidden_layer_sizes=(5, 5), bidirectional=True)
    weights = stacked_names(est.get_weights(), prefix)
    assert f"{prefix}weight_ih_l1_reverse" in weights
    back = LSTMClassifier.from_weights(weights, **head_keywords(est))
    assert back.hidden_layer_sizes == (5, 5)
    np.testing.assert_allclose(back.predict_proba(X), est.predict_proba(X), rtol=0,
                               atol=TOL)


def test_dtypes_kept_or_read_as_float64():
    est, X, _ = fitted("regressor", hidden_layer_sizes=(4,))
    weights = est.get_weights()
    as32 = LSTMRegressor.from_weights(
        {k: v.astype(np.float32) for k, v in weights.items()})
    assert as32.output_coef_.dtype == np.float32
    assert all(a.dtype == np.float32 for d in as32.recurrent_params_[0] for a in d)
    mixed = dict(weights, **{"head.bias": weights["head.bias"].astype(np.float32)})
    assert LSTMRegressor.from_weights(mixed).output_coef_.dtype == np.float64
    ints = {k: np.round(v * 4).astype(np.int16) for k, v in weights.items()}
    assert LSTMRegressor.from_weights(ints).output_coef_.dtype == np.float64
    # lists are read like arrays
    listed = {k: v.tolist() for k, v in weights.items()}
    back = LSTMRegressor.from_weights(listed, pooling=est.pooling)
    np.testing.assert_array_equal(back.output_coef_, weights["head.weight"])


def test_npz_file_is_read_directly(tmp_path):
    est, X, _ = fitted("ctc", hidden_layer_sizes=(4,))
    np.savez(tmp_path / "w.npz", **est.get_weights())
    with np.load(tmp_path / "w.npz", allow_pickle=False) as weights:
        back = CTCSequenceLabeler.from_weights(weights, classes=est.classes_)
    assert back.predict(X[:5]) == est.predict(X[:5])


# --- the head's labels --------------------------------------------------------------


def test_classifier_rows_follow_classes_in_any_order():
    est, X, _ = fitted("classifier", hidden_layer_sizes=(4,))
    weights = est.get_weights()
    order = [2, 0, 1]  # the head's rows are c, a, b
    shuffled = dict(weights, **{"head.weight": weights["head.weight"][order],
                                "head.bias": weights["head.bias"][order]})
    back = LSTMClassifier.from_weights(shuffled, classes=["c", "a", "b"],
                                       pooling=est.pooling)
    assert back.classes_.tolist() == ["a", "b", "c"]
    np.testing.assert_allclose(back.predict_proba(X), est.predict_proba(X), rtol=0,
                               atol=TOL)
    np.testing.assert_array_equal(back.get_weights()["head.weight"],
                                  weights["head.weight"])


def test_binary_classifier_head_has_two_rows():
    cls, X, y, _ = make_problem("classifier")
    y = np.where(y == "a", "a", "z")
    est = cls(hidden_layer_sizes=(3,), max_iter=1, random_state=0).fit(X, y)
    weights = est.get_weights()
    assert weights["head.weight"].shape == (2, 6)
    back = LSTMClassifier.from_weights(weights, classes=["a", "z"],
                                       pooling=est.pooling)
    np.testing.assert_allclose(back.predict_proba(X), est.predict_proba(X), rtol=0,
                               atol=TOL)


def test_ctc_rows_after_the_blank_follow_classes():
    est, X, _ = fitted("ctc", hidden_layer_sizes=(4,))
    weights = est.get_weights()
    labels = est.classes_.tolist()[::-1]
    rows = [0] + list(range(len(labels), 0, -1))  # blank first, labels reversed
    reversed_head = dict(weights, **{"head.weight": weights["head.weight"][rows],
                                     "head.bias": weights["head.bias"][rows]})
    back = CTCSequenceLabeler.from_weights(reversed_head, classes="".join(labels))
    assert back.classes_.tolist() == est.classes_.tolist()
    assert back.predict(X) == est.predict(X)  # strings, as the fitted model's
    np.testing.assert_allclose(outputs(back, X), outputs(est, X), rtol=0, atol=TOL)
    as_ints = CTCSequenceLabeler.from_weights(weights,
                                              classes=range(1, len(labels) + 1))
    assert all(isinstance(p, list) for p in as_ints.predict(X[:3]))


# --- what a model built from weights can do ----------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_from_weights_model_is_fitted_predicts_persists_and_trains_on(kind):
    est, X, y = fitted(kind)
    kw = {"classes": est.classes_} if kind == "classifier" else {}
    back = type(est).from_weights(est.get_weights(), random_state=0,
                                  **head_keywords(est))
    check_is_fitted(back)
    assert back.n_iter_ == 0 and back.t_ == 0 and back.loss_curve_ == []
    assert back._optimizer_state is None and back._input_kind == "sequences"
    np.testing.assert_array_equal(back.input_mean_, 0)
    np.testing.assert_array_equal(back.input_scale_, 1)
    if kind == "regressor":
        assert back.target_mean_.tolist() == [0] and back.target_scale_.tolist() == [1]
        assert back.predict(X).ndim == 1
    expected = outputs(est, X)
    loaded = pickle.loads(pickle.dumps(back))
    np.testing.assert_array_equal(outputs(loaded, X), outputs(back, X))

    # partial_fit: a fresh optimizer, then the stored one; the same as a
    # second model built alike
    twin = pickle.loads(pickle.dumps(back))
    for model in (back, twin):
        model.partial_fit(X, y, **kw)
        model.partial_fit(X, y, **kw)
    assert back.n_iter_ == 2 and back.t_ == 2 * len(X)
    assert back._optimizer_state is not None
    np.testing.assert_array_equal(outputs(back, X), outputs(twin, X))
    assert not np.allclose(outputs(back, X), expected, rtol=0, atol=1e-9)

    # warm_start fit continues from the weights, as fitted (identity input map)
    warm = type(est).from_weights(est.get_weights(), warm_start=True, max_iter=2,
                                  random_state=0, **head_keywords(est)).fit(X, y)
    assert warm.n_iter_ == 2
    np.testing.assert_array_equal(warm.input_mean_, 0)
    assert np.isfinite(outputs(warm, X)).all()


def test_from_weights_model_round_trips_through_skops():
    sio = pytest.importorskip("skops.io")
    est, X, _ = fitted("classifier", hidden_layer_sizes=(3,))
    back = LSTMClassifier.from_weights(est.get_weights(), **head_keywords(est))
    data = sio.dumps(back)
    untrusted = sio.get_untrusted_types(data=data)
    assert all(t.startswith("sklstm.") for t in untrusted), untrusted
    loaded = sio.loads(data, trusted=untrusted)
    np.testing.assert_array_equal(loaded.predict_proba(X), back.predict_proba(X))


def test_training_parameters_are_set_as_given():
    est, _, _ = fitted("classifier", hidden_layer_sizes=(3,))
    back = LSTMClassifier.from_weights(est.get_weights(), classes=est.classes_,
                                       pooling="mean", solver="sgd", alpha=0.5,
                                       hidden_layer_sizes=[3], bidirectional=True)
    assert (back.pooling, back.solver, back.alpha) == ("mean", "sgd", 0.5)
    assert back.hidden_layer_sizes == (3,)


# --- errors ---------------------------------------------------------------------


def lstm_weights(sizes=(4,), n_features=2, n_outputs=3, reverse=False, seed=0):
    rng = np.random.default_rng(seed)
    weights, n_in = {}, n_features
    for k, H in enumerate(sizes):
        for suffix in ("", "_reverse") if reverse else ("",):
            weights[f"layers.{k}.weight_ih_l0{suffix}"] = rng.normal(size=(4 * H, n_in))
            weights[f"layers.{k}.weight_hh_l0{suffix}"] = rng.normal(size=(4 * H, H))
            weights[f"layers.{k}.bias_ih_l0{suffix}"] = rng.normal(size=4 * H)
            weights[f"layers.{k}.bias_hh_l0{suffix}"] = rng.normal(size=4 * H)
        n_in = H * (2 if reverse else 1)
    weights["head.weight"] = rng.normal(size=(n_outputs, n_in))
    weights["head.bias"] = rng.normal(size=n_outputs)
    return weights


def test_lstm_biases_are_summed():
    weights = lstm_weights()
    est = LSTMRegressor.from_weights(weights)
    np.testing.assert_array_equal(
        est.recurrent_params_[0][0][2],
        weights["layers.0.bias_ih_l0"] + weights["layers.0.bias_hh_l0"])


def test_unknown_names_are_listed():
    weights = lstm_weights()
    weights["fc.weight"] = weights.pop("head.weight")
    weights["layers.0.weight_hr_l0"] = np.ones((4, 4))
    with pytest.raises(ValueError, match=r"'fc\.weight', 'layers\.0\.weight_hr_l0' "
                       r"\(weight_hr_l\{k\} is the projection of an nn\.LSTM with "
                       r"proj_size > 0.*rename these entries or drop them"):
        LSTMRegressor.from_weights(weights)


def test_missing_names_are_listed():
    weights = lstm_weights(sizes=(4, 3), reverse=True)
    del weights["layers.1.bias_hh_l0_reverse"], weights["head.bias"]
    with pytest.raises(ValueError, match=r"lacks 'layers\.1\.bias_hh_l0_reverse', "
                       r"'head\.bias'"):
        LSTMRegressor.from_weights(weights)
    weights = lstm_weights(sizes=(4, 3))
    for name in list(weights):
        if name.startswith("layers.0."):
            del weights[name]
    with pytest.raises(ValueError, match=r"lacks 'layers\.0\.weight_ih_l0', "):
        LSTMRegressor.from_weights(weights)


def test_mixed_namings_are_refused():
    weights = lstm_weights(sizes=(4, 4))
    weights["lstm.weight_ih_l1"] = weights.pop("layers.1.weight_ih_l0")
    with pytest.raises(ValueError, match="mixes namings"):
        LSTMRegressor.from_weights(weights)
    stacked = stacked_names(lstm_weights(sizes=(4, 4)), "lstm.")
    stacked["rnn.weight_hh_l1"] = stacked.pop("lstm.weight_hh_l1")
    with pytest.raises(ValueError, match="mixes namings"):
        LSTMRegressor.from_weights(stacked)


@pytest.mark.parametrize("name, shape, match", [
    ("layers.1.weight_ih_l0", (16, 5),
     r"'layers\.1\.weight_ih_l0'\] has shape \(16, 5\); for an LSTM of 4 units "
     r"reading layer 0's 8 outputs it should be \(16, 8\)"),
    ("layers.0.weight_hh_l0_reverse", (16, 3), r"should be \(16, 4\)"),
    ("layers.0.weight_hh_l0", (10, 4), r"\(4H, H\) for an LSTM or \(3H, H\)"),
    ("layers.0.bias_ih_l0", (15,), r"should be \(16,\)"),
    ("head.weight", (3, 4), r"for a head reading the last layer's 4 units in two "
     r"directions it should be \(3, 8\)"),
    ("head.bias", (2,), r"for head\.weight's 3 rows it should be \(3,\)"),
])
def test_inconsistent_shapes_are_named(name, shape, match):
    weights = lstm_weights(sizes=(4, 4), reverse=True)
    weights[name] = np.ones(shape)
    with pytest.raises(ValueError, match=match):
        LSTMRegressor.from_weights(weights)


def test_layers_of_different_cells_are_refused():
    weights = lstm_weights(sizes=(4, 4))
    weights["layers.1.weight_hh_l0"] = np.ones((12, 4))
    with pytest.raises(ValueError, match="a GRU, but layer 0 is an LSTM"):
        LSTMRegressor.from_weights(weights)


def test_non_finite_and_non_real_values_are_refused():
    weights = lstm_weights()
    weights["layers.0.weight_hh_l0"][1, 2] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite values in "
                       r"'layers\.0\.weight_hh_l0'"):
        LSTMRegressor.from_weights(weights)
    weights = lstm_weights()
    weights["head.bias"] = weights["head.bias"] + 1j
    with pytest.raises(TypeError, match=r"weights\['head\.bias'\] has dtype "
                       r"complex128; pass real numbers"):
        LSTMRegressor.from_weights(weights)
    with pytest.raises(TypeError, match="weights must be a mapping"):
        LSTMRegressor.from_weights(list(lstm_weights().values()))


@pytest.mark.parametrize("params, match", [
    (dict(hidden_layer_sizes=(8,)),
     r"hidden_layer_sizes=\(8,\) but the weights have hidden_layer_sizes=\(4,\)"),
    (dict(hidden_layer_sizes=4, bidirectional=True),
     r"^bidirectional=True but the weights have bidirectional=False\. "),
    (dict(cell="gru"), r"cell='gru' but the weights have cell='lstm'"),
    (dict(cell="peephole"), r"cell='peephole' but the weights have cell='lstm'"),
    (dict(hidden_activation="identity"),
     r"hidden_activation='identity' but PyTorch's layers have none"),
    (dict(recurrent_input="cell"), r"recurrent_input='cell' but PyTorch's layers"),
])
def test_params_that_contradict_the_weights_are_refused(params, match):
    with pytest.raises(ValueError, match=match) as info:
        LSTMClassifier.from_weights(lstm_weights(), classes=[0, 1, 2], **params)
    assert "leave these parameters out" in str(info.value)


def test_invalid_params_raise_as_in_fit():
    from sklearn.utils._param_validation import InvalidParameterError
    with pytest.raises(InvalidParameterError, match="'pooling' parameter"):
        LSTMClassifier.from_weights(lstm_weights(), classes=[0, 1, 2],
                                    pooling="median")
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_hidden'"):
        LSTMClassifier.from_weights(lstm_weights(), classes=[0, 1, 2], n_hidden=3)


def test_head_rows_must_match_the_labels():
    with pytest.raises(ValueError, match=r"head\.weight has 3 rows but classes has 2 "
                       r"labels: the head has one row per class \(two for a binary"):
        LSTMClassifier.from_weights(lstm_weights(), classes=["a", "b"])
    with pytest.raises(ValueError, match="repeats a label"):
        LSTMClassifier.from_weights(lstm_weights(), classes=["a", "b", "a"])
    with pytest.raises(ValueError, match=r"head\.weight has 3 rows but classes has 3 "
                       r"labels: the CTC head has a row for the blank \(row 0\)"):
        CTCSequenceLabeler.from_weights(lstm_weights(), classes="abc")
    with pytest.raises(ValueError, match=r"n_outputs=2, but head\.weight has 3 rows"):
        LSTMRegressor.from_weights(lstm_weights(), n_outputs=2)
    assert LSTMRegressor.from_weights(lstm_weights(), n_outputs=3).n_outputs_ == 3


# --- against torch ------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


def torch_classes(torch):
    """The module of docs/torch.rst and a multi-layer one, in torch."""
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    def pool(out, lengths, h_n, pooling):
        """``out`` (batch, time, features) padded, ``h_n`` the last layer's
        final states (num_directions, batch, H)."""
        if pooling == "last":
            # each direction's final state: the forward one at a sequence's
            # last step, the reverse one at its first (PyTorch's h_n of a
            # packed batch)
            return torch.cat(list(h_n), dim=1)
        mask = torch.arange(out.shape[1])[None, :, None] < lengths[:, None, None]
        if pooling == "mean":
            return (out * mask).sum(dim=1) / lengths[:, None].to(out.dtype)
        return out.masked_fill(~mask, -torch.inf).amax(dim=1)

    def run(layer, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True,
                                      enforce_sorted=False)
        out, h_n = layer(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return out, h_n[0] if isinstance(h_n, tuple) else h_n  # LSTM: (h_n, c_n)

    class Net(nn.Module):
        def __init__(self, cell, n_features, hidden_sizes, bidirectional, n_outputs,
                     pooling):
            super().__init__()
            layer = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
            self.layers = nn.ModuleList()
            n_in = n_features
            for H in hidden_sizes:
                self.layers.append(layer(n_in, H, batch_first=True,
                                         bidirectional=bidirectional))
                n_in = H * (2 if bidirectional else 1)
            self.head = nn.Linear(n_in, n_outputs)
            self.pooling = pooling

        def forward(self, x, lengths):
            """Padded ``x`` (batch, time, n_inputs), ``lengths`` (batch,): the
            head's outputs (batch, n_outputs), or (batch, time, n_outputs)
            with pooling="step" (CTC)."""
            for layer in self.layers:
                x, h_n = run(layer, x, lengths)
            if self.pooling == "step":
                return self.head(x)
            return self.head(pool(x, lengths, h_n, self.pooling))

    class StackNet(nn.Module):
        """One multi-layer nn.LSTM (or nn.GRU) under ``attribute``."""

        def __init__(self, cell, n_features, H, num_layers, bidirectional, n_outputs,
                     pooling, attribute="lstm"):
            super().__init__()
            layer = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
            self.attribute = attribute
            setattr(self, attribute, layer(n_features, H, num_layers=num_layers,
                                           batch_first=True,
                                           bidirectional=bidirectional))
            self.head = nn.Linear(H * (2 if bidirectional else 1), n_outputs)
            self.pooling = pooling
            self.n_directions = 2 if bidirectional else 1

        def forward(self, x, lengths):
            out, h_n = run(getattr(self, self.attribute), x, lengths)
            return self.head(pool(out, lengths, h_n[-self.n_directions:],
                                  self.pooling))

    return Net, StackNet


def torch_frame(torch, x, lengths, k, mean):
    """The recipe's frame transform: padded raw ``x`` (batch, time, n_features)
    as frames of ``k`` steps, past each length filled with ``mean``."""
    B, T, F = x.shape
    n_frames = -(-T // k)
    out = mean.to(x.dtype).expand(B, n_frames * k, F).clone()
    steps = torch.arange(T)[None, :] < lengths[:, None]
    out[:, :T][steps] = x[steps]
    return out.reshape(B, n_frames, k * F), (lengths + k - 1) // k


def torch_outputs(torch, module, X, kind, k=1, mean=None):
    """The module's numbers as :func:`outputs` gives the estimator's."""
    data, lengths = padded(X)
    x, lengths = torch.from_numpy(data), torch.from_numpy(lengths)
    if k > 1:
        x, lengths = torch_frame(torch, x, lengths, k, torch.from_numpy(mean))
    with torch.no_grad():
        out = module(x, lengths)
        if kind == "classifier":
            return torch.softmax(out, dim=1).numpy()
        if kind == "regressor":
            return out[:, 0].numpy()
        log_p = torch.log_softmax(out, dim=2).numpy()
    # predict_proba puts the blank (column 0 here) last
    log_p = np.concatenate([log_p[:, :, 1:], log_p[:, :, :1]], axis=2)
    return np.concatenate([p[:n] for p, n in zip(log_p, lengths.numpy())])


def torch_module(torch, kind, cell, sizes, bidirectional, pooling, n_features,
                 n_outputs, seed=0):
    """The float64 :class:`Net` of an estimator of ``kind``, PyTorch's own
    random weights."""
    Net, _ = torch_classes(torch)
    torch.manual_seed(seed)
    return Net(cell, n_features, sizes, bidirectional, n_outputs,
               "step" if kind == "ctc" else pooling).double()


def numpy_state(module):
    return {k: v.numpy() for k, v in module.state_dict().items()}


def log_outputs(est, X, kind):
    """The estimator's numbers, per-frame log-probabilities for CTC."""
    return np.log(outputs(est, X)) if kind == "ctc" else outputs(est, X)


TORCH_CASES = [("classifier", pooling) for pooling in ("last", "mean", "max")] + [
    ("regressor", "last"), ("regressor", "max"), ("ctc", None)]


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("kind, pooling", TORCH_CASES)
def test_torch_weights_in(torch, kind, pooling, cell, bidirectional):
    cls, X, _, _ = make_problem(kind, n=12, seed=1)
    params = {"pooling": pooling} if pooling else {}
    if kind == "classifier":
        params["classes"] = [0, 1, 2]
    if kind == "ctc":
        params["classes"] = list("0123456789")
    n_outputs = {"classifier": 3, "regressor": 1, "ctc": 11}[kind]
    module = torch_module(torch, kind, cell, (6, 4), bidirectional, pooling,
                          X[0].shape[1], n_outputs)
    est = cls.from_weights(numpy_state(module), **params)
    assert est.cell == cell and est.hidden_layer_sizes == (6, 4)
    diff = np.abs(log_outputs(est, X, kind) - torch_outputs(torch, module, X, kind))
    assert diff.max() < TOL


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("kind", KINDS)
def test_weights_out_load_strictly_into_torch(torch, tmp_path, kind, cell,
                                              bidirectional):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    pooling = {"classifier": "max", "regressor": "mean", "ctc": None}[kind]
    params = {"pooling": pooling} if pooling else {}
    est, X, _ = fitted(kind, cell=cell, bidirectional=bidirectional, **params)
    assert np.any(est.input_mean_ != 0) and np.any(est.input_scale_ != 1)
    if kind == "regressor":
        assert est.target_scale_[0] != 1 and est.target_mean_[0] != 0
    weights = est.get_weights()
    safetensors_numpy.save_file(weights, tmp_path / "model.safetensors")
    np.savez(tmp_path / "model.npz", **weights)
    with np.load(tmp_path / "model.npz", allow_pickle=False) as npz:
        from_npz = {k: npz[k] for k in npz.files}
    expected = log_outputs(est, X, kind)
    for loaded in (safetensors_numpy.load_file(tmp_path / "model.safetensors"),
                   from_npz):
        module = torch_module(torch, kind, cell, (6, 4), bidirectional, pooling,
                              X[0].shape[1], weights["head.weight"].shape[0])
        module.load_state_dict({k: torch.from_numpy(v) for k, v in loaded.items()},
                               strict=True)
        diff = np.abs(torch_outputs(torch, module, X, kind) - expected)
        assert diff.max() < TOL


def test_weights_out_with_frames_in_torch(torch):
    """steps_per_frame_ > 1: the recipe's frame transform, in torch."""
    est, X, _ = fitted("classifier", steps_per_frame=3, pooling="last",
                       bidirectional=True)
    module = torch_module(torch, "classifier", "lstm", (6, 4), True, "last",
                          n_features=6, n_outputs=3)
    module.load_state_dict({k: torch.from_numpy(v)
                            for k, v in est.get_weights().items()}, strict=True)
    diff = np.abs(torch_outputs(torch, module, X, "classifier", k=3,
                                mean=est.input_mean_) - est.predict_proba(X))
    assert diff.max() < TOL


@pytest.mark.parametrize("cell, attribute", [("lstm", "lstm"), ("gru", "rnn")])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_multi_layer_torch_module_in(torch, cell, attribute, bidirectional):
    _, StackNet = torch_classes(torch)
    torch.manual_seed(1)
    module = StackNet(cell, 2, 5, 2, bidirectional, 3, "mean", attribute).double()
    weights = numpy_state(module)
    assert f"{attribute}.weight_ih_l1" in weights
    est = LSTMClassifier.from_weights(weights, classes=["a", "b", "c"],
                                      pooling="mean")
    assert est.hidden_layer_sizes == (5, 5) and est.bidirectional is bidirectional
    _, X, _, _ = make_problem("classifier", n=12, seed=2)
    diff = np.abs(est.predict_proba(X) - torch_outputs(torch, module, X,
                                                       "classifier"))
    assert diff.max() < TOL


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("kind", ["tagger", "sequence_regressor"])
def test_per_step_weights_out_and_in_agree_with_torch(torch, kind, cell,
                                                      bidirectional):
    """The per-step estimators: the head on every step of the module."""
    rng = np.random.default_rng(3)
    X = [3 + 5 * rng.normal(size=(int(rng.integers(3, 10)), 2)) for _ in range(16)]
    if kind == "tagger":
        cls = LSTMTagger
        y = [np.where(np.cumsum(x[:, 0] - 3) > 0, "up", "down") for x in X]
    else:
        cls = LSTMSequenceRegressor
        y = [np.c_[10 + np.cumsum(x[:, 0]), 0.1 * x[:, 1]] for x in X]
    est = cls(hidden_layer_sizes=(6, 4), cell=cell, bidirectional=bidirectional,
              max_iter=2, random_state=0).fit(X, y)
    weights = est.get_weights()
    module = torch_module(torch, "ctc", cell, (6, 4), bidirectional, None,
                          X[0].shape[1], weights["head.weight"].shape[0])
    module.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()},
                           strict=True)
    data, lengths = padded(X)
    with torch.no_grad():
        out = module(torch.from_numpy(data), torch.from_numpy(lengths))
        if kind == "tagger":
            out = torch.softmax(out, dim=2)
    out = out.numpy()
    ours = est.predict_proba(X) if kind == "tagger" else est.predict(X)
    for b, expected in enumerate(ours):
        np.testing.assert_allclose(out[b, : lengths[b]], expected, rtol=TOL,
                                   atol=TOL * np.abs(expected).max())
    back = cls.from_weights(weights, **({"classes": est.classes_}
                                        if kind == "tagger" else {}))
    again = back.predict_proba(X) if kind == "tagger" else back.predict(X)
    for a, b in zip(again, ours):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
