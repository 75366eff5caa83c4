"""The JapaneseVowels speaker-recognition data (UCI; CC BY 4.0)."""

import json
from importlib import resources

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils._param_validation import StrOptions, validate_params

DESCR = """\
.. _japanese_vowels_dataset:

Japanese Vowels
---------------

Nine male speakers uttered the Japanese vowels /ae/ in succession; each
utterance is a sequence of 12 LPC cepstrum coefficients per frame, 7 to 29
frames long. The task is to tell the speaker from the utterance.

**Data Set Characteristics:**

:Number of sequences: 640 (270 for training, 370 for testing: the archive's
    own split)
:Features per step: 12 (LPC cepstrum coefficients)
:Sequence lengths: 7 to 29 steps
:Classes: 9 speakers, labelled "1" to "9"
:Licence: Creative Commons Attribution 4.0 International (CC BY 4.0)

Published accuracies on the test split: 1-nearest-neighbour with dynamic time
warping 0.949, echo-state network 0.965, fully convolutional network 0.993.

.. rubric:: References

- Kudo M., Toyama J., Shimbo M. (1999). Multidimensional curve classification
  using passing-through regions. Pattern Recognition Letters
  20(11-13):1103-1111.
- UCI Machine Learning Repository, "Japanese Vowels", doi:10.24432/C5NS47.
- Bagnall A. et al. (2018). The UEA multivariate time series classification
  archive, 2018. arXiv:1811.00075.
"""


def _load_split(archive, name):
    X, lengths = archive[f"X_{name}"], archive[f"len_{name}"]
    data = [np.array(X[i, : lengths[i]], dtype=np.float64) for i in range(len(X))]
    return data, np.asarray(archive[f"y_{name}"], dtype=object)


@validate_params(
    {"subset": [StrOptions({"train", "test", "all"})], "return_X_y": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def load_japanese_vowels(*, subset="train", return_X_y=False):
    """Load the JapaneseVowels data: speaker recognition from short utterances.

    ==================  ==========================
    Classes             9
    Sequences           270 train + 370 test = 640
    Steps per sequence  7 to 29
    Features per step   12
    ==================  ==========================

    Read more in the ``DESCR`` of the returned Bunch.

    Parameters
    ----------
    subset : {"train", "test", "all"}, default="train"
        The archive's training split (270 sequences), its test split (370),
        or both, training first.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data``, a list of ``(T_i, 12)`` float64 arrays; ``target``, an
        object array of labels ``"1"`` to ``"9"``; ``DESCR``; ``licence``
        and ``citation``.
    (data, target) : tuple
        With ``return_X_y=True``.

    Examples
    --------
    >>> from sklstm.datasets import load_japanese_vowels
    >>> X, y = load_japanese_vowels(return_X_y=True)
    >>> len(X), X[0].shape[1], sorted(set(y))[:3]
    (270, 12, ['1', '2', '3'])
    """
    path = resources.files("sklstm.datasets") / "data" / "JapaneseVowels.npz"
    with resources.as_file(path) as file, np.load(file) as archive:
        meta = json.loads(str(archive["meta"]))
        names = ["train", "test"] if subset == "all" else [subset]
        parts = [_load_split(archive, name) for name in names]
    data = [x for X, _ in parts for x in X]
    target = np.concatenate([y for _, y in parts])
    if return_X_y:
        return data, target
    return Bunch(data=data, target=target, DESCR=DESCR, licence=meta["license"],
                 citation=meta["citation"])
