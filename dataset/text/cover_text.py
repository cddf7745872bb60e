"""The cover-text cache: OCR words per (image sha256, engine, engine version) in the catalog.

Reading is the cost (benchmarks/ocr_engines.py: covers/s), so it happens once per image and engine
version. Results are committed in batches as they arrive: an interrupted run keeps what it read
and the next run reads only the rest. Unreadable files are skipped, counted, and retried next
time (nothing is cached for them).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import insert, select

from sleeve.core.catalog.db import Catalog
from sleeve.core.catalog.models import CoverImage, CoverText
from sleeve.dataset.text.ocr import ENGINE, Word, engine_version, loads, read_files, require_engine

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
) -> TextReport:
    """Read the covers in ``images`` ((sha256, path relative to data dir)) that lack text."""
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
        if pending:
            with catalog.session() as s:
                # another process (sleeve text beside build-dataset) may have stored some
                there = set(
                    s.execute(
                        select(CoverText.sha256).where(
                            CoverText.engine == ENGINE,
                            CoverText.engine_version == version,
                            CoverText.sha256.in_([p["sha256"] for p in pending]),
                        )
                    ).scalars()
                )
                rows = [p for p in pending if p["sha256"] not in there]
                if rows:
                    s.execute(insert(CoverText), rows)
            pending.clear()

    results = read_files(
        [Path(data_dir) / rel for _, rel in todo], workers=workers, progress=progress
    )
    try:
        for (sha, rel), (words_json, reason) in zip(todo, results, strict=True):
            if words_json is None:
                report.skipped[reason] += 1
                if len(report.skipped_examples) < 5:
                    report.skipped_examples.append(rel)
                continue
            n = len(json.loads(words_json))
            pending.append(
                {
                    "sha256": sha,
                    "engine": ENGINE,
                    "engine_version": version,
                    "words": words_json,
                    "n_words": n,
                }
            )
            report.read += 1
            report.with_text += n > 0
            if len(pending) >= batch:
                flush()
    finally:
        flush()  # keep what was read, even when interrupted
    return report


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
