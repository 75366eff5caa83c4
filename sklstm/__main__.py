"""``python -m sklstm``: the README's demo.

1. An :class:`~sklstm.LSTMClassifier` learns to recognise the speaker of
   JapaneseVowels utterances (shipped with sklstm) and is scored on the 370
   test utterances.
2. A :class:`~sklstm.CTCSequenceLabeler` learns to read lines of handwritten
   digits (scikit-learn's digit images, read column by column) from their
   strings alone, and is scored on lines made of images it never saw.

Both print one line per epoch.
"""

import time

from sklstm import CTCSequenceLabeler, LSTMClassifier
from sklstm._version import __version__
from sklstm.datasets import load_japanese_vowels, make_digit_strings
from sklstm.metrics import label_error_rate


def main():
    speakers()
    print()
    digit_strings()


def speakers():
    X_train, y_train = load_japanese_vowels(subset="train", return_X_y=True)
    X_test, y_test = load_japanese_vowels(subset="test", return_X_y=True)

    print(f"sklstm {__version__}: speaker recognition on JapaneseVowels "
          f"({len(X_train)} training and {len(X_test)} test utterances, 12 features "
          f"per frame, {min(map(len, X_train))}-{max(map(len, X_train))} frames)")
    # The defaults: a bidirectional layer of 64 units, max pooling, inputs
    # standardised by the model itself.
    clf = LSTMClassifier(random_state=0, verbose=True)
    start = time.perf_counter()
    clf.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    accuracy = clf.score(X_test, y_test)
    print(f"Trained a bidirectional LSTM (64 units per direction) for {clf.n_iter_} "
          f"epochs in {seconds:.1f} s.")
    print(f"Test accuracy: {accuracy:.3f}  (published on this split: 1-NN DTW 0.949, "
          "echo-state network 0.965, fully convolutional network 0.993)")


def digit_strings():
    X_train, y_train = make_digit_strings(6000, random_state=0)
    X_test, y_test = make_digit_strings(1000, subset="test", random_state=1)
    print(f"Reading handwritten digit strings with CTC: {len(X_train)} training lines "
          f"of 1-6 digits (8 pixel rows per frame), {len(X_test)} test lines made of "
          "digit images never seen in training")
    model = CTCSequenceLabeler(hidden_layer_sizes=(64,), early_stopping=True,
                               n_iter_no_change=5, random_state=0, verbose=True)
    start = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    predicted = model.predict(X_test)
    print(f"Trained a bidirectional LSTM with a CTC output for {model.n_iter_} epochs "
          f"in {seconds:.1f} s.")
    for truth, guess in list(zip(y_test, predicted))[:5]:
        print(f"  {truth:>6} read as {guess}")
    print(f"Test label error rate: {label_error_rate(y_test, predicted):.2%}")


if __name__ == "__main__":
    main()
