"""Do two covers print the same words? The text check of the visual duplicate stage.

Two captures of one album print the same artist and title; two releases laid out on one
template or one photo print different titles ("Live from Austin", another single's name on
the same record label). OCR of a cover is noisy: spaces vanish ("JOHNNYCASH"), letters swap
("JENELS"), a sticker adds words. So the comparison is on letters and digits only, by
character trigrams, and only for the cover's *prominent* lines (the tallest text: artist and
title, not track lists or label small print):

* ``contained(line, other)``: the share of the line's trigrams that appear anywhere in the other
  cover's text (all its lines: a title printed small on a re-print still counts);
* one direction's containment: the length-weighted mean of that over one cover's prominent
  lines; a prominent line of one missing on the other (another title) pulls it down.

:func:`text_verdict` says "same" when both directions reach ``same_at``, "different" when
neither reaches ``different_at`` on confidently read lines, and nothing (None) in between or
when either cover shows too little text to judge (fewer than ``MIN_CHARS`` prominent letters):
OCR missing or unreadable is no evidence either way.
Thresholds: :mod:`sleeve.dataset.dedup.visual` (calibrated on the labelled pairs).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sleeve.dataset.text.ocr import Word

MIN_LINE = 3  # characters (letters/digits) a line needs to count: shorter is mostly noise
MIN_CHARS = 6  # prominent characters a cover needs for a verdict
PROMINENT = 0.5  # a line is prominent when its height is >= this share of the tallest line's
_KEEP = re.compile(r"[^A-Z0-9]")
# a price sticker ("$9.99", "4,99 €") is the shop's, not the release's: "2001" or "1999" stays
_PRICE = re.compile(r"^\s*([$£€¥]\s*\d+([.,]\d\d)?|\d+[.,]\d\d\s*[$£€¥]?)\s*$")

SAME = "same"
DIFFERENT = "different"


@dataclass(frozen=True)
class CoverWords:
    """A cover's words reduced for comparison: every line and its prominent lines, normalised."""

    lines: tuple[str, ...]
    prominent: tuple[str, ...]

    @property
    def trigrams(self) -> frozenset[str]:
        # the lines joined in reading order too: OCR splits a line on one capture ("DR. DRE",
        # "2001") and not on the other ("DR.DRE 2001")
        return frozenset(trigrams("".join(self.lines))) | {
            g for line in self.lines for g in trigrams(line)
        }

    @property
    def prominent_chars(self) -> int:
        return sum(len(p) for p in self.prominent)


def normalise(text: str) -> str:
    """Upper-case letters and digits only: OCR drops and adds spaces and punctuation freely."""
    return _KEEP.sub("", text.upper())


def trigrams(s: str) -> set[str]:
    return {s[i : i + 3] for i in range(len(s) - 2)}


def _height(box: tuple[tuple[int, int], ...]) -> float:
    """A text line's height from its 4-corner box (top-left, top-right, bottom-right,
    bottom-left): the mean length of the two vertical sides, so a tilted line keeps its size."""
    if len(box) != 4:
        ys = [y for _, y in box] or [0]
        return float(max(ys) - min(ys))
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = box
    return (math.hypot(x3 - x0, y3 - y0) + math.hypot(x2 - x1, y2 - y1)) / 2


def cover_words(words: Sequence[Word]) -> CoverWords:
    kept = [(normalise(w.text), _height(w.box)) for w in words if not _PRICE.match(w.text)]
    kept = [(t, h) for t, h in kept if len(t) >= MIN_LINE]
    if not kept:
        return CoverWords((), ())
    tallest = max(h for _, h in kept)
    prominent = tuple(t for t, h in kept if h >= PROMINENT * tallest)
    return CoverWords(tuple(t for t, _ in kept), prominent)


def contained(line: str, other: frozenset[str]) -> float:
    grams = trigrams(line)
    return len(grams & other) / len(grams) if grams else 0.0


def _one_way(a: CoverWords, b: CoverWords) -> float:
    grams = b.trigrams
    total = sum(len(p) for p in a.prominent)
    return sum(len(p) * contained(p, grams) for p in a.prominent) / total


def containment(a: CoverWords, b: CoverWords) -> tuple[float, float] | None:
    """How far each cover's prominent lines are printed on the other (0..1), as (the lower,
    the higher) of the two directions; None when either shows fewer than ``MIN_CHARS``
    prominent letters."""
    if min(a.prominent_chars, b.prominent_chars) < MIN_CHARS:
        return None
    ab, ba = _one_way(a, b), _one_way(b, a)
    return round(min(ab, ba), 4), round(max(ab, ba), 4)


def confident_words(words: Sequence[Word], floor: float) -> CoverWords:
    """Prominent lines among the words read with confidence >= ``floor``; every line still
    counts as the cover's text (a misread word can match the other cover's clean read)."""
    every = cover_words(words)
    return CoverWords(
        every.lines, cover_words([w for w in words if w.confidence >= floor]).prominent
    )


@dataclass(frozen=True)
class TextThresholds:
    same_at: float  # both directions' containment >= this: the same words
    different_at: float  # both directions' containment <= this (confident reads): different
    veto_confidence: float  # OCR confidence a line needs to count towards "different"


def text_verdict(
    a: Sequence[Word] | None, b: Sequence[Word] | None, t: TextThresholds
) -> tuple[str | None, float | None]:
    """("same" | "different" | None, the lower containment over all words) for two covers'
    OCR words (None: not read). "same" needs each cover's prominent lines found on the other;
    "different" needs *confident* prominent lines on both, neither side's found on the other:
    a misread or a cropped-off title must not split an album (a crop drops words from one
    side only, so one direction still holds)."""
    if a is None or b is None:
        return None, None
    both = containment(cover_words(a), cover_words(b))
    if both is None:
        return None, None
    if both[0] >= t.same_at:
        return SAME, both[0]
    sure = containment(confident_words(a, t.veto_confidence), confident_words(b, t.veto_confidence))
    if sure is not None and sure[1] <= t.different_at:
        return DIFFERENT, both[0]
    return None, both[0]
