"""Writing harvested things into the catalog: the one place sources turn records into rows.

Every function here is idempotent (get-or-create on the unique keys), so a re-run or a resumed
run never duplicates anything. Callers own the transaction: one harvested release = one
``Catalog.session()``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from sleeve.core.catalog.models import (
    Artist,
    CoverImage,
    Failure,
    GenreEvidence,
    Release,
    ReleaseImage,
    ReleaseSource,
    utcnow,
)
from sleeve.core.images.intake import ImageInfo
from sleeve.core.images.store import ImageStore
from sleeve.core.taxonomy import Taxonomy

_MAX_URL = 1000


def name_key(name: str) -> str:
    """Normalised name used to recognise one artist/title across sources."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"^the\s+", "", text.strip())
    text = re.sub(r"\s*[\(\[].*?[\)\]]\s*", " ", text)  # "(Deluxe Edition)", "[Remastered]"
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())[:255]


def identity_key(artist: str, title: str, date: str) -> str:
    return f"{name_key(artist)}|{name_key(title)}|{date[:4]}"[:255]


def normalise_barcode(barcode: str | None) -> str:
    """Digits only, UPC-A and EAN-13 made comparable (a UPC is an EAN-13 with a leading 0)."""
    digits = re.sub(r"\D", "", barcode or "")
    if len(digits) == 12:
        digits = "0" + digits
    return digits if len(digits) >= 8 else ""


@dataclass(frozen=True)
class Evidence:
    kind: str
    name: str
    votes: int = 1


def get_or_create_artist(session: Session, source: str, external_id: str, name: str) -> Artist:
    artist = session.scalar(
        select(Artist).where(Artist.source == source, Artist.external_id == external_id)
    )
    if artist is None:
        artist = Artist(source=source, external_id=external_id, name=name, name_key=name_key(name))
        session.add(artist)
        session.flush()
    return artist


def find_release(session: Session, source: str, kind: str, external_id: str) -> Release | None:
    return session.scalar(
        select(Release)
        .join(ReleaseSource)
        .where(
            ReleaseSource.source == source,
            ReleaseSource.kind == kind,
            ReleaseSource.external_id == external_id,
        )
    )


def find_same_album(session: Session, barcode: str, ident: str) -> Release | None:
    """An existing release that is the same album: same barcode, else same artist+title+year."""
    if barcode:
        found = session.scalar(select(Release).where(Release.barcode == barcode).limit(1))
        if found is not None:
            return found
    if ident and not ident.startswith("|"):
        return session.scalar(select(Release).where(Release.identity_key == ident).limit(1))
    return None


def upsert_release(
    session: Session,
    *,
    source: str,
    ids: dict[str, str],
    title: str,
    artist: Artist | None,
    date: str = "",
    barcode: str = "",
    url: str = "",
    merge_across_sources: bool = True,
) -> tuple[Release, bool]:
    """The release known by any of ``ids`` ({kind: external_id}), created if new.

    With ``merge_across_sources`` an album another source already stored (same barcode, else
    same normalised artist + title + year) gains this source's ids instead of a second row.
    Returns (release, created).
    """
    release = None
    for kind, external_id in ids.items():
        release = find_release(session, source, kind, external_id)
        if release is not None:
            break
    barcode = normalise_barcode(barcode)
    ident = identity_key(artist.name if artist else "", title, date)
    created = False
    if release is None and merge_across_sources:
        release = find_same_album(session, barcode, ident)
    if release is None:
        release = Release(
            title=title,
            artist=artist,
            artist_name=artist.name if artist else "",
            date=date[:10],
            barcode=barcode,
            identity_key=ident,
        )
        session.add(release)
        session.flush()
        created = True
    elif barcode and not release.barcode:
        release.barcode = barcode
    for kind, external_id in ids.items():
        if find_release(session, source, kind, external_id) is None:
            session.add(
                ReleaseSource(
                    release_id=release.id,
                    source=source,
                    kind=kind,
                    external_id=external_id,
                    url=url,
                )
            )
    session.flush()
    return release, created


def add_evidence(
    session: Session, release: Release, source: str, items: list[Evidence], taxonomy: Taxonomy
) -> int:
    """Record every genre/tag string with its votes and mapped target genres; returns rows added."""
    existing = {
        (e.kind, e.name)
        for e in session.scalars(
            select(GenreEvidence).where(
                GenreEvidence.release_id == release.id, GenreEvidence.source == source
            )
        )
    }
    added = 0
    for item in items:
        name = item.name.strip()[:255]
        if not name or (item.kind, name) in existing:
            continue
        existing.add((item.kind, name))
        matches = taxonomy.match(name)
        # One row per source string; a string that is evidence for two genres (j-pop: anime and
        # pop, weakly) records the strongest and lets the label rule see the rest via match().
        best = max(matches, key=lambda m: m.weight, default=None)
        session.add(
            GenreEvidence(
                release_id=release.id,
                source=source,
                kind=item.kind,
                name=name,
                votes=max(int(item.votes), 0),
                target_genre=best.genre if best else None,
                strength=best.strength if best else None,
                weight=best.weight if best else 0.0,
            )
        )
        added += 1
    session.flush()
    return added


def attach_cover(
    session: Session,
    store: ImageStore,
    release: Release,
    data: bytes,
    info: ImageInfo,
    *,
    source: str,
    source_url: str,
) -> tuple[CoverImage, bool]:
    """Store the bytes (once per sha256) and link them to ``release``.

    Returns (image, new_image): ``new_image`` is False when the same bytes were already stored
    for another release (the cover is linked, not stored twice).
    """
    image = session.scalar(select(CoverImage).where(CoverImage.sha256 == info.sha256))
    new_image = image is None
    if image is None:
        rel = store.put(data, info)  # file first: a row never points to a missing file
        image = CoverImage(
            sha256=info.sha256,
            path=rel,
            width=info.width,
            height=info.height,
            format=info.format,
            size_bytes=info.size_bytes,
        )
        session.add(image)
        session.flush()
    link = session.get(ReleaseImage, (release.id, image.id))
    if link is None:
        session.add(
            ReleaseImage(
                release_id=release.id,
                image_id=image.id,
                source=source,
                source_url=source_url[:_MAX_URL],
            )
        )
        session.flush()
    return image, new_image


def record_failure(
    session: Session,
    *,
    url: str,
    reason: str,
    detail: str = "",
    source: str = "",
    run_id: int | None = None,
) -> None:
    url = url[:_MAX_URL]
    row = session.scalar(select(Failure).where(Failure.url == url, Failure.reason == reason))
    if row is None:
        session.add(
            Failure(url=url, reason=reason, detail=detail[:2000], source=source, run_id=run_id)
        )
    else:
        row.attempts += 1
        row.detail = detail[:2000]
        row.last_at = utcnow()
        row.run_id = run_id
    session.flush()
