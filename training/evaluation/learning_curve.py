"""Learning curve and harvest advice: would more covers help, for which genre, by how much?

``train-and-evaluate --learning-curve`` refits the run's chosen embedding head (its settings as
chosen on val; a cheap stand-in when the chosen method cannot be refitted, as for the
headline) on nested, per-genre stratified fractions of train (10/25/50/75/100 %, ``REPEATS``
shuffles) on the cached embeddings, and scores val and test. A saturating power law
``F1(n) = a - b·n^(-c)`` is fitted (scipy ``curve_fit``) to the val scores, overall (n =
train covers) and per genre (n = that genre's train covers, its val F1). The interval comes
from a bootstrap over repeats (whole repeats resampled, the law refitted).

Advice never extrapolates past ``MAX_EXTRAPOLATION`` × today's train size, and says "too
uncertain" when the bootstrap interval at the target is wider than ``MAX_WIDTH`` or the fit
fails, "flat" when the predicted gain is under ``MIN_GAIN``, "unclear" when the interval at
the target still includes today's score; only otherwise does it name a ``collect`` command.
The curve grows every genre together; the per-genre advice assumes the others stay as they
are, which the curve did not measure (it says so).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import numpy as np

from sleeve.inference.run_metrics import RunMetrics
from sleeve.training.evaluation.grouped_cv import refit_predict
from sleeve.training.evaluation.headline import head_params, representative
from sleeve.training.evaluation.metrics import _png, _pyplot, classification_metrics
from sleeve.training.fit.methods.embedding import split_arrays

if TYPE_CHECKING:
    from sleeve.training.data import Export
    from sleeve.training.fit.methods import MethodOutcome

log = logging.getLogger(__name__)

FRACTIONS = (0.1, 0.25, 0.5, 0.75, 1.0)
REPEATS = 3
BOOTSTRAP = 200
MAX_EXTRAPOLATION = 2.0  # advise at most up to twice today's train covers
MAX_WIDTH = 0.15  # bootstrap 95 % interval wider than this at the target: too uncertain
MIN_GAIN = 0.01  # predicted gains below this are reported as "flat"


def nested_subsets(y: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Row indices per fraction, nested (each contains the previous) and stratified by label:
    every genre keeps ``ceil(f · its count)`` rows (at least 2 when it has them)."""
    rng = np.random.default_rng(seed)
    order = {c: rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)}
    out = []
    for f in fractions:
        take = [rows[: min(len(rows), max(2, math.ceil(f * len(rows))))] for rows in order.values()]
        out.append(np.sort(np.concatenate(take)))
    return out


def curve_points(
    method: str,
    params: dict,
    x: dict[str, np.ndarray],
    y: dict[str, np.ndarray],
    genres: list[str],
    fractions: tuple[float, ...] = FRACTIONS,
    repeats: int = REPEATS,
    seed: int = 0,
) -> list[dict]:
    """One record per (repeat, fraction): train sizes and val/test scores."""
    points = []
    for r in range(repeats):
        for f, idx in zip(fractions, nested_subsets(y["train"], fractions, seed + r), strict=True):
            rec: dict = {
                "repeat": r,
                "fraction": f,
                "n_train": len(idx),
                "n_per_genre": {g: int((y["train"][idx] == i).sum()) for i, g in enumerate(genres)},
            }
            for split in ("val", "test"):
                if len(y.get(split, ())) == 0:
                    continue
                pred = refit_predict(
                    method, params, x["train"][idx], y["train"][idx], x[split], len(genres), seed
                )
                m = classification_metrics(y[split], pred, genres)
                rec[split] = {
                    "weighted_f1": m["weighted_f1"],
                    "f1": {g: m["per_class"][g]["f1"] for g in genres},
                }
            points.append(rec)
    return points


def power_law(n: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a - b * np.power(n, -c)


def fit_power_law(n: np.ndarray, score: np.ndarray) -> tuple[float, float, float] | None:
    """(a, b, c) with 0 <= a <= 1, b >= 0, 0.05 <= c <= 2; None when it cannot be fitted."""
    from scipy.optimize import curve_fit

    n, score = np.asarray(n, dtype=float), np.asarray(score, dtype=float)
    if len(np.unique(n)) < 3:
        return None
    a0 = min(1.0, float(score.max()) + 0.02)
    b0 = max(1e-3, (a0 - float(score.min())) * float(n.min()) ** 0.5)
    try:
        popt, _ = curve_fit(
            power_law,
            n,
            score,
            p0=(a0, b0, 0.5),
            bounds=([0.0, 0.0, 0.05], [1.0, np.inf, 2.0]),
            maxfev=5000,
        )
    except (RuntimeError, ValueError):
        return None
    return float(popt[0]), float(popt[1]), float(popt[2])


def fit_with_interval(
    n: np.ndarray, score: np.ndarray, repeat: np.ndarray, targets: np.ndarray, seed: int = 0
) -> dict | None:
    """Fit, and a bootstrap over repeats (whole repeats resampled) of the fitted value at each
    of ``targets``: {params, at: [{n, f1, lo, hi}], bootstrap_fits}."""
    params = fit_power_law(n, score)
    if params is None:
        return None
    rng = np.random.default_rng(seed)
    ids = np.unique(repeat)
    draws = []
    for _ in range(BOOTSTRAP):
        pick = rng.choice(ids, size=len(ids), replace=True)
        rows = np.concatenate([np.flatnonzero(repeat == r) for r in pick])
        p = fit_power_law(n[rows], score[rows])
        if p is not None:
            draws.append(power_law(targets.astype(float), *p))
    if len(draws) < BOOTSTRAP // 2:
        return None
    draws_arr = np.asarray(draws)
    lo, hi = np.percentile(draws_arr, [2.5, 97.5], axis=0)
    fitted = power_law(targets.astype(float), *params)
    return {
        "params": {"a": params[0], "b": params[1], "c": params[2]},
        "at": [
            {"n": int(t), "f1": float(f), "lo": float(min(lo_, f)), "hi": float(max(hi_, f))}
            for t, f, lo_, hi_ in zip(targets, fitted, lo, hi, strict=True)
        ],
        "bootstrap_fits": len(draws),
    }


def advise(name: str, n_now: int, fit: dict | None, genre: str | None) -> dict:
    """Advice for one curve; ``fit["at"]`` holds the values at n_now then at the target."""
    target = int(MAX_EXTRAPOLATION * n_now)
    more = target - n_now
    out: dict = {"curve": name, "n_now": n_now, "n_target": target, "more": more}
    if fit is None:
        return out | {"verdict": "no-fit", "text": f"{name}: the power law could not be fitted."}
    now, then = fit["at"][0], fit["at"][1]
    out |= {"f1_now": now["f1"], "f1_target": then["f1"], "lo": then["lo"], "hi": then["hi"]}
    width = then["hi"] - then["lo"]
    if width > MAX_WIDTH:
        out |= {
            "verdict": "uncertain",
            "text": f"{name}: too uncertain to advise (95 % interval at {target} covers spans "
            f"{then['lo']:.2f}–{then['hi']:.2f}); measure on more covers or repeats.",
        }
        return out
    gain = then["f1"] - now["f1"]
    if gain < MIN_GAIN:
        out |= {
            "verdict": "flat",
            "text": f"{name}: the curve is flat: about {more} more covers would be expected to "
            f"move F1 from {now['f1']:.2f} to {then['f1']:.2f} "
            f"({then['lo']:.2f}–{then['hi']:.2f}); harvesting more is unlikely to help much.",
        }
        return out
    if then["lo"] <= now["f1"]:  # the interval at the target still holds today's score
        out |= {
            "verdict": "unclear",
            "text": f"{name}: about {more} more covers might move F1 from {now['f1']:.2f} to "
            f"{then['f1']:.2f}, but the 95 % interval ({then['lo']:.2f}–{then['hi']:.2f}) "
            "includes no gain.",
        }
        return out
    what = f"covers of {genre}" if genre else "covers (all genres, in today's proportions)"
    text = (
        f"about {more} more {what} would be expected to raise "
        f"{'its' if genre else 'weighted'} F1 from {now['f1']:.2f} to {then['f1']:.2f} "
        f"(95 % interval {then['lo']:.2f}–{then['hi']:.2f})"
    )
    out |= {"verdict": "grow", "text": f"{name}: {text}."}
    if genre:
        out["command"] = f"sleeve collect --genre {genre} --limit {more}"
    return out


def learning_curve_block(points: list[dict], genres: list[str], seed: int = 0) -> dict:
    """Fits and advice (overall and per genre) from :func:`curve_points` records."""
    full = [p for p in points if p["fraction"] == max(q["fraction"] for q in points)]
    repeat = np.array([p["repeat"] for p in points])
    n_all = np.array([p["n_train"] for p in points])
    n_now = int(full[0]["n_train"])
    targets = np.array([n_now, int(MAX_EXTRAPOLATION * n_now)])
    overall_fit = fit_with_interval(
        n_all, np.array([p["val"]["weighted_f1"] for p in points]), repeat, targets, seed
    )
    fits = {"overall": overall_fit}
    advice = [advise("overall", n_now, overall_fit, None)]
    for g in genres:
        n_g = np.array([p["n_per_genre"][g] for p in points])
        now_g = int(full[0]["n_per_genre"][g])
        if now_g == 0:
            continue
        fit = fit_with_interval(
            n_g,
            np.array([p["val"]["f1"][g] for p in points]),
            repeat,
            np.array([now_g, int(MAX_EXTRAPOLATION * now_g)]),
            seed,
        )
        fits[g] = fit
        advice.append(advise(g, now_g, fit, g))
    return {"points": points, "fits": fits, "advice": advice}


def curve_lines(metrics: RunMetrics) -> list[str]:
    """Markdown lines for the report."""
    lc = metrics.learning_curve
    if not lc:
        return []
    lines = [
        f"{lc['head']} refitted on nested {', '.join(f'{f:.0%}' for f in lc['fractions'])} of "
        f"train × {lc['repeats']} repeats, scored on val; power law F1(n) = a − b·n^(−c) fitted "
        f"per curve, 95 % interval by bootstrap over repeats; never extrapolated past "
        f"{MAX_EXTRAPOLATION:g}× today's train covers. Per-genre advice assumes the other genres "
        "stay as they are (the curve grew them together).",
        "",
    ]
    for a in lc["advice"]:
        lines.append(f"- {a['text']}" + (f" Run: `{a['command']}`" if a.get("command") else ""))
    return lines


def learning_curve_png(block: dict, genres: list[str]) -> bytes:
    plt = _pyplot()
    names = ["overall", *[g for g in genres if block["fits"].get(g) is not None]]
    fig, axes = plt.subplots(1, len(names), figsize=(3.0 * len(names), 3.0), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        pts = block["points"]
        if name == "overall":
            n = np.array([p["n_train"] for p in pts])
            s = np.array([p["val"]["weighted_f1"] for p in pts])
        else:
            n = np.array([p["n_per_genre"][name] for p in pts])
            s = np.array([p["val"]["f1"][name] for p in pts])
        ax.scatter(n, s, s=10, alpha=0.6, label="val (per repeat)")
        fit = block["fits"].get(name)
        if fit is not None:
            grid = np.linspace(max(1, n.min()), fit["at"][1]["n"], 60)
            pr = fit["params"]
            ax.plot(grid, power_law(grid, pr["a"], pr["b"], pr["c"]), color="C1", label="fit")
            t = fit["at"][1]
            ax.errorbar(
                [t["n"]],
                [t["f1"]],
                yerr=[[t["f1"] - t["lo"]], [t["hi"] - t["f1"]]],
                fmt="o",
                color="C3",
                capsize=3,
                label=f"{MAX_EXTRAPOLATION:g}× (95 %)",
            )
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("train covers" if name == "overall" else f"train covers of {name}")
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel("val F1 (weighted overall)")
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.suptitle("Learning curve: val F1 against train covers", fontsize=10, y=1.05)
    return _png(fig)


def compute_learning_curve(
    method: str,
    params: dict,
    x: dict[str, np.ndarray],
    y: dict[str, np.ndarray],
    genres: list[str],
    seed: int = 0,
    repeats: int = REPEATS,
    fractions: tuple[float, ...] = FRACTIONS,
) -> dict:
    """The ``learning_curve`` block of metrics.json."""
    points = curve_points(method, params, x, y, genres, fractions, repeats, seed)
    block = learning_curve_block(points, genres, seed)
    for a in block["advice"]:
        log.info("learning curve: %s", a["text"])
    return {
        "head": method,
        "head_params": params,
        "fractions": list(fractions),
        "repeats": repeats,
        **block,
    }


def learning_curve_for_run(
    export: Export,
    feats: np.ndarray,
    best: MethodOutcome,
    outcomes: list[MethodOutcome],
    seed: int = 0,
) -> dict | None:
    """The run's curve: the head the headline refits (the chosen one, or its stand-in)."""
    rep = representative(best, outcomes)
    if rep is None:
        return None
    x, y = split_arrays(export, feats)
    return compute_learning_curve(rep.fitted.method, head_params(rep), x, y, export.genres, seed)
