"""The dataset card: card.json (machine-readable, contract keys) and card.md (for people).

:class:`~sleeve.dataset.export.DatasetCard` is the card's type; this module fills it and
renders it for people.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sleeve.dataset.attributes.export import card_lines
from sleeve.dataset.card_sections import DuplicatesSection
from sleeve.dataset.export import DatasetCard, ManifestRow, split_counts
from sleeve.dataset.text.artist_stage import card_lines as artist_lines


def class_weights(train_counts: dict[str, int]) -> dict[str, float]:
    """Inverse class frequency on train, scaled to mean 1.0 over classes present in train."""
    present = {g: n for g, n in train_counts.items() if n > 0}
    if not present:
        return dict.fromkeys(train_counts, 0.0)
    inv = {g: 1.0 / n for g, n in present.items()}
    mean = sum(inv.values()) / len(inv)
    return {g: round(inv[g] / mean, 6) if g in inv else 0.0 for g in train_counts}


def build_card(
    *,
    dataset_id: str,
    genres: Sequence[str],
    rows: Sequence[ManifestRow],
    oversample: dict[str, float],
    settings: dict[str, Any],
    duplicates: DuplicatesSection,
    labels: dict[str, Any],
    balance: dict[str, Any],
    skipped: dict[str, Any],
    version: str,
    created_at: str,
) -> DatasetCard:
    counts = split_counts(rows, genres)
    return DatasetCard(
        dataset_id=dataset_id,
        genres=sorted(genres),
        counts=counts,
        class_weights=class_weights(counts["train"]),
        oversample={g: oversample.get(g, 1.0) for g in sorted(genres)},
        settings=settings,
        duplicates=duplicates,
        labels=labels,
        balance=balance,
        skipped=skipped,
        created_with=f"sleeve {version}",
        created_at=created_at,
    )


def _table(header: Sequence[str], body: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return lines


def _inline(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(
            f"{k} x{v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in value.items()
        )
    return str(value)


def _duplicate_lines(settings: dict[str, Any], dup: DuplicatesSection | None) -> list[str]:
    if dup is None:  # a card made without build-dataset (a test's synthetic export)
        return ["(not recorded)"]
    return [
        f"Perceptual hash `{settings['hash']}` (64 bits), near-duplicate threshold: Hamming "
        f"distance <= {settings['threshold']}. {dup.threshold_note}",
        "",
        f"- byte-identical files (one stored cover, several releases): "
        f"{dup.byte_identical_images} covers, {dup.byte_identical_extra_links} extra files "
        "collapsed",
        f"- near-duplicate pairs within the threshold: {dup.near_pairs}; groups of 2+ distinct "
        f"covers: {dup.near_duplicate_groups} ({dup.near_duplicate_images_removed} covers "
        "removed, the largest-resolution one kept, ties to the smallest sha256)",
        *_visual_lines(dup.visual),
    ]


def _visual_lines(visual: dict | None) -> list[str]:
    """The second duplicate stage's bullet (cards written before it existed have none)."""
    if not visual:
        return []
    if visual["status"] != "on":
        return [f"- visual duplicate stage (same album, another capture): {visual['status']}"]
    cfg = visual["settings"]
    phash = (  # cards written before pHash neighbours were candidates have no such setting
        f" and pHash neighbours within {cfg['phash_candidates']} bits at cosine >= "
        f"{cfg['phash_min_cosine']}"
        if cfg.get("phash_candidates")
        else ""
    )
    return [
        f"- visual duplicate stage (same album scanned, photographed or reissued differently; "
        f"{cfg['backbone']} neighbours k={cfg['k']} at cosine >= {cfg['min_cosine']}{phash}, "
        f"confirmed "
        f"by {cfg['verify']} with >= {cfg['min_inliers']} inliers and <= "
        f"{cfg['max_disagreement']} disagreeing blocks): {visual['candidates']} candidates, "
        f"{visual['verified']} checked, {visual['pairs']} pairs confirmed, "
        f"{visual['groups_joined']} groups joined, {visual['conflicts_revealed']} of them with "
        f"members filed under different genres.{_text_sentence(visual.get('text'))} "
        f"{visual.get('pairs_held_in_one_split', 0)} look-alike pairs that align but are not "
        "confirmed (a stickered copy, another printing, the same photo on another release) "
        f"are kept in one split, both covers and labels kept. {visual['note']}",
    ]


def _text_sentence(text: dict | None) -> str:
    """The text check's part of the visual stage's bullet (older cards have none)."""
    if not text:
        return ""
    if text.get("status") != "on":
        return f" Text check: {text.get('status')}."
    return (
        f" Text check (the words on the covers, OCR): {text['confirmed']} ambiguous pairs "
        f"confirmed by their words, {text['vetoed']} geometric pairs dropped for printing other "
        f"titles; of {text['pairs_asked']} pairs asked, {text['pairs_without_words']} had too "
        f"few words to judge and {text.get('pairs_undecided', 0)} words neither matching nor "
        f"contradicting ({text['covers_read']} of {text['covers']} covers read now, the rest "
        "cached)."
    )


def render_card_md(card: DatasetCard) -> str:
    genres, counts, dup, lab = card.genres, card.counts, card.duplicates, card.labels
    bal, settings, weights, over = card.balance, card.settings, card.class_weights, card.oversample
    lines = [
        f"# Dataset card: {card.dataset_id}",
        "",
        f"Album covers labelled with one of {len(genres)} genres, built by "
        f"`build-dataset` ({card.created_with}, {card.created_at}). Files: "
        "`manifest.csv` (one row per image), `images/<split>/<genre>/<sha256>.<ext>`.",
        "",
        "## Counts",
        "",
    ]
    body = [
        [g, *(counts[s][g] for s in counts), sum(counts[s][g] for s in counts), weights[g], over[g]]
        for g in genres
    ]
    body.append(
        [
            "**total**",
            *(sum(counts[s].values()) for s in counts),
            sum(sum(c.values()) for c in counts.values()),
            "",
            "",
        ]
    )
    lines += _table(["genre", *counts, "total", "class weight", "oversample"], body)
    lines += [
        "",
        "## Duplicates",
        "",
        *_duplicate_lines(settings, dup),
        "",
        "## Labels",
        "",
        "Rule: " + "; ".join(f"{k}: {_inline(v)}" for k, v in lab["rule"].items()),
        "",
        "Outcome per duplicate group: " + ", ".join(f"{k} {v}" for k, v in lab["status"].items()),
        "",
    ]
    conflicts = lab["conflicts"]
    if conflicts:
        body = [
            [
                kind,
                c["groups"],
                ", ".join(f"{g} {n}" for g, n in sorted(c["resolved"].items())) or "-",
                c["ambiguous"],
                c["weak"],
            ]
            for kind, c in conflicts.items()
        ]
        lines += ["Conflicting evidence, and what happened to it:", ""]
        lines += _table(
            ["conflict", "groups", "resolved to", "dropped ambiguous", "dropped weak"], body
        )
    else:
        lines.append("No conflicting evidence.")
    excluded = lab.get("excluded_genres") or {}
    if excluded:
        lines += [
            "",
            "Resolved to genres outside the requested set (left out): "
            + ", ".join(f"{g} {n}" for g, n in excluded.items()),
        ]
    review = card.review
    if review is not None and review.decisions_in_catalog:
        to = ", ".join(f"{g} {n}" for g, n in review.relabelled_to.items())
        lines += [
            "",
            "## Review decisions",
            "",
            f"Applied from `sleeve review` ({review.decisions_in_catalog} covers decided in "
            f"the catalog): excluded {review.excluded}, relabelled {review.relabelled}"
            + (f" (to {to})" if to else "")
            + f", kept {review.kept}. The newest decision on any member of a duplicate "
            "group applies to the group; the catalog keeps every decision.",
        ]
    if review is not None and review.skipped:
        lines += ["", "Review decisions skipped (they cannot be applied):", ""]
        lines += [
            f"- `{d['sha256'] or 'cover id ' + str(d['image_id'])}` {d['decision']}: {d['reason']}"
            for d in review.skipped
        ]
    lines += ["", "## Balance", ""]
    if bal["applied"]:
        lines.append(
            f"Undersampled to {bal['target_per_class']} per class (round-robin over "
            "artists / leak groups, seeded); smaller classes kept whole and marked for "
            "oversampling."
        )
        lines += [
            "",
            *_table(
                ["genre", "before", "after"],
                [[g, bal["before"].get(g, 0), bal["after"].get(g, 0)] for g in genres],
            ),
        ]
    else:
        lines.append(
            "Not balanced (use `--balance`); class weights above are inverse train "
            "frequency, mean 1.0."
        )
    lines += [
        "",
        "## Splits",
        "",
        f"Fractions {settings['split']}, seed {settings['seed']}, stratified by genre and grouped "
        "by leak group (duplicate group + artist + release): no group spans two splits. "
        + (
            "Folder imports' artists come from the words on the covers (see Artists)."
            if card.artists is not None and card.artists.grouped_split
            else "Folder imports have no artist, so only their duplicate groups are grouped."
        ),
        "",
        "## Skipped",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in card.skipped.items()] or ["- nothing"]
    if card.artists:  # artists.csv: credits, words, none (dataset/text/artist_stage.py)
        lines += artist_lines(card.artists)
    if card.attributes:  # build-dataset --attributes: the per-genre profile
        lines += card_lines(card.attributes)
    lines.append("")
    return "\n".join(lines)
