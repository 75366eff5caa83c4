"""Argument checking of sklstm.functional: every bad input names itself."""

import numpy as np
import pytest

from sklstm.functional import lstm_backward, lstm_forward

B, T, D, H = 3, 4, 2, 5


@pytest.fixture
def args(rng):
    X = rng.normal(size=(B, T, D))
    W = rng.normal(size=(4 * H, D))
    U = rng.normal(size=(4 * H, H))
    b = np.zeros(4 * H)
    return X, W, U, b


def test_W_shape(args):
    X, W, U, b = args
    with pytest.raises(ValueError, match=r"W has shape \(20, 3\); expected \(20, 2\)"):
        lstm_forward(X, np.zeros((4 * H, D + 1)), U, b)
    with pytest.raises(ValueError, match=r"W has shape \(5, 2\); expected \(20, 2\)"):
        lstm_forward(X, np.zeros((H, D)), U, b)


def test_X_feature_size_must_match_W(args):
    X, W, U, b = args
    with pytest.raises(ValueError, match=r"W has shape \(20, 2\); expected \(20, 3\) "
                       r"= \(4 \* n_hidden, n_features\)"):
        lstm_forward(np.zeros((B, T, D + 1)), W, U, b)


@pytest.mark.parametrize("shape", [(4 * H, H + 1), (H, H), (4 * H,), (0, 0)])
def test_U_shape(args, shape):
    X, W, U, b = args
    with pytest.raises(ValueError, match=r"U has shape .*expected \(4 \* n_hidden, "
                       r"n_hidden\)"):
        lstm_forward(X, W, np.zeros(shape), b)


@pytest.mark.parametrize("shape", [(4 * H + 1,), (4 * H, 1), ()])
def test_b_shape(args, shape):
    X, W, U, b = args
    with pytest.raises(ValueError, match=r"b has shape .*expected \(20,\)"):
        lstm_forward(X, W, U, np.zeros(shape))


@pytest.mark.parametrize("name", ["h0", "c0"])
def test_state_shape(args, name):
    X, W, U, b = args
    with pytest.raises(ValueError, match=rf"{name} has shape \(3, 4\); expected "
                       r"\(3, 5\) = \(n_sequences, n_hidden\)"):
        lstm_forward(X, W, U, b, **{name: np.zeros((B, H - 1))})


@pytest.mark.parametrize("lengths, message", [
    ([4, 0, 2], r"lengths\[1\]=0 is outside \[1, 4\]"),
    ([4, 5, 2], r"lengths\[1\]=5 is outside \[1, 4\]"),
    ([-1, 2, 2], r"lengths\[0\]=-1 is outside \[1, 4\]"),
    ([4, 2], r"lengths has shape \(2,\); expected \(3,\)"),
])
def test_lengths_out_of_range(args, lengths, message):
    X, W, U, b = args
    with pytest.raises(ValueError, match=message):
        lstm_forward(X, W, U, b, lengths=lengths)


def test_lengths_must_be_integers(args):
    X, W, U, b = args
    with pytest.raises(TypeError, match="lengths must hold integers"):
        lstm_forward(X, W, U, b, lengths=[4.0, 2.0, 1.0])


def test_lengths_with_list_input(args):
    X, W, U, b = args
    with pytest.raises(ValueError, match="lengths must not be passed with a list"):
        lstm_forward(list(X), W, U, b, lengths=[4, 4, 4])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_X(args, bad):
    X, W, U, b = args
    X[1, 2, 0] = bad
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        lstm_forward(X, W, U, b)


def test_non_finite_padding_is_ignored(args):
    X, W, U, b = args
    X[1, 3, 0] = np.nan
    out, _, _ = lstm_forward(X, W, U, b, lengths=[4, 3, 4])
    assert np.isfinite(out).all()


@pytest.mark.parametrize("name", ["W", "U", "b", "h0", "c0"])
def test_non_finite_parameters(args, name):
    X, W, U, b = args
    values = dict(W=W, U=U, b=b, h0=np.zeros((B, H)), c0=np.zeros((B, H)))
    values[name] = values[name].copy()
    values[name].flat[0] = np.nan
    with pytest.raises(ValueError, match=f"{name} contains NaN or infinity"):
        lstm_forward(X, values["W"], values["U"], values["b"], h0=values["h0"],
                     c0=values["c0"])


@pytest.mark.parametrize("name", ["X", "W", "U", "b"])
@pytest.mark.parametrize("dtype, kind", [(np.int64, "integer"), (np.complex128,
                                                                 "complex")])
def test_integer_and_complex_arrays(args, name, dtype, kind):
    values = dict(zip("XWUb", args))
    values[name] = values[name].astype(dtype)
    with pytest.raises(TypeError, match=f"{name} has {kind} dtype"):
        lstm_forward(values["X"], values["W"], values["U"], values["b"])


def test_integer_sequence_in_list(args):
    X, W, U, b = args
    with pytest.raises(TypeError, match=r"X\[1\] has integer dtype"):
        lstm_forward([X[0], np.ones((3, D), dtype=int)], W, U, b)


@pytest.mark.parametrize("X, error, message", [
    ([["a", "b"], ["c", "d"]], TypeError, r"X\[0\] must hold real numbers"),
    ([[[1.0, 2.0]], [[1.0], [2.0, 3.0]]], TypeError, r"X\[1\] must be an array"),
    ("abc", TypeError, "X must be a 3-D array .* got str"),
    (None, TypeError, "X must be a 3-D array .* got NoneType"),
])
def test_non_numeric_lists(args, X, error, message):
    _, W, U, b = args
    with pytest.raises(error, match=message):
        lstm_forward(X, W, U, b)


@pytest.mark.parametrize("X, message", [
    (np.zeros((0, 4, D)), "is empty"),
    (np.zeros((B, 0, D)), "is empty"),
    ([], "X is empty"),
    ([np.zeros((3, D)), np.zeros((0, D))], r"X\[1\] is a sequence of length zero"),
    ([np.zeros((3, D)), np.zeros((2, D + 1))], r"X\[1\] has 3 features but X\[0\] "
     "has 2"),
    ([np.zeros(3)], r"X\[0\] has shape \(3,\); each sequence must be a 2-D array"),
    (np.zeros((4, D)), r"X must be a 3-D array .*got an array of shape \(4, 2\)"),
    (np.zeros((B, T, 0)), "X has 0 features"),
])
def test_bad_X_shapes(args, X, message):
    _, W, U, b = args
    with pytest.raises(ValueError, match=message):
        lstm_forward(X, W, U, b)


def test_other_float_precision_is_rejected(args):
    X, W, U, b = args
    with pytest.raises(TypeError, match="X has dtype float16; pass float32 or float64"):
        lstm_forward(X.astype(np.float16), W, U, b)


def test_backward_checks_its_arguments(args):
    X, W, U, b = args
    out, _, cache = lstm_forward(X, W, U, b)
    with pytest.raises(TypeError, match="cache must be the third value"):
        lstm_backward((out, None), out)
    with pytest.raises(ValueError, match=r"d_out has shape \(3, 5\); expected "
                       r"\(3, 4, 5\)"):
        lstm_backward(cache, out[:, 0])
    with pytest.raises(ValueError, match=r"d_hn has shape \(3, 4\); expected \(3, 5\)"):
        lstm_backward(cache, out, d_hn=np.zeros((B, H - 1)))
    with pytest.raises(ValueError, match=r"d_cn has shape \(2, 5\); expected \(3, 5\)"):
        lstm_backward(cache, out, d_cn=np.zeros((B - 1, H)))
    bad = out.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="d_out contains NaN or infinity"):
        lstm_backward(cache, bad)
    with pytest.raises(TypeError, match="d_out has integer dtype"):
        lstm_backward(cache, out.astype(int))


def test_random_arguments_never_crash(rng):
    # Whatever the shapes, dtypes and lengths, a call either works or raises
    # ValueError/TypeError: nothing reaches the kernels unchecked.
    dtypes = [np.float32, np.float64, np.int32, np.complex64, np.float16, object]

    def array(shape):
        dt = dtypes[rng.integers(len(dtypes))] if rng.random() < 0.05 else np.float64
        a = rng.normal(size=shape)
        return a.astype(dt) if dt is not object else a.astype(object)

    def shape_near(shape):
        return tuple(max(0, s + int(rng.integers(-1, 2))) if rng.random() < 0.04 else s
                     for s in shape)

    n_ok = 0
    for _ in range(300):
        B, T, D, H = (int(rng.integers(1, 5)) for _ in range(4))
        if rng.random() < 0.3:
            X = [array(shape_near((int(rng.integers(1, 4)), D))) for _ in range(B)]
            lengths = None
        else:
            X = array(shape_near((B, T, D)))
            lengths = (rng.integers(0, T + 2, size=shape_near((B,)))
                       if rng.random() < 0.3 else None)
        kwargs = dict(lengths=lengths, reverse=bool(rng.random() < 0.5))
        if rng.random() < 0.3:
            kwargs["h0"] = array(shape_near((B, H)))
        try:
            out, (h_n, c_n), cache = lstm_forward(
                X, array(shape_near((4 * H, D))), array(shape_near((4 * H, H))),
                array(shape_near((4 * H,))), **kwargs)
        except (ValueError, TypeError):
            continue
        assert out.ndim == 3 and h_n.shape == c_n.shape == (out.shape[0], out.shape[2])
        try:
            grads = lstm_backward(cache, array(shape_near(out.shape)))
        except (ValueError, TypeError):
            continue
        assert grads.dW.shape == cache.W.shape
        n_ok += 1
    assert n_ok > 100, n_ok  # the valid calls were exercised too
