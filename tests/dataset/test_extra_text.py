"""Every labelled cover read: the balancer's left-out covers and the ambiguous groups' covers
reach the text rung, never a cover sharing a group or an artist with val/test."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from sleeve.dataset.text.extra_text import (
    ExtraCover,
    extra_items,
    read_extra_text_table,
    render_extra_text_table,
)
from sleeve.dataset.text.ocr import Word


def _item(key: int, sha: str, genre: str = "rock", links: tuple = ()) -> SimpleNamespace:
    return SimpleNamespace(key=key, sha256=sha, genre=genre, links=(f"dup:{sha}", *links))


def test_left_out_covers_sharing_a_val_or_test_group_stay_out() -> None:
    items = [
        _item(1, "a"),
        _item(2, "b", links=("release:9",)),
        _item(3, "c", links=("release:9",)),
        _item(4, "d"),
        _item(5, "e"),
    ]
    exported = {"a": "train", "b": "test"}  # c, d, e were left out by the balancer
    leak_of = {1: "L1", 2: "L2", 3: "L2", 4: "L4", 5: "L5"}  # c: b's release
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


def test_an_ambiguous_cover_linked_to_a_held_out_cover_stays_out() -> None:
    items = [
        _item(1, "a", links=("artist:mb-cash",)),
        _item(2, "b", links=("release:7",)),
        _item(3, "c", links=("release:7", "artist:mb-parton")),  # b's leak group, via release 7
    ]
    exported = {"a": "train", "b": "test", "c": "train"}
    ambiguous = [
        _item(10, "x", links=("artist:mb-parton",)),  # shares a link with b's leak group
        _item(11, "y", links=("artist:mb-cash",)),  # shares one with a train cover only
        _item(12, "z"),  # names b's artist in its words
        _item(13, "w"),
    ]
    artist_of = {"b": "text:nelson", "z": "text:nelson"}
    extra, shared = extra_items(items, exported, {1: "L1", 2: "L2", 3: "L2"}, artist_of, ambiguous)
    assert [it.sha256 for it in extra] == ["y", "w"] and shared == 2


def test_an_ambiguous_cover_round_trips_with_its_tied_genres(tmp_path: Path) -> None:
    third = 1 / 3
    rows = [
        ExtraCover("a", "pop", [], shares=(("pop", 0.5), ("rock", 0.5))),
        ExtraCover("b", "rap", [], shares=(("rap", third), ("pop", third), ("rock", third))),
        ExtraCover("c", "country", []),
    ]
    path = tmp_path / "text_extra.jsonl"
    path.write_bytes(render_extra_text_table(rows))
    back = {c.sha256: c for c in read_extra_text_table(path)}
    assert back["a"].genre_shares() == (("pop", 0.5), ("rock", 0.5))
    assert sum(w for _, w in back["b"].genre_shares()) == 1.0  # one cover weighs one
    assert back["c"].genre_shares() == (("country", 1.0),)


def test_a_hand_edited_genres_field_is_renormalised_or_refused(tmp_path: Path) -> None:
    path = tmp_path / "text_extra.jsonl"
    path.write_text('{"sha256":"a","genre":"pop","words":[],"genres":{"pop":0.6,"rock":0.6}}\n')
    assert read_extra_text_table(path)[0].genre_shares() == (("pop", 0.5), ("rock", 0.5))
    path.write_text('{"sha256":"a","genre":"pop","words":[],"genres":{"pop":"lots"}}\n')
    with pytest.raises(ValueError, match="genres must map"):
        read_extra_text_table(path)
