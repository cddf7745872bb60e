"""report.md / report.html / model_card.md: what a person looks at after a run.

The HTML is one self-contained file (figures inlined as base64 data URIs) so it can be mailed
or opened from any folder.
"""

from __future__ import annotations

import base64
import html
import math

from sleeve.dataset.export import DatasetCard
from sleeve.inference.run_metrics import RunMetrics
from sleeve.training.evaluation.confidence import curve_lines as confidence_lines
from sleeve.training.evaluation.headline import headline_sentence
from sleeve.training.evaluation.learning_curve import curve_lines
from sleeve.training.evaluation.selection import chosen_by, selection_lines
from sleeve.training.reporting.ablation import HEAD as ABLATION_HEAD
from sleeve.training.reporting.ablation import NOTE as ABLATION_NOTE
from sleeve.training.reporting.ablation import ablation_rows

# The study we reproduce (10 genres, ResNet50 embeddings): test weighted F1 per method.
STUDY_TEST_WEIGHTED_F1 = {"knn": 0.49, "svc": 0.62, "rf": 0.45, "catboost": 0.61, "finetune": 0.60}
STUDY_GENRES = 10
# 95 % bootstrap half-width of weighted F1 on one ~615-cover test set (measured on the shared
# 5-genre covers); it shrinks like 1/sqrt(n)
SPLIT_NOISE, SPLIT_NOISE_N = 0.035, 615

LADDER_ORDER = (
    "knn",
    "logreg",
    "svc",
    "rf",
    "catboost",
    "ensemble",
    "finetune",
    "hybrid",
    "text",
    "fused",
)


def _ordered(methods: dict) -> list[str]:
    known = [m for m in LADDER_ORDER if m in methods]
    return known + sorted(m for m in methods if m not in known)


def ladder_rows(metrics: RunMetrics) -> list[list[str]]:
    rows = []
    best = metrics.best.method
    for name in _ordered(metrics.methods):
        m = metrics.methods[name]
        study = STUDY_TEST_WEIGHTED_F1.get(name)
        rows.append(
            [
                f"**{name}**" if name == best else name,
                f"{m.val['weighted_f1']:.3f}",
                f"{m.test['weighted_f1']:.3f}",
                f"{m.test['macro_f1']:.3f}",
                f"{m.test['accuracy']:.3f}",
                f"{m.train_seconds:.1f}",
                f"{m.images_per_second:.1f}",
                f"{study:.2f}" if study is not None else "—",
            ]
        )
    return rows


LADDER_HEAD = [
    "method",
    "val wF1",
    "test wF1",
    "test macro F1",
    "test acc",
    "train s",
    "img/s",
    f"study test wF1 ({STUDY_GENRES} genres)",
]


LADDER_NOTE = (
    "train s: fitting time, after the embedding pass the embedding methods share (cached); "
    "img/s: end-to-end prediction (decode, network, head) on this machine; "
    "study: its 10-genre ResNet50 figures, for context."
)


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def per_class_rows(block: dict) -> list[list[str]]:
    rows = []
    for genre, c in sorted(block["per_class"].items(), key=lambda kv: kv[1]["f1"]):
        rows.append(
            [
                genre,
                f"{c['precision']:.2f}",
                f"{c['recall']:.2f}",
                f"{c['f1']:.2f}",
                str(c["support"]),
            ]
        )
    return rows


def caveats(metrics: RunMetrics, card: DatasetCard) -> list[str]:
    n_test = max(1, sum(metrics.counts["test"].values()))
    noise = SPLIT_NOISE * math.sqrt(SPLIT_NOISE_N / n_test)
    out = [
        f"One test split of {n_test} covers: differences under about ±{noise:.3f} weighted "
        "F1 are within split-to-split noise; compare methods on several split seeds first.",
        f"The method was chosen {chosen_by(metrics)}; test was evaluated once per method "
        "afterwards.",
    ]
    fused = metrics.methods.get("fused") or metrics.methods.get("text")
    if fused is not None:  # the text rungs read the words printed on the covers (OCR)
        p = fused.params
        weight = p.get("text_weight", 1.0)
        out.append(
            f"text/fused read the words on the cover (OCR; {p['covers_with_text']:.0%} of "
            f"covers showed some): character n-gram TF-IDF + logistic regression, fused with "
            f"{p['image_method']} at text weight {weight} (chosen on val on the covers with "
            "words; a cover whose words the text model has nothing for gets the image alone). "
            "Covers by an artist "
            "also in train are the easy case for text: read the README before trusting it on "
            "new artists."
        )
    by_artist = metrics.artists
    if by_artist:  # the export's artists.csv: is the test artist also in train?
        best = metrics.best.method
        f1 = by_artist["weighted_f1"].get(best, {})
        n = by_artist["counts"]
        out.append(
            f"By artist (credits, or the words on the cover): test covers whose artist is also in "
            f"train {n['seen']} (weighted F1 {best} {f1.get('seen')}), by artists train lacks "
            f"{n['unseen']} ({f1.get('unseen')}), artist unknown {n['none']} ({f1.get('none')})."
        )
    table = metrics.artist_table
    if table is not None:  # the fused rung's artist table (sleeve/inference/artist_table.py)
        out.append(
            f"Artist table ({table.method}): {table.artists} artists with at least "
            f"{table.min_covers} train covers each ({table.train_covers} train covers with "
            f"artist evidence, {table.extra_covers} of them left out by the balancer); weight "
            f"{table.weight} chosen on the {table.val_recognised} val covers whose words name "
            f"one. Test covers whose words name one: {table.test_recognised} of "
            f"{table.test_covers}, weighted F1 {table.test_weighted_f1_with} with the artist "
            f"term, {table.test_weighted_f1_without} without."
        )
    if len(metrics.genres) != STUDY_GENRES:
        out.append(
            f"The study used {STUDY_GENRES} genres and ResNet50 features; this run has "
            f"{len(metrics.genres)} genres ({', '.join(metrics.genres)}), so its "
            "figures are context, not a target (chance level differs)."
        )
    if "random init" in metrics.weights:
        out.append(
            "The backbone was randomly initialised (--weights none): a control, not a model to use."
        )
    if metrics.skipped_images:
        out.append(f"Unreadable images skipped: {metrics.skipped_images}.")
    if card.settings.get("synthetic"):
        out.append("This dataset is synthetic (drawn shapes): its numbers say nothing of covers.")
    return out


def _card_summary(metrics: RunMetrics, card: DatasetCard) -> list[str]:
    counts = metrics.counts
    return [
        f"dataset `{metrics.dataset_id}` ({card.created_with})",
        "images train/val/test: "
        + " / ".join(str(sum(counts[s].values())) for s in ("train", "val", "test")),
        "per genre (train/val/test): "
        + ", ".join(
            f"{g} {counts['train'][g]}/{counts['val'][g]}/{counts['test'][g]}"
            for g in metrics.genres
        ),
    ]


def render_markdown(metrics: RunMetrics, card: DatasetCard, pairs: list[dict]) -> str:
    best = metrics.best
    bm = metrics.methods[best.method].test
    worst = min(bm["per_class"].items(), key=lambda kv: kv[1]["f1"])
    parts = [
        f"# Genre classifier run — dataset {metrics.dataset_id}",
        "",
        *([f"**{headline_sentence(metrics)}**", ""] if headline_sentence(metrics) else []),
        f"**Best method (chosen {chosen_by(metrics)}): {best.method}** — test weighted F1 "
        f"**{best.test_weighted_f1:.3f}** (val {best.val_weighted_f1:.3f}), macro F1 "
        f"{bm['macro_f1']:.3f}, accuracy {bm['accuracy']:.3f}. Hardest genre: {worst[0]} "
        f"(F1 {worst[1]['f1']:.2f}). Backbone: {metrics.backbone} ({metrics.weights}).",
        "",
        "## The ladder",
        "",
        _md_table(LADDER_HEAD, ladder_rows(metrics)),
        "",
        LADDER_NOTE,
        "",
        *(
            [
                "## Ablation: side features",
                "",
                _md_table(ABLATION_HEAD, ablation_rows(metrics)),
                "",
                ABLATION_NOTE,
                "",
            ]
            if ablation_rows(metrics)
            else []
        ),
        f"## Per genre ({best.method}, test)",
        "",
        _md_table(["genre", "precision", "recall", "F1", "support"], per_class_rows(bm)),
        "",
        f"![confusion matrix](confusion_{best.method}.png)",
        "",
        *(
            ["## Model selection", "", *selection_lines(metrics.model_selection), ""]
            if selection_lines(metrics.model_selection)
            else []
        ),
        *(
            [
                f"## How sure is it ({metrics.confidence['method']}, thresholds from val, "
                "test covers)",
                "",
                *confidence_lines(metrics.confidence["points"]),
                "",
            ]
            if metrics.confidence
            else []
        ),
        "## Most confused genres",
        "",
        *(
            [
                f"- {p['true']} → {p['predicted']}: {p['count']} covers ({p['rate']:.0%})"
                for p in pairs
            ]
            or ["- none: every test cover was classified right"]
        ),
        "",
        "![confused pairs](confused_pairs.png)",
        "",
        *(
            [
                "## Learning curve",
                "",
                *curve_lines(metrics),
                "",
                "![learning curve](learning_curve.png)",
                "",
            ]
            if curve_lines(metrics)
            else []
        ),
        "## Dataset",
        "",
        *[f"- {line}" for line in _card_summary(metrics, card)],
        "",
        "## Caveats",
        "",
        *[f"- {c}" for c in caveats(metrics, card)],
        "",
    ]
    return "\n".join(parts)


def _img(figures: dict[str, bytes], name: str, alt: str) -> str:
    if name not in figures:
        return ""
    data = base64.b64encode(figures[name]).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _html_table(head: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        if text.startswith("**"):
            return f"<b>{html.escape(text.strip('*'))}</b>"
        return html.escape(text)

    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


_CSS = """body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:right}td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}
.headline{font-size:1.3em;background:#eef6ee;padding:.8em;border-radius:6px}img{max-width:100%}
.caveat{color:#7a4b00}"""


def render_html(
    metrics: RunMetrics, card: DatasetCard, pairs: list[dict], figures: dict[str, bytes]
) -> str:
    best = metrics.best
    bm = metrics.methods[best.method].test
    title = f"Genre classifier run — dataset {metrics.dataset_id}"
    body = [
        f"<h1>{html.escape(title)}</h1>",
        *(
            [f'<p class="headline"><b>{html.escape(headline_sentence(metrics) or "")}</b></p>']
            if headline_sentence(metrics)
            else []
        ),
        f'<p class="headline">Best method (chosen {chosen_by(metrics)}): '
        f"<b>{html.escape(best.method)}</b>"
        f" — test weighted F1 <b>{best.test_weighted_f1:.3f}</b> (val "
        f"{best.val_weighted_f1:.3f}), macro F1 {bm['macro_f1']:.3f}, accuracy "
        f"{bm['accuracy']:.3f}</p>",
        "<h2>The ladder</h2>",
        _html_table(LADDER_HEAD, ladder_rows(metrics)),
        f"<p><small>{html.escape(LADDER_NOTE)}</small></p>",
        *(
            [
                "<h2>Ablation: side features</h2>",
                _html_table(ABLATION_HEAD, ablation_rows(metrics)),
                f"<p><small>{html.escape(ABLATION_NOTE)}</small></p>",
            ]
            if ablation_rows(metrics)
            else []
        ),
        f"<h2>Per genre ({html.escape(best.method)}, test)</h2>",
        _html_table(["genre", "precision", "recall", "F1", "support"], per_class_rows(bm)),
        _img(figures, f"confusion_{best.method}.png", "confusion matrix"),
        *(
            ["<h2>Model selection</h2><ul>"]
            + [
                f"<li>{html.escape(line.lstrip('- ').replace('**', ''))}</li>"
                for line in selection_lines(metrics.model_selection)
            ]
            + ["</ul>"]
            if selection_lines(metrics.model_selection)
            else []
        ),
        "<h2>Most confused genres</h2><ul>",
        *[
            f"<li>{html.escape(p['true'])} → {html.escape(p['predicted'])}: {p['count']} covers "
            f"({p['rate']:.0%})</li>"
            for p in pairs
        ],
        "</ul>",
        _img(figures, "confused_pairs.png", "confused pairs"),
        *(
            ["<h2>Learning curve</h2>", f"<p>{html.escape(curve_lines(metrics)[0])}</p><ul>"]
            + [f"<li>{html.escape(line[2:])}</li>" for line in curve_lines(metrics)[2:]]
            + ["</ul>", _img(figures, "learning_curve.png", "learning curve")]
            if curve_lines(metrics)
            else []
        ),
        "<h2>Dataset</h2><ul>",
        *[f"<li>{html.escape(line)}</li>" for line in _card_summary(metrics, card)],
        "</ul><h2>Caveats</h2><ul>",
        *[f'<li class="caveat">{html.escape(c)}</li>' for c in caveats(metrics, card)],
        "</ul><h2>Every method's confusion matrix (test)</h2>",
        *[_img(figures, f"confusion_{m}.png", m) for m in _ordered(metrics.methods)],
    ]
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n"
    )


def render_model_card(metrics: RunMetrics, card: DatasetCard, payload: dict) -> str:
    best, headline = metrics.best, metrics.headline
    pre = payload["preprocess"]
    return "\n".join(
        [
            f"# Model card: sleeve genre classifier ({best.method})",
            "",
            f"- Task: album cover → one of {len(payload['genres'])} genres: "
            f"{', '.join(payload['genres'])}",
            f"- Method: {best.method} on {payload['backbone']['name']} "
            f"({payload['backbone']['source']}); feature recipe {payload['recipe']}",
            f"- Input: RGB, resize to {round(pre['size'] / pre['crop_pct'])} px "
            f"({pre['interpolation']}), centre crop {pre['size']} px, mean {pre['mean']}, "
            f"std {pre['std']}",
            f"- Trained on dataset `{metrics.dataset_id}`; seed {metrics.seed}",
            f"- Test weighted F1 {best.test_weighted_f1:.3f} "
            f"(val {best.val_weighted_f1:.3f}); see report.md for per-genre scores",
            *(
                [f"- Headline: {headline_sentence(metrics)} How: {headline['method']}."]
                if headline_sentence(metrics) and headline is not None
                else []
            ),
            "- Intended use: suggesting a genre for a cover, with its probability; not a ground "
            "truth. Covers do not determine a genre, and the labels come from catalogue tags.",
            "- Limitations: " + " ".join(caveats(metrics, card)),
            "",
            "Load: `from sleeve.inference.classifier import Classifier; "
            "Classifier.load(run_dir).predict('cover.jpg')`",
            "",
            "Per-cover outputs: `predictions.csv` has one row per val/test cover (sha256, path, "
            "split, true_genre, then for each method `<method>.predicted` and "
            "`<method>.p.<genre>`); `probabilities.npz` holds the same probabilities at full "
            "precision, rows aligned with its `sha256_val` / `sha256_test` arrays.",
            "",
        ]
    )
