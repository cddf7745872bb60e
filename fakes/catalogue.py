"""A generated music catalogue that the fake MusicBrainz / Cover Art Archive (and later a fake
Spotify) serve from.

Everything is a plain dataclass and deterministic in ``seed``. The catalogue models the things a
harvester has to cope with: prolific artists (so artist-grouped splits matter), compilations by
"Various Artists", featured credits, releases without barcodes or without art, odd titles,
tags that are noise or point at two genres, byte-identical and near-duplicate covers across
albums, merged (redirected) MBIDs, and optionally releases whose art is broken (``bad_art``).
"""

from __future__ import annotations

from collections.abc import Iterator

from sleeve.core.taxonomy import Taxonomy
from sleeve.fakes.generate import build
from sleeve.fakes.lucene import Doc, normalise, parse
from sleeve.fakes.records import (
    BAD_ART_KINDS,
    AlbumSummary,
    CatalogueRecords,
    FakeArtist,
    FakeRelease,
    FakeReleaseGroup,
    mbid,
)


class FakeCatalogue(CatalogueRecords):
    """Artists, release groups and releases, plus indexes the fake servers query."""

    def __init__(self, seed: int, genres: list[str]) -> None:
        super().__init__(seed, genres)
        self._docs: dict[str, list[tuple[str, Doc]]] = {}  # search documents, built lazily

    # -- generation --------------------------------------------------------------------------
    @classmethod
    def generate(
        cls,
        genres: dict[str, int] | list[str],
        per_genre: int = 60,
        seed: int = 0,
        *,
        bad_art_rate: float = 0.0,
        bad_art_kinds: tuple[str, ...] = BAD_ART_KINDS,
        duplicate_rate: float = 0.05,
        near_duplicate_rate: float = 0.05,
        taxonomy: Taxonomy | None = None,
    ) -> FakeCatalogue:
        """Generate ``per_genre`` release groups per genre (or the dict's counts), deterministic
        in ``seed``. ``bad_art_rate`` marks that share of releases with art as broken."""
        spec = dict(genres) if isinstance(genres, dict) else {g: per_genre for g in genres}
        return build(
            cls(seed, list(spec)),
            spec,
            taxonomy or Taxonomy.load(),
            bad_art_rate,
            bad_art_kinds,
            duplicate_rate,
            near_duplicate_rate,
        )

    # -- queries -----------------------------------------------------------------------------
    def resolve(self, any_id: str) -> str:
        """The current MBID for ``any_id`` (follows merges)."""
        return self.merged.get(any_id, any_id)

    def is_genre(self, tag: str) -> bool:
        return tag in self.genre_names

    def genre_id(self, name: str) -> str:
        """Genre MBIDs do not depend on the catalogue seed (like real genre MBIDs)."""
        return mbid(-1, "genre", name)

    def credited_artists(self, rg: FakeReleaseGroup) -> list[FakeArtist]:
        return [self.artists[c.artist_id] for c in rg.credits]

    def release_group_of(self, release: FakeRelease) -> FakeReleaseGroup:
        return self.release_groups[release.release_group_id]

    def cover_release(self, rg_id: str) -> FakeRelease | None:
        """The release CAA picks for a release group: the earliest one with a front image."""
        rg = self.release_groups[rg_id]
        for rid in rg.release_ids:
            rel = self.releases[rid]
            if rel.front is not None and not rel.darkened:
                return rel
        return None

    @property
    def bad_art(self) -> dict[str, str]:
        """Release MBID -> bad-art kind, for every release generated with broken art."""
        return {r.id: r.bad_art for r in self.releases.values() if r.bad_art}

    def albums(self) -> list[AlbumSummary]:
        """One summary per release group (its first release), in generation order."""
        out = []
        for rg in self.release_groups.values():
            rel = self.releases[rg.release_ids[0]]
            cover_rel = self.cover_release(rg.id)
            year = rg.first_release_date[:4]
            kind = "compilation" if "Compilation" in rg.secondary_types else rg.primary_type.lower()
            out.append(
                AlbumSummary(
                    rg.id,
                    rel.id,
                    rg.title,
                    tuple(c.artist_id for c in rg.credits),
                    tuple(c.name for c in rg.credits),
                    rg.genre,
                    rg.first_release_date,
                    int(year) if year else None,
                    next(
                        (
                            self.releases[r].barcode
                            for r in rg.release_ids
                            if self.releases[r].barcode
                        ),
                        None,
                    ),
                    rel.track_count,
                    kind,
                    cover_rel.front if cover_rel else None,
                )
            )
        return out

    def iter_releases(self, rg_id: str) -> Iterator[FakeRelease]:
        for rid in self.release_groups[rg_id].release_ids:
            yield self.releases[rid]

    # -- search ------------------------------------------------------------------------------
    def _rg_doc(self, rg: FakeReleaseGroup) -> Doc:
        artists = self.credited_artists(rg)
        return {
            "tag": {normalise(t.name): float(t.count) for t in rg.tags},
            "primarytype": {rg.primary_type.lower(): 0.0},
            "type": {rg.primary_type.lower(): 0.0},
            "secondarytype": {s.lower(): 0.0 for s in rg.secondary_types},
            "releasegroup": {normalise(rg.title): 1.0},
            "rgid": {rg.id: 1.0},
            "artist": {normalise(a.name): 1.0 for a in artists},
            "artistname": {normalise(a.name): 1.0 for a in artists},
            "arid": {a.id: 1.0 for a in artists},
            "firstreleasedate": {rg.first_release_date: 1.0},
            "release": {normalise(rg.title): 1.0},
            "reid": {r: 1.0 for r in rg.release_ids},
        }

    def _release_doc(self, rel: FakeRelease) -> Doc:
        rg = self.release_group_of(rel)
        doc = dict(self._rg_doc(rg))
        doc.update(
            {
                "tag": {normalise(t.name): float(t.count) for t in rel.tags},
                "reid": {rel.id: 1.0},
                "barcode": {rel.barcode: 1.0} if rel.barcode else {},
                "status": {rel.status.lower(): 0.0},
                "country": {(rel.country or "").lower(): 0.0},
                "date": {rel.date: 0.0},
            }
        )
        return doc

    def search(self, entity: str, query: str) -> list[tuple[str, float]]:
        """(MBID, raw relevance) of every ``release-group``/``release`` matching ``query``,
        best first (ties by MBID so paging is stable). Raises QuerySyntaxError."""
        node = parse(query)
        hits: list[tuple[str, float]] = []
        # Documents are built once per catalogue (it is not mutated after generation).
        cache = self._docs
        if entity not in cache:
            if entity == "release-group":
                cache[entity] = [(g.id, self._rg_doc(g)) for g in self.release_groups.values()]
            else:
                cache[entity] = [(r.id, self._release_doc(r)) for r in self.releases.values()]
        items = cache[entity]
        for item_id, doc in items:
            score = node.score(doc)
            if score is not None:
                hits.append((item_id, score))
        hits.sort(key=lambda h: (-h[1], h[0]))
        return hits
