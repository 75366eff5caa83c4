"""The shipped data sets: JapaneseVowels, the airline and taylor series."""

import numpy as np
import pytest

from sklstm.datasets import (
    load_airline,
    load_japanese_vowels,
    load_taylor,
    make_windows,
)


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
        # no utterance twice in a sequence
        assert len({frames.tobytes() for frames, _ in turns}) == len(turns)
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


@pytest.mark.parametrize(
    "loader, length, first, last, period, start, end",
    [
        (load_airline, 144, [112, 118, 132], [508, 461, 390, 432], 12,
         "1949-01", "1960-12"),
        (load_taylor, 4032, [22262, 21756, 22247], [27133, 25996, 24610, 23132], 336,
         "2000-06-05T00:00", "2000-08-27T23:30"),
    ],
)
def test_series(loader, length, first, last, period, start, end):
    bunch = loader()
    x = bunch.data
    assert isinstance(x, np.ndarray) and x.dtype == np.float64
    assert x.shape == (length,) and np.isfinite(x).all()
    np.testing.assert_array_equal(x[:3], first)
    np.testing.assert_array_equal(x[-4:], last)
    assert bunch.period == period and length % period == 0
    assert bunch.time.shape == (length,)
    assert str(bunch.time[0]) == start and str(bunch.time[-1]) == end
    assert np.all(np.diff(bunch.time) == bunch.time[1] - bunch.time[0])
    assert bunch.start.replace(" ", "T") == start
    assert bunch.source and bunch.citation and "public-domain" in bunch.licence
    assert bunch.source.split()[0] in bunch.DESCR and ":Licence:" in bunch.DESCR
    # a fresh copy at each call: changing one leaves the next load as it was
    x[:] = -1
    np.testing.assert_array_equal(loader().data[:3], first)
    assert loader().data.flags.writeable
    # the series cut into windows as the example does
    X, y = make_windows(loader().data, window=period, horizon=2)
    assert X.shape == (length - period - 1, period, 1) and y.shape == (len(X), 2)


def test_series_values_and_sources():
    airline, taylor = load_airline(), load_taylor()
    assert airline.data.min() == 104 and airline.data.max() == 622
    assert taylor.data.min() == 18640 and taylor.data.max() == 38777
    assert airline.frequency == "monthly" and taylor.frequency == "30min"
    assert str(airline.time.dtype) == "datetime64[M]"
    assert str(taylor.time.dtype) == "datetime64[m]"
    assert "Box" in airline.citation and "Jenkins" in airline.citation
    assert "Taylor" in taylor.citation and "Operational Research" in taylor.citation
    assert "AirPassengers" in airline.source and "GPL" in airline.licence
    assert "pmdarima" in taylor.source and "MIT" in taylor.licence


def test_series_archive_reads_without_pickle():
    import json
    from importlib import resources

    path = resources.files("sklstm.datasets") / "data" / "forecasting_series.npz"
    with resources.as_file(path) as file, np.load(file, allow_pickle=False) as f:
        assert sorted(f.files) == ["airline", "meta", "taylor"]
        meta = json.loads(str(f["meta"]))
        for name, length in (("airline", 144), ("taylor", 4032)):
            assert f[name].dtype != object and f[name].shape == (length,)
            assert meta[name]["shape"] == [length]
            assert {"source", "license", "citation", "start", "freq",
                    "period"} <= set(meta[name])
