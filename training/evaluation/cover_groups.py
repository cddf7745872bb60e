"""Which covers must sit on the same side of a cross-validation fold: the headline's groups.

The manifest's ``group_id`` joins a duplicate group, its release and its credited artist. A
folder import has no credits, so two covers of one artist, each naming it in its words, landed
in different folds and the headline kept a seen-artist lift that new covers do not get (on 885
unseen covers every seed scored below the headline's whole fold range). Here covers are also
joined when

- the export's ``artists.csv`` gives them the same artist key (credited, or read from the words
  by dataset/text/artists.py), and
- they look alike: their embeddings' cosine is at least ``LOOKALIKE_COSINE`` (the same artwork
  re-issued, recoloured or cropped, which the pHash dedup keeps apart).

Groups are the connected components of those links (union-find), so the folds hold new artists
and new artwork only.
"""

from __future__ import annotations

import numpy as np

from sleeve.dataset.dedup.lookalike import candidate_pairs
from sleeve.dataset.text.artist_stage import ARTIST_TABLE, load_table
from sleeve.training.data import Export

# cosine of two covers' embeddings above which they are one look-alike group: re-issues and
# recolourings of one artwork sit above it on the shared covers, different covers of one
# series mostly below (the visual dedup's candidate floor is 0.7, its geometric check decides)
LOOKALIKE_COSINE = 0.9
LOOKALIKE_K = 8
# a chain of near neighbours is not one artwork: a look-alike link never makes a group larger
# than this share of the covers (procedural or same-series covers would otherwise chain into
# one group per genre, and a fold would hold out a whole genre)
LOOKALIKE_MAX_SHARE = 0.01
BY = ("manifest group_id", "artist key (artists.csv: credits and words)", "look-alike embeddings")


FOLDS = 5


def manifest_groups(export: Export) -> dict[str, str]:
    """sha256 -> group_id from the export's manifest (a cover is its own group without one)."""
    return {r.sha256: r.group_id or r.sha256 for r in export.dataset.rows}


def fold_of(y: np.ndarray, groups: list[str], n_classes: int, seed: int = 0) -> np.ndarray:
    """Fold index per row: grouped (a group sits in one fold) and stratified by label."""
    from sklearn.model_selection import StratifiedGroupKFold

    smallest = int(np.bincount(y, minlength=n_classes)[np.unique(y)].min())
    folds = max(2, min(FOLDS, smallest, len(set(groups))))
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    out = np.full(len(y), -1, dtype=np.int64)
    for k, (_, held) in enumerate(splitter.split(np.zeros(len(y)), y, groups)):
        out[held] = k
    return out


class _Components:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.size = [1] * n

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, a: int, b: int, max_size: int | None = None) -> bool:
        """Merge a's and b's groups (unless the result would exceed ``max_size``)."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        if max_size is not None and self.size[ra] + self.size[rb] > max_size:
            return False
        lo, hi = min(ra, rb), max(ra, rb)
        self.parent[hi] = lo
        self.size[lo] += self.size[hi]
        return True


def _join_by_key(comp: _Components, keys: list[str]) -> int:
    """Join rows sharing a non-empty key; returns how many joins merged two groups."""
    first: dict[str, int] = {}
    merged = 0
    for i, key in enumerate(keys):
        if not key:
            continue
        if key in first:
            merged += comp.join(first[key], i)
        else:
            first[key] = i
    return merged


def lookalike_pairs(feats: np.ndarray, min_cosine: float = LOOKALIKE_COSINE) -> np.ndarray:
    """(i, j) rows of ``feats`` whose cosine is at least ``min_cosine``."""
    pairs = candidate_pairs(feats, k=LOOKALIKE_K, min_cosine=min_cosine)
    return pairs[:, :2].astype(np.int64)


def artist_keys(export: Export) -> list[str]:
    """Artist key per sample (export order): artists.csv's, "" when none or no table."""
    table = load_table(export.dataset.side_file(ARTIST_TABLE))
    return [table[s.sha256].key if s.sha256 in table else "" for s in export.samples]


def fold_groups(export: Export, feats: np.ndarray | None) -> tuple[list[str], dict]:
    """Group label per sample (export order) and how the groups were formed."""
    n = len(export.samples)
    comp = _Components(n)
    group_of = manifest_groups(export)
    manifest = [group_of.get(s.sha256, s.sha256) for s in export.samples]
    _join_by_key(comp, manifest)
    by_artist = _join_by_key(comp, artist_keys(export))
    by_look = 0
    pairs = lookalike_pairs(feats) if feats is not None and n > 1 else np.zeros((0, 2))
    cap = max(2, int(LOOKALIKE_MAX_SHARE * n))
    for i, j in pairs:
        by_look += comp.join(int(i), int(j), cap)
    roots = [comp.find(i) for i in range(n)]
    sizes = np.bincount(roots, minlength=n) if n else np.zeros(0, dtype=np.int64)
    info = {
        "by": list(BY),
        "lookalike_cosine": LOOKALIKE_COSINE,
        "lookalike_max_group": cap,
        "groups": len(set(roots)),
        "manifest_groups": len(set(manifest)),
        "merged_by_artist": int(by_artist),
        "merged_by_lookalike": int(by_look),
        "largest_group": int(sizes.max()) if n else 0,
    }
    return [export.samples[r].sha256 for r in roots], info


def artist_names(export: Export) -> dict[str, str]:
    """sha256 -> "name (source)" for the covers artists.csv gives an artist (for reviewers)."""
    table = load_table(export.dataset.side_file(ARTIST_TABLE))
    return {sha: f"{ev.name} ({ev.source})" for sha, ev in table.items() if ev.key}
