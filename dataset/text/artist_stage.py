"""build-dataset's artist stage: artist evidence per candidate cover (dataset/text/artists.py), the
split links it adds with ``--group-by-artist``, the export's ``artists.csv`` and the card entry.

The words come from the OCR cache (dataset/text/cover_text.py). With ``--group-by-artist`` the stage
reads the candidates that lack words before the split (the split needs them); otherwise it uses
what is cached after the export read the exported covers, and only records the evidence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from sleeve.core import csvfile
from sleeve.core.catalog.db import Catalog
from sleeve.dataset.card_sections import ArtistsSection
from sleeve.dataset.rows import CatalogRows, ImageRow
from sleeve.dataset.split import SplitItem
from sleeve.dataset.text.artists import ArtistEvidence, CatalogNames, Cover, assign_artists
from sleeve.dataset.text.cover_text import ensure_text, load_text
from sleeve.dataset.text.ocr import INSTALL_HINT, engine_available

ARTIST_TABLE = "artists.csv"  # the export's side table: sha256, artist_key, artist, source


@dataclass
class ArtistStage:
    evidence: dict[str, ArtistEvidence]  # candidate sha256 -> evidence
    note: str  # how the words were obtained (or why there were none)

    def linked(self, items: Sequence[SplitItem]) -> list[SplitItem]:
        """``items`` with an ``artist:<key>`` link for each artist found from words, so the
        split keeps an artist's covers together and balance rounds over artists."""
        out = []
        for it in items:
            ev = self.evidence.get(it.sha256)
            link = f"artist:{ev.key}" if ev is not None and ev.key else None
            if link is None or link in it.links:
                out.append(it)
            else:
                out.append(replace(it, links=(*it.links, link)))
        return out

    def table(self, shas: Iterable[str]) -> bytes:
        rows = []
        for sha in sorted(shas):
            ev = self.evidence.get(sha)
            rows.append([sha, ev.key, ev.name, ev.source] if ev else [sha, "", "", "none"])
        header = ["sha256", "artist_key", "artist", "source"]
        return csvfile.render(header, rows).encode("utf-8")

    def card(self, shas: Sequence[str], grouped: bool) -> ArtistsSection:
        sources = Counter(self.evidence[s].source if s in self.evidence else "none" for s in shas)
        per_key = Counter(self.evidence[s].key for s in shas if s in self.evidence)
        per_key.pop("", None)
        return ArtistsSection(
            file=ARTIST_TABLE,
            grouped_split=grouped,
            covers=len(shas),
            credits=sources.get("credits", 0),
            catalog_text=sources.get("catalog-text", 0),
            text=sources.get("text", 0),
            none=sources.get("none", 0),
            artists=len(per_key),
            artists_on_several_covers=sum(1 for n in per_key.values() if n > 1),
            note=self.note,
        )


def load_table(path: Path) -> dict[str, ArtistEvidence]:
    """An export's artists.csv (empty when absent)."""
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as f:
        return {
            r["sha256"]: ArtistEvidence(r["artist_key"], r["artist"], r["source"])
            for r in csvfile.read_dicts(f)
        }


def find_artists(
    catalog: Catalog,
    data_dir: Path,
    rows: CatalogRows,
    items: Sequence[SplitItem],
    image_by_id: dict[int, ImageRow],
    *,
    read: bool,
    progress: bool,
) -> ArtistStage:
    """Evidence for each candidate cover; ``read``: OCR the candidates lacking words first."""
    note = "words: the OCR cache"
    if read and engine_available():
        report = ensure_text(
            catalog,
            data_dir,
            [(it.sha256, image_by_id[it.key].path) for it in items],
            progress=progress,
        )
        note = report.summary()
    elif read:
        note = f"words: none, the OCR engine is not installed ({INSTALL_HINT})"
    words = load_text(catalog, [it.sha256 for it in items])
    names = CatalogNames(
        {r.artist_key: r.artist_name for r in rows.releases.values() if r.artist_key}
    )
    covers = [
        Cover(
            it.sha256,
            tuple(sorted(link[7:] for link in it.links if link.startswith("artist:"))),
            tuple(words.get(it.sha256, ())),
        )
        for it in items
    ]
    return ArtistStage(assign_artists(covers, names), note)


def card_lines(entry: ArtistsSection) -> list[str]:
    """The card.md section for the artist evidence."""
    grouped = (
        "The split keeps each artist's covers (credited or read) in one split (`--group-by-artist`)"
        if entry.grouped_split
        else "Recorded only: the split groups credited artists, not those read from the words "
        "(`--group-by-artist` to group them too)"
    )
    return [
        "",
        "## Artists",
        "",
        f"`{entry.file}`: of {entry.covers} covers, {entry.credits} have an artist from "
        f"catalog credits, {entry.catalog_text} from words naming a catalog artist, "
        f"{entry.text} from words another cover prints too, {entry.none} none; "
        f"{entry.artists} artists, {entry.artists_on_several_covers} on several covers. "
        f"{grouped}. {entry.note}.",
    ]
