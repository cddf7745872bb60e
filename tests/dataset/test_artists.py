"""Artist evidence: OCR-noisy names matched to catalog artists, folder imports grouped by the
artist their words name, and the split keeping an artist's covers together."""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path

import pytest

from sleeve.collector.folder_import import import_folder
from sleeve.core.catalog.db import Catalog
from sleeve.core.taxonomy import Taxonomy
from sleeve.dataset.split import SplitItem, assign_splits, leak_groups
from sleeve.dataset.text.artist_stage import ARTIST_TABLE, ArtistStage, load_table
from sleeve.dataset.text.artists import (
    NONE,
    TEXT_PREFIX,
    ArtistEvidence,
    CatalogNames,
    Cover,
    assign_artists,
    candidates,
    part_of,
    same_artist,
    text_key,
)
from sleeve.dataset.text.ocr import Word
from tests.dataset_support import cover, jpeg, read_manifest, write_tree

SAMPLE = Path(__file__).parents[1] / "data" / "cover_artists.csv"


def w(text: str, height: int = 20, top: int = 0) -> Word:
    return Word(text, 0.95, ((0, top), (100, top), (100, top + height), (0, top + height)))


NAMES = CatalogNames(
    {
        "johnny cash": "Johnny Cash",
        "beatles": "The Beatles",
        "willie nelson": "Willie Nelson",
        "rush": "Rush",
        "klf": "The KLF",
    }
)


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["JOHNNY GASH"], "johnny cash"),  # one letter misread
        (["THEBEATLES"], "beatles"),  # spaces lost, leading "the"
        (["WILLIENELSONREDHEADEDSTRANGER"], "willie nelson"),  # name + title on one line
        (["JOHNNY", "CASH"], "johnny cash"),  # name split over two lines
        (["Willie Nels0n"], "willie nelson"),  # a zero for an O
        (["THE KLF"], "klf"),
        (["RUSH"], "rush"),
        (["PUSH"], None),  # short names must match exactly: one letter is another word
        (["PARENTAL", "ADVISORY"], None),
        ([], None),
    ],
)
def test_matcher_tolerates_ocr_noise(words: list[str], expected: str | None) -> None:
    hit = NAMES.match([w(t, top=30 * i) for i, t in enumerate(words)])
    assert (hit[0] if hit else None) == expected


def test_the_most_prominent_line_names_the_artist() -> None:
    words = [w("Willie Nelson", height=8), w("JOHNNY CASH", height=40)]
    # the pattern matches this text (None would fail the test anyway)
    assert NAMES.match(words)[0] == "johnny cash"  # type: ignore[index]
    assert candidates(words)[0].key == "johnnycash"


def test_text_key_normalises() -> None:
    assert text_key("Björk") == "bjork"
    assert text_key("The Rolling Stones") == text_key("ROLLINGSTONES") == "rollingstones"
    assert text_key("Theory") == "theory"  # "the" only dropped when a name is left


def _cover(sha: str, *lines: tuple[str, int], credits: tuple[str, ...] = ()) -> Cover:
    return Cover(sha, credits, tuple(w(t, h, 30 * i) for i, (t, h) in enumerate(lines)))


def test_folder_imports_are_grouped_by_the_artist_their_words_name() -> None:
    covers = [
        _cover("a", ("WILLIE NELSON", 40), ("Stardust", 12)),
        _cover("b", ("Red Headed Stranger", 10), ("WILLIE NELS0N", 30)),  # OCR noise
        _cover("c", ("WILLIE", 35), ("NELSON", 35), ("Always on My Mind", 10)),  # split name
        _cover("d", ("JOHNNY CASH", 40)),  # printed once: groups nothing
        _cover("e", ("PARENTAL ADVISORY", 50), ("GREATEST HITS", 45), ("Mobb Deep", 20)),
        _cover("f", ("GREATEST HITS", 45), ("PARENTAL ADVISORY", 50), ("MOBB DEEP", 30)),
        _cover("g"),  # no words
        _cover("h", ("RUSH", 40), credits=("rush",)),  # credits win over words
        _cover("i", ("THE BEATLES", 40)),  # a catalog artist named by the words
    ]
    names = CatalogNames({"rush": "Rush", "beatles": "The Beatles"})  # no Nelson in the catalog
    got = assign_artists(covers, names)
    assert got["a"].key == got["b"].key == got["c"].key == TEXT_PREFIX + "willienelson"
    assert got["a"].source == "text" and got["a"].name == "WILLIE NELSON"
    assert got["d"] == NONE and got["g"] == NONE
    assert got["e"].key == got["f"].key == TEXT_PREFIX + "mobbdeep"  # stickers never count
    assert got["h"] == ArtistEvidence("rush", "Rush", "credits")
    assert got["i"] == ArtistEvidence("beatles", "The Beatles", "catalog-text")


def test_same_artist_judges_a_key_against_a_person_s_reading() -> None:
    assert same_artist(TEXT_PREFIX + "johnnygash", "Johnny Cash")
    assert same_artist(TEXT_PREFIX + "cash", "Johnny Cash")
    assert same_artist("beatles", "The Beatles")
    assert not same_artist(TEXT_PREFIX + "atfolsomprison", "Johnny Cash")
    assert not same_artist(TEXT_PREFIX + "rush", "")


def _split(items: list[SplitItem], seed: int) -> dict[int, str]:
    return assign_splits(items, leak_groups(items), (0.5, 0.25, 0.25), seed)


def test_grouped_split_keeps_an_artist_s_covers_together() -> None:
    artists = ["WILLIE NELSON", "DOLLY PARTON", "MERLE HAGGARD", "JOHNNY CASH"]
    items, covers = [], []
    for i in range(40):
        sha = f"{i + 1:016x}"[::-1] * 4  # distinct 16-digit prefixes: leak-group ids
        items.append(SplitItem(i, sha, "country" if i % 2 else "rock", (f"dup:{sha[-16:]}",)))
        name = artists[i % 4] if i < 24 else f"SOLO ARTIST {chr(65 + i - 24)}{i}"
        covers.append(_cover(sha, (name, 40)))
    stage = ArtistStage(assign_artists(covers, CatalogNames({})), "test")
    by_artist = {a: [i for i in range(24) if i % 4 == k] for k, a in enumerate(artists)}
    for seed in range(3):
        plain, grouped = _split(items, seed), _split(stage.linked(items), seed)
        assert any(len({plain[i] for i in ids}) > 1 for ids in by_artist.values())
        for ids in by_artist.values():
            assert len({grouped[i] for i in ids}) == 1
        assert set(grouped.values()) == {"train", "val", "test"}


def test_artist_table_round_trips(tmp_path: Path) -> None:
    stage = ArtistStage({"a" * 64: ArtistEvidence("text:x", "X, Y", "text")}, "n")
    path = tmp_path / ARTIST_TABLE
    path.write_bytes(stage.table(["a" * 64, "b" * 64]))
    back = load_table(path)
    assert back["a" * 64] == ArtistEvidence("text:x", "X, Y", "text")
    assert back["b" * 64] == NONE
    card = stage.card(["a" * 64, "b" * 64], grouped=False)
    assert (card.text, card.none, card.credits) == (1, 1, 0)


def test_build_dataset_groups_folder_imports_by_their_words(
    sqlite_catalog: Catalog, settings, tmp_path: Path
) -> None:
    pytest.importorskip("rapidocr_onnxruntime", reason="the OCR extra is not installed")
    from sqlalchemy import insert

    from sleeve.core.catalog.models import CoverText
    from sleeve.dataset.build import build_dataset
    from sleeve.dataset.text.cover_text import catalog_images
    from sleeve.dataset.text.ocr import ENGINE, dumps, engine_version

    layout: dict[str, dict[str, bytes]] = {"Country": {}, "Jazz": {}}
    said: dict[str, str] = {}
    for i in range(24):  # six covers by each of two artists, twelve by nobody in particular
        name = f"{i:02d}.jpg"
        data = jpeg(cover(100 + i))
        layout["Country" if i % 2 else "Jazz"][name] = data
        named = ["WILLIE NELSON", "DOLLY PARTON"][i % 2] if i < 12 else f"TITLE {i}X{i}"
        said[hashlib.sha256(data).hexdigest()] = named
    write_tree(tmp_path / "covers", layout)
    import_folder(sqlite_catalog, settings, Taxonomy.load(), tmp_path / "covers", progress=False)
    with sqlite_catalog.session() as s:  # the words as if read: no OCR needed for the test
        s.execute(
            insert(CoverText),
            [
                {
                    "sha256": sha,
                    "engine": ENGINE,
                    "engine_version": engine_version(),
                    "words": dumps([w(said[sha], 40)]),
                    "n_words": 1,
                }
                for sha, _ in catalog_images(sqlite_catalog)
            ],
        )
    out = tmp_path / "export"
    result = build_dataset(
        sqlite_catalog,
        settings,
        Taxonomy.load(),
        out=out,
        progress=False,
        splits=(0.5, 0.25, 0.25),
        group_by_artist=True,
        attributes="off",
    )
    split = {r["sha256"]: r["split"] for r in read_manifest(out)}
    with (out / ARTIST_TABLE).open() as f:
        table = list(csv.DictReader(f))
    keys = {r["sha256"]: r["artist_key"] for r in table}
    assert set(keys) == set(split)
    for artist in ("text:willienelson", "text:dollyparton"):
        shas = [s for s, k in keys.items() if k == artist]
        assert len(shas) == 6 and len({split[s] for s in shas}) == 1
    assert result.card.artists.text == 12 and result.card.artists.none == 12
    assert result.card.artists.grouped_split is True
    assert "## Artists" in (out / "card.md").read_text()


def test_labelled_sample_is_sha256_to_artist() -> None:
    with SAMPLE.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 100 and set(rows[0]) == {"sha256", "artist", "sample"}
    # "tune": the rules were adjusted on it; "held-out": labelled after, measured once
    assert {r["sample"] for r in rows} == {"tune", "held-out"}
    assert all(re.fullmatch(r"[0-9a-f]{64}", r["sha256"]) for r in rows)
    assert len({r["sha256"] for r in rows}) == len(rows)
    assert sum(1 for r in rows if r["artist"]) > 0  # both kinds are present
    assert sum(1 for r in rows if not r["artist"]) > 0


def test_run_together_keys_join_the_name_they_start_with() -> None:
    keys = {"madonna", "madonnawhos", "michael", "michaeljackson", "cash", "johnnycash"}
    joined = part_of(keys, keys | {"jackson"})
    assert joined["madonnawhos"] == "madonna"  # "whos" is no key of its own
    assert "michaeljackson" not in joined  # "jackson" is: a two-part name, left whole
    assert "cash" not in joined and "johnnycash" not in joined  # no joining onto longer keys


def test_run_scores_split_by_whether_the_artist_is_in_train(tmp_path: Path) -> None:
    import numpy as np

    from sleeve.dataset.export import MANIFEST_COLUMNS
    from sleeve.training.data import load_export
    from sleeve.training.evaluation.artist_split import artist_breakdown

    artist = {"tr1": "text:cash", "tr2": "text:nas", "te1": "text:cash", "te2": "text:nas"}
    artist |= {"te3": "text:dre", "te4": "", "va1": "", "va2": ""}
    split = {"tr": "train", "te": "test", "va": "val"}
    genre = {"tr1": "country", "tr2": "rap", "te1": "country", "te2": "rap", "te3": "rap"}
    genre |= {"te4": "country", "va1": "rap", "va2": "country"}
    rows, table = [], ["sha256,artist_key,artist,source"]
    for name in sorted(artist):
        sha = name.ljust(64, "0")
        s, g = split[name[:2]], genre[name]
        rows.append(",".join([f"images/{s}/{g}/{sha}.jpg", sha, "0" * 16, g, s, "", "f"]))
        rows[-1] += f",{sha[:16]},10,10"
        table.append(f"{sha},{artist[name]},x,{'text' if artist[name] else 'none'}")
    (tmp_path / "manifest.csv").write_text("\n".join([",".join(MANIFEST_COLUMNS), *rows]) + "\n")
    (tmp_path / "card.json").write_text('{"genres": ["country", "rap"]}')
    (tmp_path / ARTIST_TABLE).write_text("\n".join(table) + "\n")
    export = load_export(tmp_path, check_images=False)
    test = [s.sha256[:3] for s in export.split("test")]  # export order: by genre, sha256
    right = {"te1": [1.0, 0.0], "te2": [0.0, 1.0]}  # the seen artists are right ...
    wrong = {"te3": [1.0, 0.0], "te4": [0.0, 1.0]}  # ... the others wrong
    probs = np.array([(right | wrong)[t] for t in test])
    got = artist_breakdown(export, {"svc_test": probs, "sha256_test": np.array(test)})
    assert got["counts"] == {"seen": 2, "unseen": 1, "none": 1}
    assert got["weighted_f1"]["svc"] == {"seen": 1.0, "unseen": 0.0, "none": 0.0}
