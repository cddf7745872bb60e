"""Review decisions in the catalog: record one, read the newest per cover.

A decision is evidence from the "review" source about one cover (by sha256): ``keep`` (the
label is right: leave the queue), ``exclude`` (not a usable example of any genre) or
``relabel`` to a genre. Rows are only ever added; the newest decision of a cover wins.

Rows may also come from another tool writing the catalog: :func:`read_decisions` checks each
one as :func:`record_decision` would (a known kind, a safe genre the catalog already knows, a
cover that exists) and hands back the invalid ones with their reason instead of applying them,
so one bad row neither creates a genre nor blocks a build.
"""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from sleeve.core.catalog.db import Catalog
from sleeve.core.catalog.models import CoverImage, GenreEvidence, ReviewDecision
from sleeve.core.errors import UnknownGenreError, UsageError
from sleeve.core.taxonomy import GENRE_NAME, Taxonomy, check_genre_name

DECISIONS = ("keep", "exclude", "relabel")
SOURCE = "review"
_HEX = re.compile(r"[0-9a-f]{8,64}")


@dataclass(frozen=True)
class Decision:
    image_id: int
    sha256: str
    decision: str
    genre: str | None
    who: str
    decided_at: datetime
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "sha256": self.sha256,
            "decision": self.decision,
            "genre": self.genre,
            "who": self.who,
            "decided_at": self.decided_at.isoformat(),
            "note": self.note,
        }


def default_who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user database entry (containers)
        return "unknown"


def _check(decision: str, genre: str | None) -> None:
    if decision not in DECISIONS:
        raise UsageError(f"decision {decision!r}: choose one of {', '.join(DECISIONS)}")
    if decision == "relabel" and not genre:
        raise UsageError("relabel needs the genre the cover belongs to: relabel GENRE")
    if decision != "relabel" and genre:
        raise UsageError(f"{decision} takes no genre (only relabel GENRE does)")


def known_genres(catalog: Catalog, taxonomy: Taxonomy) -> set[str]:
    with catalog.session() as s:
        stored = set(s.scalars(select(GenreEvidence.target_genre).distinct()))
    return set(taxonomy.genres) | {g for g in stored if g}


def find_cover(catalog: Catalog, sha256: str) -> tuple[int, str]:
    """(image id, full sha256) for a sha256 or a unique prefix of at least 8 characters."""
    key = sha256.strip().lower()
    if not _HEX.fullmatch(key):
        raise UsageError(f"{sha256!r} is not a sha256 (64 hex characters, or a unique prefix >= 8)")
    with catalog.session() as s:
        rows = s.execute(
            select(CoverImage.id, CoverImage.sha256).where(CoverImage.sha256.startswith(key))
        ).all()
    if not rows:
        raise UsageError(f"no cover with sha256 {key} in the catalog")
    if len(rows) > 1:
        raise UsageError(f"sha256 prefix {key} matches {len(rows)} covers: give more characters")
    return int(rows[0][0]), str(rows[0][1])


def record_decision(
    catalog: Catalog,
    taxonomy: Taxonomy,
    sha256: str,
    decision: str,
    genre: str | None = None,
    *,
    who: str | None = None,
    note: str = "",
) -> Decision:
    """Add a decision about a cover; the next ``build-dataset`` applies it."""
    _check(decision, genre)
    if genre is not None:
        check_genre_name(genre, "relabel GENRE")
        valid = known_genres(catalog, taxonomy)
        if genre not in valid:
            raise UnknownGenreError(genre, sorted(valid))
    who = (who or default_who()).strip()[:128] or "unknown"
    image_id, full = find_cover(catalog, sha256)
    with catalog.session() as s:
        row = ReviewDecision(
            image_id=image_id, source=SOURCE, decision=decision, genre=genre, who=who, note=note
        )
        s.add(row)
        s.flush()
        decided_at = row.decided_at
    return Decision(image_id, full, decision, genre, who, decided_at, note)


@dataclass(frozen=True)
class SkippedDecision:
    """A decision row that cannot be applied, and why (a short reason code)."""

    image_id: int
    sha256: str | None  # None: no cover with this id in the catalog (an orphaned row)
    decision: str
    genre: str | None
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {
            "sha256": self.sha256,
            "image_id": self.image_id,
            "decision": self.decision,
            "genre": self.genre,
            "reason": self.reason,
        }


def _shown(value: object) -> str:
    """A value another tool wrote, safe to echo in a terminal line or a Markdown card."""
    return repr(re.sub(r"[^\w .-]", "?", str(value))[:64])


def decision_problem(
    sha256: str | None,
    decision: object,
    genre: object,
    decided_at: object,
    genres: set[str] | None,
) -> str | None:
    """Why a stored decision cannot be applied (a reason code), or None when it can.
    ``genres``: the genres a relabel may name (None: not checked)."""
    if sha256 is None:
        return "orphaned: no such cover"
    if decision not in DECISIONS:
        return f"unknown decision {_shown(decision)}"
    if not isinstance(decided_at, datetime):
        return "no decision time"
    if decision != "relabel":
        return f"{decision} with a genre" if genre else None
    if not genre:
        return "relabel without a genre"
    if not isinstance(genre, str) or not GENRE_NAME.fullmatch(genre):
        return f"unsafe genre name {_shown(genre)}"
    if genres is not None and genre not in genres:
        return f"genre {_shown(genre)} is not in the taxonomy or the catalog"
    return None


def read_decisions(
    catalog: Catalog, genres: set[str] | None = None
) -> tuple[dict[int, Decision], list[SkippedDecision]]:
    """(image id -> its newest valid decision, the invalid rows with their reason).

    Ties on time go to the later row. An invalid row never hides an older valid one."""
    out: dict[int, Decision] = {}
    skipped: list[SkippedDecision] = []
    with catalog.session() as s:
        rows = s.execute(
            select(
                ReviewDecision.image_id,
                CoverImage.sha256,
                ReviewDecision.decision,
                ReviewDecision.genre,
                ReviewDecision.who,
                ReviewDecision.decided_at,
                ReviewDecision.note,
            )
            .outerjoin(CoverImage, CoverImage.id == ReviewDecision.image_id)
            .where(ReviewDecision.source == SOURCE)
            .order_by(ReviewDecision.decided_at, ReviewDecision.id)
        ).all()
    for image_id, sha, decision, genre, who, decided_at, note in rows:
        reason = decision_problem(sha, decision, genre, decided_at, genres)
        if reason is not None:
            skipped.append(SkippedDecision(int(image_id), sha, str(decision), genre, reason))
            continue
        out[int(image_id)] = Decision(
            int(image_id), sha, decision, genre, str(who), decided_at, str(note or "")
        )
    return out, skipped


def latest_decisions(catalog: Catalog) -> dict[int, Decision]:
    """image id -> its newest decision that can be applied (see :func:`read_decisions`)."""
    return read_decisions(catalog)[0]
