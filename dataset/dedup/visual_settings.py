"""The visual duplicate stage's settings, shared by the stage and its text check.

They sit below both :mod:`sleeve.dataset.dedup.visual` (candidates and geometry) and
:mod:`sleeve.dataset.dedup.visual_text` (the words' verdict), which read the same thresholds,
so neither has to import the other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

THRESHOLD_NOTE = (
    "Chosen on the cover pairs of the shared covers labelled by eye (tests/data/cover_pairs.csv) "
    "and checked on random halves of them; precision and recall, with and without the text "
    "check, are measured by benchmarks/dedup.py (benchmarks/results/dedup.json, docs/build.md)."
)
BACKBONE = "efficientnet_lite0"
VERIFY = "ORB+RANSAC (near-featureless covers: 32 px layout and colour)"
IMAGE_SIZE = 224  # train-and-evaluate's default recipe: the cache it fills is the one read here


@dataclass(frozen=True)
class VisualDedup:
    """Settings of the stage (``build-dataset --visual-dedup on|off``)."""

    enabled: bool = True
    k: int = 8  # neighbours per cover searched for candidates
    min_cosine: float = 0.7  # candidate floor on embedding cosine similarity
    min_inliers: int = 15  # RANSAC homography inliers to confirm
    max_disagreement: float = 0.475  # share of textured blocks that may differ once aligned
    # pairs within this pHash distance are candidates too (0: none) when their cosine reaches
    # phash_min_cosine: a photo whose embedding drifted under the floor can still be near in
    # pHash (the cosine bound keeps the extra pairs to check few)
    phash_candidates: int = 14
    phash_min_cosine: float = 0.5
    # the words on the covers as a second verdict (sleeve.dataset.dedup.visual_text): pairs with
    # enough inliers and disagreement up to text_max_disagreement are confirmed when both
    # covers print the same prominent words (containment >= text_same_at both ways); pairs the
    # geometry confirmed are dropped when neither cover's confident (>= text_veto_confidence)
    # prominent words are found on the other (containment <= text_different_at)
    text_check: bool = True
    text_max_disagreement: float = 0.75
    text_same_at: float = 1.0
    text_different_at: float = 0.2
    text_veto_confidence: float = 0.9
    # pairs that align (>= hold_min_inliers) with disagreement up to hold_max_disagreement but
    # are not confirmed are kept in ONE split without being merged: a stickered copy, another
    # printing or the same photo session on another release. Both covers and both labels stay;
    # only the split is shared, so a doubt costs nothing and a real copy cannot leak
    # (benchmarks/dedup.py counts labelled same-album pairs left in two splits).
    hold_min_inliers: int = 12
    hold_max_disagreement: float = 0.75

    def describe(self) -> dict[str, object]:
        return asdict(self) | {"backbone": f"{BACKBONE} {IMAGE_SIZE}px", "verify": VERIFY}
