"""What the app shows, as plain functions (no Streamlit here, so each is unit-testable).

Everything is read-only: the latest run directory (metrics.json + PNGs), the latest dataset
export (manifest.csv + card.json) and counts from the catalog database. When something does
not exist yet, the functions raise :class:`NotReady` whose message names the command to run.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.exc import SQLAlchemyError

from sleeve import csvfile
from sleeve.catalog.models import (
    CoverImage,
    Failure,
    GenreEvidence,
    ImageHash,
    Release,
    ReleaseImage,
)
from sleeve.dataset.export import (
    ATTRIBUTES_TABLE,
    MANIFEST,
    DatasetCard,
    DatasetExport,
    ManifestRow,
    latest_export,
    read_export,
)
from sleeve.errors import DataError
from sleeve.settings import Settings, redact_url
from sleeve.training.rundir import CONFUSED_PAIRS, Run, latest_run

METRIC_KEYS = ("weighted_f1", "macro_f1", "accuracy")


class NotReady(DataError):
    """Nothing to show yet; the message says which command creates it."""


# -- run report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunReport:
    run_dir: Path
    metrics: dict[str, Any]

    @property
    def best_method(self) -> str | None:
        best = self.metrics.get("best") or {}
        return best.get("method")

    @property
    def methods(self) -> list[str]:
        return list((self.metrics.get("methods") or {}).keys())

    def method_rows(self) -> list[dict[str, Any]]:
        """One row per method: val/test scores, training time and speed; best marked."""
        rows = []
        for name, m in (self.metrics.get("methods") or {}).items():
            row: dict[str, Any] = {"method": name, "best": name == self.best_method}
            for split in ("val", "test"):
                scores = m.get(split) or {}
                for key in METRIC_KEYS:
                    row[f"{split} {key}"] = scores.get(key)
            row["train seconds"] = m.get("train_seconds")
            row["images/s"] = m.get("images_per_second")
            rows.append(row)
        return rows

    def per_class_rows(self, method: str, split: str = "test") -> list[dict[str, Any]]:
        scores = ((self.metrics.get("methods") or {}).get(method) or {}).get(split) or {}
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


# -- catalog counts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogCounts:
    releases: int
    covers: int
    by_genre: list[dict[str, Any]]  # releases with evidence per target genre, by source
    covers_by_source: list[dict[str, Any]]
    failures_by_reason: list[dict[str, Any]]


def catalog_counts(settings: Settings) -> CatalogCounts:
    """Counts from the catalog with SELECTs only (the schema is never created or migrated)."""
    from sleeve.catalog.db import make_engine

    url = settings.catalog_url
    if url.startswith("sqlite:///"):
        db_file = Path(url.removeprefix("sqlite:///"))
        if not db_file.is_file():
            raise NotReady(f"No catalog yet ({db_file} is missing). Run `collect` first.")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            releases = conn.execute(select(func.count()).select_from(Release)).scalar_one()
            covers = conn.execute(select(func.count()).select_from(CoverImage)).scalar_one()
            genre_rows = conn.execute(
                select(
                    GenreEvidence.target_genre,
                    GenreEvidence.source,
                    func.count(distinct(GenreEvidence.release_id)),
                )
                .where(GenreEvidence.target_genre.is_not(None))
                .group_by(GenreEvidence.target_genre, GenreEvidence.source)
            ).all()
            genre_totals = dict(
                conn.execute(
                    select(
                        GenreEvidence.target_genre, func.count(distinct(GenreEvidence.release_id))
                    )
                    .where(GenreEvidence.target_genre.is_not(None))
                    .group_by(GenreEvidence.target_genre)
                ).all()
            )
            source_rows = conn.execute(
                select(ReleaseImage.source, func.count(distinct(ReleaseImage.image_id)))
                .group_by(ReleaseImage.source)
                .order_by(ReleaseImage.source)
            ).all()
            failure_rows = conn.execute(
                select(Failure.reason, func.count())
                .group_by(Failure.reason)
                .order_by(func.count().desc())
            ).all()
    except SQLAlchemyError as exc:
        shown = redact_url(engine.url.render_as_string(hide_password=False))
        raise NotReady(
            f"The catalog at {shown} cannot be read "
            f"({type(exc.orig or exc).__name__}): run `collect` or `sleeve db upgrade` first."
        ) from None
    finally:
        engine.dispose()
    return CatalogCounts(
        releases=int(releases),
        covers=int(covers),
        by_genre=_pivot(genre_rows, genre_totals),
        covers_by_source=[{"source": s, "covers": int(n)} for s, n in source_rows],
        failures_by_reason=[{"reason": r, "count": int(n)} for r, n in failure_rows],
    )


def _pivot(rows: Sequence[Any], totals: dict[str, int]) -> list[dict[str, Any]]:
    """(genre, source, n) rows as one row per genre with a column per source."""
    sources = sorted({source for _, source, _ in rows})
    table: dict[str, dict[str, Any]] = {}
    for genre, source, n in rows:
        table.setdefault(genre, {"genre": genre, **dict.fromkeys(sources, 0)})[source] = int(n)
    for genre, row in table.items():
        row["releases"] = int(totals.get(genre, 0))
    return [table[g] for g in sorted(table)]


# -- thumbnails ----------------------------------------------------------------------------------


def thumbnail_jpeg(path: Path, size: int = 160) -> bytes | None:
    """A small JPEG of a stored cover for grids (None when the file is missing or unusable)."""
    import io

    from sleeve.errors import BadImageError
    from sleeve.images.intake import open_rgb

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
    from sleeve.errors import BadImageError
    from sleeve.images.intake import DEFAULT_MAX_FILE_BYTES, inspect_image, read_image_bytes

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
    visual = (card.duplicates if card else {}).get("visual") or {}
    return [(p["sha256_a"], p["sha256_b"]) for p in visual.get("pair_list", [])]


def word_pairs(card: DatasetCard | None) -> list[tuple[str, str]]:
    """Of :func:`visual_pairs`, those the covers' words confirmed (the text check)."""
    visual = (card.duplicates if card else {}).get("visual") or {}
    return [
        (p["sha256_a"], p["sha256_b"]) for p in visual.get("pair_list", []) if p.get("by") == "text"
    ]


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
    from sleeve.catalog.db import make_engine
    from sleeve.dataset.groups import DEFAULT_THRESHOLD, group_duplicates
    from sleeve.dataset.rows import ImageRow

    url = settings.catalog_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise NotReady("No catalog yet. Run `collect` first.")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                select(
                    CoverImage.id,
                    CoverImage.sha256,
                    CoverImage.path,
                    CoverImage.width,
                    CoverImage.height,
                    ImageHash.value,
                ).join(ImageHash, (ImageHash.image_id == CoverImage.id) & (ImageHash.algo == algo))
            ).all()
    except SQLAlchemyError as exc:
        raise NotReady(f"The catalog could not be read ({exc.__class__.__name__}).") from exc
    finally:
        engine.dispose()
    if not found:
        raise NotReady("No perceptual hashes in the catalog yet. Run `build-dataset` first.")
    images = [ImageRow(r.id, r.sha256, r.path, r.width, r.height) for r in found]
    hashes = {r.id: r.value for r in found}
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
