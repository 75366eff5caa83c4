"""Greedy and prefix beam search decoding against brute force."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import sklstm
from sklstm._core import _ctc
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


def _rescore(logits, targets, blank=0):
    """The rescoring kernel's log p(l | x) of each target, for one sequence."""
    logits = np.ascontiguousarray(logits[None])
    lengths = np.array([logits.shape[1]], dtype=np.intp)
    log_z = np.empty(1)
    _ctc.ctc_log_normalizers(logits, lengths, log_z)
    offsets = np.cumsum([0] + [len(t) for t in targets]).astype(np.intp)
    flat = np.array([k for t in targets for k in t] + [0], dtype=np.intp)
    log_probs = np.empty(len(targets))
    _ctc.ctc_log_prob(logits, lengths, np.zeros(len(targets), dtype=np.intp), flat,
                      offsets, blank, log_z, log_probs)
    return log_probs


@pytest.mark.parametrize("scale", [1.0, 8.0, 40.0])
def test_rescoring_matches_a_log_space_reference(rng, dtype, scale):
    # C = 3 makes repeated labels common, C = 7 gives emissions by state
    # rather than by class (C > L + 1).
    for _ in range(20):
        T, C = int(rng.integers(1, 13)), int(rng.choice([3, 7]))
        blank = int(rng.integers(0, C))
        logits = (scale * rng.normal(size=(T, C))).astype(dtype)
        labels = [k for k in range(C) if k != blank]
        targets = [list(rng.choice(labels, size=int(rng.integers(0, T + 2))))
                   for _ in range(4)]
        # the longest run of one label that fits (2L - 1 <= T frames), one more
        targets += [[], [labels[0]] * ((T + 1) // 2), [labels[0]] * ((T + 1) // 2 + 1)]
        got = _rescore(logits, targets, blank)
        want = [_reference.ctc_log_prob(logits, t, blank) for t in targets]
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-9)
        assert got[-2] > -np.inf and got[-1] == -np.inf


@pytest.mark.parametrize("blank", [0, 2])
def test_rescoring_frames_too_improbable_to_multiply(blank):
    # Every frame but the first puts its mass on a class outside the target:
    # each rescaled frame sum underflows and is recomputed in logs.
    logits = np.zeros((6, 4))
    logits[0, 1] = 800.0
    logits[1:, 3] = 800.0
    logits[3, 1] = 790.0
    targets = [[1], [1, 1], [1, 3], [3, 3, 3], [1, 1, 1, 1]]
    got = _rescore(logits, targets, blank)
    want = [_reference.ctc_log_prob(logits, t, blank) for t in targets]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert got[0] < -1000 and got[-1] == -np.inf


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rescoring_a_state_that_underflows_then_dominates(dtype):
    # "a b": frames 0-99 favour b, 100-199 favour a. Emitting a late (then b
    # at the very end) is as likely as emitting b early, but at frame 99 that
    # path weighs e^-990 times the rest: the rescaled pass flushes it (issue
    # 9, it gave -1005.40) and must notice, and recompute in logs.
    logits = np.zeros((200, 3), dtype=dtype)
    logits[:100, 2] = 10.0
    logits[100:, 1] = 10.0
    np.testing.assert_allclose(_rescore(logits, [[1, 2]]),
                               [_reference.ctc_log_prob(logits, [1, 2])], rtol=1e-12)


def test_rescoring_a_flushed_state_of_a_longer_target():
    # The same over four labels: "c d" favoured in frames 0-149, "a b" after,
    # so the paths that emit "a b" late are flushed halfway.
    logits = np.zeros((300, 5))
    logits[:150, 3], logits[:150, 4] = 10.0, 9.0
    logits[150:, 1], logits[150:, 2] = 10.0, 9.0
    targets = [[1, 2, 3, 4], [3, 4], [1, 2]]
    want = [_reference.ctc_log_prob(logits, t) for t in targets]
    np.testing.assert_allclose(_rescore(logits, targets), want, rtol=1e-12)


def test_rescoring_analytic_case():
    # Two frames, blank 0: "a" = a a + a - + - a, "aa" cannot fit, "" = - -.
    y = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]])
    got = _rescore(np.log(y), [[1], [1, 1], [], [1, 2]])
    want = [0.5 * 0.1 + 0.5 * 0.6 + 0.2 * 0.1, 0.0, 0.2 * 0.6, 0.5 * 0.3]
    np.testing.assert_allclose(np.exp(got), want, rtol=1e-14)


def test_rescoring_passes_agree(rng, dtype):
    # The first pass (states that can still finish) and the exact one differ
    # only by rounding.
    for _ in range(10):
        T, C = int(rng.integers(1, 60)), int(rng.choice([3, 30]))
        logits = np.ascontiguousarray(rng.normal(scale=3.0, size=(1, T, C)), dtype)
        targets = [rng.integers(1, C, size=int(rng.integers(0, T + 1)))
                   for _ in range(5)]
        offsets = np.cumsum([0] + [len(t) for t in targets]).astype(np.intp)
        flat = np.concatenate(targets + [np.zeros(1)]).astype(np.intp)
        lengths, log_z = np.array([T], dtype=np.intp), np.empty(1)
        _ctc.ctc_log_normalizers(logits, lengths, log_z)
        passes = []
        for finishing_only in (False, True):
            out = np.empty(len(targets))
            _ctc.ctc_log_prob(logits, lengths, np.zeros(5, dtype=np.intp), flat,
                              offsets, 0, log_z, out, finishing_only)
            passes.append(out)
        np.testing.assert_allclose(passes[1], passes[0], rtol=1e-12)


def test_n_best_is_the_head_of_the_full_ranking(rng):
    # Rescoring computes exactly only the candidates that can rank among the
    # n_best; integer logits make exact ties, which must break as in the full
    # ranking (candidate order).
    for scale, width in [(3.0, 8), (1.0, 20)]:
        logits = np.round(rng.normal(scale=scale, size=(4, 25, 5)))
        full, full_scores = ctc_beam_search(logits, beam_width=width, n_best=width + 1,
                                            return_log_probs=True)
        for n_best in (1, 2, 5):
            found, scores = ctc_beam_search(logits, beam_width=width, n_best=n_best,
                                            return_log_probs=True)
            np.testing.assert_array_equal(scores, full_scores[:, :n_best])
            for b in range(4):
                head = full[b][:n_best] if n_best > 1 else full[b][0]
                got = found[b] if n_best > 1 else [found[b]]
                want = head if n_best > 1 else [head]
                assert [list(x) for x in got] == [list(x) for x in want]


def test_beam_search_scores_match_a_log_space_reference(rng):
    logits = rng.normal(scale=3.0, size=(3, 15, 4))
    logits[1, :, 0] += 4.0  # mostly blank
    found, scores = ctc_beam_search(logits, beam_width=6, n_best=5,
                                    return_log_probs=True)
    for b in range(3):
        want = [_reference.ctc_log_prob(logits[b], labelling) for labelling in found[b]]
        np.testing.assert_allclose(scores[b, : len(want)], want, rtol=1e-10)


_MEMORY_SCRIPT = """
import json, re, sys
import numpy as np
from sklstm.functional import ctc_beam_search

def status(field):  # KiB
    return int(re.search(field + r":\\s+(\\d+)", open("/proc/self/status").read())[1])

T, n_labels = int(sys.argv[1]), int(sys.argv[2])
logits = np.zeros((1, T, 5))
logits[0, :, 0] = 10.0                       # blank everywhere,
frames = np.arange(n_labels) * 2             # but for n_labels labels early on
logits[0, frames, 1 + np.arange(n_labels) % 4] = 20.0
ctc_beam_search(logits[:, :20], beam_width=4)  # warm up
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")                             # the peak (VmHWM) restarts from here
ctc_beam_search(logits, beam_width=4)
print(json.dumps({"growth_kib": status("VmHWM") - before}))
"""


def _peak_growth_kib(n_timesteps, n_labels):
    """Growth of the peak resident set (KiB) of a fresh process during one
    ctc_beam_search call: unlike tracemalloc, it sees the kernels' malloc'd
    scratch."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    root = os.path.dirname(os.path.dirname(sklstm.__file__))
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(n_timesteps),
                          str(n_labels)], env=env, capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)["growth_kib"]


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"),
                    reason="resets the peak resident set through Linux's /proc")
def test_rescoring_memory_does_not_grow_with_the_number_of_frames():
    # A (T, 2L + 1) rescoring lattice of 400 labels is 3L + 2 doubles a frame:
    # 3000 more frames than the first call's 1000 would add 27 MiB. Two rows
    # of alpha do not grow with T; the search's trie (3 integers per node,
    # at most beam_width nodes a frame) adds 0.3 MiB.
    small, large = _peak_growth_kib(1000, 400), _peak_growth_kib(4000, 400)
    assert large - small < 4 * 1024, (small, large)
