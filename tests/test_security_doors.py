"""The shared doors hold (issue 21): product code opens images only through the intake, and
writes or reads CSV only through the one inert-cell writer, so a module added later cannot
slip past the shape rule or formula neutralisation unnoticed."""

from __future__ import annotations

import ast

from tests.test_layering import modules

# test servers and image generators: they make images, they never read a user's
NOT_PRODUCT = ("sleeve.fakes",)


def _product() -> dict[str, ast.Module]:
    return {
        name: ast.parse(path.read_text(encoding="utf-8"))
        for name, path in modules().items()
        if not name.startswith(NOT_PRODUCT)
    }


def _calls(tree: ast.Module, owner: str, attrs: set[str]) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in attrs
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == owner
    ]


def test_security_only_the_intake_opens_image_files() -> None:
    found = {}
    for name, tree in _product().items():
        if name == "sleeve.core.images.intake":
            continue
        lines = _calls(tree, "Image", {"open"}) + _calls(tree, "cv2", {"imread", "imdecode"})
        if lines:
            found[name] = lines
    assert found == {}, "open images with sleeve.core.images.intake.open_image / open_rgb"


def test_security_only_csvfile_touches_the_csv_module() -> None:
    found = []
    for name, tree in _product().items():
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if "csv" in names and name != "sleeve.core.csvfile":
                found.append(name)
    assert found == [], "write and read CSV with sleeve.core.csvfile (inert cells)"
