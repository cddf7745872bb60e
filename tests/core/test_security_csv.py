"""CSV formula injection (issue 21, case 3): text that came from outside (an artist name or the
words read on a cover, a catalogue's genre or source, a file name) is written to every CSV
sleeve writes as inert text, and read back by sleeve as it was."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from sleeve.core.csvfile import inert, original, read_dicts, render
from sleeve.dataset.export import (
    MANIFEST_COLUMNS,
    ManifestRow,
    _parse_rows,
    dataset_id,
    render_manifest,
)
from sleeve.dataset.text.artist_stage import ArtistStage, load_table
from sleeve.dataset.text.artists import ArtistEvidence
from sleeve.training.evaluation.label_issues import LabelIssues, render_label_issues

# what a spreadsheet runs as a formula, or a DDE/command trigger (OWASP's list of first chars)
HOSTILE = [
    '=HYPERLINK("http://127.0.0.1:9/x","click")',
    "+SUM(1+1)",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(A1)",
    "\t=1+1",
    "\r=1+1",
    "'=already quoted",  # a value that itself starts with the quote must round-trip too
]
NUMBERS = ["-0.5", "+3", "-1e-05", "42", "3.25"]


def _cells(text: str) -> list[list[str]]:
    """The table as a spreadsheet sees it: stdlib csv, nothing of ours."""
    return list(csv.reader(io.StringIO(text)))


def _live(cell: str) -> bool:
    return cell[:1] in ("=", "+", "-", "@", "\t", "\r") and cell not in NUMBERS


@pytest.mark.parametrize("value", HOSTILE)
def test_security_a_formula_cell_is_written_inert_and_read_back(value: str) -> None:
    assert not _live(inert(value))
    assert original(inert(value)) == value
    text = render(["name", "n"], [[value, 1]])
    assert not any(_live(c) for row in _cells(text) for c in row)
    assert read_dicts(text) == [{"name": value, "n": "1"}]


def test_numbers_and_plain_text_are_written_as_they_are() -> None:
    for value in [*NUMBERS, "Nelson", "'quoted'", "a=b", "", "#ff0000;#00ff00"]:
        assert inert(value) == value
        assert original(value) == value


def test_security_artists_csv_keeps_artist_names_inert(tmp_path: Path) -> None:
    evidence = {
        f"{i:064x}": ArtistEvidence(f"text:{i}", name, "text") for i, name in enumerate(HOSTILE)
    }
    table = ArtistStage(evidence, "").table(evidence)
    assert not any(_live(c) for row in _cells(table.decode()) for c in row)
    path = tmp_path / "artists.csv"
    path.write_bytes(table)
    assert load_table(path) == evidence


def _row(i: int, *, genre: str = "rock", artist: str = "", source: str = "folder") -> ManifestRow:
    sha = f"{i:064x}"
    return ManifestRow(
        f"images/train/{genre}/{sha}.jpg", sha, "", genre, "train", artist, source, "", 96, 96
    )


def test_security_manifest_cells_are_inert_and_dataset_ids_unchanged(tmp_path: Path) -> None:
    rows = [_row(i, artist=v, source=v) for i, v in enumerate(HOSTILE)]
    raw = render_manifest(rows)
    assert not any(_live(c) for row in _cells(raw.decode()) for c in row)
    assert sorted(_parse_rows(tmp_path / "manifest.csv", raw), key=lambda r: r.sha256) == rows
    # ordinary data is written byte for byte as the stdlib writer did: dataset ids stay put
    plain = [_row(i, genre=g, artist="Willie Nelson") for i, g in enumerate(["jazz", "rock"])]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for r in sorted(plain, key=lambda r: (r.split, r.genre, r.sha256)):
        writer.writerow(r.values())
    assert dataset_id(render_manifest(plain)) == dataset_id(buf.getvalue().encode())


def test_security_label_issues_keep_file_names_and_genres_inert() -> None:
    n = len(HOSTILE)
    issues = LabelIssues(
        shas=[f"{i:064x}" for i in range(n)],
        paths=HOSTILE,
        splits=["train"] * n,
        labels=np.zeros(n, dtype=int),
        probs=np.tile([0.25, 0.75], (n, 1)),
        quality=np.full(n, 0.25),
        is_issue=np.ones(n, dtype=bool),
        folds=2,
        c=1.0,
        thresholds={},
        words=HOSTILE,  # words read on a cover and artist names are outside text too
        artists=HOSTILE,
    )
    text = render_label_issues(issues, ["=cmd()", "rock"])
    assert not any(_live(c) for row in _cells(text) for c in row)
    assert sorted(r["path"] for r in read_dicts(text)) == sorted(HOSTILE)
