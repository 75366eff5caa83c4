"""The shipped JapaneseVowels data."""

import numpy as np
import pytest

from sklstm.datasets import load_japanese_vowels


def test_train_test_all():
    train = load_japanese_vowels()
    test = load_japanese_vowels(subset="test")
    both = load_japanese_vowels(subset="all")
    assert len(train.data) == len(train.target) == 270
    assert len(test.data) == 370 and len(both.data) == 640
    assert sorted(set(train.target)) == [str(k) for k in range(1, 10)]
    lengths = [len(x) for x in both.data]
    assert min(lengths) == 7 and max(lengths) == 29
    for x in both.data:
        assert x.dtype == np.float64 and x.shape[1] == 12 and np.isfinite(x).all()
    np.testing.assert_array_equal(both.data[270], test.data[0])
    assert "CC BY 4.0" in train.licence and "Kudo" in train.citation
    assert "Japanese Vowels" in train.DESCR


def test_return_X_y():
    X, y = load_japanese_vowels(subset="test", return_X_y=True)
    assert isinstance(X, list) and len(X) == len(y) == 370


def test_bad_subset():
    with pytest.raises(ValueError, match="subset"):
        load_japanese_vowels(subset="validation")
