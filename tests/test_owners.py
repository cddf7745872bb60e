"""Each hand-off has one owner: the checks below read the source (ast), so a second writer or
reader of the dataset export (manifest.csv, the dataset id, LATEST) fails here at once."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("sleeve", "collector", "dataset", "training", "benchmarks")
# the tests' builders (shared helpers, not test modules) go through the owners too
TEST_BUILDERS = ("conftest.py", "images.py", "text_images.py", "visual_images.py")
EXPORT_OWNER = "dataset/export.py"
RUN_OWNER = "training/rundir.py"
POINTER_OWNER = "sleeve/fsutil.py"
EXPORT_FILES = ("manifest.csv", "card.json")
RUN_FILES = (
    "metrics.json",
    "config.json",
    "model.pt",
    "predictions.csv",
    "probabilities.npz",
    "label_issues.csv",
    "checkpoints",
)


def sources() -> Iterator[tuple[str, ast.Module]]:
    files = [p for d in PRODUCT for p in (ROOT / d).rglob("*.py")]
    files += [ROOT / "tests" / n for n in TEST_BUILDERS if (ROOT / "tests" / n).is_file()]
    files += sorted((ROOT / "tests").glob("*support*.py"))
    for path in sorted(files):
        rel = path.relative_to(ROOT).as_posix()
        yield rel, ast.parse(path.read_text(encoding="utf-8"), rel)


def _in_fstring(tree: ast.Module) -> set[int]:
    """ids of the nodes inside f-strings: messages that name a file are not file access."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            inside.update(id(n) for n in ast.walk(node))
    return inside


def constants(tree: ast.Module, value: str) -> list[int]:
    """Lines where the string ``value`` is used as a value (not inside an f-string message)."""
    skip = _in_fstring(tree)
    return [
        n.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and n.value == value and id(n) not in skip
    ]


def hexdigest_prefixes(tree: ast.Module) -> list[int]:
    """Lines computing ``<hash>.hexdigest()[:16]``: the dataset id's recipe."""
    found = []
    for n in ast.walk(tree):
        if (
            isinstance(n, ast.Subscript)
            and isinstance(n.value, ast.Call)
            and isinstance(n.value.func, ast.Attribute)
            and n.value.func.attr == "hexdigest"
            and isinstance(n.slice, ast.Slice)
            and isinstance(n.slice.upper, ast.Constant)
            and n.slice.upper.value == 16
        ):
            found.append(n.lineno)
    return found


def test_only_the_export_owner_opens_manifest_csv() -> None:
    offenders = [
        f"{rel}:{line} {name}"
        for rel, tree in sources()
        if rel != EXPORT_OWNER
        for name in EXPORT_FILES
        for line in constants(tree, name)
    ]
    assert offenders == [], "read/write the export through sleeve.dataset.export"


def test_only_the_run_owner_names_the_run_files() -> None:
    offenders = [
        f"{rel}:{line} {name}"
        for rel, tree in sources()
        if rel != RUN_OWNER
        for name in RUN_FILES
        for line in constants(tree, name)
    ]
    assert offenders == [], "take run-directory paths from sleeve.training.rundir.Run"


def test_only_the_export_owner_computes_the_dataset_id() -> None:
    offenders = [
        f"{rel}:{line}"
        for rel, tree in sources()
        if rel != EXPORT_OWNER
        for line in hexdigest_prefixes(tree)
    ]
    assert offenders == [], "use sleeve.dataset.export.dataset_id (the only recipe)"


def test_only_the_pointer_helpers_name_latest() -> None:
    """LATEST files are written and read by fsutil.write_pointer/read_pointer, through the
    export's and the run's owners; messages may still name the file."""
    offenders = [
        f"{rel}:{line}"
        for rel, tree in sources()
        if rel != POINTER_OWNER
        for line in constants(tree, "LATEST")
    ]
    assert offenders == []


def test_the_checks_see_what_they_look_for() -> None:
    """The scanners find the patterns they forbid (a check that finds nothing proves nothing)."""
    owner = ast.parse((ROOT / EXPORT_OWNER).read_text(encoding="utf-8"))
    assert constants(owner, "manifest.csv") and hexdigest_prefixes(owner)
    pointer = ast.parse((ROOT / POINTER_OWNER).read_text(encoding="utf-8"))
    assert constants(pointer, "LATEST")
    message = ast.parse("x = f\"no {d / 'manifest.csv'}\"")
    assert constants(message, "manifest.csv") == []
