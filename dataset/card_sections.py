"""card.json's sections as records (sleeve.core.jsonrecord): what build-dataset's stages hand to the
card, the card's Markdown and the app, typed. The keys, their order and their values are those
card.json has always had; a key a newer sleeve adds is kept in ``extra``.

``settings``, ``labels``, ``balance`` and ``skipped`` are still plain objects (``skipped`` is a
count per reason, whose keys are data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sleeve.core.jsonrecord import JsonRecord, key


@dataclass(kw_only=True)
class DuplicatesSection(JsonRecord):
    """What the duplicate stages merged (dataset/dedup/groups.py, visual.py, text_pairs.py)."""

    byte_identical_images: int
    byte_identical_extra_links: int
    near_pairs: int
    near_duplicate_groups: int
    near_duplicate_images_removed: int
    max_distance_merged: int
    threshold_note: str
    # added with the visual stage (cards written before it lack them: None)
    pairs_by_stage: dict[str, int] | None = None  # sha256 / phash / visual / text -> pairs
    visual: dict[str, Any] | None = None  # the visual stage's own entry (visual.card_entry)


@dataclass(kw_only=True)
class ReviewSection(JsonRecord):
    """People's decisions applied to this build (dataset/review.py)."""

    decisions_in_catalog: int
    excluded: int
    relabelled: int
    kept: int
    relabelled_to: dict[str, int]
    labels_changed: int
    # decisions another tool wrote that could not be applied: their cover and reason
    skipped: list[dict[str, object]] | None = None
    rule: str


@dataclass(kw_only=True)
class TextSection(JsonRecord):
    """The covers' words (text.jsonl). Only ``note`` when they were not read."""

    engine: str | None = None
    version: str | None = None
    cached: int | None = None
    read: int | None = None
    with_text: int | None = None
    skipped: dict[str, int] | None = None
    skipped_examples: list[str] | None = None
    file: str | None = None
    covers: int | None = None
    covers_with_text: int | None = None
    note: str
    # the labelled covers the balancer left out whose words the text rung reads too
    extra_train_covers: int | None = None
    extra_ambiguous_covers: int | None = None  # of them, ambiguous duplicate groups' covers
    extra_left_out_shared_group: int | None = None


@dataclass(kw_only=True)
class ArtistsSection(JsonRecord):
    """Artist evidence (artists.csv): covers per source of the artist's name."""

    file: str
    grouped_split: bool
    covers: int
    credits: int
    catalog_text: int = field(metadata=key("catalog-text"))
    text: int
    none: int
    artists: int
    artists_on_several_covers: int
    note: str


@dataclass(kw_only=True)
class AttributesSection(JsonRecord):
    """build-dataset --attributes: attributes.csv and the per-genre profile."""

    file: str
    extractors: dict[str, int]  # extractor name -> version
    profile: dict[str, dict[str, float | int]]  # genre -> column -> value
    computed: dict[str, Any]  # cached / computed / skipped counts (AttributeReport)
    text_read: int | None = None  # added after the section (older cards lack it)
    note: str
    figure: str | None = None
