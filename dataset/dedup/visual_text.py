"""The visual duplicate stage's second verdict: the words printed on the two covers (OCR).

Geometry (:mod:`sleeve.dataset.dedup.geometry`) leaves two kinds of errors that look alike to it:
re-captures whose aligned blocks disagree as much as a look-alike's (a sticker, a re-print:
disagreement 0.5-0.75) and look-alikes that align well (one photo on two albums, one record
label's centre template). The words tell them apart where OCR reads them:

* a pair in the *text band* (enough inliers, disagreement above ``max_disagreement`` and up to
  ``text_max_disagreement``) is confirmed when both covers print the same prominent words;
* a pair the geometry confirmed is dropped when both covers print confident prominent words
  and neither cover's are found on the other (another title: "Live from Austin", another
  single's name on the same label).

No words (OCR engine not installed, ``--no-text`` with nothing cached, an unreadable cover, or
too few legible letters) is no evidence: the pair gets the geometric verdict alone, as
without this check. Thresholds: :class:`sleeve.dataset.dedup.visual_settings.VisualDedup`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sleeve.dataset.dedup.cover_words import DIFFERENT, SAME, TextThresholds, text_verdict
from sleeve.dataset.dedup.geometry import Match
from sleeve.dataset.dedup.visual_settings import VisualDedup
from sleeve.dataset.text.cover_text import ensure_text, load_text
from sleeve.dataset.text.ocr import Word, engine_available

if TYPE_CHECKING:
    from sleeve.core.catalog.db import Catalog
    from sleeve.core.engine import Engine

GEOMETRY = "geometry"  # how a pair was confirmed: by the geometric check alone
TEXT = "text"  # in the text band, by the words the two covers print

# cover sha256s + their paths -> words by sha256 (absent: no OCR) and how many were read now
WordSource = Callable[[Sequence[tuple[str, str]]], tuple[dict[str, list[Word]], int]]


@dataclass
class TextCheckReport:
    status: str  # "on", "off", or "no words: <why>"
    covers: int = 0  # covers whose words were asked for
    covers_read: int = 0  # of those, read by OCR during this build (the rest were cached)
    pairs_asked: int = 0  # pairs whose verdict the words could change
    pairs_without_words: int = 0  # of those, pairs where either cover shows too little text
    pairs_undecided: int = 0  # of those, pairs whose words neither match nor contradict
    confirmed: int = 0  # text-band pairs confirmed by their words
    vetoed: int = 0  # geometric pairs dropped: the two covers print other titles
    seconds: float = 0.0
    # each asked pair's word score (the lower containment; None: too little text)
    scores: dict[tuple[int, int], float | None] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k != "scores"}


def thresholds(config: VisualDedup) -> TextThresholds:
    return TextThresholds(
        config.text_same_at, config.text_different_at, config.text_veto_confidence
    )


def _geometric(m: Match, config: VisualDedup) -> bool:
    return m.passes(config.min_inliers, config.max_disagreement)


def in_text_band(m: Match, config: VisualDedup) -> bool:
    """Too much disagreement for the geometry alone, but enough inliers and little enough that
    the words may decide (near-featureless covers are judged by their thumbnails only)."""
    return (
        m.plain is None
        and m.inliers >= config.min_inliers
        and config.max_disagreement < m.disagreement <= config.text_max_disagreement
    )


def pairs_to_ask(
    matches: Mapping[tuple[int, int], Match], config: VisualDedup
) -> list[tuple[int, int]]:
    """The pairs whose verdict the words can change: geometric passes and text-band pairs."""
    if not config.text_check:
        return []
    return [p for p, m in matches.items() if _geometric(m, config) or in_text_band(m, config)]


def check_pairs(
    matches: Mapping[tuple[int, int], Match],
    words_of: Callable[[int], Sequence[Word] | None],
    config: VisualDedup,
) -> tuple[dict[tuple[int, int], str], TextCheckReport]:
    """The confirmed pairs among ``matches`` and how (GEOMETRY or TEXT); ``words_of`` gives a
    cover's OCR words (None: not read)."""
    report = TextCheckReport("on" if config.text_check else "off")
    t = thresholds(config)
    out: dict[tuple[int, int], str] = {}
    asked = set(pairs_to_ask(matches, config))
    for pair, m in matches.items():
        geometric = _geometric(m, config)
        if pair not in asked:
            if geometric:
                out[pair] = GEOMETRY
            continue
        report.pairs_asked += 1
        verdict, report.scores[pair] = text_verdict(words_of(pair[0]), words_of(pair[1]), t)
        if verdict is None and report.scores[pair] is None:
            report.pairs_without_words += 1
        elif verdict is None:
            report.pairs_undecided += 1
        if geometric and verdict != DIFFERENT:
            out[pair] = GEOMETRY
        elif geometric:
            report.vetoed += 1
        elif verdict == SAME:
            out[pair] = TEXT
            report.confirmed += 1
    return out, report


def catalog_words(
    catalog: Catalog,
    data_dir: Path,
    *,
    read: bool,
    engine: Engine | None = None,
    progress: bool = False,
) -> WordSource:
    """Words from the catalog's OCR cache; with ``read``, covers not yet read are read first
    (on ``engine``, and cached: the export's text step then finds them there). Nothing when
    the OCR engine is not installed."""

    def source(covers: Sequence[tuple[str, str]]) -> tuple[dict[str, list[Word]], int]:
        if not covers or not engine_available():
            return {}, 0
        read_now = 0
        if read:
            report = ensure_text(catalog, data_dir, covers, progress=progress, engine=engine)
            read_now = report.read
        return load_text(catalog, {sha for sha, _ in covers}), read_now

    return source


def run_text_check(
    matches: Mapping[tuple[int, int], Match],
    covers: Sequence[tuple[str, str]],
    words: WordSource | None,
    config: VisualDedup,
) -> tuple[dict[tuple[int, int], str], TextCheckReport]:
    """:func:`check_pairs` with the words of ``covers`` (index -> (sha256, path)) fetched from
    ``words`` for the covers of the pairs that need them."""

    started = time.perf_counter()
    need = sorted({i for p in pairs_to_ask(matches, config) for i in p})
    found: dict[str, list[Word]] = {}
    read_now = 0
    why = ""
    if not config.text_check:
        why = "off"
    elif words is None:
        why = "no words: no catalog to read them from"
    elif not engine_available():
        why = "no words: the OCR engine is not installed (pip install 'sleeve[ocr]')"
    if words is not None and config.text_check and need:
        found, read_now = words([covers[i] for i in need])
    verdicts, report = check_pairs(matches, lambda i: found.get(covers[i][0]), config)
    if why:
        report.status = why
    report.covers, report.covers_read = len(need), read_now
    report.seconds = round(time.perf_counter() - started, 2)
    return verdicts, report
