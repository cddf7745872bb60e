"""The import picture is a house of floors, and each folder says which floors it may import
(issue 22; docs/architecture.md). Lowest first:

    sleeve.core  <  sleeve.migrations, sleeve.collector, sleeve.dataset  <  sleeve.inference
      <  sleeve.training  <  sleeve.ui

    sleeve.fakes (the service stand-ins): core and the collector; only the top floor imports them

One rule per folder, no exceptions. Every import counts, at module level, inside a function
or under TYPE_CHECKING: a function-level import that dodges a cycle is still a dependency.
"""

from __future__ import annotations

import ast
from functools import cache
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# package -> its folder; the stages and the fakes are top-level folders linked into sleeve/
FOLDERS = {
    "sleeve": "sleeve",
    "sleeve.collector": "collector",
    "sleeve.dataset": "dataset",
    "sleeve.training": "training",
    "sleeve.migrations": "migrations",
    "sleeve.fakes": "fakes",
}
CORE = ("sleeve.core",)
# folder (package) -> the packages its modules may import besides their own; a module follows
# the rule of the longest package that holds it
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    # the front door: the version and the lazily imported Classifier
    "sleeve": (*CORE, "sleeve.inference.classifier"),
    "sleeve.core": (),
    # the image code stays clear of the catalog (covers are checked before any row exists);
    # the store writes through fsutil on disk and objstore on an object store
    "sleeve.core.images": ("sleeve.core.errors", "sleeve.core.fsutil", "sleeve.core.objstore"),
    "sleeve.migrations": CORE,
    "sleeve.collector": CORE,
    "sleeve.dataset": CORE,
    "sleeve.inference": (*CORE, "sleeve.collector", "sleeve.dataset"),
    "sleeve.training": (*CORE, "sleeve.dataset", "sleeve.inference"),
    # a folder served as a fake catalogue is read as `collect --from-folder` reads it
    "sleeve.fakes": (*CORE, "sleeve.collector"),
    "sleeve.ui": (
        *CORE,
        "sleeve.collector",
        "sleeve.dataset",
        "sleeve.inference",
        "sleeve.training",
        "sleeve.fakes",
        "sleeve.migrations",
    ),
}


@cache
def modules() -> dict[str, Path]:
    found = {}
    for package, folder in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):  # links are not followed: each folder once
            found[_name(package, path.relative_to(ROOT / folder))] = path
    return found


def _name(package: str, rel: Path) -> str:
    parts = [*package.split("."), *rel.with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def rule(module: str) -> str:
    """The folder whose rule applies: the longest package in MAY_IMPORT holding ``module``."""
    return max((p for p in MAY_IMPORT if _within(module, p)), key=len)


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
            named = {f"{target}.{a.name}" for a in node.names}  # `from pkg import module`
            found.update(named)
            if not named <= modules().keys():  # names from pkg itself, not only its modules
                found.add(target)
    return {name for name in found if _within(name, "sleeve")}


def allowed(module: str, target: str) -> bool:
    own = rule(module)
    return _within(target, own) or any(_within(target, p) for p in MAY_IMPORT[own])


def test_every_module_imports_only_the_floors_its_folder_may_import() -> None:
    known = modules()
    bad = {
        (module, target)
        for module, path in known.items()
        for target in imports(path, module)
        if target in known and not allowed(module, target)
    }
    assert bad == set()


def test_the_rules_catch_an_upward_import() -> None:
    """The check sees what it forbids: core reaching up, a stage reaching into the top floor,
    the fakes into the dataset, a stage into the fakes, the image code into the catalog."""
    assert not allowed("sleeve.core.settings", "sleeve.training.run")
    assert not allowed("sleeve.dataset.build", "sleeve.ui.review.queue")
    assert not allowed("sleeve.inference.classifier", "sleeve.training.data")
    assert not allowed("sleeve.fakes.server", "sleeve.dataset.build")
    assert not allowed("sleeve.training.run", "sleeve.fakes.server")
    assert not allowed("sleeve.core.images.store", "sleeve.core.catalog.db")
    assert allowed("sleeve.training.run", "sleeve.inference.classifier")
    assert len(modules()) > 150  # every folder was read, links included


def test_every_module_is_on_a_floor() -> None:
    """A new top-level package under sleeve/ needs a rule before it can hold code."""
    assert all(rule(m) != "sleeve" for m in modules() if m != "sleeve")


def test_every_test_module_holds_tests() -> None:
    """Helpers shared by tests live in modules not named ``test_*.py`` (tests/images.py,
    tests/dataset_support.py): pytest collects what is named like a test."""
    empty = [
        path.relative_to(ROOT / "tests").as_posix()
        for path in sorted((ROOT / "tests").rglob("test_*.py"))
        if not any(
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test_")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        )
    ]
    assert empty == []


def import_graph() -> dict[str, set[str]]:
    """Product module -> the product modules it imports (every import, as the rules count)."""
    known = modules()
    return {module: imports(path, module) & known.keys() for module, path in known.items()}


def first_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` (its modules in order, the first repeated last), or []."""
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        return list(exc.args[1])
    return []


def test_no_modules_import_each_other() -> None:
    """Floors forbid cycles between folders; this forbids them inside a folder too (two modules
    that need each other share a piece that belongs in a third, lower module)."""
    assert first_cycle(import_graph()) == []


def test_the_cycle_check_sees_a_cycle() -> None:
    pair = {"a": {"b"}, "b": {"a"}}
    ring = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert sorted(first_cycle(pair)[:-1]) == ["a", "b"]
    assert sorted(first_cycle(ring)[:-1]) == ["a", "b", "c"]
    assert first_cycle({"a": {"b"}, "b": set()}) == []
