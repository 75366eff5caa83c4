"""Reading X: every input form of DESIGN.md, and what is refused."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator

from sklstm._sequences import Sequences, read_sequences


class Holder(BaseEstimator):
    pass


def read(X, **kwargs):
    return read_sequences(Holder(), X, reset=True, **kwargs)


def test_three_d_array():
    X = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    seqs, kind = read(X)
    assert kind == "sequences" and seqs.dtype == np.float32
    assert list(seqs.lengths) == [3, 3] and seqs.n_features == 4
    np.testing.assert_array_equal(seqs.batch([1])[0], X[1])


def test_list_of_arrays_and_object_array():
    parts = [np.ones((3, 2)), np.zeros((1, 2)), np.full((5, 2), 2, dtype=int)]
    for X in (parts, tuple(parts), np.array(parts + [None], dtype=object)[:3]):
        seqs, kind = read(X)
        assert kind == "sequences" and seqs.dtype == np.float64
        assert list(seqs.lengths) == [3, 1, 5]
        np.testing.assert_array_equal(seqs.batch([2])[0], parts[2])


def test_ragged_univariate_lists():
    seqs, kind = read([[1, 2, 3], [4.0], np.array([5.0, 6.0])])
    assert kind == "sequences" and seqs.n_features == 1
    assert list(seqs.lengths) == [3, 1, 2]


def test_tables():
    for X in (np.ones((4, 3)), [[1, 2, 3], [4, 5, 6]], [np.ones(3), np.zeros(3)]):
        holder = Holder()
        seqs, kind = read_sequences(holder, X, reset=True)
        assert kind == "table" and holder.n_features_in_ == 3
        assert seqs.n_features == 1 and set(seqs.lengths) == {3}


def test_precision_follows_scikit_learn():
    assert read([np.ones((2, 2), np.float32)] * 2)[0].dtype == np.float32
    assert read([np.ones((2, 2), np.float32), np.ones((2, 2))])[0].dtype == np.float64
    assert read(np.ones((2, 2, 2), dtype=np.int64))[0].dtype == np.float64


@pytest.mark.parametrize("X, match", [
    (np.ones(4), "1-D array"),
    ([], "X is empty"),
    (np.ones((0, 3, 2)), "is empty"),
    ([np.ones((2, 2)), np.ones((0, 2))], r"X\[1\] is a sequence of length zero"),
    ([np.ones((2, 2)), np.ones((2, 3))], r"X\[1\] has 3 features but X\[0\] has 2"),
    ([np.ones((2, 2, 2))], r"X\[0\] has shape \(2, 2, 2\)"),
    ([np.ones((2, 2), dtype=complex)], "Complex data not supported"),
    ([np.array([["a"]])], "pass numbers"),
    ([np.ones((2, 2)), np.array([[1.0, np.inf]])], r"sequence 1, step 0"),
])
def test_refused(X, match):
    with pytest.raises(ValueError, match=match):
        read(X)


def test_subset_and_batch():
    seqs = Sequences(np.arange(12.0).reshape(6, 2), [2, 1, 3])
    sub = seqs.subset([2, 0])
    assert list(sub.lengths) == [3, 2]
    np.testing.assert_array_equal(sub.data, np.r_[seqs.data[3:6], seqs.data[0:2]])
