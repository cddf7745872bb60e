"""Each hand-off has one owner: the checks below read the source (ast), so a second writer or
reader of the dataset export (manifest.csv, the dataset id, LATEST) fails here at once."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("sleeve", "collector", "dataset", "training", "fakes", "benchmarks")
# the tests' builders (shared helpers, not test modules) go through the owners too
TEST_BUILDERS = ("conftest.py", "images.py", "text_images.py", "visual_images.py")
EXPORT_OWNER = "dataset/export.py"
RUN_OWNER = "sleeve/inference/rundir.py"
POINTER_OWNER = "sleeve/core/fsutil.py"
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
    assert offenders == [], "take run-directory paths from sleeve.inference.rundir.Run"


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


# -- imports: no function-level import of a project module except lazy heavy ones -------------

LAYERS = ("training", "dataset", "sleeve/inference")
# (module file, imported module) -> why it is imported inside a function. Only optional or
# heavy dependencies (torch, the HTTP stack) and CLI start-up time qualify; never a cycle.
LAZY_IMPORTS = {
    # `sleeve analyze --help` answers without importing torch
    ("training/analyze/cli.py", "sleeve.training.analyze.analysis"): "CLI start-up (torch)",
    ("training/analyze/cli.py", "sleeve.training.analyze.page"): "CLI start-up (torch)",
    ("training/analyze/cli.py", "sleeve.core.vision.backbones"): "CLI start-up (torch)",
    ("training/analyze/cli.py", "sleeve.training.cli"): "CLI start-up (torch)",
    ("training/analyze/cli.py", "sleeve.training.data"): "CLI start-up (torch)",
    ("training/analyze/cli.py", "sleeve.core.vision.embeddings"): "CLI start-up (torch)",
    ("training/analyze/cli.py", "sleeve.inference.classifier"): "CLI start-up (torch)",
    # the app's pages import evaluate's confusion helpers; decoding covers needs torch
    (
        "training/evaluation/metrics.py",
        "sleeve.core.vision.samples",
    ): "heavy (torch) for one figure",
    # not a cycle: the classifier reads its inputs through inference/inputs.py, not predict
    ("sleeve/inference/predict.py", "sleeve.inference.classifier"): "heavy (torch) only to predict",
    ("sleeve/inference/inputs.py", "sleeve.collector.http"): "only URL inputs need the HTTP stack",
    # build-dataset's visual stage embeds covers only when it is on
    ("dataset/dedup/visual.py", "sleeve.core.vision.backbones"): "heavy (torch), visual stage only",
    ("dataset/dedup/visual.py", "sleeve.core.vision.samples"): "heavy (torch), visual stage only",
    (
        "dataset/dedup/visual.py",
        "sleeve.core.vision.embeddings",
    ): "heavy (torch), visual stage only",
    ("dataset/attributes/cli.py", "sleeve.dataset.attributes.registry"): "CLI start-up",
    ("dataset/attributes/cli.py", "sleeve.dataset.attributes.compute"): "CLI start-up",
    ("dataset/attributes/cli.py", "sleeve.core.catalog.db"): "CLI start-up (SQLAlchemy)",
    ("dataset/attributes/cli.py", "sleeve.core.catalog.models"): "CLI start-up (SQLAlchemy)",
    ("dataset/attributes/cli.py", "sleeve.dataset.attributes"): "CLI start-up (OpenCV)",
    # the style attribute reads Lite0's pooled features only when it runs
    ("dataset/attributes/style.py", "sleeve.core.vision.backbones"): "heavy (torch), style only",
    ("dataset/attributes/style.py", "sleeve.core.vision.embeddings"): "heavy (torch), style only",
    # the per-cover pass loads the network only when a build embeds covers
    ("dataset/per_cover.py", "sleeve.core.vision.backbones"): "heavy (torch), embeddings only",
    ("dataset/per_cover.py", "sleeve.core.vision.embeddings"): "heavy (torch), embeddings only",
}


def function_level_imports() -> set[tuple[str, str]]:
    found = set()
    for d in LAYERS:
        for path in sorted((ROOT / d).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            tree = ast.parse(path.read_text(encoding="utf-8"), rel)
            for fn in ast.walk(tree):
                if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(fn):
                    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                        "sleeve"
                    ):
                        found.add((rel, str(node.module)))
                    elif isinstance(node, ast.Import):
                        found |= {(rel, a.name) for a in node.names if a.name.startswith("sleeve")}
    return found


def test_no_function_level_import_of_a_project_module_outside_the_allow_list() -> None:
    found = function_level_imports()
    assert found - set(LAZY_IMPORTS) == set(), "import at module level (a cycle? fix the layers)"
    assert set(LAZY_IMPORTS) - found == set(), "stale allow-list entries: remove them"


def test_one_writer_and_one_reader_per_hand_off() -> None:
    """The export's and the run's writers/readers are defined once, in their owners, and the
    LATEST pointer helpers are called only by the owners (and the analysis folder's CLI)."""
    defined: dict[str, list[str]] = {}
    pointer_callers = set()
    for rel, tree in sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                defined.setdefault(node.name, []).append(rel)
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name in ("write_pointer", "read_pointer"):
                    pointer_callers.add(rel)
    for name in ("DatasetExport", "DatasetCard", "write_export", "read_export", "rows_id"):
        assert defined[name] == [EXPORT_OWNER], name
    for name in ("write_latest", "latest_export"):
        assert defined[name] == [EXPORT_OWNER], name
    for name in ("Run", "RunResult", "write_latest_run", "latest_run"):
        assert defined[name] == [RUN_OWNER], name
    assert pointer_callers == {
        EXPORT_OWNER,
        RUN_OWNER,
        "training/analyze/cli.py",  # <data_dir>/analysis/LATEST (written)
        "sleeve/ui/app/analysis_data.py",  # ... and read by the app
    }
