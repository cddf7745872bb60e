"""Class balance: undersample large classes keeping diversity, mark small ones for weighting.

A large class is cut to the target by round-robin over its clusters (an artist where known,
otherwise the item's leak group), in a seeded order: the kept items cover as many artists as
possible instead of the first N of a prolific one. Small classes are kept whole (never copied:
an image appears once in the dataset) and get an ``oversample`` factor for the trainer.
"""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    """One image the dataset may contain (a duplicate group's representative, labelled)."""

    image_id: int
    sha256: str
    genre: str
    cluster: str  # artist key, else the leak-group id: what "diversity" is measured over


@dataclass
class BalanceResult:
    kept: list[Candidate]
    target: int | None  # None when not balancing
    before: dict[str, int]
    after: dict[str, int]
    oversample: dict[str, float]  # > 1: sample this class more in training

    def as_dict(self) -> dict[str, object]:
        return {
            "applied": self.target is not None,
            "target_per_class": self.target,
            "before": self.before,
            "after": self.after,
            "oversample": self.oversample,
        }


def _counts(items: Sequence[Candidate]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for c in items:
        counts[c.genre] += 1
    return dict(sorted(counts.items()))


def round_robin(items: Sequence[Candidate], n: int, rng: random.Random) -> list[Candidate]:
    """``n`` items taken one per cluster in turn (clusters and members in a seeded order)."""
    clusters: dict[str, list[Candidate]] = defaultdict(list)
    for c in sorted(items, key=lambda c: c.sha256):
        clusters[c.cluster].append(c)
    order = sorted(clusters)
    rng.shuffle(order)
    queues = []
    for key in order:
        members = clusters[key]
        rng.shuffle(members)
        queues.append(members)
    taken: list[Candidate] = []
    depth = 0
    while len(taken) < n:
        progressed = False
        for queue in queues:
            if depth < len(queue):
                taken.append(queue[depth])
                progressed = True
                if len(taken) == n:
                    break
        if not progressed:
            break
        depth += 1
    return taken


def balance(
    items: Sequence[Candidate], *, enabled: bool, per_class: int | None = None, seed: int = 0
) -> BalanceResult:
    """Cut every class to the target (``per_class``, default the median class size)."""
    before = _counts(items)
    if not enabled or not items:
        return BalanceResult(list(items), None, before, before, {g: 1.0 for g in before})
    target = per_class or int(statistics.median(before.values()))
    by_genre: dict[str, list[Candidate]] = defaultdict(list)
    for c in items:
        by_genre[c.genre].append(c)
    kept: list[Candidate] = []
    for genre in sorted(by_genre):
        members = by_genre[genre]
        if len(members) > target:
            members = round_robin(members, target, random.Random(f"{seed}:{genre}"))
        kept.extend(members)
    after = _counts(kept)
    oversample = {g: round(max(1.0, target / n), 4) for g, n in after.items()}
    return BalanceResult(kept, target, before, after, oversample)
