"""Every labelled cover read: the words of covers the balancer left out, for the text rung only.

``--balance`` undersamples the large genres for the image rung (about 1,000 of the shared
covers), but their words (artist names above all) are evidence the text rung can learn from
without unbalancing anything the image head sees. The export's ``text_extra.jsonl`` lists them
(sha256, genre, words) and training adds them to the text rung's train covers. A cover is left
out when it shares a leak group (duplicate group, release, credited artist) or an artist read
from the words with a val or test cover, so the extra words never vouch for a held-out cover.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

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


def render_extra_text_table(rows: Iterable[tuple[str, str, list[Word]]]) -> bytes:
    """text_extra.jsonl: one line per (sha256, genre, words), sorted by sha256."""
    lines = [
        json.dumps(
            {"sha256": sha, "genre": genre, "words": [w.as_dict() for w in words]},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        for sha, genre, words in sorted(rows, key=lambda r: r[0])
    ]
    return ("\n".join(lines) + "\n" if lines else "").encode("utf-8")


def read_extra_text_table(path: Path) -> list[tuple[str, str, list[Word]]]:
    """Parse text_extra.jsonl ([] when absent)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out.append((row["sha256"], row["genre"], [Word.from_dict(d) for d in row["words"]]))
    return out
