"""Read a dataset export (manifest.csv + card.json), check it is usable, decode its images.

The reader decides *which* samples exist (sorted, explicit class map, unreadable files
skipped and counted); :class:`CoverDataset` only decodes. Validation happens before any
CPU hour is spent, and every message names the sizes involved and what to do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image, ImageFile
from torch.utils.data import DataLoader, Dataset

from sleeve.dataset.export import SPLITS, DatasetCard, DatasetExport, read_export
from sleeve.errors import BadImageError, DataError
from sleeve.images.intake import UNREADABLE, failure_reason, open_rgb
from sleeve.procs import loader_worker_init_fn


@dataclass(frozen=True)
class Sample:
    path: Path  # absolute
    sha256: str
    genre: str
    split: str
    label: int


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
        Sample(dataset.image_path(r), r.sha256, r.genre, r.split, label[r.genre])
        for r in sorted(dataset.rows, key=lambda r: (r.split, r.genre, r.sha256))
    ]
    skipped: Counter = Counter()
    if check_images:
        samples, skipped = drop_unreadable(samples)
    export = Export(dataset, samples, skipped)
    validate(export)
    return export


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


def drop_unreadable(samples: Sequence[Sample]) -> tuple[list[Sample], Counter]:
    """Samples whose file decodes; the rest are counted by reason (missing-file, corrupt, ...)."""
    kept, skipped = [], Counter()
    for s in samples:
        try:
            _probe(s.path)
        except BadImageError as exc:
            skipped[exc.reason] += 1
            continue
        kept.append(s)
    return kept, skipped


def _probe(path: Path) -> None:
    """Decode at reduced scale (JPEG draft: ~8x cheaper) to catch truncated/corrupt files."""
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with Image.open(path) as img:
            img.draft("RGB", (64, 64))
            img.load()
    except UNREADABLE as exc:
        raise BadImageError(failure_reason(exc, path), f"{path}: {exc}") from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def decode(source: Path | str | bytes | Image.Image, min_size: int = 0) -> Image.Image:
    """An RGB image; JPEGs are decoded at the smallest DCT scale still >= ``min_size``."""
    if isinstance(source, str | Path) and min_size:
        img = Image.open(source)
        img.draft("RGB", (min_size, min_size))
        return open_rgb(img)
    return open_rgb(source)


class CoverDataset(Dataset):
    def __init__(self, samples: Sequence[Sample], transform: Callable, min_size: int = 0) -> None:
        self.samples = list(samples)
        self.transform = transform
        self.min_size = min_size

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        s = self.samples[index]
        return self.transform(decode(s.path, self.min_size)), s.label


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool = False,
    sampler: torch.utils.data.Sampler | None = None,
    workers: int = 0,
    seed: int = 0,
) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=workers,
        persistent_workers=False,
        # torch's own orphan check runs between batches, never while a worker is stuck in a file
        worker_init_fn=loader_worker_init_fn() if workers else None,
        generator=generator,
        pin_memory=torch.cuda.is_available(),
    )


def default_workers(device: torch.device) -> int:
    # On a 2-core CPU the network is the bottleneck (decode ~490 img/s vs ~35 img/s forward):
    # a worker process would only steal a core from the matmuls.
    return 4 if device.type == "cuda" else 0
