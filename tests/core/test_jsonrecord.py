"""Typed hand-offs (sleeve.core.jsonrecord): card.json sections and metrics.json as dataclasses that
write the same JSON as before and keep the keys a newer sleeve added."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from sleeve.core.errors import DataError
from sleeve.core.jsonrecord import JsonRecord, key


@dataclass(kw_only=True)
class Inner(JsonRecord):
    n: int


@dataclass(kw_only=True)
class Outer(JsonRecord):
    name: str
    dashed: int = 0
    parts: dict[str, Inner]
    block: dict[str, int] | None = None  # an optional block: None = absent

    @classmethod
    def _decode(cls, values: dict) -> dict:
        return values | {"parts": {k: Inner.from_dict(v) for k, v in values["parts"].items()}}


@dataclass(kw_only=True)
class Hyphen(JsonRecord):
    catalog_text: int = field(metadata=key("catalog-text"))


def test_fields_are_written_in_order_then_the_unknown_keys() -> None:
    rec = Outer(name="a", parts={"x": Inner(n=1, extra={"later": True})}, extra={"new": [1]})
    assert list(rec.to_dict()) == ["name", "dashed", "parts", "new"]
    assert rec.to_dict()["parts"] == {"x": {"n": 1, "later": True}}


def test_a_file_from_a_newer_sleeve_round_trips_byte_identically() -> None:
    text = json.dumps(
        {
            "name": "a",
            "dashed": 2,
            "parts": {"x": {"n": 1, "added_inside": "kept"}},
            "block": {"k": 3},
            "added_later": {"deep": [1, 2]},
        },
        indent=2,
    )
    rec = Outer.from_dict(json.loads(text))
    assert rec.parts == {"x": Inner(n=1, extra={"added_inside": "kept"})}  # decoded, not a dict
    assert rec.extra == {"added_later": {"deep": [1, 2]}}
    assert json.dumps(rec.to_dict(), indent=2) == text


def test_an_absent_optional_block_stays_absent() -> None:
    raw = {"name": "a", "dashed": 0, "parts": {}}
    rec = Outer.from_dict(raw)
    assert rec.block is None and rec.to_dict() == raw


def test_a_key_that_is_not_a_python_name() -> None:
    rec = Hyphen.from_dict({"catalog-text": 4, "other": 1})
    assert rec.catalog_text == 4
    assert rec.to_dict() == {"catalog-text": 4, "other": 1}


def test_a_missing_required_key_is_one_clear_error() -> None:
    with pytest.raises(DataError, match="Outer lacks name, parts"):
        Outer.from_dict({"dashed": 1})
    with pytest.raises(DataError, match="expected a JSON object"):
        Outer.from_dict([1, 2])  # type: ignore[arg-type]  # what a damaged file could hold
