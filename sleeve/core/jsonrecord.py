"""The JSON objects sleeve hands from one stage to the next (card.json's sections,
metrics.json), as dataclasses that keep what they do not know.

A newer sleeve may add keys; an older one that reads and rewrites the file must not drop them.
``from_dict`` keeps every key it has no field for in ``extra``, and ``to_dict`` writes the fields
in declaration order (the order the files have always had), then ``extra``. A field that
defaults to None is an optional block: None means the key is absent. Nested records are written
as objects; a subclass turns its nested objects back into records in ``_decode``. A key that is
not a Python name (``catalog-text``) goes in the field's metadata: ``field(metadata=key(...))``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, Self

from sleeve.core.errors import DataError


def key(name: str) -> dict[str, str]:
    """Field metadata: the field's JSON key when it differs from its name."""
    return {"key": name}


def _key(f: Field[Any]) -> str:
    return str(f.metadata.get("key", f.name))


@dataclass
class JsonRecord:
    extra: dict[str, Any] = field(default_factory=dict, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "extra" or (value is None and f.default is None):
                continue
            out[_key(f)] = plain(value)
        return out | self.extra

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Self:
        """The record of a JSON object; DataError naming a required key it lacks."""
        if not isinstance(raw, Mapping):
            raise DataError(f"{cls.__name__}: expected a JSON object, got {type(raw).__name__}")
        known = {_key(f): f for f in fields(cls) if f.name != "extra"}
        lacking = [
            k
            for k, f in known.items()
            if k not in raw and f.default is MISSING and f.default_factory is MISSING
        ]
        if lacking:
            raise DataError(f"{cls.__name__} lacks {', '.join(lacking)}")
        values = cls._decode({known[k].name: v for k, v in raw.items() if k in known})
        return cls(**values, extra={k: v for k, v in raw.items() if k not in known})

    @classmethod
    def _decode(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Nested objects -> records (a subclass with nested records overrides this)."""
        return values


def plain(value: Any) -> Any:
    """``value`` with every record in it written as its dict."""
    if isinstance(value, JsonRecord):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
