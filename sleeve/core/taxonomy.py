"""The genre taxonomy: target genres and which source strings count as evidence for each.

The lists live in ``genres.toml`` (shipped) and an optional user TOML (``SLEEVE_TAXONOMY``); this
module only loads and matches them. Matching is on whole normalised strings, never substrings:
``reggae`` does not match ``reggaeton``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from sleeve.core.errors import ConfigError, UnknownGenreError, UsageError

STRENGTHS = ("core", "sub", "weak")
# A genre name becomes a folder name (exports: images/<split>/<genre>/), so it must be a plain,
# portable path segment: lower-case letters, digits, '_' and '-', 1-64 characters (the catalog
# column's width), starting with a letter or digit ('.', '/', '..' and hidden names impossible).
GENRE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def check_genre_name(name: object, where: str) -> str:
    """``name`` if it is a safe genre name, else a one-line ``UsageError`` naming ``where``."""
    if isinstance(name, str) and GENRE_NAME.fullmatch(name):
        return name
    suggestion = re.sub(r"[^a-z0-9_-]+", "_", str(name).lower()).strip("_-")[:64]
    hint = f" (e.g. {suggestion!r})" if GENRE_NAME.fullmatch(suggestion) else ""
    raise UsageError(
        f"{where}: {name!r} is not a safe genre name: use 1-64 of a-z, 0-9, '_' and '-', "
        f"starting with a letter or digit{hint}"
    )


def normalise(name: str) -> str:
    """Lower-case, trim, collapse whitespace, and treat '-' and '_' like a space."""
    return " ".join(re.sub(r"[-_]", " ", name.lower()).split())


@dataclass(frozen=True)
class GenreMatch:
    genre: str
    strength: str  # core | sub | weak | alias
    weight: float


@dataclass
class GenreDef:
    name: str
    aliases: list[str] = field(default_factory=list)
    core: list[str] = field(default_factory=list)
    sub: list[str] = field(default_factory=list)
    weak: list[str] = field(default_factory=list)
    mb_query: str = ""
    spotify_search: list[str] = field(default_factory=list)


class Taxonomy:
    """Target genres plus the lookup from source strings to (genre, strength, weight)."""

    def __init__(
        self,
        genres: dict[str, GenreDef],
        weights: dict[str, float],
        never_map: list[str],
        patterns: list[tuple[re.Pattern[str], str, str]],
    ) -> None:
        self._genres = genres
        self.weights = weights
        self._never = {normalise(n) for n in never_map}
        self._patterns = patterns
        self._rebuild()

    def _rebuild(self) -> None:
        self._index: dict[str, list[GenreMatch]] = {}
        self._aliases: dict[str, str] = {}
        for g in self._genres.values():
            for strength in STRENGTHS:
                for name in getattr(g, strength):
                    key = normalise(name)
                    matches = self._index.setdefault(key, [])
                    if all(m.genre != g.name for m in matches):
                        matches.append(GenreMatch(g.name, strength, self.weights[strength]))
            for alias in [g.name, *g.aliases]:
                self._aliases[normalise(alias).replace(" ", "")] = g.name

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, user_file: Path | None = None) -> Taxonomy:
        shipped = tomllib.loads(resources.files("sleeve.core").joinpath("genres.toml").read_text())
        data = shipped
        if user_file is not None:
            try:
                user = tomllib.loads(Path(user_file).read_text())
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"SLEEVE_TAXONOMY={user_file}: cannot read it ({exc})") from exc
            data = _merge(shipped, user)
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict) -> Taxonomy:
        weights = {k: float(v) for k, v in data.get("weights", {}).items()}
        for strength, default in (("core", 1.0), ("sub", 0.6), ("weak", 0.3)):
            weights.setdefault(strength, default)
        genres: dict[str, GenreDef] = {}
        for name, spec in data.get("genres", {}).items():
            check_genre_name(name, "taxonomy genre")
            unknown = set(spec) - set(GenreDef.__dataclass_fields__)
            if unknown:
                raise ConfigError(f"taxonomy genre {name!r}: unknown keys {sorted(unknown)}")
            genres[name] = GenreDef(name=name, **spec)
        patterns = [
            (re.compile(p["regex"]), p["genre"], p.get("weight", "weak"))
            for p in data.get("patterns", [])
            if p.get("genre") in genres
        ]
        return cls(genres, weights, data.get("never_map", []), patterns)

    # -- queries ---------------------------------------------------------------------------
    @property
    def genres(self) -> list[str]:
        return list(self._genres)

    def __contains__(self, genre: str) -> bool:
        return genre in self._genres

    def get(self, genre: str) -> GenreDef:
        """The definition of ``genre``; unknown names raise with the list of valid ones."""
        try:
            return self._genres[genre]
        except KeyError:
            raise UnknownGenreError(genre, self.genres) from None

    def match(self, source_name: str) -> list[GenreMatch]:
        """Every target genre that ``source_name`` (a tag or genre string) is evidence for."""
        key = normalise(source_name)
        if not key or key in self._never:
            return []
        if key in self._index:
            return list(self._index[key])
        for regex, genre, strength in self._patterns:
            if regex.match(key):
                return [GenreMatch(genre, strength, self.weights[strength])]
        return []

    def genre_for_folder(self, folder: str) -> str | None:
        """The target genre a class-per-folder directory name stands for, if any."""
        return self._aliases.get(normalise(folder).replace(" ", ""))

    def add_genre(self, name: str) -> None:
        """Add a target genre outside the taxonomy (folder import of another dataset)."""
        check_genre_name(name, "new genre")
        if name not in self._genres:
            self._genres[name] = GenreDef(name=name, aliases=[name], core=[name])
            self._rebuild()


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if key == "genres":
            out["genres"] = {**base.get("genres", {}), **value}
        elif key == "weights":
            out["weights"] = {**base.get("weights", {}), **value}
        else:
            out[key] = value
    return out
