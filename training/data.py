"""Read a dataset export (manifest.csv + card.json), check it is usable, decode its images.

Every export layout trains the same way: an ImageFolder tree gives file samples; WebDataset and
Parquet exports give samples that read their bytes from the shard (a seek into the tar, one
Parquet row group) through the export owner's index, so nothing is unpacked to disk first.

The reader decides *which* samples exist (sorted, explicit class map, unreadable files
skipped and counted); :class:`CoverDataset` only decodes. Validation happens before any
CPU hour is spent, and every message names the sizes involved and what to do.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sleeve.core.errors import DataError
from sleeve.core.vision.samples import Sample, drop_unreadable
from sleeve.dataset.export import SPLITS, DatasetCard, DatasetExport, ManifestRow, read_export
from sleeve.dataset.text.ocr import words_text


@dataclass
class Export:
    """Training's view of a :class:`DatasetExport`: its decodable covers as labelled samples
    (sorted, explicit class map); unreadable files are left out and counted by reason."""

    dataset: DatasetExport
    samples: list[Sample]
    skipped: Counter = field(default_factory=Counter)  # reason -> count of unreadable images

    @property
    def root(self) -> Path:
        return self.dataset.root

    @property
    def dataset_id(self) -> str:
        return self.dataset.dataset_id

    @property
    def genres(self) -> list[str]:
        return self.dataset.genres

    @property
    def card(self) -> DatasetCard:
        return self.dataset.card

    def split(self, name: str) -> list[Sample]:
        return [s for s in self.samples if s.split == name]

    def counts(self) -> dict[str, dict[str, int]]:
        out = {sp: dict.fromkeys(self.genres, 0) for sp in SPLITS}
        for s in self.samples:
            out[s.split][s.genre] += 1
        return out

    def class_weights(self) -> list[float]:
        """Per-label loss weights: the card's, else inverse frequency on train (mean 1.0)."""
        card_w = self.card.class_weights
        if all(g in card_w for g in self.genres):
            return [float(card_w[g]) for g in self.genres]
        train = self.counts()["train"]
        inv = [1.0 / max(1, train[g]) for g in self.genres]
        mean = sum(inv) / len(inv)
        return [w / mean for w in inv]


def load_export(export_dir: Path | str, *, check_images: bool = True) -> Export:
    dataset = read_export(export_dir)
    label = {g: i for i, g in enumerate(dataset.genres)}
    samples = [
        _sample(dataset, r, label[r.genre])
        for r in sorted(dataset.rows, key=lambda r: (r.split, r.genre, r.sha256))
    ]
    skipped: Counter = Counter()
    if check_images:
        samples, skipped = drop_unreadable(samples)
    export = Export(dataset, samples, skipped)
    validate(export)
    return export


def _sample(dataset: DatasetExport, row: ManifestRow, label: int) -> Sample:
    """A file sample (ImageFolder), or one whose bytes are read from its shard on demand."""
    source = dataset.image_source(row)
    if isinstance(source, Path):
        return Sample(source, row.sha256, row.genre, row.split, label)
    return Sample(source.shard, row.sha256, row.genre, row.split, label, read=source)


def validate(export: Export) -> None:
    counts = export.counts()
    sizes = ", ".join(
        f"{g} {counts['train'][g]}/{counts['val'][g]}/{counts['test'][g]}" for g in export.genres
    )
    present = [g for g in export.genres if sum(counts[sp][g] for sp in SPLITS) > 0]
    if len(present) < 2:
        raise DataError(
            f"dataset {export.dataset_id} has {len(present)} class(es) ({sizes or 'no images'}); "
            "a classifier needs at least 2: collect another genre and run build-dataset again"
        )
    for sp in SPLITS:
        empty = [g for g in export.genres if counts[sp][g] == 0]
        if empty:
            raise DataError(
                f"dataset {export.dataset_id}: class(es) {', '.join(empty)} have no {sp} images "
                f"(train/val/test sizes: {sizes}); collect more covers for them or drop them, "
                "then run build-dataset again"
            )


@dataclass(frozen=True)
class ExtraRows:
    """The text rung's train rows from outside the export (text_extra.jsonl): the covers the
    balancer left out, one row at weight 1, and the ambiguous groups' covers, one row per tied
    genre at its share; each row's cover (its index in the table) and artist key ("" none)."""

    texts: list[str]
    y: np.ndarray
    weight: np.ndarray
    artists: list[str]
    cover: np.ndarray  # the row's cover, so a cover split over rows is counted once

    @property
    def covers(self) -> int:
        return len(np.unique(self.cover))

    def outside(self, held_artists: set[str]) -> ExtraRows:
        """The rows whose artist is not among ``held_artists`` (a fold's held-out covers'):
        per-fold refits leave out the extra words that would vouch for a held cover."""
        keep = [i for i, a in enumerate(self.artists) if not a or a not in held_artists]
        return ExtraRows(
            [self.texts[i] for i in keep],
            self.y[keep],
            self.weight[keep],
            [self.artists[i] for i in keep],
            self.cover[keep],
        )


def extra_text_rows(export: Export, *, ambiguous: bool = True) -> ExtraRows:
    """:class:`ExtraRows` of ``export`` (none when it has no text_extra.jsonl); genres outside
    the export's are skipped; ``ambiguous=False`` leaves out the ambiguous groups' covers (the
    rung before they were read: benchmarks/ambiguous_words.py)."""
    label = {g: i for i, g in enumerate(export.genres)}
    texts, y, weight, artists, covers = [], [], [], [], []
    for n, cover in enumerate(export.dataset.extra_covers):
        if cover.shares and not ambiguous:
            continue
        text = words_text(cover.words)
        for genre, w in cover.genre_shares():
            if genre in label:
                texts.append(text)
                y.append(label[genre])
                weight.append(w)
                artists.append(cover.artist_key)
                covers.append(n)
    return ExtraRows(
        texts,
        np.array(y, dtype=np.int64),
        np.array(weight, dtype=np.float64),
        artists,
        np.array(covers, dtype=np.int64),
    )
