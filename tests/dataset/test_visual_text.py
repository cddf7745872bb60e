"""The visual duplicate stage's text check: the words printed on two covers as a second verdict
for look-alike candidates (same artist + title -> same album; another title -> another release).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sleeve.core.taxonomy import Taxonomy
from sleeve.dataset.build import build_dataset
from sleeve.dataset.dedup.cover_words import DIFFERENT, SAME, TextThresholds, text_verdict
from sleeve.dataset.dedup.geometry import Match
from sleeve.dataset.dedup.visual_settings import VisualDedup
from sleeve.dataset.dedup.visual_text import check_pairs
from sleeve.dataset.text.ocr import Word
from tests.dataset_support import cover
from tests.visual_images import jpeg_bytes, recaptured, release

pytest.importorskip("cv2")
STAGE = VisualDedup()
T = TextThresholds(STAGE.text_same_at, STAGE.text_different_at, STAGE.text_veto_confidence)


def _w(text: str, height: int = 40, confidence: float = 0.97, y: int = 10) -> Word:
    return Word(text, confidence, ((10, y), (200, y), (200, y + height), (10, y + height)))


TITLE = [_w("RED HEADED STRANGER", 60), _w("WILLIE NELSON", 50, y=90), _w("Columbia", 12, y=280)]


def test_same_words_read_differently_are_the_same_album() -> None:
    # OCR drops spaces and punctuation between captures; a sticker adds small words, a price
    # sticker a big one (the shop's, not the release's words)
    other = [_w("REDHEADED STRANGER", 58), _w("Willie Nelson.", 48, y=90), _w("$9.99", 50)]
    assert text_verdict(TITLE, other, T)[0] == SAME
    assert text_verdict([_w("DR. DRE", 40), _w("2001", 45)], [_w("DR.DRE 2001", 40)], T)[0] == SAME


def test_another_title_on_the_same_artwork_is_another_release() -> None:
    live = [_w("LIVE FROM AUSTIN", 60), _w("TEXAS CITY LIMITS", 55, y=90)]
    tammy = [_w("THE BEST OF", 60), _w("TAMMY WYNETTE", 55, y=90)]
    verdict, score = text_verdict(TITLE, live, T)
    assert verdict == DIFFERENT and score is not None and score < 0.2
    assert text_verdict(tammy, live, T)[0] == DIFFERENT


def test_a_misread_or_cropped_title_is_no_evidence() -> None:
    # the same words read with low confidence (a stylised font): never a veto
    unsure = [_w("KAE HGNEDD STRNAER", 60, confidence=0.6), _w("WLIE NESON", 50, 0.55, 90)]
    assert text_verdict(TITLE, unsure, T)[0] is None
    # a crop that cut the title off: the artist is still printed on both, so one direction
    # holds and the pair is not split
    cropped = [_w("WILLIE NELSON", 50)]
    assert text_verdict(TITLE, cropped, T)[0] is None
    # OCR not run, or nothing legible read: no verdict either way
    assert text_verdict(TITLE, None, T) == (None, None)
    assert text_verdict(TITLE, [_w("A1", 60)], T) == (None, None)


def _match(inliers: int, disagreement: float) -> Match:
    return Match(inliers, inliers, 0.5, disagreement)


def test_check_pairs_confirms_ambiguous_pairs_by_words_and_vetoes_other_titles() -> None:
    words = {
        0: TITLE,
        1: [_w("REDHEADEDSTRANGER", 60), _w("WILLIE NELSON", 50, y=90)],
        2: [_w("LIVE FROM AUSTIN", 60), _w("TEXAS CITY LIMITS", 55, y=90)],
        3: None,  # no OCR for this cover
    }
    matches = {
        (0, 1): _match(140, 0.6),  # ambiguous geometry, same words: confirmed by the text
        (0, 2): _match(200, 0.15),  # geometry passes, another title: vetoed
        (1, 3): _match(140, 0.6),  # ambiguous, no words: as without the text check
        (0, 3): _match(200, 0.15),  # geometry passes, no words: kept, as today
        (1, 2): _match(140, 0.9),  # beyond the text band: words are not asked
    }
    verdicts, report = check_pairs(matches, words.__getitem__, STAGE)
    assert verdicts == {(0, 1): "text", (0, 3): "geometry"}
    assert report.confirmed == 1 and report.vetoed == 1
    assert report.pairs_without_words == 2  # (1, 3) and (0, 3)
    assert report.pairs_asked == 4 and report.pairs_undecided == 0
    off = VisualDedup(text_check=False)
    plain, _ = check_pairs(matches, words.__getitem__, off)
    assert plain == {(0, 2): "geometry", (0, 3): "geometry"}


@pytest.fixture
def worded_tree(tmp_path: Path) -> Path:
    """Pop: an album (title and track names printed on it) and 6 other covers; HipHop: the
    album's re-capture (rotated, cropped, colour-shifted, a "$9.99" price sticker)."""
    root = tmp_path / "covers"
    album = release(4, 1)
    for k in range(6):
        (root / "Pop").mkdir(parents=True, exist_ok=True)
        (root / "Pop" / f"other{k}.jpg").write_bytes(jpeg_bytes(cover(200 + k, size=400)))
    (root / "Pop" / "album.jpg").write_bytes(jpeg_bytes(album))
    (root / "HipHop").mkdir(parents=True)
    (root / "HipHop" / "album-photo.jpg").write_bytes(jpeg_bytes(recaptured(album)))
    return root


def test_build_confirms_a_pair_by_its_words_and_says_so(
    sqlite_catalog, settings, worded_tree, tmp_path
):
    pytest.importorskip("rapidocr_onnxruntime")
    from sleeve.collector.folder_import import import_folder
    from sleeve.ui.app import data

    tax = Taxonomy.load()
    import_folder(sqlite_catalog, settings, tax, worded_tree, {"HipHop": "rap"}, progress=False)
    # a geometric bar no re-capture passes: the words alone decide inside the text band
    stage = VisualDedup(max_disagreement=0.0, text_max_disagreement=1.0, text_same_at=0.8)
    result = build_dataset(
        sqlite_catalog, settings, tax, out=tmp_path / "ds", progress=False, visual=stage
    )
    dup = result.card.duplicates
    assert dup.pairs_by_stage == {"sha256": 0, "phash": 0, "visual": 0, "text": 1}
    visual = dup.visual
    [pair] = visual["pair_list"]
    assert pair["by"] == "text" and pair["words"] >= 0.8
    assert visual["text"]["status"] == "on" and visual["text"]["confirmed"] == 1
    assert "confirmed by their words" in (result.export_dir / "card.md").read_text("utf-8")
    (group,) = data.catalog_duplicate_groups(
        settings,
        extra_pairs=data.visual_pairs(result.card),
        word_pairs=data.word_pairs(result.card),
    )
    assert {m.found_by for m in group} == {"visual + words"}

    # without words (no OCR: --no-text and nothing cached) the stage behaves as before
    sqlite_catalog.dispose()
    bare = tmp_path / "bare"
    from dataclasses import replace

    from sleeve.core.catalog.db import open_catalog

    settings2 = replace(settings, data_dir=bare)
    catalog2 = open_catalog(settings2.catalog_url)
    import_folder(catalog2, settings2, tax, worded_tree, {"HipHop": "rap"}, progress=False)
    res2 = build_dataset(
        catalog2,
        settings2,
        tax,
        out=tmp_path / "ds2",
        progress=False,
        visual=stage,
        read_text=False,
    )
    dup2 = res2.card.duplicates
    assert dup2.pairs_by_stage["text"] == 0 and dup2.visual["pairs"] == 0
    assert dup2.visual["text"]["pairs_without_words"] >= 1
    catalog2.dispose()
