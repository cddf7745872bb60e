"""Hostile model payloads (issue 21 #6, #7): each is refused at load with one line and exit 4.

Every file here is written with the product's own writer (``save_model``) from a real tiny run,
then one field is corrupted. Before the payload was validated these gave tracebacks, endless
loops (a forest whose children form a cycle), 39 GB allocations, ``nan`` probabilities with
exit 0 and invalid JSON, or silently wrong genre names.
"""

from __future__ import annotations

import copy
import json
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from sleeve.core.cliutil import EXIT_STORAGE
from sleeve.core.errors import ModelFileError
from sleeve.inference.classifier import Classifier, save_model
from sleeve.ui import predict_cli
from tests.predict_support import shared_tiny_export, shared_tiny_run

Mutation = Callable[[dict, int], None]


def _width(run: Path) -> int:
    clf = Classifier.load(run)
    with torch.inference_mode():
        # an exported graph takes only its own input size
        size = clf.recipe.size
        return int(clf.extractor(torch.zeros(1, 3, size, size)).shape[1])


def _linear(n: int, width: int, value: float = 0.01) -> dict:
    return {
        "type": "linear",
        "weight": torch.full((n, width), value, dtype=torch.float64),
        "bias": torch.zeros(n, dtype=torch.float64),
    }


def _forest(n: int, width: int) -> dict:
    """Three nodes: a root splitting on feature 0 into two leaves."""
    return {
        "type": "forest",
        "left": torch.tensor([1, -1, -1]),
        "right": torch.tensor([2, -1, -1]),
        "feature": torch.tensor([0, 0, 0]),
        "threshold": torch.tensor([0.0, -2.0, -2.0], dtype=torch.float64),
        "value": torch.full((3, n), 1.0 / n, dtype=torch.float64),
        "roots": torch.tensor([0]),
        "classes": torch.arange(n),
        "n_classes": n,
    }


def _set(key: str, value: object) -> Mutation:
    def mutate(payload: dict, width: int) -> None:
        payload[key] = value

    return mutate


def _head(build: Callable[[int, int], dict]) -> Mutation:
    def mutate(payload: dict, width: int) -> None:
        payload["head"] = build(len(payload["genres"]), width)

    return mutate


def _nested(depth: int) -> Callable[[int, int], dict]:
    def build(n: int, width: int) -> dict:
        head = _linear(n, width)
        for _ in range(depth):
            head = {"type": "ensemble", "members": [head], "weights": [1.0]}
        return head

    return build


def _patched(build: Callable[[int, int], dict], key: str, value: object) -> Callable:
    def patched(n: int, width: int) -> dict:
        head = build(n, width)
        head[key] = value(head) if callable(value) else value
        return head

    return patched


def _del(key: str) -> Mutation:
    def mutate(payload: dict, width: int) -> None:
        del payload[key]

    return mutate


def _preprocess_size(payload: dict, width: int) -> None:
    payload["preprocess"]["size"] = 100_000


def _fewer_genres(payload: dict, width: int) -> None:
    payload["head"] = _linear(len(payload["genres"]), width)
    payload["genres"] = payload["genres"][:-1]


def _more_genres(payload: dict, width: int) -> None:
    payload["head"] = _linear(len(payload["genres"]), width)
    payload["genres"] = [*payload["genres"], "extra-a", "extra-b"]


def _knn_labels(n: int, width: int) -> dict:
    return {
        "type": "knn",
        "vectors": torch.ones(4, width),
        "labels": torch.tensor([0, 1, 2, 99]),
        "k": 3,
        "n_classes": n,
    }


def _svc(temperature: float) -> Callable[[int, int], dict]:
    def build(n: int, width: int) -> dict:
        return {
            "type": "svc",
            "kernel": "linear",
            "gamma": 1.0,
            "support_vectors": torch.ones(n, width, dtype=torch.float64),
            "dual_coef": torch.ones(n - 1, n, dtype=torch.float64),
            "intercept": torch.zeros(n * (n - 1) // 2, dtype=torch.float64),
            "n_support": torch.ones(n, dtype=torch.int64),
            "classes": torch.arange(n),
            "n_classes": n,
            "temperature": temperature,
        }

    return build


def _state_shape(payload: dict, width: int) -> None:
    key = next(iter(payload["backbone_state"]))
    payload["backbone_state"][key] = torch.zeros(1)


def _artist_table(n: int) -> dict:
    return {
        "type": "artist-table",
        "genres": [],  # filled with the model's genres
        "weight": 1.0,
        "min_covers": 2,
        "smoothing": 1.0,
        "keys": ["mb-a", "text:bname"],
        "names": ["A", "B Name"],
        "counts": [[2] + [0] * (n - 1), [0] * (n - 1) + [3]],
    }


def _artists(key: str, value: object) -> Mutation:
    """A fused model's text block whose artist table has ``key`` set to ``value`` (a callable
    gets the table and returns the value)."""

    def mutate(payload: dict, width: int) -> None:
        n = len(payload["genres"])
        table = _artist_table(n) | {"genres": list(payload["genres"])}
        if key:
            table[key] = value(table) if callable(value) else value
        payload["method"] = "fused"
        payload["text"] = {
            "weight": 0.5,
            "weights": {"words": 0.5, "no_words": 0.0},
            "head": {
                "type": "char-tfidf-linear",
                "ngram_range": [3, 5],
                "vocab": ["abc"],
                "idf": torch.ones(1, dtype=torch.float64),
                "coef": torch.zeros(n, 1),
                "intercept": torch.zeros(n, dtype=torch.float64),
            },
            "artists": table if key else value,
        }

    return mutate


HOSTILE: dict[str, tuple[Mutation, str]] = {
    "missing-backbone": (_del("backbone"), "backbone is missing"),
    "non-numeric-version": (_set("version", "two"), "version is 'two'"),
    "unknown-backbone": (
        _set("backbone", {"name": "../x", "source": "", "pretrained": 0}),
        "backbone.name",
    ),
    "backbone-state-shapes": (_state_shape, "usable sleeve model"),
    "dimension-mismatch": (_head(lambda n, w: _linear(n, w + 7)), "weight has shape"),
    "fewer-genres-than-outputs": (_fewer_genres, "answers"),
    "more-genres-than-outputs": (_more_genres, "answers"),
    "knn-labels-out-of-range": (_head(_knn_labels), "labels holds 0..99"),
    "5000-nested-ensembles": (_head(_nested(5000)), "nests more than"),
    "preprocess-size-100000": (_preprocess_size, "preprocess.size is 100000"),
    "nan-weights": (_head(lambda n, w: _linear(n, w, float("nan"))), "NaN or infinite"),
    "inf-weights": (_head(lambda n, w: _linear(n, w, float("inf"))), "NaN or infinite"),
    "ensemble-weights-sum-0": (
        _head(_patched(_nested(1), "weights", [0.0])),
        "weights sum to 0",
    ),
    "svc-temperature-0": (_head(_svc(0.0)), "temperature is 0.0"),
    "forest-cycle": (
        _head(_patched(_forest, "left", torch.tensor([1, 0, -1]))),
        "not a later one",
    ),
    "forest-child-out-of-bounds": (
        _head(_patched(_forest, "right", torch.tensor([2**40, -1, -1]))),
        "not a later one",
    ),
    "forest-feature-beyond-width": (
        _head(_patched(_forest, "feature", torch.tensor([10**6, 0, 0]))),
        "feature holds",
    ),
    "forest-root-beyond-nodes": (
        _head(_patched(_forest, "roots", torch.tensor([3]))),
        "roots holds",
    ),
    "artists-not-a-mapping": (_artists("", ["mb-a"]), "text.artists is list, not a mapping"),
    "artists-unknown-type": (_artists("type", "pickle"), "text.artists.type is 'pickle'"),
    "artists-nan-weight": (_artists("weight", float("nan")), "text.artists.weight is nan"),
    "artists-huge-weight": (_artists("weight", 1e300), "text.artists.weight is 1e+300"),
    "artists-unknown-genres": (
        _artists("genres", lambda t: [*t["genres"][:-1], "polka"]),
        "text.artists.genres is not the model's genres",
    ),
    "artists-key-not-text": (_artists("keys", [1, 2]), "text.artists.keys[0] is not"),
    "artists-too-many": (
        _artists("keys", [f"k{i}" for i in range(200_001)]),
        "not a list of at most 200,000 names",
    ),
    "artists-names-short": (_artists("names", ["A"]), "has 1 names for 2 artists"),
    "artists-nan-counts": (
        _artists("counts", lambda t: [[float("nan")] * len(r) for r in t["counts"]]),
        "not a list of rows of whole numbers",
    ),
    "artists-negative-counts": (
        _artists("counts", lambda t: [[-1] * len(r) for r in t["counts"]]),
        "text.artists.counts holds -1",
    ),
    "artists-counts-as-text": (
        _artists("counts", lambda t: [["2"] * len(r) for r in t["counts"]]),
        "not a list of rows of whole numbers",
    ),
    "artists-counts-shape": (
        _artists("counts", lambda t: [[*r, 0] for r in t["counts"]]),
        "text.artists.counts has shape",
    ),
    "artists-repeated-key": (_artists("keys", ["mb-a", "mb-a"]), "repeats an artist"),
    "forest-float-indices": (
        _head(_patched(_forest, "left", torch.tensor([1.5, -1, -1]))),
        "not whole numbers",
    ),
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, Path]:
    run = shared_tiny_run(tmp_path_factory)
    image = next((shared_tiny_export(tmp_path_factory) / "images" / "test").glob("*/*.jpg"))
    return run, _width(run), image


def _write(tiny_run: Path, out: Path, mutate: Mutation, width: int) -> Path:
    payload = torch.load(tiny_run / "model.pt", map_location="cpu", weights_only=True)
    payload = copy.copy(payload)
    payload["preprocess"] = dict(payload["preprocess"])
    mutate(payload, width)
    out.mkdir()
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 50_000))  # pickling 5,000 nested heads recurses
    try:
        save_model(payload, out / "model.pt")
    finally:
        sys.setrecursionlimit(limit)
    return out


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_security_hostile_payload_is_one_line_exit_4(
    tiny: tuple[Path, int, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    tiny_run, width, image = tiny
    mutate, says = HOSTILE[case]
    run = _write(tiny_run, tmp_path / "run", mutate, width)
    with pytest.raises(ModelFileError, match=r"retrain|upgrade") as caught:
        Classifier.load(run)
    assert says in str(caught.value) and "\n" not in str(caught.value)
    code = predict_cli.main([str(image), "--model", str(run), "--json", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == EXIT_STORAGE
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert "nan" not in out.lower()


def test_security_overflowing_weights_never_print_nan(
    tiny: tuple[Path, int, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finite but huge weights pass the field checks and overflow at prediction: the
    probabilities are checked too, so ``--json`` stays strict JSON and never carries NaN (the
    cover is answered with the model's one-line error)."""
    tiny_run, width, image = tiny
    run = _write(tiny_run, tmp_path / "run", _head(lambda n, w: _linear(n, w, 1e308)), width)
    code = predict_cli.main([str(image), "--model", str(run), "--json", "--no-progress"])
    out, err = capsys.readouterr()
    assert code != 0 and "Traceback" not in err
    (answer,) = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in --json"))
    assert "non-finite probabilities" in answer["error"] and "predictions" not in answer


def test_security_model_archive_is_bounded_before_loading(tmp_path: Path) -> None:
    """A deflated pickle that would expand past the cap is refused from the zip directory,
    before torch.load allocates anything."""
    run = tmp_path / "run"
    run.mkdir()
    with (
        zipfile.ZipFile(run / "model.pt", "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("archive/data.pkl", "w", force_zip64=True) as entry,
    ):
        chunk = bytes(16 * 1024**2)
        for _ in range(5):  # 80 MiB of zeros, about 80 KB on disk
            entry.write(chunk)
    assert (run / "model.pt").stat().st_size < 1024**2
    with pytest.raises(ModelFileError, match="would take 83,886,080 bytes"):
        Classifier.load(run)


def test_real_model_still_loads_and_predicts(tiny: tuple[Path, int, Path]) -> None:
    tiny_run, _, image = tiny
    probs = Classifier.load(tiny_run).probabilities([image])
    assert probs.shape[0] == 1 and np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_a_well_formed_artist_table_loads(tiny: tuple[Path, int, Path], tmp_path: Path) -> None:
    """The hostile artist tables above differ from this one in one field each."""
    tiny_run, width, _ = tiny
    run = _write(tiny_run, tmp_path / "run", _artists("weight", 1.0), width)
    clf = Classifier.load(run)
    assert clf.artists is not None and [a.key for a in clf.artists.artists] == [
        "mb-a",
        "text:bname",
    ]


def test_security_model_archive_entry_count_is_read_before_listing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Millions of tiny entries would cost an object each when zipfile lists them: the count
    comes from the end record first (the limit lowered here to keep the file small)."""
    from sleeve.inference import model_check

    monkeypatch.setattr(model_check, "MAX_ENTRIES", 50)
    run = tmp_path / "run"
    run.mkdir()
    with zipfile.ZipFile(run / "model.pt", "w") as archive:
        for i in range(51):
            archive.writestr(f"archive/data/{i}", b"")
    with pytest.raises(ModelFileError, match="in 51 entries, over the limits"):
        Classifier.load(run)
