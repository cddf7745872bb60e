"""Covers as training samples: the :class:`Sample` record, the draft decode, the torch dataset
and loader, and the check that a file decodes at all. Below the dataset and training layers:
the visual dedup stage and the style attribute embed covers with the same code training does.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageFile
from torch.utils.data import DataLoader, Dataset

from sleeve.core.errors import BadImageError, DataError
from sleeve.core.images.intake import UNREADABLE, failure_reason, open_image, open_rgb
from sleeve.core.procs import loader_worker_init_fn

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sample:
    path: Path  # absolute: the image file, or the shard holding it when ``read`` is set
    sha256: str
    genre: str
    split: str
    label: int
    # a sharded export's reader of this cover's (sha256-checked) bytes; picklable for workers
    read: Callable[[], bytes] | None = None

    def source(self) -> Path | bytes:
        """What :func:`decode` takes: the file, or the bytes read from the shard."""
        return self.path if self.read is None else self.read()


def drop_unreadable(samples: Sequence[Sample]) -> tuple[list[Sample], Counter]:
    """Samples whose file decodes; the rest are counted by reason (missing-file, corrupt, ...)."""
    kept: list[Sample] = []
    skipped: Counter[str] = Counter()
    for s in samples:
        try:
            _probe(s.source())
        except DataError as exc:  # a shard member whose bytes no longer match their sha256
            skipped["changed-file"] += 1
            logger.warning("%s", exc)
            continue
        except BadImageError as exc:
            skipped[exc.reason] += 1
            continue
        kept.append(s)
    return kept, skipped


def _probe(source: Path | bytes) -> None:
    """Decode at reduced scale (JPEG draft: ~8x cheaper) to catch truncated/corrupt files."""
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    path = source if isinstance(source, Path) else Path("<shard member>")
    try:
        with open_image(source) as img:
            img.draft("RGB", (64, 64))
            img.load()
    except UNREADABLE as exc:
        raise BadImageError(failure_reason(exc, path), f"{path}: {exc}") from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def decode(source: Path | str | bytes | Image.Image, min_size: int = 0) -> Image.Image:
    """An RGB image; JPEGs are decoded at the smallest DCT scale still >= ``min_size``."""
    if isinstance(source, str | Path | bytes) and min_size:
        img = open_image(source)
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
        return self.transform(decode(s.source(), self.min_size)), s.label


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
    # On a 2-core CPU the network is the bottleneck (decoding is an order of magnitude faster):
    # a worker process would only steal a core from the matmuls.
    return 4 if device.type == "cuda" else 0
