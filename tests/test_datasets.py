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


def _turns(x, labels):
    """The ``(frames, speaker)`` of each turn of a sequence: where labels change."""
    starts = [0] + [t for t in range(1, len(labels)) if labels[t] != labels[t - 1]]
    ends = starts[1:] + [len(labels)]
    return [(x[a:b], labels[a]) for a, b in zip(starts, ends)]


@pytest.mark.parametrize("subset", ["train", "test"])
def test_speaker_turns(subset):
    from sklstm.datasets import make_speaker_turns

    X, y = make_speaker_turns(40, min_utterances=2, max_utterances=4,
                              subset=subset, random_state=0)
    source, speakers = load_japanese_vowels(subset=subset, return_X_y=True)
    other, _ = load_japanese_vowels(
        subset="test" if subset == "train" else "train", return_X_y=True)
    speaker_of = {u.tobytes(): s for u, s in zip(source, speakers)}
    others = {u.tobytes() for u in other}
    assert len(X) == len(y) == 40
    for x, labels in zip(X, y):
        assert x.dtype == np.float64 and x.shape == (len(labels), 12)
        assert labels.ndim == 1 and set(labels) <= set(speakers)
        # consecutive utterances have different speakers, so the label changes
        # exactly where an utterance ends: every turn is one source utterance
        # of the split, whole and in order, labelled with its speaker
        turns = _turns(x, labels)
        assert 2 <= len(turns) <= 4
        for frames, speaker in turns:
            assert speaker_of[frames.tobytes()] == speaker
            assert frames.tobytes() not in others
    again_X, again_y = make_speaker_turns(40, min_utterances=2, max_utterances=4,
                                          subset=subset, random_state=0)
    for a, b, la, lb in zip(X, again_X, y, again_y):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(la, lb)
    different, _ = make_speaker_turns(40, min_utterances=2, max_utterances=4,
                                      subset=subset, random_state=1)
    assert any(len(a) != len(b) or not np.array_equal(a, b)
               for a, b in zip(X, different))


def test_speaker_turns_all_speakers_and_fixed_length():
    from sklstm.datasets import make_speaker_turns

    X, y = make_speaker_turns(200, min_utterances=3, max_utterances=3,
                              random_state=0)
    assert all(len(_turns(x, labels)) == 3 for x, labels in zip(X, y))
    assert sorted(set(np.concatenate(y))) == [str(k) for k in range(1, 10)]
    X, y = make_speaker_turns(5, min_utterances=1, max_utterances=1,
                              random_state=0)
    assert all(len(set(labels)) == 1 for labels in y)


def test_speaker_turns_parameters():
    from sklstm.datasets import make_speaker_turns

    with pytest.raises(ValueError, match="min_utterances=3 is above max_utterances=2"):
        make_speaker_turns(5, min_utterances=3, max_utterances=2)
    with pytest.raises(ValueError, match="subset"):
        make_speaker_turns(5, subset="all")
    with pytest.raises(ValueError, match="n_sequences"):
        make_speaker_turns(0)
    with pytest.raises(ValueError, match="min_utterances"):
        make_speaker_turns(5, min_utterances=0)
