"""Every labelled cover read: the words of covers the image head never sees, for the text rung.

Two kinds of labelled cover are not exported, and their words (artist names above all) are
evidence the text rung can learn from without changing anything the image head sees:

- covers ``--balance`` undersampled away from the large genres;
- ambiguous duplicate groups, whose label evidence names two or more genres the label rule
  could not separate (a file filed under Pop and Rock): such a cover enters with each of the
  tied genres as a row weighted by its share of the evidence (dataset/labels.py
  ``contenders``), so it says "pop or rock", never a guessed single genre.

The export's ``text_extra.jsonl`` lists them (sha256, genre, the shares when ambiguous, words,
and the artist evidence found for it: dataset/text/artists.py); training adds them to the text
rung's train covers, and the single-genre ones to its artist table. A cover is left out when
it shares a split link (duplicate group, release, credited artist) or an artist read from the
words with a val or test cover, so the extra words never vouch for a held-out cover.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from sleeve.dataset.text.ocr import Word

EXTRA_TEXT_TABLE = "text_extra.jsonl"
HELD_OUT = ("val", "test")


def extra_items(
    items: Iterable,  # SplitItem: key, sha256, genre, links
    exported_split: Mapping[str, str],  # exported sha256 -> split
    leak_of: Mapping[int, str],  # item key -> leak group
    artist_of: Mapping[str, str],  # sha256 -> artist key ("" unknown)
    candidates: Iterable | None = None,  # the covers to weigh (default: items not exported)
) -> tuple[list, int]:
    """(the candidates sharing no split link and no artist with a val/test cover, how many
    were left out for sharing one). A candidate outside ``items`` (an ambiguous group's
    cover) is held to the links of the held-out covers' leak groups."""
    items = list(items)
    held_leaks = {leak_of[it.key] for it in items if exported_split.get(it.sha256) in HELD_OUT}
    held_links = {link for it in items if leak_of.get(it.key) in held_leaks for link in it.links}
    held_artists = {
        artist_of.get(sha, "") for sha, sp in exported_split.items() if sp in HELD_OUT
    } - {""}
    if candidates is None:
        candidates = [it for it in items if it.sha256 not in exported_split]
    out, shared = [], 0
    for it in candidates:
        if held_links.intersection(it.links) or artist_of.get(it.sha256, "") in held_artists:
            shared += 1
            continue
        out.append(it)
    return out, shared


class ExtraCover(NamedTuple):
    sha256: str
    genre: str  # the genre (an ambiguous cover's: its first contender)
    words: list[Word]
    artist_key: str = ""  # the artist evidence's key ("" none; artists.csv's artist_key)
    artist: str = ""  # its name
    shares: tuple[tuple[str, float], ...] = ()  # an ambiguous cover's tied genres; () single

    def genre_shares(self) -> tuple[tuple[str, float], ...]:
        """(genre, weight) rows for the text rung: the tied genres, or the genre at 1."""
        return self.shares or ((self.genre, 1.0),)


def render_extra_text_table(rows: Iterable[ExtraCover]) -> bytes:
    """text_extra.jsonl: one line per cover, sorted by sha256 (the artist only when known)."""
    lines = []
    for row in sorted(rows, key=lambda r: r.sha256):
        record: dict = {
            "sha256": row.sha256,
            "genre": row.genre,
            "words": [w.as_dict() for w in row.words],
        }
        if row.artist_key:
            record |= {"artist_key": row.artist_key, "artist": row.artist}
        if row.shares:
            record["genres"] = dict(row.shares)  # full floats: the shares sum to 1
        lines.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n" if lines else "").encode("utf-8")


def read_extra_text_table(path: Path) -> list[ExtraCover]:
    """Parse text_extra.jsonl ([] when absent; tables written before the artist fields read
    as covers without artist evidence, before the ``genres`` field as single-genre covers)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out.append(
                ExtraCover(
                    row["sha256"],
                    row["genre"],
                    [Word.from_dict(d) for d in row["words"]],
                    str(row.get("artist_key", "")),
                    str(row.get("artist", "")),
                    _shares(row.get("genres")),
                )
            )
    return out


def _shares(raw: object) -> tuple[tuple[str, float], ...]:
    """An ambiguous cover's ``genres`` object as (genre, weight) pairs; () when absent."""
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not all(
        isinstance(g, str) and isinstance(w, int | float) and 0 < w <= 1 for g, w in raw.items()
    ):
        raise ValueError(f"genres must map genre names to weights in (0, 1], got {raw!r}")
    total = sum(raw.values())  # hand-edited tables too: one cover's rows weigh 1 together
    return tuple((g, float(w) / total) for g, w in raw.items())
