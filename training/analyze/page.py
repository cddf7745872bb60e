"""Write an analysis (training/analyze/analysis.py) as files: analysis.json, analysis.md,
analysis.html and figures/ (map.png, trees.png, cluster_<n>.jpg thumbnail strips). Each file is
written to a temporary name and renamed, so a reader (the app) never sees half a file."""

from __future__ import annotations

import html
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from sleeve.core.fsutil import atomic_write
from sleeve.core.vision.samples import Sample, decode
from sleeve.training.analyze.analysis import linkage
from sleeve.training.evaluation.metrics import _png, _pyplot

THUMB = 96
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def map_png(coords: np.ndarray, labels: np.ndarray, genres: list[str], method: str) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 6))
    for g, name in enumerate(genres):
        at = labels == g
        ax.scatter(coords[at, 0], coords[at, 1], s=6, alpha=0.6, c=colour(g), label=name)
    ax.set_title(f"Covers on a 2-D map ({method.upper()}), coloured by genre")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(markerscale=3, fontsize=8, loc="best")
    return _png(fig)


def trees_png(trees: dict, genres: list[str]) -> bytes:
    from scipy.cluster.hierarchy import dendrogram

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    titles = {
        "centroid": "from embedding centroids (cosine distance)",
        "confusion": "from the confusion matrix (1 - confusion rate)",
    }
    for ax, key in zip(axes, ("centroid", "confusion"), strict=True):
        dendrogram(linkage(np.asarray(trees[key]["distances"])), labels=genres, ax=ax)
        ax.set_title(titles[key], fontsize=9)
        ax.tick_params(axis="x", labelrotation=30)
    fig.suptitle("Genre similarity trees: genres joined low are alike", fontsize=10)
    return _png(fig)


def strip_jpeg(samples: list[Sample]) -> bytes:
    """Up to 8 covers side by side (decoded at reduced scale); an unreadable one stays grey."""
    canvas = Image.new("RGB", (THUMB * max(1, len(samples)), THUMB), (200, 200, 200))
    for i, s in enumerate(samples):
        try:
            img = decode(s.source(), THUMB)
        except Exception:  # a cover gone since the export: leave its slot grey
            continue
        img.thumbnail((THUMB, THUMB))
        canvas.paste(img, (i * THUMB + (THUMB - img.width) // 2, (THUMB - img.height) // 2))
    buf = io.BytesIO()
    canvas.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def document(result: dict, samples: list[Sample], genres: list[str], meta: dict) -> dict:
    """analysis.json: the figures' data, with every cover's map point (for the app)."""
    coords = result["map"]["coords"]
    labels = result["clusters"]["labels"]
    points = [
        {
            "x": round(float(coords[i, 0]), 4),
            "y": round(float(coords[i, 1]), 4),
            "genre": s.genre,
            "split": s.split,
            "cluster": int(labels[i]),
            "sha256": s.sha256,
            "path": str(s.path),
        }
        for i, s in enumerate(samples)
    ]
    clusters = [
        {
            **{k: v for k, v in c.items() if k != "nearest"},
            "strip": f"figures/cluster_{c['cluster']}.jpg",
        }
        for c in result["clusters"]["items"]
    ]
    trees = {
        key: {
            "distances": np.round(np.asarray(t["distances"]), 4).tolist(),
            **{k: v for k, v in t.items() if k != "distances"},
        }
        for key, t in result["trees"].items()
    }
    return {
        **meta,
        "genres": genres,
        "seed": result["seed"],
        "map": {"method": result["map"]["method"], "pca_dims": result["map"]["pca_dims"]},
        "clusters": {
            "k": result["clusters"]["k"],
            "criterion": result["clusters"]["criterion"],
            "silhouette_by_k": {
                str(k): v for k, v in result["clusters"]["silhouette_by_k"].items()
            },
            "items": clusters,
            "confusable_regions": [c["region"] for c in clusters if c["confusable"]],
        },
        "trees": trees,
        "separation": result["separation"],
        "figures": {"map": "figures/map.png", "trees": "figures/trees.png"},
        "points": points,
    }


def _separation_rows(doc: dict) -> list[tuple[str, str, str, str]]:
    after = {tuple(r["pair"]): r for r in doc["separation"].get("projected", [])}
    rows = []
    for r in doc["separation"]["features"]:
        proj = after.get(tuple(r["pair"]))
        rows.append(
            (
                " / ".join(r["pair"]),
                f"{r['silhouette']:+.3f}",
                f"{r['knn_mix']:.2f}",
                f"{proj['silhouette']:+.3f} / {proj['knn_mix']:.2f}" if proj else "",
            )
        )
    return rows


def render_markdown(doc: dict) -> str:
    lines = [
        f"# Confusable genres: dataset {doc['dataset_id']}",
        "",
        f"{len(doc['points'])} covers, features `{doc['features']}`; seed {doc['seed']}.",
        "",
        f"## Map ({doc['map']['method'].upper()})",
        "",
        "![map](figures/map.png)",
        "",
        f"## Clusters (k-means, k = {doc['clusters']['k']}: {doc['clusters']['criterion']})",
        "",
    ]
    regions = doc["clusters"]["confusable_regions"]
    lines.append(
        "Confusable regions (clusters shared by several genres): "
        + ("; ".join(regions) if regions else "none")
    )
    lines += ["", "| cluster | size | genre mix | confusable | covers nearest its centre |"]
    lines.append("|---|---|---|---|---|")
    for c in doc["clusters"]["items"]:
        mix = ", ".join(f"{g} {s:.0%}" for g, s in c["genre_share"].items())
        lines.append(
            f"| {c['cluster']} | {c['size']} | {mix} | {c['region'] or ''} | "
            f"![cluster {c['cluster']}]({c['strip']}) |"
        )
    lines += [
        "",
        "## Genre similarity trees",
        "",
        f"Confusion matrix: {doc['trees']['confusion']['source']}.",
        "",
        "![trees](figures/trees.png)",
        "",
        "## Genre pairs, least separated first (test covers)",
        "",
        "silhouette: 0 = the two genres overlap, higher = apart; kNN mix: share of the 10",
        "nearest covers from the other genre relative to random mixing (1.0 = mixed, 0 = apart).",
        "",
    ]
    proj = doc.get("projection")
    head = f" {proj} space silhouette / kNN mix |" if proj else ""
    lines.append(f"| pair | silhouette | kNN mix |{head}")
    lines.append("|---|---|---|" + ("---|" if proj else ""))
    for pair, sil, mix, after in _separation_rows(doc):
        lines.append(f"| {pair} | {sil} | {mix} |" + (f" {after} |" if proj else ""))
    return "\n".join(lines) + "\n"


def render_html(doc: dict) -> str:
    e = html.escape
    regions = doc["clusters"]["confusable_regions"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Confusable genres: {e(doc['dataset_id'])}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
        "</style></head><body>",
        f"<h1>Confusable genres: dataset {e(doc['dataset_id'])}</h1>",
        f"<p>{len(doc['points'])} covers, features <code>{e(doc['features'])}</code>; "
        f"seed {doc['seed']}.</p>",
        f"<h2>Map ({e(doc['map']['method'].upper())})</h2>",
        "<img src='figures/map.png' alt='map' width='700'>",
        f"<h2>Clusters (k-means, k = {doc['clusters']['k']}: "
        f"{e(doc['clusters']['criterion'])})</h2>",
        "<p>Confusable regions (clusters shared by several genres): "
        f"<b>{e('; '.join(regions) if regions else 'none')}</b></p>",
        "<table><tr><th>cluster</th><th>size</th><th>genre mix</th><th>confusable</th>"
        "<th>covers nearest its centre</th></tr>",
    ]
    for c in doc["clusters"]["items"]:
        mix = ", ".join(f"{g} {s:.0%}" for g, s in c["genre_share"].items())
        parts.append(
            f"<tr><td>{c['cluster']}</td><td>{c['size']}</td><td>{e(mix)}</td>"
            f"<td>{e(c['region'] or '')}</td><td><img src='{e(c['strip'])}' height='64'></td></tr>"
        )
    parts += [
        "</table><h2>Genre similarity trees</h2>",
        f"<p>Confusion matrix: {e(doc['trees']['confusion']['source'])}.</p>",
        "<img src='figures/trees.png' alt='trees' width='900'>",
        "<h2>Genre pairs, least separated first (test covers)</h2>",
        "<table><tr><th>pair</th><th>silhouette</th><th>kNN mix</th>"
        + (f"<th>{e(doc['projection'])} space</th>" if doc.get("projection") else "")
        + "</tr>",
    ]
    for pair, sil, mix, after in _separation_rows(doc):
        extra = f"<td>{after}</td>" if doc.get("projection") else ""
        parts.append(f"<tr><td>{e(pair)}</td><td>{sil}</td><td>{mix}</td>{extra}</tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts)


def write_page(
    out: Path, result: dict, samples: list[Sample], genres: list[str], meta: dict
) -> dict:
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    labels = np.array([s.label for s in samples])
    atomic_write(
        figures / "map.png",
        map_png(result["map"]["coords"], labels, genres, result["map"]["method"]),
    )
    atomic_write(figures / "trees.png", trees_png(result["trees"], genres))
    for c in result["clusters"]["items"]:
        strip = strip_jpeg([samples[i] for i in c["nearest"]])
        atomic_write(figures / f"cluster_{c['cluster']}.jpg", strip)
    doc = document(result, samples, genres, meta)
    atomic_write(out / "analysis.json", json.dumps(doc, indent=1))
    atomic_write(out / "analysis.md", render_markdown(doc))
    atomic_write(out / "analysis.html", render_html(doc))
    return doc
