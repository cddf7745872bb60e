"""What the app shows, as plain functions (no Streamlit here, so each is unit-testable).

Everything is read-only: the latest run directory (metrics.json + PNGs), the latest dataset
export (manifest.csv + card.json) and counts from the catalog database. When something does
not exist yet, the functions raise :class:`NotReady` whose message names the command to run.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from sleeve.core import csvfile
from sleeve.core.catalog.counts import CatalogCounts, count_catalog
from sleeve.core.catalog.db import Catalog, open_catalog
from sleeve.core.errors import DataError
from sleeve.core.settings import Settings, redact_url
from sleeve.dataset.dedup.groups import DEFAULT_THRESHOLD, group_duplicates
from sleeve.dataset.dedup.hashing import cached_hashes
from sleeve.dataset.export import (
    ATTRIBUTES_TABLE,
    MANIFEST,
    DatasetCard,
    DatasetExport,
    ManifestRow,
    latest_export,
    read_export,
)
from sleeve.dataset.rows import load_images
from sleeve.inference.run_metrics import RunMetrics
from sleeve.inference.rundir import CONFUSED_PAIRS, Run, latest_run

METRIC_KEYS = ("weighted_f1", "macro_f1", "accuracy")


class NotReady(DataError):
    """Nothing to show yet; the message says which command creates it."""


# -- run report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunReport:
    run_dir: Path
    metrics: RunMetrics

    @property
    def best_method(self) -> str:
        return self.metrics.best.method

    @property
    def methods(self) -> list[str]:
        return list(self.metrics.methods)

    def method_rows(self) -> list[dict[str, Any]]:
        """One row per method: val/test scores, training time and speed; best marked."""
        rows = []
        for name, m in self.metrics.methods.items():
            row: dict[str, Any] = {"method": name, "best": name == self.best_method}
            for split, scores in (("val", m.val), ("test", m.test)):
                for key in METRIC_KEYS:
                    row[f"{split} {key}"] = scores.get(key)
            row["train seconds"] = m.train_seconds
            row["images/s"] = m.images_per_second
            rows.append(row)
        return rows

    def scores(self, method: str, split: str = "test") -> dict[str, Any]:
        """``method``'s val or test scores ({} when the run has no such method)."""
        m = self.metrics.methods.get(method)
        return (m.val if split == "val" else m.test) if m is not None else {}

    def per_class_rows(self, method: str, split: str = "test") -> list[dict[str, Any]]:
        scores = self.scores(method, split)
        return [
            {"genre": genre, **values}
            for genre, values in sorted((scores.get("per_class") or {}).items())
        ]

    def confusion_png(self, method: str | None = None) -> Path | None:
        method = method or self.best_method
        path = Run(self.run_dir).confusion_png(method) if method else None
        return path if path and path.is_file() else None

    @property
    def confused_pairs_png(self) -> Path | None:
        path = Run(self.run_dir).path(CONFUSED_PAIRS)
        return path if path.is_file() else None


def latest_run_dir(settings: Settings) -> Path:
    latest = latest_run(settings.runs_dir)
    if latest is None or not latest.root.is_dir():
        raise NotReady(
            f"No trained run yet (no {settings.runs_dir / 'LATEST'}). "
            "Run `train-and-evaluate` (or `sleeve demo`) first."
        )
    return latest.root


def load_run_report(settings: Settings, run_dir: Path | None = None) -> RunReport:
    run_dir = run_dir or latest_run_dir(settings)
    try:
        metrics = Run(run_dir).metrics()
    except FileNotFoundError:
        raise NotReady(
            f"{run_dir} has no metrics.json (the run did not finish): "
            "run `train-and-evaluate` again."
        ) from None
    return RunReport(run_dir, metrics)


# -- dataset export ------------------------------------------------------------------------------


def split_genre_counts(export: DatasetExport) -> list[dict[str, Any]]:
    """Rows of genre x split counts (from the manifest, so they match what is listed)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for r in export.rows:
        counts[r.genre][r.split] += 1
    splits = [s for s in ("train", "val", "test") if any(c[s] for c in counts.values())]
    return [
        {"genre": g, **{s: counts[g][s] for s in splits}, "total": sum(counts[g].values())}
        for g in sorted(counts)
    ]


def column_values(rows: Iterable[ManifestRow], column: str) -> list[str]:
    """The distinct non-empty values of a manifest column, sorted (the browse filters)."""
    return sorted({str(getattr(r, column)) for r in rows if getattr(r, column)})


def load_export(settings: Settings, export_dir: Path | None = None) -> DatasetExport:
    """The export ``export_dir`` (default: datasets/LATEST), read by the export's owner."""
    export_dir = export_dir or latest_export(settings.datasets_dir)
    if export_dir is None or not export_dir.is_dir():
        raise NotReady(
            f"No dataset export yet (no {settings.datasets_dir / 'LATEST'}). "
            "Run `build-dataset` (after `collect`) first."
        )
    if not (export_dir / MANIFEST).is_file():
        raise NotReady(
            f"{export_dir} is incomplete ({MANIFEST} missing): run `build-dataset` again."
        )
    try:
        return read_export(export_dir)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the export in {export_dir}: {exc}") from None


def search_words(
    rows: Iterable[ManifestRow], words: dict[str, str], query: str
) -> list[ManifestRow]:
    """Rows whose cover's words contain every term of ``query`` (case-insensitive)."""
    terms = query.lower().split()
    if not terms:
        return list(rows)
    return [r for r in rows if all(t in words.get(r.sha256, "").lower() for t in terms)]


def filter_rows(
    rows: Iterable[ManifestRow],
    *,
    genres: Sequence[str] = (),
    splits: Sequence[str] = (),
    sources: Sequence[str] = (),
) -> list[ManifestRow]:
    """Manifest rows matching every non-empty filter (an empty filter matches all)."""
    return [
        r
        for r in rows
        if (not genres or r.genre in genres)
        and (not splits or r.split in splits)
        and (not sources or r.source in sources)
    ]


FACE_CHOICES = ("any", "with a face", "without a face")
STYLE_CHOICES = ("any", "photo", "illustration", "typography")


def load_attributes(export: DatasetExport) -> dict[str, dict[str, str]]:
    """sha256 -> the export's attributes.csv row; {} when it has none (--attributes off)."""
    path = export.side_file(ATTRIBUTES_TABLE)
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            return {r["sha256"]: r for r in csvfile.read_dicts(fh) if r.get("sha256")}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None


def _number(row: dict[str, str] | None, column: str) -> float | None:
    try:
        return float(row[column]) if row and row.get(column) else None
    except ValueError:
        return None


def filter_by_attributes(
    rows: Iterable[ManifestRow],
    attrs: dict[str, dict[str, str]],
    *,
    face: str = "any",
    saturation: tuple[float, float] = (0.0, 1.0),
    style: str = "any",
) -> list[ManifestRow]:
    """Manifest rows whose attributes match; a cover without values only passes "any"/full."""
    out = []
    full = saturation[0] <= 0.0 and saturation[1] >= 1.0
    for r in rows:
        a = attrs.get(r.sha256)
        if style != "any" and (a or {}).get("style.style") != style:
            continue
        if face != "any":
            count = _number(a, "faces.face_count")
            if count is None or (count > 0) != (face == "with a face"):
                continue
        if not full:
            sat = _number(a, "colour.saturation")
            if sat is None or not saturation[0] <= sat <= saturation[1]:
                continue
        out.append(r)
    return out


# -- the catalog -------------------------------------------------------------------------------


@contextmanager
def app_catalog(settings: Settings, *, migrate: bool = False) -> Iterator[Catalog]:
    """The one way the app opens the catalog, disposed on exit. Read-only pages leave the schema
    as it is; only a page that writes (review decisions) migrates it first. ``NotReady`` (the
    message names the command to run) when there is no catalog yet or it cannot be read."""
    url = settings.catalog_url
    if (
        url.startswith("sqlite:///")
        and not (db_file := Path(url.removeprefix("sqlite:///"))).is_file()
    ):
        raise NotReady(f"No catalog yet ({db_file} is missing). Run `collect` first.")
    catalog = open_catalog(url, migrate=migrate)
    try:
        yield catalog
    except SQLAlchemyError as exc:
        shown = redact_url(catalog.engine.url.render_as_string(hide_password=False))
        cause = getattr(exc, "orig", None) or exc  # only a DBAPIError wraps a driver error
        raise NotReady(
            f"The catalog at {shown} cannot be read "
            f"({type(cause).__name__}): run `collect` or `sleeve db upgrade` first."
        ) from None
    finally:
        catalog.dispose()


def catalog_counts(settings: Settings) -> CatalogCounts:
    """Counts from the catalog with SELECTs only (the schema is never created or migrated)."""
    with app_catalog(settings) as catalog:
        return count_catalog(catalog)


# -- thumbnails ----------------------------------------------------------------------------------


def thumbnail_jpeg(path: Path, size: int = 160) -> bytes | None:
    """A small JPEG of a stored cover for grids (None when the file is missing or unusable)."""
    import io

    from sleeve.core.errors import BadImageError
    from sleeve.core.images.intake import open_rgb

    try:
        img = open_rgb(path)
    except BadImageError:
        return None
    img.thumbnail((size, size))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def figure_png(path: Path) -> bytes | None:
    """A figure from a run or analysis folder (confusion matrix, trees, cluster strips) as
    its bytes when the intake accepts it, else None. ``st.image`` decodes and resizes whatever
    it is handed, so a file in a folder someone else wrote passes the shape rule first."""
    from sleeve.core.errors import BadImageError
    from sleeve.core.images.intake import DEFAULT_MAX_FILE_BYTES, inspect_image, read_image_bytes

    try:
        data = read_image_bytes(path, DEFAULT_MAX_FILE_BYTES)
        inspect_image(data, min_side=1)
    except BadImageError:
        return None
    return data


# -- duplicate groups in the catalog ------------------------------------------------------------


@dataclass(frozen=True)
class DuplicateMember:
    path: Path
    sha256: str
    width: int
    height: int
    kept: bool  # the group's representative: the one cover an export keeps
    # the stages that joined its group: pHash, visual (geometry), words (the visual stage's
    # text check confirmed a pair), joined by " + "
    found_by: str = "pHash"


def visual_pairs(card: DatasetCard | None) -> list[tuple[str, str]]:
    """The sha256 pairs build-dataset's visual stage confirmed, from an export's card."""
    visual = _visual_entry(card)
    return [(p["sha256_a"], p["sha256_b"]) for p in visual.get("pair_list", [])]


def word_pairs(card: DatasetCard | None) -> list[tuple[str, str]]:
    """Of :func:`visual_pairs`, those the covers' words confirmed (the text check)."""
    visual = _visual_entry(card)
    return [
        (p["sha256_a"], p["sha256_b"]) for p in visual.get("pair_list", []) if p.get("by") == "text"
    ]


def _visual_entry(card: DatasetCard | None) -> dict[str, Any]:
    """The card's visual-stage entry ({} when the card has none)."""
    dup = card.duplicates if card is not None else None
    return (dup.visual if dup is not None else None) or {}


def catalog_duplicate_groups(
    settings: Settings,
    algo: str = "phash",
    threshold: int | None = None,
    extra_pairs: Sequence[tuple[str, str]] = (),
    word_pairs: Sequence[tuple[str, str]] = (),
) -> list[list[DuplicateMember]]:
    """Near-duplicate groups among the catalog's covers, from the hashes build-dataset cached,
    grouped by the dataset builder's own function (biggest group first). ``extra_pairs``
    (sha256 pairs, the visual stage's from the latest export's card) join groups as in the
    build (``word_pairs``: those of them the covers' words confirmed); each member says which
    stages found its group."""
    with app_catalog(settings) as catalog:
        hashes = cached_hashes(catalog, algo)
        images = [im for im in load_images(catalog) if im.id in hashes]
    if not images:
        raise NotReady("No perceptual hashes in the catalog yet. Run `build-dataset` first.")
    plain = group_duplicates(images, hashes, threshold or DEFAULT_THRESHOLD)
    id_of = {im.sha256: im.id for im in images}
    extra = [(id_of[a], id_of[b]) for a, b in extra_pairs if a in id_of and b in id_of]
    grouping = (
        group_duplicates(images, hashes, threshold or DEFAULT_THRESHOLD, extra) if extra else plain
    )
    by_words = {(id_of[a], id_of[b]) for a, b in word_pairs if a in id_of and b in id_of}
    visual_groups = {grouping.group_of[a].id for a, b in extra if (a, b) not in by_words}
    word_groups = {grouping.group_of[a].id for a, _ in by_words}
    phash_groups = {grouping.group_of[g.members[0]].id for g in plain.near_duplicate_groups}
    by_id = {im.id: im for im in images}
    out = [
        [
            DuplicateMember(
                settings.data_dir / by_id[i].path,
                by_id[i].sha256,
                by_id[i].width,
                by_id[i].height,
                i == g.representative,
                " + ".join(
                    name
                    for name, ids in (
                        ("pHash", phash_groups),
                        ("visual", visual_groups | word_groups),
                        ("words", word_groups),
                    )
                    if g.id in ids
                ),
            )
            for i in g.members
        ]
        for g in grouping.near_duplicate_groups
    ]
    return sorted(out, key=lambda g: (-len(g), g[0].sha256))
