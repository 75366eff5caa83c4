"""Data sets shipped with sklstm, or built from real data on every machine."""

from ._digit_strings import make_digit_strings
from ._japanese_vowels import load_japanese_vowels
from ._series import load_airline, load_taylor
from ._speaker_turns import make_speaker_turns
from ._windows import make_windows

__all__ = [
    "load_airline", "load_japanese_vowels", "load_taylor", "make_digit_strings",
    "make_speaker_turns", "make_windows",
]
