"""build-dataset as a library call: catalog -> deduplicated, labelled, split, exported dataset.

Steps (each a pure function over catalog rows except hashing and export):
load rows -> drop covers whose file is missing -> perceptual hashes (cached) -> duplicate groups
-> one label per group -> requested genres -> balance -> leak-free split -> manifest -> export.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sleeve.core import __version__
from sleeve.core.catalog.db import Catalog
from sleeve.core.catalog.decisions import known_genres, read_decisions
from sleeve.core.engine import Engine
from sleeve.core.errors import (
    ConfigError,
    DataError,
    NothingYetError,
    UnknownGenreError,
    UsageError,
)
from sleeve.core.images.integrity import verify_files
from sleeve.core.images.store import ImageStore
from sleeve.core.objstore import is_url
from sleeve.core.settings import Settings, redact, redact_url
from sleeve.core.taxonomy import Taxonomy, check_genre_name
from sleeve.dataset.attributes.export import build_extractors, export_attributes
from sleeve.dataset.balance import BalanceResult, Candidate, balance
from sleeve.dataset.card import build_card, render_card_md
from sleeve.dataset.card_sections import DuplicatesSection, TextSection
from sleeve.dataset.dedup.groups import (
    DEFAULT_THRESHOLD,
    DuplicateGroup,
    Grouping,
    group_duplicates,
)
from sleeve.dataset.dedup.hashing import ALGOS, HashReport, ensure_hashes
from sleeve.dataset.dedup.neighbours import MAX_THRESHOLD
from sleeve.dataset.dedup.visual import (
    VisualReport,
    card_entry,
    find_visual_duplicates,
    summary_line,
)
from sleeve.dataset.dedup.visual_settings import VisualDedup
from sleeve.dataset.dedup.visual_text import TEXT, catalog_words
from sleeve.dataset.export import (
    DatasetCard,
    ManifestRow,
    rows_id,
    split_counts,
    sweep_stale_exports,
    write_export,
    write_latest,
)
from sleeve.dataset.labels import Label, LabelReport, LabelRule, contenders, resolve_labels
from sleeve.dataset.per_cover import PassReport, warm_build_caches
from sleeve.dataset.review import apply_decisions
from sleeve.dataset.rows import CatalogRows, ImageRow, load_rows
from sleeve.dataset.shards import DEFAULT_FORMAT
from sleeve.dataset.split import SplitItem, assign_splits, leak_groups
from sleeve.dataset.text.artist_stage import ARTIST_TABLE, ArtistStage, find_artists
from sleeve.dataset.text.artists import NONE as NO_ARTIST
from sleeve.dataset.text.artists import ArtistEvidence
from sleeve.dataset.text.cover_text import TEXT_TABLE, ensure_text, load_text, render_text_table
from sleeve.dataset.text.extra_text import (
    EXTRA_TEXT_TABLE,
    ExtraCover,
    extra_items,
    render_extra_text_table,
)
from sleeve.dataset.text.ocr import INSTALL_HINT, engine_available

THRESHOLD_NOTE = (
    "Chosen on the shared 5-genre covers: random pairs at pHash distance <= 10 were checked by "
    "eye and were the same album, unrelated covers start to match just above it, where the pair "
    "counts jump (benchmarks/dedup.py; figures in benchmarks/results/dedup.json and "
    "docs/results.md)."
)


@dataclass
class BuildResult:
    dataset_id: str
    export_dir: Path | str | None  # a directory or an object-store URL; None for a dry run
    counts: dict[str, dict[str, int]]  # split -> genre -> n
    card: DatasetCard
    hash_report: HashReport
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)

    def summary_lines(self) -> list[str]:
        genres, dup, lab = self.card.genres, self.card.duplicates, self.card.labels
        width = max([len(g) for g in genres] + [5])
        lines = [
            f"dataset {self.dataset_id}" + (" (dry run: nothing written)" if self.dry_run else "")
        ]
        lines.append(f"  {'genre':<{width}}  {'train':>6} {'val':>6} {'test':>6} {'total':>6}")
        for g in genres:
            c = [self.counts[s][g] for s in ("train", "val", "test")]
            lines.append(f"  {g:<{width}}  {c[0]:>6} {c[1]:>6} {c[2]:>6} {sum(c):>6}")
        tot = [sum(self.counts[s].values()) for s in ("train", "val", "test")]
        lines.append(f"  {'total':<{width}}  {tot[0]:>6} {tot[1]:>6} {tot[2]:>6} {sum(tot):>6}")
        if dup is not None:
            lines.append(
                f"duplicates removed: {dup.byte_identical_extra_links} byte-identical files, "
                f"{dup.near_duplicate_images_removed} near-duplicates "
                f"({self.card.settings['hash']} <= {self.card.settings['threshold']}"
                f"{' + visual stage' if _visual_pairs(dup) else ''})"
            )
        lines.append("labels: " + ", ".join(f"{k} {v}" for k, v in lab["status"].items()))
        for kind, c in lab["conflicts"].items():
            resolved = ", ".join(f"{g} {n}" for g, n in sorted(c["resolved"].items()))
            lines.append(
                f"  conflict, {kind}: {c['groups']} groups -> resolved "
                f"{resolved or 'none'}; dropped ambiguous {c['ambiguous']}, weak {c['weak']}"
            )
        skipped = self.card.skipped
        counted = {k: v for k, v in skipped.items() if not k.endswith("_examples")}
        if counted:
            lines.append("skipped: " + ", ".join(f"{k} {v}" for k, v in counted.items()))
            for kind in ("missing", "changed"):
                examples = skipped.get(f"{kind}_examples")
                if examples:
                    lines.append(f"  {kind} files, e.g.: " + ", ".join(examples[:3]))
            if "changed-file" in skipped:
                lines.append("  changed files differ from the catalog: see `sleeve db check`")
        lines += self.notes
        return lines


def _visual_pairs(duplicates: DuplicatesSection) -> int:
    by_stage = duplicates.pairs_by_stage or {}
    return int(by_stage.get("visual", 0)) + int(by_stage.get("text", 0))


def _validate(
    genres: list[str] | None,
    known: set[str],
    per_class: int | None,
    hash_algo: str,
    threshold: int,
    splits: Sequence[float],  # the options' 3-tuple, but a Python caller may pass any length
) -> None:
    for g in genres or []:
        if g not in known:
            raise UnknownGenreError(g, sorted(known))
    if per_class is not None and per_class < 1:
        raise UsageError("--per-class must be at least 1")
    if hash_algo not in ALGOS:
        raise UsageError(f"--hash {hash_algo!r}: choose one of {', '.join(sorted(ALGOS))}")
    if not 0 <= threshold <= MAX_THRESHOLD:
        raise UsageError(f"--threshold must be within 0..{MAX_THRESHOLD} (bits of 64)")
    if len(splits) != 3 or any(f < 0 for f in splits) or abs(sum(splits) - 1.0) > 1e-6:
        raise UsageError(
            f"split fractions must be three non-negative numbers summing to 1, got {splits}"
        )


def _present(rows: CatalogRows, store: ImageStore) -> tuple[list[ImageRow], list[str], list[str]]:
    """(images whose file still hashes to its row, missing paths, changed paths): a file
    emptied or rewritten since it was stored must not be exported under its old sha256. Covers
    on an object store are checked as they are copied to the local cache the stages read."""
    report = verify_files(store, [(im.sha256, im.path) for im in rows.images], cache=True)
    missing, changed = set(report.missing), set(report.mismatched)
    present = [im for im in rows.images if im.sha256 not in missing | changed]
    by_sha = {im.sha256: im.path for im in rows.images}
    return present, [by_sha[s] for s in report.missing], [by_sha[s] for s in report.mismatched]


@dataclass(frozen=True)
class BuildOptions:
    """build-dataset's choices (the CLI's flags); defaults are the CLI's defaults."""

    genres: list[str] | None = None  # None: every genre with labelled covers
    balance: bool = False  # undersample large classes to the median class size
    per_class: int | None = None  # undersample to at most N per class (implies balance)
    out: Path | str | None = None  # None: <data_dir>/datasets/<dataset_id>; or s3://bucket/x
    seed: int = 0
    hash_algo: str = "phash"
    threshold: int = DEFAULT_THRESHOLD
    splits: tuple[float, float, float] = (0.7, 0.15, 0.15)
    dry_run: bool = False
    progress: bool = True
    rule: LabelRule | None = None  # None: the default LabelRule()
    visual: VisualDedup | None = None  # None: on or off as settings.visual_dedup says
    read_text: bool = True
    # attribute groups (--attributes): on (every group), off or a list; None: the setting
    # SLEEVE_BUILD_ATTRIBUTES (on unless set). Resolved once to extractor names.
    attributes: str | None = None
    group_by_artist: bool = False  # covers whose words name one artist share a split
    engine: Engine | None = None  # where per-cover work runs (--engine); None: this machine
    fmt: str = DEFAULT_FORMAT  # export layout: imagefolder | webdataset | parquet


@dataclass
class Selection:
    """The balanced, split covers (the representative of each kept duplicate group)."""

    kept: list[SplitItem]
    split_of: dict[int, str]
    leak_of: dict[int, str]
    balanced: BalanceResult
    excluded: Counter[str]
    items: list[SplitItem]  # every labelled candidate, before balancing
    artists: ArtistStage | None  # read for the split (--group-by-artist), else None
    # ambiguous groups' representatives (genre: the first contender) and their tied genres'
    # shares: never exported, their words teach the text rung (dataset/text/extra_text.py)
    ambiguous: list[tuple[SplitItem, tuple[tuple[str, float], ...]]] = field(default_factory=list)


def build_dataset(
    catalog: Catalog,
    settings: Settings,
    taxonomy: Taxonomy,
    options: BuildOptions | None = None,
    **overrides: Any,  # BuildOptions fields by name (genres=..., balance=True, ...)
) -> BuildResult:
    """Build (and unless ``dry_run`` export) a dataset from the catalog."""
    opts = replace(options or BuildOptions(), **overrides)
    visual = opts.visual or VisualDedup(enabled=settings.visual_dedup)
    # faces -> faces-mtcnn or faces-haar once, and a bad name or missing package said now,
    # before any cover is read ("off" when none)
    attributes = _attribute_extractors(opts.attributes, settings.build_attributes)
    opts = replace(
        opts,
        rule=opts.rule or LabelRule(),
        visual=visual,
        attributes=",".join(attributes) or "off",
    )
    data_dir = Path(settings.data_dir)
    rows = _load(catalog, taxonomy, opts)
    if not opts.dry_run:
        # what killed runs left, never a live concurrent writer's (fsutil.is_stale)
        ImageStore.from_settings(settings).sweep_temporaries()
        sweep_stale_exports(settings.datasets_dir)
    images, missing, changed = _present(rows, ImageStore.from_settings(settings))
    pass_report = None if opts.dry_run else _per_cover_pass(catalog, data_dir, images, visual, opts)
    hashes, hash_report = ensure_hashes(
        catalog,
        data_dir,
        [(im.id, im.path) for im in images],
        opts.hash_algo,
        progress=opts.progress,
        engine=opts.engine,
    )
    grouping, found = _group(catalog, images, hashes, data_dir, visual, opts)
    labels, label_report = resolve_labels(grouping.groups, rows, taxonomy, opts.rule)
    # people's verdicts from `sleeve review` override the rule (dataset/review.py)
    decisions, skipped = read_decisions(catalog, known_genres(catalog, taxonomy))
    labels, review = apply_decisions(grouping.groups, labels, decisions, skipped)
    image_by_id = {im.id: im for im in images}
    chosen = _select(catalog, data_dir, grouping, labels, rows, image_by_id, found.held, opts)
    manifest_rows = _manifest_rows(chosen, grouping, rows, image_by_id, hashes, label_report, opts)
    ds_id = rows_id(manifest_rows)
    export_dir: Path | str = settings.datasets_dir / ds_id
    if opts.out is not None:
        export_dir = str(opts.out) if is_url(opts.out) else Path(opts.out)
    card = _card(
        ds_id, manifest_rows, chosen, rows, images, grouping, found, labels, label_report,
        (missing, changed, hash_report), visual, catalog, opts,
    )  # fmt: skip
    card.review = review
    result = BuildResult(
        ds_id,
        None if opts.dry_run else export_dir,
        split_counts(manifest_rows, card.genres),
        card,
        hash_report,
        opts.dry_run,
    )
    result.notes.append(summary_line(found))
    if pass_report is not None and pass_report.covers:
        result.notes.append(pass_report.summary())
    if review.decisions_in_catalog:
        result.notes.append(
            f"review decisions applied: excluded {review.excluded}, relabelled "
            f"{review.relabelled}, kept {review.kept}"
        )
    for bad in skipped:  # written by another tool: listed, never applied, never blocking
        result.notes.append(
            f"review decision skipped: cover {bad.sha256 or f'id {bad.image_id}'}: {bad.reason}"
        )
    if opts.dry_run:
        result.notes.append(f"would export to {redact(export_dir)}")
        return result
    _export(catalog, settings, export_dir, rows, manifest_rows, chosen, image_by_id, result, opts)
    return result


def _attribute_extractors(option: str | None, setting: str) -> list[str]:
    """The extractor names of ``--attributes`` (or, without it, SLEEVE_BUILD_ATTRIBUTES)."""
    try:
        return build_extractors(option or setting)
    except UsageError as exc:
        if option or isinstance(exc, ConfigError):  # the option's or a missing package's line
            raise
        raise ConfigError(f"SLEEVE_BUILD_ATTRIBUTES={setting!r}: {exc}") from None


def _per_cover_pass(
    catalog: Catalog,
    data_dir: Path,
    images: list[ImageRow],
    visual: VisualDedup,
    opts: BuildOptions,
) -> PassReport:
    """Hashes, embeddings, words and attributes of every present cover in one pass (each file
    read and decoded once, dataset/per_cover.py); the stages below then read their caches.
    Words and attributes are computed for every present cover, not only the exported ones: the
    text rung reads every labelled cover, and a rebuild with other genres or seeds then finds
    them all cached."""
    report = warm_build_caches(
        catalog,
        data_dir,
        [(im.id, im.sha256, im.path) for im in images],
        hash_algo=opts.hash_algo,
        embed=visual.enabled,
        words=opts.read_text and engine_available(),
        attributes=build_extractors(opts.attributes or "off"),
        engine=opts.engine,
        progress=opts.progress,
    )
    return report


def _load(catalog: Catalog, taxonomy: Taxonomy, opts: BuildOptions) -> CatalogRows:
    rows = load_rows(catalog)
    known = set(taxonomy.genres) | rows.evidence_genres()
    _validate(opts.genres, known, opts.per_class, opts.hash_algo, opts.threshold, opts.splits)
    if not rows.images:
        raise NothingYetError(
            "the catalog has no covers yet: run `collect` first (e.g. "
            "`collect --genre rap --limit 500` or `collect --from-folder DIR`)"
        )
    return rows


def _group(
    catalog: Catalog,
    images: list[ImageRow],
    hashes: dict[int, str],
    data_dir: Path,
    visual: VisualDedup,
    opts: BuildOptions,
) -> tuple[Grouping, VisualReport]:
    """Duplicate groups: byte-identical and pHash near-duplicates, then the visual stage
    (with the words on the covers as its second verdict)."""
    grouping = group_duplicates(images, hashes, opts.threshold)
    words = catalog_words(
        catalog, data_dir, read=opts.read_text, engine=opts.engine, progress=opts.progress
    )
    found = find_visual_duplicates(
        images,
        data_dir,
        grouping,
        visual,
        hashes=hashes,
        words=words,
        engine=opts.engine,
        progress=opts.progress,
    )
    if found.pairs:  # the second stage: re-captures pHash misses join the same groups
        grouping = group_duplicates(images, hashes, opts.threshold, extra_pairs=found.edges)
    return grouping, found


def _held_links(held: list[tuple[int, int]], grouping: Grouping) -> dict[str, list[str]]:
    """Split links for the look-alike pairs the visual stage keeps in one split unmerged."""
    links: dict[str, list[str]] = defaultdict(list)
    for a, b in held:
        if a in grouping.group_of and b in grouping.group_of:
            for image in (a, b):
                links[grouping.group_of[image].id].append(f"held:{a}-{b}")
    return links


def _select(
    catalog: Catalog,
    data_dir: Path,
    grouping: Grouping,
    labels: dict[str, Label],  # by group id
    rows: CatalogRows,
    image_by_id: dict[int, ImageRow],
    held: list[tuple[int, int]],
    opts: BuildOptions,
) -> Selection:
    """One labelled representative per group, the requested genres, balanced, then split
    without a leak group spanning two splits."""
    wanted = set(opts.genres) if opts.genres else None
    rule = opts.rule or LabelRule()
    excluded: Counter[str] = Counter()
    split_items: list[SplitItem] = []
    ambiguous: list[tuple[SplitItem, tuple[tuple[str, float], ...]]] = []
    held_links = _held_links(held, grouping)
    for group in grouping.groups:
        label = labels[group.id]
        if label.genre is None:
            shares = _wanted_shares(contenders(label, rule), wanted)
            if shares:
                item = _split_item(group, shares[0][0], rows, image_by_id, held_links)
                ambiguous.append((item, shares))
            continue
        if wanted is not None and label.genre not in wanted:
            excluded[label.genre] += 1
            continue
        split_items.append(_split_item(group, label.genre, rows, image_by_id, held_links))
    artist_stage = None
    if opts.group_by_artist:  # artists read from the words join the leak groups
        artist_stage = find_artists(
            catalog,
            data_dir,
            rows,
            split_items,
            image_by_id,
            read=opts.read_text,
            progress=opts.progress,
        )
        split_items = artist_stage.linked(split_items)
    leak_of = leak_groups(split_items)
    item_by_key = {it.key: it for it in split_items}
    candidates: list[Candidate] = []
    for it in split_items:
        artist_links = sorted(link for link in it.links if link.startswith("artist:"))
        cluster = artist_links[0] if artist_links else f"leak:{leak_of[it.key]}"
        candidates.append(Candidate(it.key, it.sha256, it.genre, cluster))
    balanced = balance_items(candidates, opts.balance, opts.per_class, opts.seed)
    kept = [item_by_key[c.image_id] for c in balanced.kept]
    split_of = assign_splits(kept, leak_of, opts.splits, opts.seed)
    return Selection(
        kept, split_of, leak_of, balanced, excluded, split_items, artist_stage, ambiguous
    )


def _split_item(
    group: DuplicateGroup,
    genre: str,
    rows: CatalogRows,
    image_by_id: dict[int, ImageRow],
    held_links: dict[str, list[str]],
) -> SplitItem:
    """A group's representative with its split links: duplicate group, held look-alike pairs,
    credited artists, releases (a leak group joins items sharing any)."""
    rep = image_by_id[group.representative]
    release_ids = sorted({r for m in group.members for r in rows.releases_of(m)})
    artists = sorted(
        {
            rows.releases[r].artist_key
            for r in release_ids
            if r in rows.releases and rows.releases[r].artist_key
        }
    )
    links = (
        f"dup:{group.id}",
        *held_links.get(group.id, ()),
        *(f"artist:{a}" for a in artists),
        *(f"release:{r}" for r in release_ids),
    )
    return SplitItem(rep.id, rep.sha256, genre, links)


def _wanted_shares(
    shares: tuple[tuple[str, float], ...], wanted: set[str] | None
) -> tuple[tuple[str, float], ...]:
    """An ambiguous group's tied genres when ``--genres`` asks for every one of them, else ():
    as the label rule says, a pop/rock cover does not become pop because rock was not
    requested (dataset/labels.py)."""
    if wanted is not None and any(g not in wanted for g, _ in shares):
        return ()
    return shares


def _manifest_rows(
    chosen: Selection,
    grouping: Grouping,
    rows: CatalogRows,
    image_by_id: dict[int, ImageRow],
    hashes: dict[int, str],
    label_report: LabelReport,
    opts: BuildOptions,
) -> list[ManifestRow]:
    for genre in sorted({it.genre for it in chosen.kept}):  # a catalog from an older sleeve
        check_genre_name(genre, "a genre in the catalog")
    manifest_rows = []
    for it in chosen.kept:
        rep = image_by_id[it.key]
        group = grouping.group_of[rep.id]
        release_ids = sorted({r for m in group.members for r in rows.releases_of(m)})
        names = sorted(
            {
                rows.releases[r].artist_name
                for r in release_ids
                if r in rows.releases and rows.releases[r].artist_name
            }
        )
        sources = sorted({s for m in group.members for s in rows.sources_of(m)})
        split = chosen.split_of[it.key]
        manifest_rows.append(
            ManifestRow(
                path=f"images/{split}/{it.genre}/{rep.sha256}.{rep.ext}",
                sha256=rep.sha256,
                phash=hashes[rep.id],
                genre=it.genre,
                split=split,
                artist="; ".join(names),
                source="+".join(sources),
                group_id=chosen.leak_of[it.key],
                width=rep.width,
                height=rep.height,
            )
        )
    if not manifest_rows:
        raise DataError(
            "no labelled covers left to export (labels: "
            + ", ".join(f"{k} {v}" for k, v in label_report.status.items())
            + (f"; requested genres {sorted(set(opts.genres))}" if opts.genres else "")
            + ")"
        )
    return manifest_rows


def _card(
    ds_id: str,
    manifest_rows: list[ManifestRow],
    chosen: Selection,
    rows: CatalogRows,
    images: list[ImageRow],
    grouping: Grouping,
    found: VisualReport,
    labels: dict[str, Label],  # by group id
    label_report: LabelReport,
    skips: tuple[list[str], list[str], HashReport],
    visual: VisualDedup,
    catalog: Catalog,
    opts: BuildOptions,
) -> DatasetCard:
    """The dataset card (review, text and attributes sections are added by later stages)."""
    wanted = sorted(set(opts.genres)) if opts.genres else None
    out_genres = wanted or sorted({r.genre for r in manifest_rows})
    multi_link = [im for im in images if len(rows.releases_of(im.id)) > 1]
    near_groups = grouping.near_duplicate_groups
    duplicates = DuplicatesSection(
        byte_identical_images=len(multi_link),
        byte_identical_extra_links=sum(len(rows.releases_of(im.id)) - 1 for im in multi_link),
        near_pairs=grouping.near_pairs,
        near_duplicate_groups=len(near_groups),
        near_duplicate_images_removed=sum(g.size - 1 for g in near_groups),
        max_distance_merged=grouping.max_distance_seen,
        threshold_note=THRESHOLD_NOTE,
        pairs_by_stage={
            "sha256": sum(len(rows.releases_of(im.id)) - 1 for im in multi_link),
            "phash": grouping.near_pairs,
            "visual": sum(1 for p in found.pairs if p.by != TEXT),
            "text": sum(1 for p in found.pairs if p.by == TEXT),
        },
        visual=card_entry(found, visual, grouping, labels, {im.id: im.sha256 for im in images}),
    )
    missing, changed, hash_report = skips
    rule = opts.rule or LabelRule()
    skipped: dict[str, object] = {}
    if missing:
        skipped["missing-file"] = len(missing)
        skipped["missing_examples"] = missing[:5]
    if changed:
        skipped["changed-file"] = len(changed)
        skipped["changed_examples"] = changed[:5]
    for reason, n in sorted(hash_report.skipped.items()):
        skipped[f"unhashable:{reason}"] = n
    settings_out = {
        "genres": wanted,
        "balance": opts.balance,
        "per_class": opts.per_class,
        "seed": opts.seed,
        "hash": opts.hash_algo,
        "threshold": opts.threshold,
        "split": "/".join(f"{round(f * 100, 2):g}" for f in opts.splits),
        "label_rule": rule.describe(),
        "visual_dedup": visual.describe(),
        "catalog": _redacted(catalog),
    }
    label_dict = label_report.as_dict() | {
        "rule": rule.describe(),
        "excluded_genres": dict(sorted(chosen.excluded.items())),
    }
    return build_card(
        dataset_id=ds_id,
        genres=out_genres,
        rows=manifest_rows,
        oversample=chosen.balanced.oversample,
        settings=settings_out,
        duplicates=duplicates,
        labels=label_dict,
        balance=chosen.balanced.as_dict(),
        skipped=skipped,
        version=__version__,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def _export(
    catalog: Catalog,
    settings: Settings,
    export_dir: Path | str,
    rows: CatalogRows,
    manifest_rows: list[ManifestRow],
    chosen: Selection,
    image_by_id: dict[int, ImageRow],
    result: BuildResult,
    opts: BuildOptions,
) -> None:
    """Side tables (text.jsonl, artists.csv, attributes.csv), then the export and LATEST."""
    data_dir = Path(settings.data_dir)
    card = result.card
    sources = {it.sha256: data_dir / image_by_id[it.key].path for it in chosen.kept}
    extra_files, text_card = cover_text_table(
        catalog,
        data_dir,
        manifest_rows,
        sources,
        enabled=opts.read_text,
        progress=opts.progress,
        engine=opts.engine,
    )
    card.text = text_card
    result.notes.append(text_card.note)
    artists = chosen.artists or find_artists(  # evidence only, from the words just read
        catalog, data_dir, rows, chosen.items, image_by_id, read=False, progress=opts.progress
    )
    card.artists = artists.card([r.sha256 for r in manifest_rows], opts.group_by_artist)
    extra_files[ARTIST_TABLE] = artists.table(r.sha256 for r in manifest_rows)
    if TEXT_TABLE in extra_files:  # the words of the covers the balancer left out
        extra_files |= extra_text_table(
            catalog, data_dir, rows, chosen, manifest_rows, artists, image_by_id, text_card, opts
        )
    wanted_attrs = build_extractors(opts.attributes or "off")
    if wanted_attrs:  # attributes.csv + the card's per-genre profile (dataset/attributes/)
        covers = [(it.sha256, it.genre, image_by_id[it.key].path) for it in chosen.kept]
        found = export_attributes(
            catalog, data_dir, covers, wanted_attrs, progress=opts.progress, engine=opts.engine
        )
        card.attributes = found.card
        extra_files.update(found.files)  # attributes.csv, attributes_profile.png
        result.notes.append(found.summary)
    write_export(
        export_dir,
        manifest_rows,
        sources,
        card,
        render_card_md,
        progress=opts.progress,
        extra_files=extra_files,
        fmt=opts.fmt,
        endpoint=settings.store_endpoint,
    )
    if isinstance(export_dir, Path):  # LATEST names local exports only
        write_latest(settings.datasets_dir, export_dir)


def extra_text_table(
    catalog: Catalog,
    data_dir: Path,
    rows: CatalogRows,
    chosen: Selection,
    manifest_rows: list[ManifestRow],
    artists: ArtistStage,
    image_by_id: dict[int, ImageRow],
    text_card: TextSection,
    opts: BuildOptions,
) -> dict[str, bytes]:
    """text_extra.jsonl (dataset/text/extra_text.py) and its counts in the card's text entry:
    the covers the balancer left out and the ambiguous groups' covers, none sharing a link or
    an artist with a val/test cover."""
    exported = {r.sha256: r.split for r in manifest_rows}
    shares_of = {it.sha256: shares for it, shares in chosen.ambiguous}
    evidence = dict(artists.evidence) | _ambiguous_evidence(
        catalog, data_dir, rows, chosen, image_by_id, opts
    )
    artist_of = {sha: ev.key for sha, ev in evidence.items()}
    left_out, shared = extra_items(chosen.items, exported, chosen.leak_of, artist_of)
    ambiguous, ambiguous_shared = extra_items(
        chosen.items,
        exported,
        chosen.leak_of,
        artist_of,
        candidates=[it for it, _ in chosen.ambiguous],
    )
    extra = left_out + ambiguous
    if not extra:
        return {}
    ensure_text(  # the ambiguous covers' words were read for their artist evidence
        catalog,
        data_dir,
        [(it.sha256, image_by_id[it.key].path) for it in left_out],
        progress=opts.progress,
    )
    words = load_text(catalog, [it.sha256 for it in extra])
    table = [
        ExtraCover(
            it.sha256,
            it.genre,
            words.get(it.sha256, []),
            evidence.get(it.sha256, NO_ARTIST).key,
            evidence.get(it.sha256, NO_ARTIST).name,
            shares_of.get(it.sha256, ()),
        )
        for it in extra
    ]
    text_card.extra_train_covers = len(table)
    text_card.extra_ambiguous_covers = len(ambiguous)
    text_card.extra_left_out_shared_group = shared + ambiguous_shared
    text_card.note = (
        f"{text_card.note}; the text rung also reads {len(left_out)} labelled covers the "
        f"balancer left out and {len(ambiguous)} covers of ambiguous duplicate groups, each "
        f"with its tied genres ({EXTRA_TEXT_TABLE}; {shared + ambiguous_shared} more left out "
        "for sharing a duplicate, release or artist group with a val/test cover)"
    )
    return {EXTRA_TEXT_TABLE: render_extra_text_table(table)}


def _ambiguous_evidence(
    catalog: Catalog,
    data_dir: Path,
    rows: CatalogRows,
    chosen: Selection,
    image_by_id: dict[int, ImageRow],
    opts: BuildOptions,
) -> dict[str, ArtistEvidence]:
    """Artist evidence for the ambiguous groups' covers, found among all the candidates (a
    name printed on a val cover and an ambiguous one links them); the candidates' own
    evidence, already in artists.csv, is left as it was."""
    if not chosen.ambiguous:
        return {}
    ambiguous = [it for it, _ in chosen.ambiguous]
    ensure_text(
        catalog,
        data_dir,
        [(it.sha256, image_by_id[it.key].path) for it in ambiguous],
        progress=opts.progress,
    )
    found = find_artists(
        catalog, data_dir, rows, [*chosen.items, *ambiguous], image_by_id,
        read=False, progress=opts.progress,
    )  # fmt: skip
    return {it.sha256: found.evidence[it.sha256] for it in ambiguous if it.sha256 in found.evidence}


def cover_text_table(
    catalog: Catalog,
    data_dir: Path,
    rows: list[ManifestRow],
    sources: dict[str, Path],
    *,
    enabled: bool,
    progress: bool,
    engine: Engine | None = None,
) -> tuple[dict[str, bytes], TextSection]:
    """Read the exported covers' words (cached) and render text.jsonl; a card entry says how."""
    if not enabled:
        return {}, TextSection(note="cover text: not read (--no-text)")
    if not engine_available():
        note = f"cover text: skipped, the OCR engine is not installed ({INSTALL_HINT})"
        return {}, TextSection(note=note)
    shas = [r.sha256 for r in rows]
    report = ensure_text(
        catalog,
        data_dir,
        [(sha, str(sources[sha].relative_to(data_dir))) for sha in shas],
        progress=progress,
        engine=engine,
    )
    words = load_text(catalog, shas)
    with_text = sum(1 for w in words.values() if w)
    info = TextSection(
        engine=report.engine,
        version=report.version,
        cached=report.cached,
        read=report.read,
        with_text=report.with_text,
        skipped=dict(sorted(report.skipped.items())),
        skipped_examples=report.skipped_examples,
        file=TEXT_TABLE,
        covers=len(words),
        covers_with_text=with_text,
        note=f"{report.summary()}; {with_text} of {len(shas)} exported covers show words",
    )
    return {TEXT_TABLE: render_text_table(words)}, info


def balance_items(
    candidates: list[Candidate], enabled: bool, per_class: int | None, seed: int
) -> BalanceResult:
    # --per-class implies balancing: asking for N per class and getting more would surprise.
    return balance(
        candidates, enabled=enabled or per_class is not None, per_class=per_class, seed=seed
    )


def _redacted(catalog: Catalog) -> str:
    return redact_url(catalog.engine.url.render_as_string(hide_password=False))
