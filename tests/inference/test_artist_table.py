"""The artist table's parts: who enters it, how a cover's words are matched, the term's effect
and the choice of its weight on val."""

from __future__ import annotations

import numpy as np

from sleeve.dataset.text.ocr import Word
from sleeve.inference.artist_table import build_artist_table, choose_artist_weight

GENRES = ["country", "rap"]
BOX = ((0, 0), (100, 0), (100, 30), (0, 30))


def _words(*lines: str) -> list[Word]:
    return [Word(t, 0.9, BOX) for t in lines]


def test_only_artists_on_enough_covers_enter_and_one_name_is_one_artist() -> None:
    evidence = [
        ("mb-cash", "Johnny Cash", 0),
        ("text:johnnycash", "JOHNNY CASH", 0),  # the same name read from words: merged
        ("text:johnnycash", "JOHNNY CASH", 1),
        ("mb-nas", "Nas", 1),  # one cover: under the minimum
        ("", "", 0),  # no artist evidence
    ]
    table = build_artist_table(evidence, GENRES)
    assert [(a.key, a.name, a.counts) for a in table.artists] == [
        ("mb-cash", "Johnny Cash", (2, 1))
    ]
    assert len(build_artist_table(evidence, GENRES, min_covers=1)) == 2


def test_words_are_matched_as_the_dataset_matches_them() -> None:
    table = build_artist_table([("text:johnnycash", "JOHNNY CASH", 0)] * 2, GENRES)
    # OCR noise, a name split over two lines, a name inside a longer line
    for lines in (("JOHNNY GASH",), ("JOHNNY", "CASH"), ("JOHNNYCASH LIVE",)):
        found = table.recognise(_words(*lines))
        assert found is not None and found[0].key == "text:johnnycash", lines
    assert table.recognise(_words("WILLIE NELSON")) is None
    assert table.recognise([]) is None


def test_the_term_moves_recognised_rows_only() -> None:
    table = build_artist_table([("mb-cash", "Johnny Cash", 0)] * 3, GENRES)
    np.testing.assert_allclose(table.shares(table.artists[0]), [4 / 5, 1 / 5])
    probs = np.array([[0.3, 0.7], [0.3, 0.7]])
    found = [table.recognise(_words("JOHNNY CASH")), None]
    out = table.apply(probs, found, weight=1.0)
    assert out[0, 0] > probs[0, 0] and np.array_equal(out[1], probs[1])
    np.testing.assert_allclose(out[0], np.array([0.3 * 4, 0.7]) / (0.3 * 4 + 0.7))
    assert np.array_equal(table.apply(probs, found, weight=0.0), probs)


def test_the_weight_is_zero_when_the_artist_misleads_on_val() -> None:
    table = build_artist_table([("mb-cash", "Johnny Cash", 0)] * 3, GENRES)
    found = [table.recognise(_words("JOHNNY CASH"))] * 2 + [None]
    probs = np.array([[0.4, 0.6], [0.45, 0.55], [0.9, 0.1]])
    weight, score = choose_artist_weight(table, probs, found, np.array([1, 1, 0]))
    assert weight == 0.0 and score == 1.0  # the fused answer was right: the term stays out
    weight, score = choose_artist_weight(table, probs, found, np.array([0, 0, 0]))
    assert weight > 0.0 and score == 1.0
    assert choose_artist_weight(table, probs, [None] * 3, np.array([0, 0, 0])) == (0.0, None)
