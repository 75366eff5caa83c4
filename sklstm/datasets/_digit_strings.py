"""Lines of real handwritten digits, for connectionist temporal classification."""

from numbers import Integral

import numpy as np
from sklearn.datasets import load_digits
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

# Which of scikit-learn's 1797 digit images make training strings and which
# test strings: fixed once for all, independent of random_state, so that test
# strings never contain a training image.
_SPLIT_SEED = 20261125
_N_TRAIN_IMAGES = 1200


def _images(subset):
    digits = load_digits()
    order = np.random.RandomState(_SPLIT_SEED).permutation(len(digits.images))
    chosen = order[:_N_TRAIN_IMAGES] if subset == "train" else order[_N_TRAIN_IMAGES:]
    images = digits.images[chosen] / 16.0
    return images, digits.target[chosen]


@validate_params(
    {
        "n_sequences": [Interval(Integral, 1, None, closed="left")],
        "min_digits": [Interval(Integral, 1, None, closed="left")],
        "max_digits": [Interval(Integral, 1, None, closed="left")],
        "subset": [StrOptions({"train", "test"})],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_digit_strings(n_sequences=1000, *, min_digits=1, max_digits=6,
                       subset="train", random_state=None):
    """Lines of handwritten digits, read column by column, with their strings.

    Each sequence is ``min_digits`` to ``max_digits`` real 8×8 digit images
    from scikit-learn's :func:`~sklearn.datasets.load_digits` (UCI, CC BY
    4.0) side by side, separated by random gaps of 0 to 2 blank columns, read
    column by column as 8-dimensional frames scaled to [0, 1]. Its label is
    the digit string: the unsegmented labelling of connectionist temporal
    classification.

    Parameters
    ----------
    n_sequences : int, default=1000
    min_digits, max_digits : int, default=1, 6
        The number of digits of each string is uniform in this range.
    subset : {"train", "test"}, default="train"
        The images come from two disjoint sets (1200 and 597 of the 1797
        images), fixed once for all: test strings never contain a training
        image.
    random_state : int, RandomState instance or None, default=None
        Draws the strings, the images and the gaps.

    Returns
    -------
    X : list of ndarray of shape (n_frames_i, 8)
        float64 frames, one column of pixels each.
    y : list of str
        The digit strings.

    Examples
    --------
    >>> from sklstm.datasets import make_digit_strings
    >>> X, y = make_digit_strings(3, min_digits=2, max_digits=2, random_state=0)
    >>> len(y[0]), X[0].shape[1], 16 <= len(X[0]) <= 18
    (2, 8, True)
    """
    if min_digits > max_digits:
        raise ValueError(f"min_digits={min_digits} is above max_digits={max_digits}.")
    rng = check_random_state(random_state)
    images, labels = _images(subset)
    by_digit = [np.flatnonzero(labels == d) for d in range(10)]
    X, y = [], []
    for _ in range(n_sequences):
        n = rng.randint(min_digits, max_digits + 1)
        digits = rng.randint(0, 10, size=n)
        columns = []
        for i, d in enumerate(digits):
            if i > 0:
                columns.extend([np.zeros(8)] * rng.randint(0, 3))
            image = images[by_digit[d][rng.randint(len(by_digit[d]))]]
            columns.extend(image.T)  # column by column: each frame is a column
        X.append(np.array(columns))
        y.append("".join(str(d) for d in digits))
    return X, y
