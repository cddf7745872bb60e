"""Helpers shared by the dataset tests (generated covers, folder trees, catalogs); no tests here.

Covers are random 8x8 colour blocks scaled up: unrelated covers sit ~32 bits apart in pHash
(min 18 over 40 seeds), while a JPEG q=60 re-encode or a 0.8x resize of one stays within 2 bits.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from sleeve.collector import records
from sleeve.core.catalog.db import Catalog
from sleeve.core.images.intake import inspect_image
from sleeve.core.images.store import ImageStore
from sleeve.core.settings import Settings
from sleeve.core.taxonomy import Taxonomy
from sleeve.dataset.export import read_export


def cover(seed: int, size: int = 160) -> Image.Image:
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    return Image.fromarray(blocks).resize((size, size), Image.BILINEAR)


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def reencoded(seed: int) -> bytes:
    return jpeg(cover(seed), quality=60)


def resized(seed: int, factor: float = 0.8) -> bytes:
    img = cover(seed)
    return jpeg(img.resize((int(img.width * factor),) * 2, Image.BILINEAR))


def write_tree(root: Path, layout: dict[str, dict[str, bytes]]) -> Path:
    """root/<folder>/<file name> = bytes."""
    for folder, files in layout.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (root / folder / name).write_bytes(data)
    return root


def add_release(
    catalog: Catalog,
    settings: Settings,
    taxonomy: Taxonomy,
    *,
    key: str,
    artist: str | None,
    image: bytes,
    evidence: list[records.Evidence],
    source: str = "musicbrainz",
) -> None:
    """A harvested-looking release (with artist and tag evidence) and its cover."""
    info = inspect_image(image)
    with catalog.session() as s:
        art = records.get_or_create_artist(s, source, f"a-{artist}", artist) if artist else None
        release, _ = records.upsert_release(
            s,
            source=source,
            ids={"release-group": key},
            title=f"Album {key}",
            artist=art,
            merge_across_sources=False,
        )
        records.add_evidence(s, release, source, evidence, taxonomy)
        records.attach_cover(
            s,
            ImageStore(settings.data_dir),
            release,
            image,
            info,
            source=source,
            source_url=f"http://example.invalid/{key}",
        )


def read_manifest(export_dir: Path) -> list[dict[str, str]]:
    """The manifest's rows as text cells, read by the export's owner."""
    return read_export(export_dir).row_dicts()
