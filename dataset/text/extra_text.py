"""Every labelled cover read: the words of covers the balancer left out, for the text rung only.

``--balance`` undersamples the large genres for the image rung (about 1,000 of the shared
covers), but their words (artist names above all) are evidence the text rung can learn from
without unbalancing anything the image head sees. The export's ``text_extra.jsonl`` lists them
(sha256, genre, words, and the artist evidence found for it: dataset/text/artists.py) and
training adds them to the text rung's train covers and its artist table. A cover is left
out when it shares a leak group (duplicate group, release, credited artist) or an artist read
from the words with a val or test cover, so the extra words never vouch for a held-out cover.
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
    items: Iterable,  # SplitItem: key, sha256, genre
    exported_split: Mapping[str, str],  # exported sha256 -> split
    leak_of: Mapping[int, str],  # item key -> leak group
    artist_of: Mapping[str, str],  # sha256 -> artist key ("" unknown)
) -> tuple[list, int]:
    """(labelled covers not exported whose leak group and artist no val/test cover shares,
    how many were left out for sharing one)."""
    items = list(items)
    held_leaks = {leak_of[it.key] for it in items if exported_split.get(it.sha256) in HELD_OUT}
    held_artists = {
        artist_of.get(sha, "") for sha, sp in exported_split.items() if sp in HELD_OUT
    } - {""}
    out, shared = [], 0
    for it in items:
        if it.sha256 in exported_split:
            continue
        if leak_of.get(it.key) in held_leaks or artist_of.get(it.sha256, "") in held_artists:
            shared += 1
            continue
        out.append(it)
    return out, shared


class ExtraCover(NamedTuple):
    sha256: str
    genre: str
    words: list[Word]
    artist_key: str = ""  # the artist evidence's key ("" none; artists.csv's artist_key)
    artist: str = ""  # its name


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
        lines.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n" if lines else "").encode("utf-8")


def read_extra_text_table(path: Path) -> list[ExtraCover]:
    """Parse text_extra.jsonl ([] when absent; tables written before the artist fields read
    as covers without artist evidence)."""
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
                )
            )
    return out
