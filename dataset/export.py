"""Writing a dataset export (the contract read by train-and-evaluate) atomically.

The manifest is rendered in memory first (its bytes define the dataset id), then everything is
written into a hidden temporary directory beside the destination and renamed into place, so a
failed or interrupted build leaves no half-written export behind.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from pathlib import Path

from sleeve.errors import DataError
from sleeve.fsutil import sweep_stale, temp_prefix, widen_to_umask
from sleeve.progress import bar as progress_bar

MANIFEST_COLUMNS = (
    "path",
    "sha256",
    "phash",
    "genre",
    "split",
    "artist",
    "source",
    "group_id",
    "width",
    "height",
)


@dataclass(frozen=True)
class ManifestRow:
    path: str  # relative to the export dir: images/<split>/<genre>/<sha256>.<ext>
    sha256: str
    phash: str
    genre: str
    split: str
    artist: str
    source: str
    group_id: str
    width: int
    height: int


def render_manifest(rows: Sequence[ManifestRow]) -> bytes:
    """manifest.csv bytes: fixed columns, rows sorted by (split, genre, sha256), '\\n' endings."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for row in sorted(rows, key=lambda r: (r.split, r.genre, r.sha256)):
        writer.writerow(astuple(row))
    return buf.getvalue().encode("utf-8")


def dataset_id(manifest: bytes) -> str:
    return hashlib.sha256(manifest).hexdigest()[:16]


def _link_or_copy(src: Path, dst: Path) -> bool:
    """Hardlink ``src`` at ``dst`` (True), or copy it where links are impossible (False)."""
    try:
        os.link(src, dst)
        return True
    except OSError:
        shutil.copy2(src, dst)
        return False


def write_export(
    export_dir: Path,
    manifest: bytes,
    rows: Sequence[ManifestRow],
    sources: dict[str, Path],  # sha256 -> stored file
    card_json: dict[str, object],
    card_md: str,
    *,
    progress: bool = True,
    extra_files: dict[str, bytes] | None = None,  # side tables: text.jsonl, attributes.csv
) -> dict[str, int]:
    """Write the export at ``export_dir`` (replacing an earlier export there); returns counts.
    ``extra_files``: name -> bytes written beside the manifest (e.g. attributes.csv)."""
    export_dir = Path(export_dir)
    is_export = (export_dir / "manifest.csv").is_file()
    if (
        export_dir.exists()
        and not is_export
        and (not export_dir.is_dir() or any(export_dir.iterdir()))
    ):
        raise DataError(
            f"--out {export_dir} exists and is not a dataset export; choose an empty or "
            "new directory"
        )
    export_dir.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_exports(export_dir.parent)
    tmp = Path(
        tempfile.mkdtemp(dir=export_dir.parent, prefix=temp_prefix(f".{export_dir.name}.tmp-"))
    )
    widen_to_umask(tmp, directory=True)  # mkdtemp's 0700 would stay on the export
    counts = {"hardlinked": 0, "copied": 0}
    try:
        bar = progress_bar(len(rows), "export", progress=progress)
        with bar:
            for row in rows:
                dst = _inside(tmp, row.path)
                dst.parent.mkdir(parents=True, exist_ok=True)
                linked = _link_or_copy(sources[row.sha256], dst)
                counts["hardlinked" if linked else "copied"] += 1
                bar.update()
        (tmp / "manifest.csv").write_bytes(manifest)
        (tmp / "card.json").write_text(
            json.dumps(card_json, indent=2, sort_keys=False) + "\n", encoding="utf-8"
        )
        (tmp / "card.md").write_text(card_md, encoding="utf-8")
        for name, data in (extra_files or {}).items():
            _inside(tmp, name).write_bytes(data)
        _replace_dir(tmp, export_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return counts


def _inside(root: Path, relpath: str) -> Path:
    """``root / relpath``, refused unless it resolves to a path inside ``root``: a manifest path
    built from a hostile genre name (``../../x``) must not place files elsewhere."""
    root = root.resolve()
    target = (root / relpath).resolve()
    if Path(relpath).is_absolute() or not target.is_relative_to(root) or target == root:
        raise DataError(
            f"refusing to export {relpath!r}: it resolves outside the export directory "
            "(a genre or path that is not a safe name); fix the genre name and rebuild"
        )
    return target


def sweep_stale_exports(datasets_dir: Path) -> int:
    """Remove export temporaries (``.<id>.tmp-*``, ``.<id>.old-*``, ``.LATEST-*``) that killed
    builds left in ``datasets_dir``; a concurrent live build's are kept."""
    if not datasets_dir.is_dir():
        return 0
    removed = 0
    for marker in (".tmp-", ".old-"):  # directories only: --out may share a folder with others
        found = [p for p in datasets_dir.glob(f".?*{marker}*") if p.is_dir() and not p.is_symlink()]
        removed += sweep_stale(found, marker)
    return removed + sweep_stale(list(datasets_dir.glob(".LATEST-*")), ".LATEST-")


def _replace_dir(new: Path, final: Path) -> None:
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
        os.replace(new, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, final)


def write_latest(datasets_dir: Path, export_dir: Path) -> Path:
    """Point ``<data_dir>/datasets/LATEST`` at ``export_dir`` (written atomically)."""
    datasets_dir.mkdir(parents=True, exist_ok=True)
    latest = datasets_dir / "LATEST"
    fd, tmp = tempfile.mkstemp(dir=datasets_dir, prefix=temp_prefix(".LATEST-"))
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        widen_to_umask(fh.fileno())
        fh.write(str(Path(export_dir).resolve()) + "\n")
    os.replace(tmp, latest)
    return latest
