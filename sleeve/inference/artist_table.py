"""The artist table: artists the text rung's train covers name, with their genre counts, shipped
in model.pt as plain data and used when a new cover's words name one of them.

The text rung learns artist names only implicitly (character n-grams shared with other words);
the table makes the evidence explicit. It is built at training time from the covers the text
rung trains on (train covers and the balancer's left-out covers, never val/test), from the
export's artist evidence (dataset/text/artists.py: catalog credits, words naming a catalog
artist, names printed on several covers). At predict time a cover's words are matched against
the table's names with the same matcher (``CatalogNames``: compact keys, OCR-noise fuzz, most
prominent line first), and the artist's smoothed genre distribution ``q`` enters the fused
answer as one more log-linear term::

    p = softmax(log p_fused + weight * log q)

``weight`` is chosen on the val covers whose words name a table artist (0 among the choices,
so the term never makes those covers worse on val). A cover naming no table artist keeps the
fused probabilities bit for bit.

Only artists with at least ``MIN_COVERS`` train covers enter. A name on one train cover is
thin genre evidence, and a text key (``text:``) on one train cover exists only because some
other cover, possibly a val or test one, printed it too (benchmarks/artist_table.py measures
the choice on an export).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from sleeve.dataset.text.artists import TEXT_PREFIX, CatalogNames, text_key
from sleeve.dataset.text.ocr import Word
from sleeve.inference.heads_runtime import softmax
from sleeve.inference.text_head import weighted_f1

TYPE = "artist-table"
MIN_COVERS = 2  # train covers an artist needs to enter the table (see the module docstring)
SMOOTHING = 1.0  # add-one per genre: two rock covers give rock 3/7 of 5 genres, not 1
# from no term, through a nudge, to the artist overriding an over-confident fused answer (an
# image head's probabilities can sit at 1e-9: only a weight of ~10+ outweighs that)
WEIGHT_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
_EPS = 1e-9


@dataclass(frozen=True)
class Artist:
    key: str  # Artist.name_key, or TEXT_PREFIX + compact key (dataset/text/artists.py)
    name: str  # as credited, or as printed on most of its train covers
    counts: tuple[int, ...]  # train covers per genre

    @property
    def covers(self) -> int:
        return sum(self.counts)


@dataclass
class ArtistContribution:
    """What a recognised artist did to one cover's answer."""

    key: str
    name: str
    words: str  # the words on the cover that named it
    covers: int  # the train covers behind its genre counts
    weight: float  # the term's weight (chosen on val)
    shares: dict[str, float]  # the artist's smoothed genre distribution
    shift: dict[str, float]  # final minus fused probability, per genre

    def as_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "name": self.name,
            "words": self.words,
            "covers": self.covers,
            "weight": self.weight,
            "genres": {g: round(v, 6) for g, v in self.shares.items()},
            "shift": {g: round(v, 6) for g, v in self.shift.items()},
        }


def match_text(key: str, name: str) -> str:
    """What the matcher compares a cover's lines with: the compact key itself for a name read
    from words (its printed form may carry a title), the credited name otherwise."""
    return key.removeprefix(TEXT_PREFIX) if key.startswith(TEXT_PREFIX) else name or key


@dataclass
class ArtistTable:
    genres: list[str]
    artists: list[Artist]
    weight: float = 0.0
    min_covers: int = MIN_COVERS
    smoothing: float = SMOOTHING
    _by_key: dict[str, Artist] = field(init=False, repr=False)
    _names: CatalogNames = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_key = {a.key: a for a in self.artists}
        self._names = CatalogNames({a.key: match_text(a.key, a.name) for a in self.artists})

    def __len__(self) -> int:
        return len(self.artists)

    def recognise(self, words: Sequence[Word]) -> tuple[Artist, str] | None:
        """The table artist the cover's words name (most prominent line first) and the words
        that named it, or None."""
        hit = self._names.match(words)
        return (self._by_key[hit[0]], hit[1]) if hit is not None else None

    def shares(self, artist: Artist) -> np.ndarray:
        counts = np.asarray(artist.counts, dtype=np.float64)
        return (counts + self.smoothing) / (counts.sum() + self.smoothing * len(counts))

    def apply(
        self,
        probs: np.ndarray,
        found: Sequence[tuple[Artist, str] | None],
        weight: float | None = None,
    ) -> np.ndarray:
        """``probs`` with the artist term on the rows whose artist was recognised; the other
        rows (and every row when the weight is 0) are returned unchanged."""
        w = self.weight if weight is None else weight
        out = np.array(probs, dtype=np.float64, copy=True)
        rows = [i for i, f in enumerate(found) if f is not None]
        if w == 0.0 or not rows:
            return out
        log_q = np.stack([np.log(self.shares(f[0])) for f in found if f is not None])
        out[rows] = softmax(np.log(out[rows] + _EPS) + w * log_q)
        return out

    def contribution(
        self, found: tuple[Artist, str], before: np.ndarray, after: np.ndarray
    ) -> ArtistContribution:
        artist, words = found
        return ArtistContribution(
            key=artist.key,
            name=artist.name,
            words=words,
            covers=artist.covers,
            weight=self.weight,
            shares=dict(zip(self.genres, self.shares(artist).tolist(), strict=True)),
            shift=dict(zip(self.genres, (after - before).tolist(), strict=True)),
        )

    def to_dict(self) -> dict:
        """Plain lists, strings and numbers (model.pt's ``text.artists``)."""
        return {
            "type": TYPE,
            "genres": list(self.genres),
            "weight": float(self.weight),
            "min_covers": int(self.min_covers),
            "smoothing": float(self.smoothing),
            "keys": [a.key for a in self.artists],
            "names": [a.name for a in self.artists],
            "counts": [[int(c) for c in a.counts] for a in self.artists],
        }

    @classmethod
    def from_dict(cls, d: dict) -> ArtistTable:
        """The table stored in model.pt (checked first by model_check.check_payload)."""
        artists = [
            Artist(str(k), str(n), tuple(int(c) for c in counts))
            for k, n, counts in zip(d["keys"], d["names"], d["counts"], strict=True)
        ]
        return cls(
            genres=[str(g) for g in d["genres"]],
            artists=artists,
            weight=float(d["weight"]),
            min_covers=int(d["min_covers"]),
            smoothing=float(d["smoothing"]),
        )


def build_artist_table(
    evidence: Iterable[tuple[str, str, int]], genres: Sequence[str], min_covers: int = MIN_COVERS
) -> ArtistTable:
    """The table from (artist key, name, genre index) per train cover. Keys the matcher cannot
    tell apart (the same compact name, e.g. a credit and a text key) are one artist, under the
    credited key; its name is the one its covers give most often."""
    per_key: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for key, name, label in evidence:
        if key:
            per_key[key].append((name, label))
    merged: dict[str, list[str]] = defaultdict(list)  # compact name -> evidence keys
    for key in sorted(per_key, key=lambda k: (k.startswith(TEXT_PREFIX), k)):
        merged[text_key(match_text(key, _commonest(per_key[key])))].append(key)
    artists = []
    for keys in merged.values():
        rows = [row for k in keys for row in per_key[k]]
        if len(rows) < min_covers:
            continue
        counts = [0] * len(genres)
        for _, label in rows:
            counts[label] += 1
        artists.append(Artist(keys[0], _commonest(per_key[keys[0]]), tuple(counts)))
    artists.sort(key=lambda a: a.key)
    return ArtistTable(list(genres), artists, min_covers=min_covers)


def _commonest(rows: Sequence[tuple[str, int]]) -> str:
    names = Counter(n for n, _ in rows)
    return max(names, key=lambda n: (names[n], n))


def choose_artist_weight(
    table: ArtistTable,
    probs: np.ndarray,
    found: Sequence[tuple[Artist, str] | None],
    y: np.ndarray,
) -> tuple[float, float | None]:
    """The term's weight with the best weighted F1 on the rows whose artist was recognised
    (ties: the smaller weight; 0 when no row was); (weight, that F1 or None)."""
    rows = np.array([f is not None for f in found], dtype=bool)
    if not rows.any():
        return 0.0, None
    sub = [f for f in found if f is not None]
    scored = [
        (weighted_f1(y[rows], table.apply(probs[rows], sub, weight=w)), w) for w in WEIGHT_GRID
    ]
    score, weight = max(scored, key=lambda t: (t[0], -t[1]))
    return weight, score
