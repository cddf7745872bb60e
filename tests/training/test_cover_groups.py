"""The headline's fold groups: manifest groups joined by artist key and look-alike artwork."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from sleeve.training.evaluation.cover_groups import fold_groups


def _export(root: Path, groups: list[str], artists: list[str]) -> SimpleNamespace:
    shas = [f"{i:064x}" for i in range(len(groups))]
    rows = [SimpleNamespace(sha256=s, group_id=g) for s, g in zip(shas, groups, strict=True)]
    (root / "artists.csv").write_text(
        "sha256,artist_key,artist,source\n"
        + "".join(f"{s},{a},{a},text\n" for s, a in zip(shas, artists, strict=True))
    )
    return SimpleNamespace(
        samples=[SimpleNamespace(sha256=s) for s in shas],
        dataset=SimpleNamespace(rows=rows, side_file=lambda name: root / name),
    )


def test_covers_naming_one_artist_share_a_fold_group(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # covers 0 and 2 are one manifest group; 1 and 3 name the same artist in their words
    export = _export(
        tmp_path, ["g0", "g1", "g0", "g3", "g4"], ["", "text:cash", "", "text:cash", ""]
    )
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(5, 16))
    groups, info = fold_groups(export, feats)  # type: ignore[arg-type]
    assert groups[0] == groups[2] and groups[1] == groups[3]
    assert len(set(groups)) == 3
    assert info["merged_by_artist"] == 1 and info["manifest_groups"] == 4


def test_look_alike_covers_share_a_fold_group(tmp_path) -> None:  # type: ignore[no-untyped-def]
    export = _export(tmp_path, ["a", "b", "c", "d"], ["", "", "", ""])
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(4, 32))
    feats[3] = feats[0] + 0.01 * rng.normal(size=32)  # a re-issue of cover 0's artwork
    groups, info = fold_groups(export, feats)  # type: ignore[arg-type]
    assert groups[0] == groups[3] and len(set(groups)) == 3
    assert info["merged_by_lookalike"] == 1 and info["largest_group"] == 2
