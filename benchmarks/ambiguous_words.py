"""Question: do the ambiguous duplicate groups' words lift the default recipe? (issue 24)

An ambiguous group's cover (a file filed under Pop and Rock, the label rule unable to pick
one) is never exported; its words now reach the text rung, one row per tied genre weighted by
its share (the export's text_extra.jsonl, dataset/text/extra_text.py). This re-fits only the
text rung of finished default runs (as benchmarks/text_rung.py) with and without those rows and
scores each three ways:

- ``val``: the train-only head's settings and fusion chosen on val, the fused answer on val
  (with the artist term), as train-and-evaluate chooses;
- ``oof``: out-of-fold over train + val (grouped stratified folds as the headline's, 5x val's
  covers): per fold the image SVC (the run's C and temperature) and the text rung are fitted on
  the other folds, an ambiguous cover left out of a fold whose held covers share its artist
  key; C, min_df and the words weight chosen on the out-of-fold answers; no artist term;
- ``test``: the shipped head (refitted on train + val at val's settings), read once.

Writes benchmarks/results/ambiguous_words.json.
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))  # the sibling benchmarks' re-scoring helpers
from fusion_choice import best_weight, by_condition, run_features, svc_decisions
from text_rung import Split, load_split, rung_text, runs_arguments, scores

from sleeve.dataset.text.ocr import words_text
from sleeve.inference.estimators import text_model
from sleeve.inference.heads_runtime import softmax
from sleeve.inference.rundir import Run
from sleeve.inference.text_head import C_GRID, MIN_DF_GRID, CharTfidf, TextHead, weighted_f1
from sleeve.training.data import extra_text_rows
from sleeve.training.evaluation.cover_groups import artist_keys, fold_groups, fold_of
from sleeve.training.fit.methods.text import export_texts

RESULTS = Path(__file__).parent / "results" / "ambiguous_words.json"
CANDIDATES = ("without", "with")  # without the ambiguous rows (the rung before), with (now)


def without_ambiguous(d: Split) -> Split:
    """The run's split with only the balancer's left-out covers as extra rows."""
    rows = extra_text_rows(d.export, ambiguous=False)
    return replace(d, extra_words=rows.texts, extra_y=rows.y, extra_w=rows.weight)


def _label(d: Split, genre: str) -> int | None:
    return d.export.genres.index(genre) if genre in d.export.genres else None


@dataclass
class Folds:
    """Train + val covers in the headline's grouped folds, the image SVC's out-of-fold answer."""

    y: np.ndarray
    words: list[str]
    artists: list[str]
    fold: np.ndarray
    p_image: np.ndarray


def image_folds(d: Split, run: Run, data_dir: Path) -> Folds:
    """Per fold, the image SVC (the run's C and temperature) fitted on the other folds."""
    metrics = run.metrics()
    export, n, seed = d.export, len(d.export.genres), d.seed
    feats = run_features(run, export, data_dir)
    texts = export_texts(export) or {}
    artist_of = artist_keys(export)
    groups, _ = fold_groups(export, feats)
    split_of = np.array([s.split for s in export.samples])
    keep = np.flatnonzero(np.isin(split_of, ["train", "val"]))
    x, y = feats[keep], np.array([export.samples[i].label for i in keep])
    fold = fold_of(y, [groups[i] for i in keep], n, seed)
    temperature = float(torch.load(run.model_path, weights_only=True)["head"]["temperature"])
    c = float(metrics.methods["svc"].params["C"])
    decision = np.zeros((len(y), n))
    for k in range(int(fold.max()) + 1):
        fit, held = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        decision[held] = svc_decisions(x[fit], y[fit], [x[held]], c, seed)[0]
    return Folds(
        y,
        [texts.get(export.samples[i].sha256, "") for i in keep],
        [artist_of[i] for i in keep],
        fold,
        softmax(decision / temperature),
    )


def out_of_fold(d: Split, f: Folds, use_ambiguous: bool) -> dict:
    """Fused weighted F1 out of fold over train + val (see the module's docstring)."""
    n, seed, y = len(d.export.genres), d.seed, f.y
    extra = [c for c in d.export.dataset.extra_covers if c.shares] if use_ambiguous else []
    probs = {(c, m): np.zeros((len(y), n)) for c in C_GRID for m in MIN_DF_GRID}
    speaks = {m: np.zeros(len(y), dtype=bool) for m in MIN_DF_GRID}
    used = []
    for k in range(int(f.fold.max()) + 1):
        fit, held = np.flatnonzero(f.fold != k), np.flatnonzero(f.fold == k)
        held_artists = {f.artists[i] for i in held} - {""}
        rows = [(f.words[i], int(y[i]), 1.0) for i in fit]
        covers = [c for c in extra if c.artist_key not in held_artists]
        used.append(len(covers))
        for cover in covers:
            for genre, w in cover.genre_shares():
                if (label := _label(d, genre)) is not None:
                    rows.append((words_text(cover.words), label, w))
        fit_t = [t for t, _, _ in rows]
        fit_y = np.array([k_ for _, k_, _ in rows])
        fit_w = np.array([w for _, _, w in rows])
        held_t = [f.words[i] for i in held]
        for m in MIN_DF_GRID:
            tfidf = CharTfidf.fit(fit_t, m, fit_w)
            x_fit, x_held = tfidf.transform(fit_t), tfidf.transform(held_t)
            speaks[m][held] = np.diff(x_held.indptr) > 0
            for c in C_GRID:
                model = text_model(c, seed).fit(x_fit, fit_y, sample_weight=fit_w)
                head = TextHead.from_logreg(tfidf, model, n)
                probs[(c, m)][held] = softmax(np.asarray(x_held @ head.coef.T) + head.intercept)
    best = max(probs, key=lambda cm: (weighted_f1(y, probs[cm]), cm[1], -cm[0]))
    p_text, s = probs[best], speaks[best[1]]
    w = best_weight(f.p_image[s], p_text[s], y[s])
    return {
        "oof": round(weighted_f1(y, by_condition(f.p_image, p_text, s, w)), 4),
        "oof_text": round(weighted_f1(y, p_text), 4),
        "oof_C": best[0],
        "oof_min_df": best[1],
        "oof_words_weight": w,
        "ambiguous_covers_per_fold": used,
    }


def seed_rows(data_dir: Path, run_dir: Path) -> dict:
    d = load_split(run_dir, data_dir)
    run = Run(run_dir)
    plain = without_ambiguous(d)
    out: dict = {"seed": d.seed, "run_dir": run_dir.name}
    out["ambiguous_covers"] = sum(1 for c in d.export.dataset.extra_covers if c.shares)
    out["left_out_covers"] = sum(1 for c in d.export.dataset.extra_covers if not c.shares)
    folds = image_folds(d, run, data_dir)
    for name, split, use in (("without", plain, False), ("with", d, True)):
        row = scores(split, rung_text(split, choose_min_df=True, refit=True))
        out[name] = row | out_of_fold(split, folds, use)
    out["with"]["run_fused_test"] = round(d.run_fused_test, 4)  # what the run shipped
    return out


def summary(seeds: list[dict]) -> dict:
    out = {}
    for name in CANDIDATES:
        rows = [s[name] for s in seeds]
        out[name] = {
            key: round(statistics.mean(r[key] for r in rows), 4)
            for key in ("val", "oof", "test", "no_words", "image_no_words", "text_test")
        }
        out[name]["test_per_seed"] = [r["test"] for r in rows]
    for key in ("ambiguous_covers", "left_out_covers"):
        out[key] = round(statistics.mean(s[key] for s in seeds), 1)
    out["with_minus_without"] = {
        key: [round(s["with"][key] - s["without"][key], 4) for s in seeds]
        for key in ("val", "oof", "test")
    }
    return out


def main() -> None:
    args = runs_arguments(__doc__, RESULTS)
    seeds = []
    for r in args.from_runs:
        seeds.append(seed_rows(args.data_dir, args.data_dir / "runs" / r))
        print(f"seed {seeds[-1]['seed']} done", flush=True)
    rows = summary(seeds)
    result = {
        "question": "issue 24: the ambiguous duplicate groups' words in the text rung",
        "judges": "val (train-only head, as train-and-evaluate chooses); oof (train+val, "
        "grouped folds, 5x val's covers); test read once",
        "seeds": seeds,
        "summary": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'text rung':<10} {'val':>7} {'oof':>7} {'test':>7}  {'per seed':<22} {'no-words':>8}")
    for name in CANDIDATES:
        r = rows[name]
        per = " / ".join(f"{v:.3f}" for v in r["test_per_seed"])
        print(
            f"{name:<10} {r['val']:>7.4f} {r['oof']:>7.4f} {r['test']:>7.4f}  {per:<22} "
            f"{r['no_words']:>8.4f}"
        )
    print(f"with - without, per seed: {rows['with_minus_without']}; wrote {args.out}")


if __name__ == "__main__":
    main()
