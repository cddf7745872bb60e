"""The import picture has layers, and no module imports a layer above its own (issue 12).

    sleeve core (errors, settings, fsutil, procs, cliutil, progress, images, taxonomy, catalog)
      < collector < dataset < training < the top (app, review, cli, demo, fakes, catalog's CLI)

Every import counts, at module level or inside a function: a function-level import that
dodges a cycle is still an upward dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# installed name -> folder (pyproject's package-dir)
FOLDERS = {
    "sleeve.collector": "collector",
    "sleeve.dataset": "dataset",
    "sleeve.training": "training",
    "sleeve.migrations": "migrations",
}
CORE, COLLECTOR, DATASET, TRAINING, TOP = range(5)
RANKS = {  # longest prefix wins
    "sleeve": CORE,
    "sleeve.migrations": CORE,
    "sleeve.collector": COLLECTOR,
    "sleeve.dataset": DATASET,
    "sleeve.training": TRAINING,
    "sleeve.ui.app": TOP,
    "sleeve.ui.review": TOP,
    # the catalog's record of people's verdicts (imports only core); build-dataset applies them
    "sleeve.core.catalog.decisions": CORE,
    "sleeve.fakes": TOP,  # the demo serves them; they import only core
    "sleeve.ui.cli": TOP,
    "sleeve.ui.demo": TOP,
    "sleeve.ui.catalog_cli": TOP,  # `sleeve db check` reads the store
}
# Within core, the image code and the catalog stay clear of everything above them outright.
BELOW_COLLECTOR = (
    "sleeve.core.images",
    "sleeve.core.vision",
    "sleeve.core.catalog.db",
    "sleeve.core.catalog.models",
)
# Upward imports tolerated, each with its reason (the test fails on a stale one). None: the
# image models the dataset stages borrow (backbones, embeddings, samples) live in sleeve.core.vision.
ALLOWED: set[tuple[str, str]] = set()


def rank(module: str) -> int:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if (prefix := ".".join(parts[:n])) in RANKS:
            return RANKS[prefix]
    raise AssertionError(f"{module}: not in any layer")


def modules() -> dict[str, Path]:
    found = {}
    for path in (ROOT / "sleeve").rglob("*.py"):
        found[_name("sleeve", path.relative_to(ROOT / "sleeve"))] = path
    for package, folder in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            found[_name(package, path.relative_to(ROOT / folder))] = path
    return found


def _name(package: str, rel: Path) -> str:
    parts = [package, *rel.with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, module: str) -> set[str]:
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)  # `from pkg import module`
    return {name for name in found if name == "sleeve" or name.startswith("sleeve.")}


def test_no_module_imports_a_layer_above_its_own() -> None:
    known = modules()
    upward = set()
    for module, path in known.items():
        for target in imports(path, module):
            if target in known and rank(target) > rank(module):
                upward.add((module, target))
    assert upward - ALLOWED == set()
    assert ALLOWED - upward == set(), "stale allow-list entries: remove them"


def test_images_and_catalog_import_nothing_above_core() -> None:
    known = modules()
    bad = {
        (module, target)
        for module, path in known.items()
        if module.startswith(BELOW_COLLECTOR)
        for target in imports(path, module)
        if target in known and rank(target) > CORE
    }
    assert bad == set()


def test_the_image_code_does_not_reach_into_the_catalog() -> None:
    known = modules()
    bad = {
        (module, target)
        for module, path in known.items()
        if module.startswith("sleeve.core.images")
        for target in imports(path, module)
        if target.startswith("sleeve.core.catalog")
    }
    assert bad == set()


def test_every_test_module_holds_tests() -> None:
    """Helpers shared by tests live in modules not named ``test_*.py`` (tests/images.py,
    tests/dataset_support.py): pytest collects what is named like a test."""
    empty = [
        path.name
        for path in sorted((ROOT / "tests").glob("test_*.py"))
        if not any(
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test_")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        )
    ]
    assert empty == []
