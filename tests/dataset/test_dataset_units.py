"""Pure parts of build-dataset: neighbour search, label rule, balance, split, CLI edges."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from sleeve.core.taxonomy import Taxonomy
from sleeve.dataset import cli
from sleeve.dataset.balance import Candidate, balance, round_robin
from sleeve.dataset.dedup.hashing import hash_files
from sleeve.dataset.dedup.neighbours import near_pairs
from sleeve.dataset.labels import Label, LabelRule, contenders, decide, evidence_scores
from sleeve.dataset.rows import EvidenceRow
from sleeve.dataset.split import SplitItem, assign_splits, leak_groups, parse_fractions
from tests.dataset_support import cover, jpeg, write_tree


def _planted(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 2**63, size=n, dtype=np.uint64) * np.uint64(2)
    for i in range(0, n // 5, 2):  # every 10th hash gets a twin 0..14 bits away
        v = int(h[i])
        for bit in rng.choice(64, size=int(rng.integers(0, 15)), replace=False):
            v ^= 1 << int(bit)
        h[i + 1] = np.uint64(v)
    return h


@pytest.mark.parametrize("threshold", [0, 3, 10, 13])
def test_near_pairs_equals_brute_force(threshold: int) -> None:
    h = _planted(1500, threshold)
    ints = [int(x) for x in h]
    expected = {
        (i, j, (ints[i] ^ ints[j]).bit_count())
        for i, j in itertools.combinations(range(len(ints)), 2)
        if (ints[i] ^ ints[j]).bit_count() <= threshold
    }
    got = {tuple(int(x) for x in row) for row in near_pairs(h, threshold)}
    assert got == expected and len(expected) > (0 if threshold < 3 else 10)


def test_reencoded_and_resized_copies_hash_close(tmp_path: Path) -> None:
    img = cover(7)
    root = write_tree(
        tmp_path,
        {
            "x": {
                "a.jpg": jpeg(img),
                "q60.jpg": jpeg(img, 60),
                "small.jpg": jpeg(img.resize((128, 128))),
                "other.jpg": jpeg(cover(8)),
                "gone.jpg": b"",
            }
        },
    )
    (root / "x" / "gone.jpg").unlink()
    paths = [root / "x" / n for n in ("a.jpg", "q60.jpg", "small.jpg", "other.jpg", "gone.jpg")]
    out = hash_files(paths, "phash", workers=1, progress=False)
    a, q60, small, other = (int(v, 16) for v, _ in out[:4])
    assert (a ^ q60).bit_count() <= 4 and (a ^ small).bit_count() <= 4
    assert (a ^ other).bit_count() > 12
    assert out[4] == (None, "missing-file")


def _ev(source: str, kind: str, name: str, votes: int = 1) -> EvidenceRow:
    return EvidenceRow(1, source, kind, name, votes, None, None, 0.0)


def test_label_rule_weights_sources_and_requires_a_margin() -> None:
    tax, rule = Taxonomy.load(), LabelRule()
    # MB release-group genre (x3) outweighs a one-vote tag (x1)
    scores = evidence_scores(
        [_ev("musicbrainz", "rg-genre", "hip hop"), _ev("musicbrainz", "rg-tag", "pop")], tax, rule
    )
    assert scores == {"rap": 3.0, "pop": 1.0} and decide(scores, rule) == ("rap", "resolved")
    # tag votes scale: 4 votes -> 1 + log2(4) = 3 (the cap)
    assert evidence_scores([_ev("musicbrainz", "rg-tag", "pop", 4)], tax, rule) == {"pop": 3.0}
    # spotify search-filter is half a vote; a weak string alone is too little
    assert evidence_scores([_ev("spotify", "search-filter", "disco")], tax, rule) == {"disco": 0.5}
    assert decide({"edm": 0.3}, rule) == (None, "weak")
    assert decide({"pop": 1.0, "rock": 1.0}, rule) == (None, "ambiguous")
    assert decide({"pop": 2.0, "rock": 1.0}, rule) == ("pop", "resolved")
    assert decide({"pop": 1.4, "rock": 1.0}, rule) == (None, "ambiguous")
    assert decide({}, rule) == (None, "no-evidence")

    # folder evidence uses its stored mapped genre, never re-matched as a tag
    folder = EvidenceRow(1, "folder", "folder", "Electronic", 1, "electronic", "alias", 1.0)
    assert evidence_scores([folder], tax, rule) == {"electronic": 1.0}


def test_an_ambiguous_label_s_contenders_are_the_genres_the_margin_could_not_separate() -> None:
    rule = LabelRule()  # margin 1.5
    tied = Label(None, "ambiguous", (("pop", 1.2), ("rock", 1.0), ("rap", 0.5)), None)
    assert contenders(tied, rule) == (("pop", 1.2 / 2.2), ("rock", 1.0 / 2.2))  # rap: 0.5x1.5<1.2
    resolved = Label("pop", "resolved", (("pop", 2.0), ("rock", 1.0)), None)
    assert contenders(resolved, rule) == ()
    assert contenders(Label(None, "excluded", (("pop", 1.0), ("rock", 1.0)), None), rule) == ()


def test_an_ambiguous_cover_teaches_the_text_rung_only_when_every_tied_genre_is_asked_for() -> None:
    from sleeve.dataset.build import _wanted_shares

    tied = (("pop", 0.5), ("rock", 0.5))
    assert _wanted_shares(tied, None) == tied
    assert _wanted_shares(tied, {"pop", "rock", "rap"}) == tied
    assert _wanted_shares(tied, {"pop", "rap"}) == ()  # never "pop" because rock was not asked


def test_round_robin_covers_every_cluster_before_repeating() -> None:
    import random

    items = [Candidate(i, f"{i:064x}", "pop", "big" if i < 10 else f"c{i}") for i in range(14)]
    taken = round_robin(items, 5, random.Random(0))
    assert len({c.cluster for c in taken}) == 5
    assert taken == round_robin(items, 5, random.Random(0))  # deterministic
    result = balance(items, enabled=True, per_class=20)
    assert len(result.kept) == 14 and result.oversample == {"pop": round(20 / 14, 4)}


def test_split_is_grouped_stratified_and_deterministic() -> None:
    items = [
        SplitItem(
            i, f"{i:02x}" * 32, "pop" if i % 3 else "rap", (f"artist:{i // 4}",) if i < 40 else ()
        )
        for i in range(200)
    ]
    groups = leak_groups(items)
    assert groups[0] == groups[3] != groups[4]
    split = assign_splits(items, groups, (0.7, 0.15, 0.15), seed=1)
    assert split == assign_splits(items, groups, (0.7, 0.15, 0.15), seed=1)
    by_group: dict[str, set[str]] = {}
    for it in items:
        by_group.setdefault(groups[it.key], set()).add(split[it.key])
    assert all(len(s) == 1 for s in by_group.values())
    for genre in ("pop", "rap"):
        members = [it for it in items if it.genre == genre]
        share = sum(split[it.key] == "train" for it in members) / len(members)
        assert 0.6 <= share <= 0.8
    assert parse_fractions("80/10/10") == (0.8, 0.1, 0.1)
    with pytest.raises(ValueError):
        parse_fractions("80/20")


def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray ./.env
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SLEEVE_DATABASE_URL", raising=False)
    return tmp_path / "data"


def test_cli_help_errors_and_last_line(monkeypatch, tmp_path, capsys) -> None:
    assert "Examples:" in cli.build_parser().format_help()
    data = _env(monkeypatch, tmp_path)
    assert cli.main(["--no-progress"]) == 3  # nothing to work on yet
    assert "run `collect` first" in capsys.readouterr().err
    from sleeve.collector.folder_import import import_folder
    from sleeve.core.catalog.db import open_catalog
    from sleeve.core.settings import load_settings

    settings = load_settings(env_file=None)
    root = write_tree(
        tmp_path / "covers",
        {
            "Pop": {f"{i}.jpg": jpeg(cover(i)) for i in range(6)},
            "HipHop": {f"{i}.jpg": jpeg(cover(i + 10)) for i in range(6)},
        },
    )
    catalog = open_catalog(settings.catalog_url)
    import_folder(catalog, settings, Taxonomy.load(), root, progress=False)
    catalog.dispose()
    assert cli.main(["--genres", "pop,metal", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown genre 'metal'") and "rap" in err
    assert cli.main(["--split", "70/30", "--no-progress"]) == 2
    capsys.readouterr()
    assert cli.main(["--no-progress", "--seed", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert Path(lines[-1]).parent == data / "datasets"
    assert (Path(lines[-1]) / "manifest.csv").is_file()
    assert any(line.startswith("  pop") for line in lines)


@pytest.mark.parametrize("chunks", [3, 4, 11, 16])
def test_near_pairs_exact_with_every_chunking(chunks: int, monkeypatch) -> None:
    """The chunking the cost model picks at 10^6-10^7 hashes (3-4 chunks) is exact too, and
    so are plans with unprobed chunks (more chunks than the threshold needs)."""
    import sleeve.dataset.dedup.neighbours as neighbours

    h = _planted(1200, 10)
    h[7] = h[3]  # identical hashes: distance 0, reported once
    ints = [int(x) for x in h]
    expected = {
        (i, j, (ints[i] ^ ints[j]).bit_count())
        for i, j in itertools.combinations(range(len(ints)), 2)
        if (ints[i] ^ ints[j]).bit_count() <= 10
    }
    monkeypatch.setattr(neighbours, "choose_chunks", lambda n, t: chunks)
    rows = near_pairs(h, 10, threads=2)
    assert len(rows) == len(expected) and {tuple(int(x) for x in r) for r in rows} == expected
