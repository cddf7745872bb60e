"""Every labelled cover read: the balancer's left-out covers reach the text rung, never a
cover sharing a group with val/test."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from sleeve.dataset.text.extra_text import (
    ExtraCover,
    extra_items,
    read_extra_text_table,
    render_extra_text_table,
)
from sleeve.dataset.text.ocr import Word


def _item(key: int, sha: str, genre: str = "rock") -> SimpleNamespace:
    return SimpleNamespace(key=key, sha256=sha, genre=genre)


def test_left_out_covers_sharing_a_val_or_test_group_stay_out() -> None:
    items = [_item(1, "a"), _item(2, "b"), _item(3, "c"), _item(4, "d"), _item(5, "e")]
    exported = {"a": "train", "b": "test"}  # c, d, e were left out by the balancer
    leak_of = {1: "L1", 2: "L2", 3: "L2", 4: "L4", 5: "L5"}  # c: b's duplicate group
    artist_of = {"b": "text:cash", "d": "text:cash", "e": ""}  # d names b's artist
    extra, shared = extra_items(items, exported, leak_of, artist_of)
    assert [it.sha256 for it in extra] == ["e"] and shared == 2


def test_the_table_round_trips(tmp_path: Path) -> None:
    box = ((0, 0), (10, 0), (10, 5), (0, 5))
    rows = [
        ExtraCover("b", "rap", [Word("NAS", 0.9, box)], "text:nas", "NAS"),
        ExtraCover("a", "country", []),
    ]
    path = tmp_path / "text_extra.jsonl"
    path.write_bytes(render_extra_text_table(rows))
    back = read_extra_text_table(path)
    assert [(c.sha256, c.genre, [w.text for w in c.words]) for c in back] == [
        ("a", "country", []),
        ("b", "rap", ["NAS"]),
    ]
    assert [(c.artist_key, c.artist) for c in back] == [("", ""), ("text:nas", "NAS")]
