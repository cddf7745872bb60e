"""Label resolution: one genre per duplicate group from all the evidence behind it, or none.

The rule (shared/docs/genre-mapping.md, "Resolving multi-genre items"), stated once here:

    score(genre) = Σ over distinct releases linked to any image of the group, over their
                   evidence rows mapping to genre:  strength weight × source-kind multiplier
                                                     × vote factor
    multipliers: MusicBrainz rg-genre ×3, artist-genre ×2, tags (rg/artist/release) ×1,
                 Spotify artist-genre ×1, Spotify search-filter ×0.5, folder ×1
    vote factor: tags only, min(1 + log2(votes), 3); 1 for everything else
    strength weight: taxonomy core 1.0 / sub 0.6 / weak 0.3; a folder (alias) 1.0

The top genre wins when its score >= ``min_score`` (0.5) and >= ``margin`` (1.5) × the runner-up;
otherwise the group is ``ambiguous`` and left out. So a file filed under Pop and Rock (1 vs 1)
is dropped, while a near-duplicate group filed twice under Pop and once under Rock (2 vs 1)
becomes pop. The vote is over all genres, before ``--genres`` filters: an ambiguous pop/rock
cover does not become pop because rock was not requested.

Evidence strings are matched again with the current taxonomy, so a changed taxonomy takes effect
without re-harvesting; a string the taxonomy no longer knows falls back to the genre stored at
harvest time. Folder evidence always uses its stored (mapped) genre.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sleeve.core.taxonomy import Taxonomy
from sleeve.dataset.dedup.groups import DuplicateGroup
from sleeve.dataset.rows import CatalogRows, EvidenceRow

TAG_KINDS = frozenset({"rg-tag", "artist-tag", "release-tag"})
DEFAULT_MULTIPLIERS: dict[tuple[str, str], float] = {
    ("musicbrainz", "rg-genre"): 3.0,
    ("musicbrainz", "artist-genre"): 2.0,
    ("musicbrainz", "rg-tag"): 1.0,
    ("musicbrainz", "artist-tag"): 1.0,
    ("musicbrainz", "release-tag"): 1.0,
    ("spotify", "artist-genre"): 1.0,
    ("spotify", "search-filter"): 0.5,
    ("folder", "folder"): 1.0,
}

# Conflict kinds, in the order they are checked.
BYTE_IDENTICAL = "byte-identical across genres"
NEAR_DUPLICATE = "near-duplicate group across genres"
MULTI_GENRE = "single image with multi-genre evidence"
CONFLICT_KINDS = (BYTE_IDENTICAL, NEAR_DUPLICATE, MULTI_GENRE)


@dataclass(frozen=True)
class LabelRule:
    multipliers: dict[tuple[str, str], float] = field(
        default_factory=lambda: dict(DEFAULT_MULTIPLIERS)
    )
    min_score: float = 0.5
    margin: float = 1.5
    max_vote_factor: float = 3.0

    def describe(self) -> dict[str, object]:
        return {
            "score": "sum over distinct releases of strength weight x multiplier x vote factor",
            "multipliers": {f"{s}:{k}": v for (s, k), v in sorted(self.multipliers.items())},
            "vote_factor": f"tags only: min(1 + log2(votes), {self.max_vote_factor})",
            "min_score": self.min_score,
            "margin": f"winner >= {self.margin} x runner-up, else ambiguous (dropped)",
        }


@dataclass(frozen=True)
class Label:
    genre: str | None
    status: str  # resolved | ambiguous | weak | no-evidence
    scores: tuple[tuple[str, float], ...]  # best first
    conflict: str | None  # one of CONFLICT_KINDS, or None


@dataclass
class LabelReport:
    status: Counter[str] = field(default_factory=Counter)
    # conflict kind -> {"groups": n, "ambiguous": n, "resolved": {genre: n}}
    conflicts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, label: Label) -> None:
        self.status[label.status] += 1
        if label.conflict is None:
            return
        entry = self.conflicts.setdefault(
            label.conflict, {"groups": 0, "ambiguous": 0, "weak": 0, "resolved": {}}
        )
        entry["groups"] += 1
        if label.genre is None:
            entry[label.status] += 1
        else:
            resolved: dict[str, int] = entry["resolved"]
            resolved[label.genre] = resolved.get(label.genre, 0) + 1

    def as_dict(self) -> dict[str, object]:
        return {
            "status": dict(sorted(self.status.items())),
            "conflicts": {k: self.conflicts[k] for k in CONFLICT_KINDS if k in self.conflicts},
        }


def evidence_scores(
    rows: Iterable[EvidenceRow], taxonomy: Taxonomy, rule: LabelRule
) -> dict[str, float]:
    """Score per genre from one release's evidence rows."""
    scores: dict[str, float] = defaultdict(float)
    for ev in rows:
        mult = rule.multipliers.get((ev.source, ev.kind), 1.0)
        factor = 1.0
        if ev.kind in TAG_KINDS:
            factor = min(1.0 + math.log2(max(ev.votes, 1)), rule.max_vote_factor)
        matches = [] if ev.kind == "folder" else taxonomy.match(ev.name)
        if matches:
            for m in matches:
                scores[m.genre] += m.weight * mult * factor
        elif ev.target_genre:
            scores[ev.target_genre] += ev.weight * mult * factor
    return {g: s for g, s in scores.items() if s > 0}


def decide(scores: dict[str, float], rule: LabelRule) -> tuple[str | None, str]:
    if not scores:
        return None, "no-evidence"
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    top_genre, top = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    if top < rule.min_score:
        return None, "weak"
    if runner_up > 0 and top < rule.margin * runner_up:
        return None, "ambiguous"
    return top_genre, "resolved"


def contenders(label: Label, rule: LabelRule) -> tuple[tuple[str, float], ...]:
    """An ambiguous group's genres the rule could not separate (score x margin above the top
    score), each with its share of their summed score, best first; () for any other label.
    The text rung learns from such a cover's words with these shares as row weights."""
    if label.status != "ambiguous" or not label.scores:
        return ()
    top = label.scores[0][1]
    tied = [(g, s) for g, s in label.scores if s * rule.margin > top]
    total = sum(s for _, s in tied)
    return tuple((g, s / total) for g, s in tied)


def resolve_group(
    group: DuplicateGroup,
    rows: CatalogRows,
    taxonomy: Taxonomy,
    rule: LabelRule,
    release_scores: dict[int, dict[str, float]],
) -> Label:
    """The label of a duplicate group; ``release_scores`` caches per-release scores."""

    def scores_of(release_id: int) -> dict[str, float]:
        if release_id not in release_scores:
            release_scores[release_id] = evidence_scores(
                rows.evidence.get(release_id, []), taxonomy, rule
            )
        return release_scores[release_id]

    releases_by_image = {i: rows.releases_of(i) for i in group.members}
    total: dict[str, float] = defaultdict(float)
    for rid in sorted({r for rs in releases_by_image.values() for r in rs}):
        for g, score in scores_of(rid).items():
            total[g] += score
    genre, status = decide(dict(total), rule)
    ranked = tuple(sorted(((g, round(s, 4)) for g, s in total.items()), key=lambda kv: -kv[1]))
    return Label(genre, status, ranked, _conflict_kind(releases_by_image, scores_of))


def _conflict_kind(
    releases_by_image: dict[int, list[int]], scores_of: Callable[[int], dict[str, float]]
) -> str | None:
    per_release = {r: frozenset(scores_of(r)) for rs in releases_by_image.values() for r in rs}
    if len(frozenset().union(*per_release.values())) < 2:
        return None
    for rs in releases_by_image.values():
        if len({per_release[r] for r in rs if per_release[r]}) > 1:
            return BYTE_IDENTICAL
    per_image = {
        i: frozenset().union(*(per_release[r] for r in rs)) for i, rs in releases_by_image.items()
    }
    if len({g for g in per_image.values() if g}) > 1:
        return NEAR_DUPLICATE
    return MULTI_GENRE


def resolve_labels(
    groups: Iterable[DuplicateGroup],
    rows: CatalogRows,
    taxonomy: Taxonomy,
    rule: LabelRule | None = None,
) -> tuple[dict[str, Label], LabelReport]:
    """Label of every group (by group id) and a report counting outcomes and conflicts."""
    rule = rule or LabelRule()
    cache: dict[int, dict[str, float]] = {}
    labels: dict[str, Label] = {}
    report = LabelReport()
    for group in groups:
        label = resolve_group(group, rows, taxonomy, rule, cache)
        labels[group.id] = label
        report.add(label)
    return labels, report
