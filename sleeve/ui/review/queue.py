"""The review queue: a run's label-issue suspects that nobody has decided on yet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sleeve.core.errors import DataError
from sleeve.inference.rundir import LABEL_ISSUES, Run


@dataclass(frozen=True)
class Suspect:
    rank: int
    sha256: str
    path: str
    split: str
    given_genre: str
    suggested_genre: str
    label_quality: float
    flagged: bool
    probabilities: dict[str, float]
    words: str = ""  # as the OCR read them (runs before the words column: none)
    artist: str = ""  # the recognised artist and its source, e.g. "Johnny Cash (text)"

    def as_dict(self) -> dict[str, object]:
        return {
            "rank": self.rank,
            "sha256": self.sha256,
            "path": self.path,
            "split": self.split,
            "given_genre": self.given_genre,
            "suggested_genre": self.suggested_genre,
            "label_quality": self.label_quality,
            "flagged": self.flagged,
            "probabilities": self.probabilities,
            "words": self.words,
            "artist": self.artist,
        }


def read_suspects(run_dir: Path) -> list[Suspect]:
    run = Run(Path(run_dir))
    if not run.label_issues_path.is_file():
        raise DataError(
            f"{run_dir} has no {LABEL_ISSUES}: run `train-and-evaluate` (a run with embedding "
            "methods and without --no-label-issues writes it)"
        )
    out = []
    for r in run.label_issues():
        probs = {k[2:]: float(v) for k, v in r.items() if k.startswith("p.")}
        out.append(
            Suspect(
                int(r["rank"]),
                r["sha256"],
                r["path"],
                r["split"],
                r["given_genre"],
                r["suggested_genre"],
                float(r["label_quality"]),
                r["is_label_issue"] == "1",
                probs,
                r.get("words") or "",
                r.get("artist") or "",
            )
        )
    return out


def review_queue(
    suspects: list[Suspect],
    decided: set[str],
    *,
    include_unflagged: bool = False,
    limit: int | None = None,
) -> list[Suspect]:
    """Flagged covers (or, with ``include_unflagged``, every cover by rank) without a
    decision yet, most suspect first."""
    queue = [s for s in suspects if (s.flagged or include_unflagged) and s.sha256 not in decided]
    return queue[:limit] if limit is not None else queue
