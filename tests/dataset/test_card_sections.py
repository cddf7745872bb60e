"""card.json's sections are records (dataset/card_sections.py): a card written by a newer
sleeve, with keys this one does not know at the top and inside sections, is read and written
back byte for byte."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sleeve.core.errors import DataError
from sleeve.dataset.card_sections import (
    ArtistsSection,
    AttributesSection,
    DuplicatesSection,
    ReviewSection,
    TextSection,
)
from sleeve.dataset.export import DatasetCard

NEWER_CARD: dict[str, Any] = {
    "dataset_id": "0123456789abcdef",
    "genres": ["jazz", "rock"],
    "counts": {"train": {"jazz": 7, "rock": 7}, "val": {"jazz": 2, "rock": 1}},
    "class_weights": {"jazz": 1.0, "rock": 1.0},
    "oversample": {"jazz": 1.0, "rock": 1.0},
    "settings": {"hash": "phash", "threshold": 8},
    "duplicates": {
        "byte_identical_images": 2,
        "byte_identical_extra_links": 3,
        "near_pairs": 4,
        "near_duplicate_groups": 1,
        "near_duplicate_images_removed": 2,
        "max_distance_merged": 6,
        "threshold_note": "a note",
        "pairs_by_stage": {"sha256": 3, "phash": 4, "visual": 1, "text": 0},
        "visual": {"status": "on", "pairs": 1},
        "a_later_stage": {"pairs": 9},  # written by a newer sleeve
    },
    "labels": {"status": {"agreed": 20}},
    "balance": {"applied": False},
    "skipped": {"missing-file": 1},
    "group_id": "note",
    "created_with": "sleeve 9.0",
    "created_at": "2026-12-06T21:00:00Z",
    "review": {
        "decisions_in_catalog": 2,
        "excluded": 1,
        "relabelled": 1,
        "kept": 0,
        "relabelled_to": {"rock": 1},
        "labels_changed": 2,
        "rule": "newest decision",
    },
    "text": {"note": "cover text: not read (--no-text)"},
    "attributes": {
        "file": "attributes.csv",
        "extractors": {"colour": 1},
        "profile": {"jazz": {"covers": 9, "saturation": 0.25}},
        "computed": {"cached": {}, "computed": {"colour": 9}},
        "text_read": 0,
        "note": "means",
        "figure": "attributes_profile.png",
    },
    "artists": {
        "file": "artists.csv",
        "grouped_split": True,
        "covers": 17,
        "credits": 5,
        "catalog-text": 2,
        "text": 3,
        "none": 7,
        "artists": 6,
        "artists_on_several_covers": 2,
        "note": "n",
    },
    "provenance": {"host": "newer"},  # a top-level section a newer sleeve writes
}


def test_a_newer_card_round_trips_byte_for_byte() -> None:
    text = json.dumps(NEWER_CARD, indent=2) + "\n"
    card = DatasetCard.from_dict(json.loads(text), "ignored", [])
    assert isinstance(card.duplicates, DuplicatesSection) and card.duplicates.near_pairs == 4
    assert card.duplicates.extra == {"a_later_stage": {"pairs": 9}}
    assert isinstance(card.review, ReviewSection) and card.review.relabelled_to == {"rock": 1}
    assert isinstance(card.text, TextSection) and card.text.covers is None
    assert isinstance(card.attributes, AttributesSection) and card.attributes.figure
    assert isinstance(card.artists, ArtistsSection) and card.artists.catalog_text == 2
    assert card.extra == {"provenance": {"host": "newer"}}
    assert json.dumps(card.to_dict(), indent=2) + "\n" == text


def test_a_card_from_before_the_visual_stage_keeps_its_keys() -> None:
    older = {
        k: v for k, v in NEWER_CARD["duplicates"].items() if k not in ("visual", "a_later_stage")
    }
    del older["pairs_by_stage"]
    card = DatasetCard.from_dict({**NEWER_CARD, "duplicates": older}, "x", [])
    assert card.duplicates is not None and card.duplicates.visual is None
    assert card.to_dict()["duplicates"] == older


def test_a_section_missing_a_key_it_always_had_is_one_clear_error() -> None:
    broken = {k: v for k, v in NEWER_CARD["review"].items() if k != "kept"}
    with pytest.raises(DataError, match="ReviewSection lacks kept"):
        DatasetCard.from_dict({**NEWER_CARD, "review": broken}, "x", [])
