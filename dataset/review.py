"""Apply review decisions to the labels of duplicate groups, before balancing and splitting.

A decision is about one cover; its duplicate group shares one label, so the newest decision
on any member speaks for the group: ``exclude`` drops the group, ``relabel`` sets its genre
whatever the label rule decided (an ambiguous group included), ``keep`` changes nothing.
The catalog keeps every decision; only the export changes (and so its dataset id).
Decisions that cannot be applied (another tool wrote them: an unknown genre, an unsafe name,
a missing cover) are skipped and listed in the card with their cover and reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace

from sleeve.core.catalog.decisions import Decision, SkippedDecision
from sleeve.dataset.card_sections import ReviewSection
from sleeve.dataset.dedup.groups import DuplicateGroup
from sleeve.dataset.labels import Label

EXCLUDED, RELABELLED = "review-excluded", "review-relabelled"


def apply_decisions(
    groups: Iterable[DuplicateGroup],
    labels: dict[str, Label],
    decisions: dict[int, Decision],
    skipped: Iterable[SkippedDecision] = (),
) -> tuple[dict[str, Label], ReviewSection]:
    """(labels with decisions applied, the card's ``review`` block)."""
    out = dict(labels)
    applied: Counter[str] = Counter()
    relabelled_to: Counter[str] = Counter()
    changed = 0
    for group in groups:
        mine = [decisions[m] for m in group.members if m in decisions]
        if not mine:
            continue
        newest = max(mine, key=lambda d: d.decided_at)
        applied[newest.decision] += 1
        before = labels[group.id]
        if newest.decision == "exclude":
            out[group.id] = replace(before, genre=None, status=EXCLUDED)
        elif newest.decision == "relabel":
            out[group.id] = replace(before, genre=newest.genre, status=RELABELLED)
            relabelled_to[str(newest.genre)] += 1
        changed += out[group.id].genre != before.genre
    report = ReviewSection(
        decisions_in_catalog=len(decisions),
        excluded=applied["exclude"],
        relabelled=applied["relabel"],
        kept=applied["keep"],
        relabelled_to=dict(sorted(relabelled_to.items())),
        labels_changed=changed,
        skipped=[d.as_dict() for d in skipped],
        rule="newest decision on any member of a duplicate group; exclude drops the group, "
        "relabel overrides the label rule, keep changes nothing",
    )
    return out, report
