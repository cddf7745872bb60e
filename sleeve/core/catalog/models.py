"""The catalog schema: the only module that knows table names.

One album is a ``Release`` however many catalogues know it; each catalogue's identifier for it
is a ``ReleaseSource`` row (MusicBrainz release group and release, Spotify album, an imported
file). Covers are stored once per sha256 (``CoverImage``) and linked to every release that uses
them. Every genre/tag string seen is kept as ``GenreEvidence`` with its votes, source and kind,
so the dataset builder's label rule can be changed later without harvesting again.

Portable SQL only (SQLite and PostgreSQL): no JSON column type, no dialect-only constructs.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names so Alembic batch migrations on SQLite can address them.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Artist(Base):
    __tablename__ = "artists"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))  # musicbrainz | spotify | folder
    external_id: Mapped[str] = mapped_column(String(128))  # MBID, Spotify id, or name key
    name: Mapped[str] = mapped_column(Text)
    # normalised name: groups one artist across sources for leak-free splits
    name_key: Mapped[str] = mapped_column(String(255), index=True)


class Release(Base):
    """One album, whichever catalogues know it."""

    __tablename__ = "releases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    artist_id: Mapped[int | None] = mapped_column(ForeignKey("artists.id"), index=True)
    artist_name: Mapped[str] = mapped_column(Text, default="")
    date: Mapped[str] = mapped_column(String(10), default="")  # YYYY, YYYY-MM or YYYY-MM-DD
    barcode: Mapped[str] = mapped_column(String(32), default="", index=True)
    # normalised "artist|title|year": cross-source identity when no barcode is shared
    identity_key: Mapped[str] = mapped_column(String(255), default="", index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    artist: Mapped[Artist | None] = relationship()
    sources: Mapped[list[ReleaseSource]] = relationship(back_populates="release")
    evidence: Mapped[list[GenreEvidence]] = relationship(back_populates="release")
    images: Mapped[list[ReleaseImage]] = relationship(back_populates="release")


class ReleaseSource(Base):
    """A catalogue's identifier for a release (several per release)."""

    __tablename__ = "release_sources"
    __table_args__ = (UniqueConstraint("source", "kind", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), index=True)
    source: Mapped[str] = mapped_column(String(32))
    # musicbrainz: release-group | release; spotify: album; folder: file
    kind: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(512))
    url: Mapped[str] = mapped_column(Text, default="")

    release: Mapped[Release] = relationship(back_populates="sources")


class GenreEvidence(Base):
    """One genre/tag string attached to a release by a source, with its votes."""

    __tablename__ = "genre_evidence"
    __table_args__ = (UniqueConstraint("release_id", "source", "kind", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), index=True)
    source: Mapped[str] = mapped_column(String(32))
    # musicbrainz: rg-genre | rg-tag | artist-genre | artist-tag | release-tag
    # spotify: artist-genre | search-filter (weaker: the artist was found by genre:"…")
    # folder: folder
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))  # the string as the source wrote it
    votes: Mapped[int] = mapped_column(Integer, default=1)
    target_genre: Mapped[str | None] = mapped_column(String(64), index=True)
    strength: Mapped[str | None] = mapped_column(String(8))  # core | sub | weak | alias
    weight: Mapped[float] = mapped_column(Float, default=0.0)

    release: Mapped[Release] = relationship(back_populates="evidence")


class CoverImage(Base):
    """A stored cover, content-addressed: one row and one file per sha256."""

    __tablename__ = "cover_images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(Text)  # relative to the data dir
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    releases: Mapped[list[ReleaseImage]] = relationship(back_populates="image")
    hashes: Mapped[list[ImageHash]] = relationship(back_populates="image")


class ReleaseImage(Base):
    __tablename__ = "release_images"

    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("cover_images.id"), primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    source_url: Mapped[str] = mapped_column(Text, default="")  # URL, or original file path
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    release: Mapped[Release] = relationship(back_populates="images")
    image: Mapped[CoverImage] = relationship(back_populates="releases")


class ImageHash(Base):
    """Perceptual hash cache: computed once per (image, algorithm)."""

    __tablename__ = "image_hashes"

    image_id: Mapped[int] = mapped_column(ForeignKey("cover_images.id"), primary_key=True)
    algo: Mapped[str] = mapped_column(String(16), primary_key=True)  # phash | dhash | whash
    value: Mapped[str] = mapped_column(String(64))  # hex

    image: Mapped[CoverImage] = relationship(back_populates="hashes")


class HarvestRun(Base):
    """One `collect` invocation's goal and outcome; an unfinished run is resumed."""

    __tablename__ = "harvest_runs"
    __table_args__ = (Index("ix_harvest_runs_lookup", "source", "genre", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    genre: Mapped[str] = mapped_column(String(64))
    target: Mapped[int] = mapped_column(Integer)  # N new distinct covers asked for
    new_covers: Mapped[int] = mapped_column(Integer, default=0)
    # running | completed | exhausted (source ran dry) | paused (rate limited) | failed
    state: Mapped[str] = mapped_column(String(16), default="running")
    message: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class HarvestCursor(Base):
    """How far a source's query for a genre has been paged, across runs."""

    __tablename__ = "harvest_cursors"
    __table_args__ = (UniqueConstraint("source", "genre", "query"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    genre: Mapped[str] = mapped_column(String(64))
    query: Mapped[str] = mapped_column(Text)  # query string, or a URL for link-paged APIs
    # a page offset, or a byte offset into a MusicBrainz dump (tens of GB: 64-bit)
    next_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    next_url: Mapped[str] = mapped_column(Text, default="")
    exhausted: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HarvestItem(Base):
    """An item (release group, artist, album) a source has fully processed: never re-fetched."""

    __tablename__ = "harvest_items"
    __table_args__ = (UniqueConstraint("source", "kind", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(512))
    outcome: Mapped[str] = mapped_column(String(32))  # new | had | skipped:<reason> | failed
    run_id: Mapped[int | None] = mapped_column(ForeignKey("harvest_runs.id"))
    done_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RateBudget(Base):
    """A request budget shared by every harvester on this catalog (MusicBrainz' 1 request/s
    per IP): the earliest time the next request may start, taken under a row lock."""

    __tablename__ = "rate_budgets"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    next_at: Mapped[float] = mapped_column(Float, default=0.0)  # epoch seconds, database clock


class Failure(Base):
    """Something skipped or failed, with its reason: one row per (url, reason)."""

    __tablename__ = "failures"
    __table_args__ = (UniqueConstraint("url", "reason"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("harvest_runs.id"), index=True)
    source: Mapped[str] = mapped_column(String(32), default="")
    url: Mapped[str] = mapped_column(String(1024))
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewDecision(Base):
    """A person's verdict on one cover's label, from the review queue (``sleeve review``).

    Evidence from the "review" source, kept per cover (not per release: a cover can be linked
    to several releases, the verdict is about the picture). Append-only: a later decision on
    the same cover supersedes an earlier one, nothing is ever deleted. ``build-dataset``
    applies the newest decision of each cover: exclude drops its duplicate group, relabel sets
    its group's genre whatever the label rule says, keep changes nothing but leaves the queue.
    """

    __tablename__ = "review_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("cover_images.id"), index=True)
    source: Mapped[str] = mapped_column(String(32), default="review")
    decision: Mapped[str] = mapped_column(String(16))  # keep | exclude | relabel
    genre: Mapped[str | None] = mapped_column(String(64))  # relabel: the genre it belongs to
    who: Mapped[str] = mapped_column(String(128))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")  # e.g. the run whose queue it came from

    image: Mapped[CoverImage] = relationship()


class CoverText(Base):
    """Words an OCR engine read on a cover: computed once per (image, engine, engine version).

    Keyed by the image's sha256 (not its row id) so the cache survives re-imports. ``words`` is
    a JSON list of {"text", "confidence", "box": [[x, y] x 4]} in reading order, kept as Text
    because the schema stays portable (no JSON column type).
    """

    __tablename__ = "cover_text"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    engine: Mapped[str] = mapped_column(String(64), primary_key=True)
    engine_version: Mapped[str] = mapped_column(String(32), primary_key=True)
    words: Mapped[str] = mapped_column(Text, default="[]")
    n_words: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CoverAttribute(Base):
    """Attribute cache: one extractor's values for one picture, computed once.

    Keyed by the file's sha256 (the picture, whichever row or release links it) and the
    extractor's name and version: a changed definition bumps the version and is recomputed,
    older values stay until pruned. Values are a small JSON object in a Text column (portable
    SQL; ``dataset/attributes`` documents each field and its range).
    """

    __tablename__ = "cover_attributes"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    extractor: Mapped[str] = mapped_column(String(32), primary_key=True)  # colour | faces-mtcnn...
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    value_json: Mapped[str] = mapped_column(Text)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
