"""The second duplicate stage: the same album scanned, photographed or reissued differently.

pHash (the first stage) merges covers within a few bits; a second scan, a phone photo of the
sleeve, a sticker or another crop sits at pHash distance 12-30, where unrelated covers match
too. This stage finds those:

1. candidates: each cover's ``k`` nearest neighbours by cosine of its EfficientNet-Lite0
   embedding (the same cached embeddings ``train-and-evaluate`` uses: no extra encoding once
   a dataset has been trained on), searched with FAISS (:mod:`sleeve.dataset.dedup.lookalike`);
2. verification: ORB keypoints + RANSAC homography (:mod:`sleeve.dataset.dedup.geometry`): enough
   inliers, and once aligned the two covers agree on most of their textured area. That tells
   a re-capture of one artwork from a different release on the same template (record centre
   labels of different singles, one photo laid out as two albums). Why not a calibrated
   threshold pair on the scores we already have: on the labelled pairs a high embedding cosine
   finds few same-album pairs and a loose pHash distance lets look-alikes in
   (benchmarks/dedup.py); neither separates a re-capture from a look-alike, keypoint geometry
   does.
3. the words (:mod:`sleeve.dataset.dedup.visual_text`, OCR cached in the catalog per sha256; covers
   in the pairs it asks about are read first when the OCR extra is installed and ``--no-text``
   is not given): a pair with >= 15 inliers and disagreement up to 0.75 is confirmed when each
   cover's prominent words are all found on the other (Fugees *The Score* with an "ORANGE"
   sticker, Dr. Dre *2001* with a "Back to Black" sticker); a geometric pair is dropped when both
   covers print confident prominent words and neither's are found on the other (one photo on
   two Tammy Wynette albums, two singles' Columbia labels); its precision and recall on the
   labelled pairs, against geometry alone, are in docs/build.md.
   It cannot reach pairs where OCR reads nothing legible on one cover: the
   Run the Jewels photo (its only words are on the other copy's sticker), the *Waylon* reprint,
   *Red Headed Stranger* (script lettering) against its live album. No words for a cover (no
   OCR extra, ``--no-text`` with nothing cached, an unreadable file, too few letters) means the
   geometric verdict alone, as without this check.

Confirmed pairs join the pHash groups (:func:`sleeve.dataset.dedup.groups.group_duplicates`), so
they never span splits and their genre evidence is pooled by the label rule.

Thresholds (:class:`sleeve.dataset.dedup.visual_settings.VisualDedup`), chosen on the cover
pairs labelled by eye in ``tests/data/cover_pairs.csv`` (same album or different releases):
the candidates (k nearest by cosine, plus pairs near in pHash at a lower cosine: a phone
photo whose embedding drifted) cover every labelled same-album pair; the inlier and
disagreeing-block bounds (near-featureless covers: a plain-resized layout and colour
comparison instead, :mod:`sleeve.dataset.dedup.geometry`) then keep precision and recall high,
also with thresholds picked on random halves; benchmarks/dedup.py measures them against pHash
alone (benchmarks/results/dedup.json, docs/build.md). Still missed: re-prints whose texture
differs everywhere (a leather-look *Waylon* reprint, *The King of Limbs*), a stickered re-capture
whose two halves align differently (Run the Jewels), *Blurryface* on another background colour;
they disagree on aligned blocks as much as one photo session laid out as two albums does.

Needs torch (embeddings) and OpenCV; without either the stage is skipped with a note.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sleeve.core.engine import Engine
from sleeve.core.errors import SleeveError
from sleeve.dataset.dedup.geometry import Match, verify_pairs
from sleeve.dataset.dedup.groups import Grouping
from sleeve.dataset.dedup.lookalike import candidate_pairs, normalised
from sleeve.dataset.dedup.neighbours import hex_to_uint64, near_pairs
from sleeve.dataset.dedup.visual_settings import (
    BACKBONE,
    IMAGE_SIZE,
    THRESHOLD_NOTE,
    VisualDedup,
)
from sleeve.dataset.dedup.visual_text import TEXT, TextCheckReport, WordSource, run_text_check
from sleeve.dataset.labels import NEAR_DUPLICATE, Label
from sleeve.dataset.rows import ImageRow

if TYPE_CHECKING:  # torch loads only when the stage runs
    import torch

    from sleeve.core.vision.backbones import Backbone


@dataclass(frozen=True)
class VisualPair:
    a: int  # image ids, a < b
    b: int
    cosine: float
    match: Match
    by: str = "geometry"  # what confirmed it: "geometry", or "text" (the words, in the band)
    words: float | None = None  # the word score when the words were compared


@dataclass
class VisualReport:
    status: str  # "on", "off", or "skipped: <why>"
    candidates: int = 0  # candidate pairs: embedding neighbours and pHash neighbours
    verified: int = 0  # of those, pairs checked geometrically (not already in one pHash group)
    pairs: list[VisualPair] = field(default_factory=list)  # confirmed
    held: list[tuple[int, int]] = field(default_factory=list)  # image ids: one split, not merged
    encoded: int = 0  # covers embedded by this build (not yet in the cache)
    seconds: float = 0.0
    text: TextCheckReport | None = None  # the words' verdicts (None: the stage did not run)

    @property
    def edges(self) -> list[tuple[int, int]]:
        return [(p.a, p.b) for p in self.pairs]


def embedding_cache_root(data_dir: Path) -> Path:
    return data_dir / "cache" / "embeddings"


def visual_backbone(device: torch.device | str = "cpu") -> Backbone:
    """The stage's backbone (its cache is keyed by its name and weights)."""
    from sleeve.core.vision.backbones import load_backbone

    return load_backbone(BACKBONE, "auto", device)


def _embeddings(
    images: Sequence[ImageRow], data_dir: Path, progress: bool
) -> tuple[np.ndarray, int]:
    """Lite0 embeddings of ``images`` through the training code's sha256-keyed cache; also
    how many covers were missing from it (and have been encoded and cached now)."""
    from sleeve.core.vision.backbones import configure_threads, resolve_device
    from sleeve.core.vision.embeddings import FeatureRecipe, cached_embeddings, cached_shas
    from sleeve.core.vision.samples import Sample

    device = resolve_device("auto")
    configure_threads(device)
    backbone = visual_backbone(device)
    recipe = FeatureRecipe(size=IMAGE_SIZE)
    root = embedding_cache_root(data_dir)
    missing = len({im.sha256 for im in images} - cached_shas(root, backbone, recipe))
    samples = [Sample(data_dir / im.path, im.sha256, "", "", 0) for im in images]
    feats = cached_embeddings(samples, backbone, recipe, device, root, progress=progress)
    return feats, missing


def find_visual_duplicates(
    images: Sequence[ImageRow],
    data_dir: Path,
    grouping: Grouping,
    config: VisualDedup,
    *,
    hashes: Mapping[int, str] | None = None,
    words: WordSource | None = None,
    engine: Engine | None = None,
    progress: bool = False,
) -> VisualReport:
    """Pairs of ``images`` that are the same artwork and not already in one pHash group.
    Candidates: embedding neighbours, and pairs within ``config.phash_candidates`` bits of
    ``hashes`` (image id -> pHash hex) when given; ``words`` (the catalog's OCR cache,
    :func:`sleeve.dataset.dedup.visual_text.catalog_words`) gives the text check its words.
    The geometric check runs on ``engine`` (default: in this process)."""
    if not config.enabled:
        return VisualReport("off")
    rows = [im for im in images if im.id in grouping.group_of]
    if len(rows) < 2:
        return VisualReport("on")
    started = time.perf_counter()
    try:
        import cv2  # noqa: F401  (verification)
    except ImportError:
        return VisualReport("skipped: OpenCV is not installed (pip install opencv-python-headless)")
    try:
        feats, encoded = _embeddings(rows, data_dir, progress)
    except ImportError as exc:
        missing = exc.name or str(exc)
        return VisualReport(f"skipped: embeddings unavailable ({missing} cannot be imported)")
    except SleeveError as exc:  # e.g. the backbone's weights cannot be loaded
        return VisualReport(f"skipped: embeddings unavailable ({exc})")
    cands = candidate_pairs(feats, k=config.k, min_cosine=config.min_cosine)
    cosine = {(int(i), int(j)): float(c) for i, j, c in cands}
    if hashes is not None and config.phash_candidates > 0:
        x = normalised(feats)
        codes = hex_to_uint64([hashes[im.id] for im in rows])
        for i, j, _ in near_pairs(codes, config.phash_candidates):
            c = float(x[i] @ x[j])
            if c >= config.phash_min_cosine:
                cosine.setdefault((int(i), int(j)), c)
    todo = [
        (i, j, c)
        for (i, j), c in sorted(cosine.items())
        if grouping.group_of[rows[i].id].id != grouping.group_of[rows[j].id].id
    ]
    covers = [(im.sha256, im.path) for im in rows]
    matches = verify_pairs(
        [(i, j) for i, j, _ in todo], covers, data_dir, engine=engine, progress=progress
    )
    verdicts, text = run_text_check(matches, covers, words, config)
    confirmed = []
    for i, j, cos in todo:
        if (i, j) in verdicts:
            a, b = sorted((rows[i].id, rows[j].id))
            score = text.scores.get((i, j))
            confirmed.append(
                VisualPair(a, b, round(cos, 4), matches[(i, j)], verdicts[(i, j)], score)
            )
    confirmed.sort(key=lambda p: (p.a, p.b))
    held = sorted(
        (min(rows[i].id, rows[j].id), max(rows[i].id, rows[j].id))
        for i, j, _ in todo
        if (i, j) not in verdicts and _aligned(matches[(i, j)], config)
    )
    return VisualReport(
        "on",
        candidates=len(cosine),
        verified=len(todo),
        pairs=confirmed,
        held=held,
        encoded=encoded,
        seconds=round(time.perf_counter() - started, 2),
        text=text,
    )


def _aligned(match: Match, config: VisualDedup) -> bool:
    """A pair whose keypoints align well enough to share a split (see ``hold_*``)."""
    return (
        match.inliers >= config.hold_min_inliers
        and match.disagreement <= config.hold_max_disagreement
    )


def card_entry(
    report: VisualReport,
    config: VisualDedup,
    grouping: Grouping,
    labels: Mapping[str, Label],
    sha_of: Mapping[int, str],
) -> dict[str, object]:
    """The stage's section of the dataset card: what it did and every pair it confirmed."""
    joined = {grouping.group_of[p.a].id for p in report.pairs if p.a in grouping.group_of}
    return {
        "status": report.status,
        "settings": config.describe(),
        "candidates": report.candidates,
        "verified": report.verified,
        "pairs": len(report.pairs),
        "groups_joined": len(joined),
        "pairs_held_in_one_split": len(report.held),
        # groups the stage joined whose members' evidence disagrees on the genre
        "conflicts_revealed": sum(1 for g in joined if labels[g].conflict == NEAR_DUPLICATE),
        "covers_embedded": report.encoded,
        "seconds": report.seconds,
        "text": report.text.as_dict() if report.text is not None else {"status": report.status},
        "note": THRESHOLD_NOTE,
        "pair_list": [
            {
                "sha256_a": sha_of[p.a],
                "sha256_b": sha_of[p.b],
                "cosine": p.cosine,
                "inliers": p.match.inliers,
                "disagreement": p.match.disagreement,
                "by": p.by,
                "words": p.words,
            }
            for p in report.pairs
        ],
    }


def summary_line(report: VisualReport) -> str:
    if report.status == "on":
        by_text = sum(1 for p in report.pairs if p.by == TEXT)
        vetoed = report.text.vetoed if report.text is not None else 0
        return (
            f"visual duplicate stage: {len(report.pairs)} pairs confirmed of "
            f"{report.verified} checked ({report.candidates} embedding candidates, "
            f"{report.encoded} covers embedded, {report.seconds:.1f} s); "
            f"by their words: {by_text} confirmed, {vetoed} dropped; "
            f"{len(report.held)} look-alike pairs kept in one split"
        )
    if report.status == "off":
        return "visual duplicate stage: off (--visual-dedup off)"
    return "visual duplicate stage " + report.status
