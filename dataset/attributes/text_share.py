"""Text share (structure): how much of the cover the words read on it cover.

Derived from the OCR cache (``cover_text``, filled by ``sleeve text`` or build-dataset's text
step), not from a second text detector: the word boxes rapidocr already found (4 corners in the
pixels of the stored cover) are filled into a mask and their union's area divided by the
cover's. A cover has these values only once its words have been read: without the ``ocr`` extra,
or before ``sleeve text`` has run, its cells stay empty. Nothing is stored: the boxes are
cached already and the share costs well under a millisecond per cover.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from sleeve.core.catalog.db import Catalog
from sleeve.core.catalog.models import CoverImage
from sleeve.dataset.attributes.base import Field, Values
from sleeve.dataset.text.cover_text import load_text
from sleeve.dataset.text.ocr import Word

GROUP = "text"  # the export's column prefix: text.share, text.has_text, text.words
MASK_SIDE = 256  # the union is measured on a mask this long on its longest side

FIELDS = (
    Field(
        "share",
        "area of the union of the OCR word boxes / area of the cover (rapidocr, confidence >= "
        "0.5, boxes filled on a 256 px mask)",
        "0 (no text) .. 1",
    ),
    Field("has_text", "1 if OCR read at least one word, else 0", "0 or 1"),
    Field("words", "number of word boxes (lines) OCR read", "0, 1, 2, ..."),
)
COLUMNS = tuple(f.name for f in FIELDS)


def text_share(words: Sequence[Word], width: int, height: int) -> float:
    """Union area of the words' boxes over the cover's area (overlaps counted once)."""
    if not words or width <= 0 or height <= 0:
        return 0.0
    scale = MASK_SIDE / max(width, height)
    h, w = max(1, round(height * scale)), max(1, round(width * scale))
    mask = np.zeros((h, w), np.uint8)
    for word in words:  # one at a time: fillPoly with several polygons XORs their overlaps
        cv2.fillPoly(mask, [np.round(np.array(word.box, float) * scale).astype(np.int32)], 1)
    return round(float(mask.mean()), 4)


def values_of(words: Sequence[Word], width: int, height: int) -> Values:
    return {
        "share": text_share(words, width, height),
        "has_text": int(bool(words)),
        "words": len(words),
    }


def text_values(catalog: Catalog, shas: Iterable[str]) -> dict[str, Values]:
    """sha256 -> text values, for the covers among ``shas`` whose words are cached."""
    from sqlalchemy import select

    wanted = set(shas)
    words = load_text(catalog, wanted)
    if not words:
        return {}
    with catalog.session() as s:
        sizes = {
            sha: (w, h)
            for sha, w, h in s.execute(
                select(CoverImage.sha256, CoverImage.width, CoverImage.height)
            )
            if sha in words
        }
    return {sha: values_of(words[sha], *sizes[sha]) for sha in words if sha in sizes}
