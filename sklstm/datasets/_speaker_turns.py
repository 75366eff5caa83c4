"""Turns of real speakers, one label per frame, for framewise sequence tagging."""

from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ._japanese_vowels import load_japanese_vowels


def _concatenate_turns(utterances, speakers, n_sequences, min_utterances,
                       max_utterances, rng):
    """Sequences of utterances of alternating speakers, labelled frame by frame.

    The speaker of each turn is uniform over the speakers of ``speakers``
    other than the previous turn's; its utterance is uniform over that
    speaker's not yet in the sequence (over all of them when none is left).
    """
    names = np.unique(speakers)
    by_speaker = {s: np.flatnonzero(speakers == s) for s in names}
    X, y = [], []
    for _ in range(n_sequences):
        n = rng.randint(min_utterances, max_utterances + 1)
        used, previous, frames, labels = set(), None, [], []
        for _ in range(n):
            choices = names if previous is None else names[names != previous]
            speaker = choices[rng.randint(len(choices))]
            pool = [i for i in by_speaker[speaker] if i not in used]
            if not pool:  # every utterance of this speaker is in the sequence
                pool = list(by_speaker[speaker])
            i = pool[rng.randint(len(pool))]
            used.add(i)
            frames.append(utterances[i])
            labels.append(np.full(len(utterances[i]), speaker, dtype=object))
            previous = speaker
        X.append(np.concatenate(frames))
        y.append(np.concatenate(labels))
    return X, y


@validate_params(
    {
        "n_sequences": [Interval(Integral, 1, None, closed="left")],
        "min_utterances": [Interval(Integral, 1, None, closed="left")],
        "max_utterances": [Interval(Integral, 1, None, closed="left")],
        "subset": [StrOptions({"train", "test"})],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_speaker_turns(n_sequences=300, *, min_utterances=2, max_utterances=5,
                       subset="train", random_state=None):
    """Real utterances of speakers taking turns, each frame labelled by its speaker.

    Each sequence is ``min_utterances`` to ``max_utterances`` utterances of
    the JapaneseVowels data (:func:`load_japanese_vowels`; UCI, CC BY 4.0)
    one after the other, each frame (12 LPC cepstrum coefficients) labelled
    with the speaker of its utterance: a framewise tagging task, like
    speaker diarization, where the boundaries between turns are not given.

    Consecutive utterances always have different speakers (a turn ends when
    the speaker changes), so the label changes exactly at every boundary
    between utterances; a speaker may come back later in the sequence. Each
    turn's speaker is uniform over the eight speakers other than the previous
    turn's (the first over all nine), and its utterance uniform over that
    speaker's utterances of the split not yet in the sequence (over all of
    them once a sequence has used them all, which takes 24 to 88 turns of
    one speaker).

    Parameters
    ----------
    n_sequences : int, default=300
    min_utterances, max_utterances : int, default=2, 5
        The number of utterances (turns) of each sequence is uniform in this
        range.
    subset : {"train", "test"}, default="train"
        The utterances come from the archive's own training split (270
        utterances) or its test split (370): test sequences never contain a
        training utterance.
    random_state : int, RandomState instance or None, default=None
        Draws the numbers of turns, the speakers and the utterances.

    Returns
    -------
    X : list of ndarray of shape (n_frames_i, 12)
        float64 frames, the utterances' frames one after the other (7 to 29
        frames per utterance).
    y : list of ndarray of shape (n_frames_i,)
        The speaker of each frame, an object array of labels ``"1"`` to
        ``"9"``.

    See Also
    --------
    load_japanese_vowels : The utterances, one label per utterance.

    Examples
    --------
    >>> from sklstm.datasets import make_speaker_turns
    >>> X, y = make_speaker_turns(3, min_utterances=2, max_utterances=2,
    ...                           random_state=0)
    >>> len(X), X[0].shape[1], len(X[0]) == len(y[0])
    (3, 12, True)
    >>> speakers = [s for t, s in enumerate(y[0]) if t == 0 or s != y[0][t - 1]]
    >>> len(speakers)
    2
    """
    if min_utterances > max_utterances:
        raise ValueError(f"min_utterances={min_utterances} is above "
                         f"max_utterances={max_utterances}.")
    rng = check_random_state(random_state)
    utterances, speakers = load_japanese_vowels(subset=subset, return_X_y=True)
    return _concatenate_turns(utterances, np.asarray(speakers), n_sequences,
                              min_utterances, max_utterances, rng)
