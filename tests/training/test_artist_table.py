"""The fused rung's artist table end to end: built from the text rung's train covers only,
shipped in model.pt as plain lists, used by Classifier and predict when a cover's words name
one of its artists, and reported in metrics.json.

The tiny export makes the artist the only signal: every cover has the same backgrounds, the
train covers print titles shared by both genres (the artist comes from their credits, as a
MusicBrainz harvest gives it), and the val/test covers print the artist's name, which the
text head never saw."""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from sleeve.dataset.export import MANIFEST_COLUMNS
from sleeve.dataset.text.artist_stage import ARTIST_TABLE
from sleeve.dataset.text.cover_text import TEXT_TABLE, render_text_table
from sleeve.dataset.text.extra_text import EXTRA_TEXT_TABLE, ExtraCover, render_extra_text_table
from sleeve.dataset.text.ocr import Word
from sleeve.inference.artist_table import ArtistTable
from sleeve.inference.classifier import Classifier
from sleeve.training.run import TrainConfig, train_and_evaluate
from tests.text_images import worded

pytest.importorskip("rapidocr_onnxruntime", reason="the OCR extra is not installed")

TINY = dict(image_size=64, batch_size=16, progress=False)
BOX = ((10, 60), (150, 60), (150, 90), (10, 90))
TITLES = ["QUIZ", "FOX", "ZOOM"]  # printed on train covers of both genres
# artist key -> (printed name, genre); train artists have 4 train covers each
TRAIN_ARTISTS = {
    "mb-jennings": ("JENNINGS", "country"),
    "mb-parton": ("PARTON", "country"),
    "mb-eminem": ("EMINEM", "rap"),
    "mb-kendrick": ("KENDRICK", "rap"),
}
ONE_COVER = ("mb-cline", "CLINE", "country")  # one train cover: under the table's minimum
EXTRA = ("mb-mcentire", "MCENTIRE", "country")  # one train cover + one the balancer left out
VAL_ONLY = ("mb-brooks", "BROOKS", "country")
TEST_ONLY = ("mb-wayne", "WAYNE", "rap")


def _cover(root: Path, split: str, genre: str, word: str, rng: random.Random) -> str:
    buf = io.BytesIO()
    bg = rng.choice([(240, 230, 200), (200, 220, 240), (230, 200, 220)])
    cover = worded(word, size=160, font_size=28, background=bg)
    cover.putpixel((rng.randrange(160), rng.randrange(5)), (rng.randrange(256), 0, 0))
    cover.save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    rel = f"images/{split}/{genre}/{sha}.jpg"
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes(data)
    return sha


def _export(root: Path) -> Path:
    rng = random.Random(0)
    rows, words, artists = [], {}, []

    def add(split: str, key: str, name: str, genre: str, printed: str) -> None:
        sha = _cover(root, split, genre, printed, rng)
        rows.append([f"images/{split}/{genre}/{sha}.jpg", sha, "0" * 16, genre, split, name,
                     "t", sha[:8], 160, 160])  # fmt: skip
        words[sha] = [Word(printed, 0.99, BOX)]
        artists.append([sha, key, name.title(), "credits"])

    for key, (name, genre) in TRAIN_ARTISTS.items():
        for i in range(4):
            add("train", key, name, genre, TITLES[i % len(TITLES)])
        for split in ("val", "test"):
            for _ in range(3):
                add(split, key, name, genre, name)
    for key, name, genre in (ONE_COVER, EXTRA):
        add("train", key, name, genre, TITLES[0])
    add("val", VAL_ONLY[0], VAL_ONLY[1], VAL_ONLY[2], VAL_ONLY[1])
    add("test", TEST_ONLY[0], TEST_ONLY[1], TEST_ONLY[2], TEST_ONLY[1])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    writer.writerows(sorted(rows, key=lambda r: (r[4], r[3], r[1])))
    (root / "manifest.csv").write_text(buf.getvalue())
    (root / "card.json").write_text(json.dumps({"genres": ["country", "rap"]}))
    (root / TEXT_TABLE).write_bytes(render_text_table(words))
    table = io.StringIO()
    csv.writer(table, lineterminator="\n").writerows(
        [["sha256", "artist_key", "artist", "source"], *artists]
    )
    (root / ARTIST_TABLE).write_text(table.getvalue())
    extra = ExtraCover("f" * 64, EXTRA[2], [Word(TITLES[1], 0.99, BOX)], EXTRA[0], "Mcentire")
    # an ambiguous group's cover (country or rap) naming a train artist: no evidence either way
    tied = (("country", 0.5), ("rap", 0.5))
    ambiguous = ExtraCover("e" * 64, "country", [], "mb-jennings", "Jennings", tied)
    (root / EXTRA_TEXT_TABLE).write_bytes(render_extra_text_table([extra, ambiguous]))
    return root


@pytest.fixture(scope="module")
def run(tmp_path_factory):  # type: ignore[no-untyped-def]
    export = _export(tmp_path_factory.mktemp("export"))
    config = TrainConfig(
        methods=("logreg", "text", "fused"), select_min_val=0, label_issues=False, **TINY
    )
    result = train_and_evaluate(export, tmp_path_factory.mktemp("run"), config)
    assert result.metrics.best.method == "fused"  # the artists decide this export's genres
    return result


def _payload(run) -> dict:  # type: ignore[no-untyped-def]
    return torch.load(run.run_dir / "model.pt", map_location="cpu", weights_only=True)


def test_the_table_holds_the_train_covers_artists_only(run) -> None:  # type: ignore[no-untyped-def]
    table = _payload(run)["text"]["artists"]
    counts = dict(zip(table["keys"], table["counts"], strict=True))
    assert set(counts) == {*TRAIN_ARTISTS, EXTRA[0]}  # no val/test-only, no one-cover artist
    assert counts["mb-jennings"] == [4, 0] and counts["mb-eminem"] == [0, 4]  # not the tied one
    assert counts[EXTRA[0]] == [2, 0]  # its train cover and the balancer's left-out one
    assert table["genres"] == ["country", "rap"] and table["weight"] > 0


def test_the_table_round_trips_through_model_pt_as_plain_lists(run) -> None:  # type: ignore[no-untyped-def]
    stored = _payload(run)["text"]["artists"]

    def plain(value: object) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return isinstance(value, str | int | float)

    assert plain(stored)
    assert ArtistTable.from_dict(stored).to_dict() == stored
    clf = Classifier.load(run.run_dir)
    assert clf.artists is not None and clf.artists.to_dict() == stored


def test_a_named_artist_moves_the_answer_towards_its_genre(run) -> None:  # type: ignore[no-untyped-def]
    clf = Classifier.load(run.run_dir)
    cover = worded("JENNINGS", size=160, font_size=28)
    words = [[Word("JENNINGS", 0.99, BOX)]]
    (answer,) = clf.answer_batch([cover], top_k=2, words=words)
    assert answer.artist is not None
    assert (answer.artist.key, answer.artist.name, answer.artist.words) == (
        "mb-jennings",
        "Jennings",
        "JENNINGS",
    )
    assert answer.artist.covers == 4 and answer.artist.weight == clf.artists.weight
    assert answer.artist.shift["country"] > 0 > answer.artist.shift["rap"]
    without = Classifier(_without_table(clf.payload))
    before = without.probabilities([cover], words=words)[0]
    after = clf.probabilities([cover], words=words)[0]
    assert after[0] > before[0]
    np.testing.assert_allclose(after - before, [answer.artist.shift[g] for g in clf.genres])


def test_a_cover_naming_no_table_artist_is_unchanged_bit_for_bit(run) -> None:  # type: ignore[no-untyped-def]
    clf = Classifier.load(run.run_dir)
    without = Classifier(_without_table(clf.payload))
    covers = [worded(w, size=160, font_size=28) for w in ("BROOKS", "QUIZ", "")]
    words = [[Word("BROOKS", 0.99, BOX)], [Word("QUIZ", 0.99, BOX)], []]
    got = clf.probabilities(covers, words=words)
    assert np.array_equal(got, without.probabilities(covers, words=words))
    assert [a.artist for a in clf.answer_batch(covers, words=words)] == [None, None, None]


def test_predict_json_names_the_artist(run, tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from sleeve.ui import predict_cli

    named, silent = tmp_path / "named.jpg", tmp_path / "silent.jpg"
    worded("EMINEM", size=160, font_size=28).save(named)
    worded("", size=160, font_size=28).save(silent)
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(tmp_path / "data"))
    argv = [str(named), str(silent), "--model", str(run.run_dir), "--json", "--no-progress"]
    assert predict_cli.main(argv) == 0
    first, second = json.loads(capsys.readouterr().out)
    artist = first["artist"]
    assert (artist["key"], artist["name"]) == ("mb-eminem", "Eminem")
    assert artist["genres"]["rap"] > artist["genres"]["country"]
    assert artist["shift"]["rap"] > 0 and artist["weight"] > 0
    assert first["predictions"][0]["genre"] == "rap"
    assert second["artist"] is None  # a text model says so when no artist was named


def test_metrics_report_the_table_and_its_test_covers(run) -> None:  # type: ignore[no-untyped-def]
    metrics = json.loads((run.run_dir / "metrics.json").read_text())
    block = metrics["artist_table"]
    assert block["method"] == "fused" and block["artists"] == len(TRAIN_ARTISTS) + 1
    # 4 train covers per train artist, the one-cover artist, the extra artist's two covers
    assert block["train_covers"] == 4 * len(TRAIN_ARTISTS) + 3 and block["extra_covers"] == 1
    assert block["val_recognised"] == 3 * len(TRAIN_ARTISTS)
    assert block["test_recognised"] == 3 * len(TRAIN_ARTISTS)  # the test-only artist is not
    assert block["test_covers"] == block["test_recognised"] + 1
    assert block["test_weighted_f1_with"] >= block["test_weighted_f1_without"]
    assert block["weight"] == run.metrics.methods["fused"].params["artist_weight"]
    assert run.metrics.artist_table is not None and run.metrics.artist_table.artists == 5
    assert "Artist table (fused)" in (run.run_dir / "report.md").read_text()


def _without_table(payload: dict) -> dict:
    out = copy.copy(payload)
    out["text"] = {k: v for k, v in payload["text"].items() if k != "artists"}
    return out
