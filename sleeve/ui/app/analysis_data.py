"""The newest `sleeve analyze` page as the app reads it (no Streamlit here)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sleeve.core.errors import DataError
from sleeve.core.fsutil import read_pointer
from sleeve.core.settings import Settings
from sleeve.ui.app.data import NotReady


@dataclass(frozen=True)
class Analysis:
    folder: Path
    doc: dict[str, Any]

    @property
    def points(self) -> list[dict[str, Any]]:
        return [{**p, "row": i} for i, p in enumerate(self.doc.get("points", []))]

    def figure(self, name: str) -> Path | None:
        rel = self.doc.get("figures", {}).get(name)
        path = self.folder / rel if rel else None
        return path if path is not None and path.is_file() else None

    def strip(self, cluster: dict[str, Any]) -> Path | None:
        path = self.folder / str(cluster.get("strip", ""))
        return path if path.is_file() else None

    def separation_rows(self) -> list[dict[str, Any]]:
        after = {tuple(r["pair"]): r for r in self.doc["separation"].get("projected", [])}
        rows = []
        for r in self.doc["separation"]["features"]:
            row = {
                "pair": " / ".join(r["pair"]),
                "silhouette": r["silhouette"],
                "kNN mix": r["knn_mix"],
            }
            proj = after.get(tuple(r["pair"]))
            if proj:
                row[f"silhouette ({self.doc.get('projection')})"] = proj["silhouette"]
                row[f"kNN mix ({self.doc.get('projection')})"] = proj["knn_mix"]
            rows.append(row)
        return rows


def load_analysis(settings: Settings, folder: Path | None = None) -> Analysis:
    folder = folder or read_pointer(settings.data_dir / "analysis")
    if folder is None or not (folder / "analysis.json").is_file():
        raise NotReady(
            "No analysis yet. Run `sleeve analyze` (after `build-dataset`; "
            "`train-and-evaluate` first gives it the embedding cache)."
        )
    path = folder / "analysis.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if not isinstance(doc, dict) or "points" not in doc:
        raise DataError(f"{path} is not a sleeve analysis; run `sleeve analyze` again")
    return Analysis(folder, doc)
