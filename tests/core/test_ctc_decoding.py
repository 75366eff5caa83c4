"""Greedy and prefix beam search decoding against brute force."""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from sklstm.functional import ctc_beam_search, ctc_greedy_decode, ctc_loss
from sklstm.metrics import edit_distance, label_error_rate

from .. import _reference


def exact_log_prob(logits, labelling, blank=0):
    loss, _ = ctc_loss(logits[None], [list(labelling)], blank=blank, reduction="sum")
    return -loss


@pytest.mark.parametrize("T, C, blank", [(3, 3, 0), (4, 3, 0), (5, 3, 1), (5, 4, 0)])
def test_wide_beam_finds_the_most_probable_labelling(rng, T, C, blank):
    for _ in range(5):
        logits = rng.normal(scale=1.5, size=(T, C))
        probs = _reference.ctc_labelling_probs(logits, blank)
        best = max(probs, key=probs.get)
        (found,), scores = ctc_beam_search(logits[None], beam_width=64, blank=blank,
                                           return_log_probs=True)
        assert tuple(found) == best
        assert scores[0, 0] == pytest.approx(np.log(probs[best]), rel=1e-12)


def test_never_less_probable_than_greedy(rng):
    for _ in range(30):
        T, C = int(rng.integers(2, 12)), int(rng.integers(2, 6))
        logits = rng.normal(scale=2.0, size=(T, C))
        greedy = ctc_greedy_decode(logits[None])[0]
        for width in (1, 2, 3, 8):
            (found,), scores = ctc_beam_search(logits[None], beam_width=width,
                                               return_log_probs=True)
            assert scores[0, 0] >= exact_log_prob(logits, greedy) - 1e-12
            assert scores[0, 0] == pytest.approx(exact_log_prob(logits, found),
                                                 rel=1e-12)


def test_n_best_is_sorted_and_padded(rng):
    logits = rng.normal(size=(2, 6, 4))
    found, scores = ctc_beam_search(logits, beam_width=5, n_best=4,
                                    return_log_probs=True)
    assert len(found) == 2 and all(len(f) == 4 for f in found)
    assert np.all(np.diff(scores, axis=1) <= 0)
    for b in range(2):
        for labelling, score in zip(found[b], scores[b]):
            assert score == pytest.approx(exact_log_prob(logits[b], labelling))
    # a frame has only blank and "a": at most 2 labellings exist
    one = np.log([[0.3, 0.7]])
    (labellings,), scores = ctc_beam_search(one[None], beam_width=3, n_best=3,
                                            return_log_probs=True)
    assert [list(x) for x in labellings[:2]] == [[1], []]
    assert scores[0, 2] == -np.inf


def test_greedy_collapses_repeats_and_blanks():
    frames = np.eye(4)[[0, 1, 1, 0, 1, 2, 2, 3, 0]] * 5
    assert list(ctc_greedy_decode(frames[None])[0]) == [1, 1, 2, 3]
    assert list(ctc_greedy_decode(frames[None], blank=1)[0]) == [0, 0, 2, 3, 0]
    assert list(ctc_greedy_decode(frames[None], input_lengths=[3])[0]) == [1]


def test_variable_lengths_threads_and_blank_index(rng):
    logits = rng.normal(size=(9, 30, 6))
    lengths = rng.integers(1, 31, size=9)
    with threadpool_limits(limits=1):
        a = ctc_beam_search(logits, input_lengths=lengths, beam_width=6, blank=5,
                            n_best=2, return_log_probs=True)
    with threadpool_limits(limits=2):
        b = ctc_beam_search(logits, input_lengths=lengths, beam_width=6, blank=5,
                            n_best=2, return_log_probs=True)
    np.testing.assert_array_equal(a[1], b[1])
    for x, y in zip(a[0], b[0]):
        for p, q in zip(x, y):
            np.testing.assert_array_equal(p, q)
            assert 5 not in p


@pytest.mark.parametrize("kwargs, match", [
    (dict(beam_width=0), "beam_width=0 must be a positive integer"),
    (dict(n_best=5, beam_width=3), r"n_best=5 must be an integer in \[1, "),
    (dict(blank=7), "blank=7"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ctc_beam_search(np.zeros((1, 3, 4)), **kwargs)


def test_edit_distance_and_label_error_rate():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3 and edit_distance([1, 2], []) == 2
    assert edit_distance([1, 2, 3], [1, 2, 3]) == 0
    assert label_error_rate(["abc", "de"], ["abd", "de"]) == pytest.approx(0.2)
    assert label_error_rate([""], ["x"]) == 1.0  # max(total length, 1)
    with pytest.raises(ValueError, match="y_true has 2 sequences but y_pred has 1"):
        label_error_rate(["a", "b"], ["a"])
