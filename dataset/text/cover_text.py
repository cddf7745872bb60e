"""The cover-text cache: OCR words per (image sha256, engine, engine version) in the catalog.

Reading is the cost (benchmarks/ocr_engines.py: covers/s), so it happens once per image and engine
version. Results are committed in batches as they arrive: an interrupted run keeps what it read
and the next run reads only the rest. Unreadable files are skipped, counted, and retried next
time (nothing is cached for them).
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import insert, select

from sleeve.core.catalog.db import Catalog
from sleeve.core.catalog.models import CoverImage, CoverText
from sleeve.core.engine import Engine
from sleeve.core.progress import bar as progress_bar
from sleeve.dataset.text.ocr import (
    CHUNK,
    ENGINE,
    MIN_PARALLEL,
    Word,
    default_engine,
    engine_version,
    loads,
    read_covers,
    require_engine,
)

BATCH = 64  # covers per committed transaction
TEXT_TABLE = "text.jsonl"  # the export's side table: one {"sha256", "words"} line per cover


@dataclass
class TextReport:
    engine: str
    version: str
    cached: int = 0  # already read before this run
    read: int = 0  # read now
    with_text: int = 0  # of the read-now covers, how many had at least one word
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "engine": self.engine,
            "version": self.version,
            "cached": self.cached,
            "read": self.read,
            "with_text": self.with_text,
            "skipped": dict(sorted(self.skipped.items())),
            "skipped_examples": self.skipped_examples,
        }

    def summary(self) -> str:
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items()))
        return (
            f"cover text ({self.engine} {self.version}): read {self.read} "
            f"({self.with_text} with words), {self.cached} already cached"
            + (f", skipped {skipped}" if skipped else "")
        )


def cached_shas(catalog: Catalog, version: str) -> set[str]:
    with catalog.session() as s:
        rows = s.execute(
            select(CoverText.sha256).where(
                CoverText.engine == ENGINE, CoverText.engine_version == version
            )
        )
        return {r[0] for r in rows}


def ensure_text(
    catalog: Catalog,
    data_dir: Path,
    images: Iterable[tuple[str, str]],
    *,
    workers: int | None = None,
    batch: int = BATCH,
    progress: bool = True,
    engine: Engine | None = None,
) -> TextReport:
    """Read the covers in ``images`` ((sha256, path relative to data dir)) that lack text, on
    ``engine`` (default: the local pool of ``workers``, one per core)."""
    version = require_engine()
    report = TextReport(ENGINE, version)
    done = cached_shas(catalog, version)
    todo: list[tuple[str, str]] = []
    seen: set[str] = set()
    for sha, rel in images:
        if sha in seen:
            continue
        seen.add(sha)
        if sha in done:
            report.cached += 1
        else:
            todo.append((sha, rel))
    pending: list[dict[str, object]] = []

    def flush() -> None:
        store_words(catalog, version, pending)
        pending.clear()

    if engine is None:
        engine = default_engine(1 if len(todo) < MIN_PARALLEL else workers)
    read = functools.partial(read_covers, str(data_dir))
    bar = progress_bar(len(todo), "ocr", progress=progress)
    try:
        for chunk, results in engine.map_batches(read, todo, CHUNK):
            bar.update(len(chunk))
            for (sha, rel), (words_json, reason) in zip(chunk, results, strict=True):
                if words_json is None:
                    report.skipped[reason] += 1
                    if len(report.skipped_examples) < 5:
                        report.skipped_examples.append(rel)
                    continue
                row = words_row(sha, version, words_json)
                pending.append(row)
                report.read += 1
                report.with_text += bool(row["n_words"])
                if len(pending) >= batch:
                    flush()
    finally:
        flush()  # keep what was read, even when interrupted
        bar.close()
    return report


def store_words(catalog: Catalog, version: str, rows: list[dict[str, object]]) -> None:
    """Insert CoverText rows (sha256, engine, engine_version, words, n_words) in one
    transaction, leaving out covers already stored (another process, such as ``sleeve text``
    beside ``build-dataset``, may have read them meanwhile)."""
    if not rows:
        return
    with catalog.session() as s:
        there = set(
            s.execute(
                select(CoverText.sha256).where(
                    CoverText.engine == ENGINE,
                    CoverText.engine_version == version,
                    CoverText.sha256.in_([r["sha256"] for r in rows]),
                )
            ).scalars()
        )
        fresh = [r for r in rows if r["sha256"] not in there]
        if fresh:
            s.execute(insert(CoverText), fresh)


def words_row(sha: str, version: str, words_json: str) -> dict[str, object]:
    return {
        "sha256": sha,
        "engine": ENGINE,
        "engine_version": version,
        "words": words_json,
        "n_words": len(json.loads(words_json)),
    }


def load_text(catalog: Catalog, shas: Iterable[str] | None = None) -> dict[str, list[Word]]:
    """Cached words by sha256 for the installed engine version (every cover: ``shas`` None)."""
    version = engine_version()
    if version is None:
        return {}
    wanted = set(shas) if shas is not None else None
    out: dict[str, list[Word]] = {}
    with catalog.session() as s:
        rows = s.execute(
            select(CoverText.sha256, CoverText.words).where(
                CoverText.engine == ENGINE, CoverText.engine_version == version
            )
        )
        for sha, words in rows:
            if wanted is None or sha in wanted:
                out[sha] = loads(words)
    return out


def catalog_images(catalog: Catalog) -> list[tuple[str, str]]:
    """Every stored cover as (sha256, path relative to the data dir)."""
    with catalog.session() as s:
        return [(sha, path) for sha, path in s.execute(select(CoverImage.sha256, CoverImage.path))]


def render_text_table(words_by_sha: dict[str, list[Word]]) -> bytes:
    """The export's text.jsonl: one line per cover that was read, sorted by sha256."""
    lines = [
        json.dumps(
            {"sha256": sha, "words": [w.as_dict() for w in words_by_sha[sha]]},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        for sha in sorted(words_by_sha)
    ]
    return ("\n".join(lines) + "\n" if lines else "").encode("utf-8")


def read_text_table(path: Path) -> dict[str, list[Word]]:
    """Parse an export's text.jsonl (an empty dict when the file is absent)."""
    if not path.is_file():
        return {}
    return parse_text_table(path.read_bytes())


def parse_text_table(data: bytes) -> dict[str, list[Word]]:
    """text.jsonl's bytes as sha256 -> words."""
    out: dict[str, list[Word]] = {}
    for line in data.decode("utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out[row["sha256"]] = [Word.from_dict(d) for d in row["words"]]
    return out
