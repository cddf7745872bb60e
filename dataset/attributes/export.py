"""Attributes in a dataset export: ``attributes.csv`` (one row per cover, keyed by sha256) and
the card's per-genre attribute profile."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sleeve.core import csvfile
from sleeve.core.catalog.db import Catalog
from sleeve.core.engine import Engine
from sleeve.dataset.attributes.base import Extractor
from sleeve.dataset.attributes.compute import AttributeReport, Attributes, ensure_attributes
from sleeve.dataset.attributes.figure import profile_png
from sleeve.dataset.attributes.registry import GROUPS, resolve
from sleeve.dataset.attributes.text_share import COLUMNS as TEXT_COLUMNS
from sleeve.dataset.attributes.text_share import GROUP as TEXT_GROUP
from sleeve.dataset.attributes.text_share import text_values
from sleeve.dataset.card_sections import AttributesSection

# per-genre profile: (card key, extractor group, field, how: "share" of covers with value > 0,
# "mean", or "is:<value>" share of covers with that value), in the card's column order
PROFILE = (
    ("face", "faces", "person", "share"),
    ("group", "faces", "group", "share"),
    ("photo", "style", "style", "is:photo"),
    ("illustration", "style", "style", "is:illustration"),
    ("typography", "style", "style", "is:typography"),
    ("has_text", TEXT_GROUP, "has_text", "share"),
    ("text_share", TEXT_GROUP, "share", "mean"),
    ("brightness", "colour", "brightness", "mean"),
    ("saturation", "colour", "saturation", "mean"),
    ("colourfulness", "colour", "colourfulness", "mean"),
    ("warmth", "colour", "warmth", "mean"),
    ("edge_density", "structure", "edge_density", "mean"),
    ("symmetry_lr", "structure", "symmetry_lr", "mean"),
    ("glcm_contrast", "texture", "glcm_contrast", "mean"),
)


# build-dataset --attributes on (its default): every group. Faces (MTCNN) and style (Lite0)
# were once left to `sleeve attributes`; in the build's one pass over the covers they run at
# tens of covers/s, cheap next to OCR (benchmarks/stages.py, benchmarks/build_attributes.py).
# The cheap build asks for CHEAP by name: --attributes colour,texture,structure.
DEFAULT_EXPORT = GROUPS


def export_extractors(mode: str) -> list[str] | None:
    """``--attributes`` value -> extractor names, or None for off. ``on`` (and ``all``):
    DEFAULT_EXPORT, every group; else a comma list like ``colour,faces``."""
    mode = mode.strip().lower()
    if mode in {"off", "no", "none", ""}:
        return None
    if mode in {"on", "all"}:
        return list(DEFAULT_EXPORT)
    return [m.strip() for m in mode.split(",") if m.strip()]


def build_extractors(mode: str) -> list[str]:
    """``--attributes`` (or SLEEVE_BUILD_ATTRIBUTES) -> the extractor names a build computes,
    resolved once (``faces`` -> faces-mtcnn or faces-haar), [] for off. An unknown name or a
    missing package is one line here, before the build reads any cover."""
    wanted = export_extractors(mode)
    return [ex.name for ex in resolve(wanted)] if wanted else []


@dataclass
class ExportAttributes:
    csv_bytes: bytes
    card: AttributesSection
    summary: str = ""
    figure: bytes = b""  # the profile's small multiples (PNG), empty without matplotlib

    @property
    def files(self) -> dict[str, bytes]:
        """The export's side files: attributes.csv and, when drawn, the profile figure."""
        out = {CSV_FILE: self.csv_bytes}
        if self.figure:
            out[FIGURE_FILE] = self.figure
        return out


CSV_FILE = "attributes.csv"
FIGURE_FILE = "attributes_profile.png"


def group_of(name: str) -> str:
    """``faces-mtcnn`` -> ``faces``: the profile and the CSV name columns by group."""
    return name.split("-", 1)[0]


def render_csv(shas: Sequence[str], attrs: Attributes, extractors: Sequence[Extractor]) -> bytes:
    """attributes.csv: sha256, then ``<group>.<field>`` per scalar field, the palette as
    ``#rrggbb;...``; a cover with no value (unreadable) has empty cells."""
    header = ["sha256"]
    for ex in extractors:
        header += [f"{group_of(ex.name)}.{c}" for c in ex.columns]
        if ex.name == "colour":
            header += ["colour.palette", "colour.palette_shares"]
    with_text = any(TEXT_GROUP in a for a in attrs.values())
    if with_text:  # from the OCR cache: empty for covers whose words were not read
        header += [f"{TEXT_GROUP}.{c}" for c in TEXT_COLUMNS]
    rows = []
    for sha in sorted(set(shas)):
        row: list[object] = [sha]
        for ex in extractors:
            values: dict[str, Any] | None = attrs.get(sha, {}).get(ex.name)  # decoded JSON
            row += [values[c] if values else "" for c in ex.columns]
            if ex.name == "colour":
                row += [";".join(map(str, values[k])) if values else "" for k in
                        ("palette", "palette_shares")]  # fmt: skip
        if with_text:
            text = attrs.get(sha, {}).get(TEXT_GROUP)
            row += [text[c] if text else "" for c in TEXT_COLUMNS]
        rows.append(row)
    return csvfile.render(header, rows).encode("utf-8")


def genre_profile(
    genre_of: dict[str, str], attrs: Attributes, extractors: Sequence[Extractor]
) -> dict[str, dict[str, float | int]]:
    """genre -> {covers measured, face share, mean saturation, ...} over the exported covers."""
    by_group = {group_of(ex.name): ex.name for ex in extractors}
    by_group[TEXT_GROUP] = TEXT_GROUP  # from the OCR cache, when the words were read
    out: dict[str, dict[str, float | int]] = {}
    for genre in sorted(set(genre_of.values())):
        shas = [s for s, g in genre_of.items() if g == genre]
        entry: dict[str, float | int] = {"covers": len(shas)}
        for key, group, fld, how in PROFILE:
            name = by_group.get(group)
            if name is None:
                continue
            vals: list[Any] = [attrs[s][name][fld] for s in shas if name in attrs.get(s, {})]
            if not vals:
                continue
            if how.startswith("is:"):
                entry[key] = round(sum(v == how[3:] for v in vals) / len(vals), 3)
            elif how == "share":
                entry[key] = round(sum(float(v) > 0 for v in vals) / len(vals), 3)
            else:
                entry[key] = round(statistics.fmean(float(v) for v in vals), 4)
        out[genre] = entry
    return out


def build_export_attributes(
    genre_of: dict[str, str],
    attrs: Attributes,
    extractors: Sequence[Extractor],
    report: AttributeReport,
) -> ExportAttributes:

    profile = genre_profile(genre_of, attrs, extractors)
    text_read = sum(TEXT_GROUP in attrs.get(sha, {}) for sha in genre_of)
    card = AttributesSection(
        file=CSV_FILE,
        extractors={ex.name: ex.version for ex in extractors},
        profile=profile,
        computed=report.as_dict(),
        text_read=text_read,
        note="face = share of covers with at least one face (person present, from the face "
        "detector); group = 3 or more faces; photo / illustration / typography = share of each "
        "style; has_text = share with words read, text_share = mean share of the cover's area "
        "under the words (both from the OCR cache: covers not yet read have none); other "
        "columns are means. Definitions: `sleeve attributes --list`.",
    )
    figure = profile_png(profile, [k for k, *_ in PROFILE])
    if figure:
        card.figure = FIGURE_FILE
    summary = f"attributes: {report.summary()}; text share from OCR for {text_read} covers"
    return ExportAttributes(render_csv(list(genre_of), attrs, extractors), card, summary, figure)


def card_lines(entry: AttributesSection | None) -> list[str]:
    """The card.md section: the per-genre attribute profile table."""
    if not entry:
        return []
    profile = entry.profile
    keys = [k for k, *_ in PROFILE if any(k in p for p in profile.values())]
    lines = ["", "## Attributes", "", f"Per cover in `{entry.file}`; " + entry.note, ""]
    lines.append("| genre | covers | " + " | ".join(keys) + " |")
    lines.append("|---" * (len(keys) + 2) + "|")
    for genre, p in profile.items():
        cells = [str(p.get("covers", 0))] + [f"{p[k]:.3g}" if k in p else "" for k in keys]
        lines.append(f"| {genre} | " + " | ".join(cells) + " |")
    if entry.figure:
        lines += ["", f"![per-genre attribute profile]({entry.figure})"]
    return lines


def export_attributes(
    catalog: Catalog,
    data_dir: Path,
    covers: Sequence[tuple[str, str, str]],
    only: str | Sequence[str] | None,
    *,
    progress: bool = True,
    engine: Engine | None = None,
) -> ExportAttributes:
    """Attributes of exported ``covers`` ((sha256, genre, stored path)), computing the missing
    ones (cached in the catalog) on ``engine``: build-dataset's attribute step."""
    extractors = resolve(list(only) if only is not None and not isinstance(only, str) else only)
    attrs, report = ensure_attributes(
        catalog,
        data_dir,
        [(sha, path) for sha, _, path in covers],
        extractors,
        progress=progress,
        engine=engine,
    )
    genre_of = {sha: genre for sha, genre, _ in covers}
    for sha, values in text_values(catalog, genre_of).items():  # OCR already cached: no reading
        attrs.setdefault(sha, {})[TEXT_GROUP] = values
    return build_export_attributes(genre_of, attrs, extractors, report)
