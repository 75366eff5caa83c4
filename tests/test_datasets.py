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


def test_digit_strings():
    from sklstm.datasets import make_digit_strings
    from sklstm.datasets._digit_strings import _images

    X, y = make_digit_strings(50, min_digits=2, max_digits=4, random_state=0)
    assert len(X) == len(y) == 50
    for x, s in zip(X, y):
        assert 2 <= len(s) <= 4 and s.isdigit()
        # 8 columns per digit and 0-2 blank columns between digits
        assert 8 * len(s) <= len(x) <= 8 * len(s) + 2 * (len(s) - 1)
        assert x.shape[1] == 8 and x.min() >= 0 and x.max() <= 1
    again, _ = make_digit_strings(50, min_digits=2, max_digits=4, random_state=0)
    for a, b in zip(X, again):
        np.testing.assert_array_equal(a, b)
    # train and test strings are made of disjoint image sets, whatever the seed
    train, _ = _images("train")
    test, _ = _images("test")
    assert len(train) + len(test) == 1797
    train_set = {img.tobytes() for img in train}
    assert not any(img.tobytes() in train_set for img in test)
    with pytest.raises(ValueError, match="min_digits=3 is above max_digits=2"):
        make_digit_strings(5, min_digits=3, max_digits=2)
