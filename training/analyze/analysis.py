"""Why genres collide: a 2-D map, clusters, genre-similarity trees and ranked pair separation.

Inputs are feature rows (cached embeddings, one per cover) and labels; nothing here reads
images except the thumbnail strips (analysis_page.py). Deterministic for a seed.

- map: UMAP (umap-learn, cosine) on the features reduced by PCA to <= 50 dimensions, or
  t-SNE (scikit-learn) where umap-learn is not installed;
- clusters: k-means on the same PCA vectors (L2-normalised first); k is the one with the
  highest mean silhouette for k in [n_genres, 3 x n_genres] (at least one cluster per genre
  is possible, the genres may split into sub-styles). A cluster whose largest genre holds
  under CONFUSABLE_TOP of it and where at least two genres hold CONFUSABLE_SHARE or more is
  a confusable region, named by those genres;
- trees: average-linkage dendrograms over the genres, one from cosine distances between
  genre centroids (train covers), one from the confusion matrix (1 - symmetric confusion);
- separation: per genre pair on test covers (separation.py), least separated first.
"""

from __future__ import annotations

import numpy as np

from sleeve.inference.heads_runtime import l2_normalise, project
from sleeve.training.analyze.separation import pair_separation
from sleeve.training.fit.projection import knn_predict

PCA_DIMS = 50
CONFUSABLE_TOP = 0.6
CONFUSABLE_SHARE = 0.2
SILHOUETTE_SAMPLE = 2000


def reduce(feats: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    z = l2_normalise(np.asarray(feats, dtype=np.float64))
    dims = min(PCA_DIMS, z.shape[0] - 1, z.shape[1])
    return PCA(n_components=dims, svd_solver="full", random_state=seed).fit_transform(z)


def umap_available() -> bool:
    try:
        import umap  # noqa: F401
    except ImportError:
        return False
    return True


def embed_2d(reduced: np.ndarray, seed: int, method: str = "auto") -> tuple[np.ndarray, str]:
    """2-D coordinates and the method used ("umap" or "tsne")."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # see analyse()
        return _embed_2d(reduced, seed, method)


def _embed_2d(reduced: np.ndarray, seed: int, method: str) -> tuple[np.ndarray, str]:
    if method == "auto":
        method = "umap" if umap_available() else "tsne"
    n = len(reduced)
    if method == "umap":
        import umap

        model = umap.UMAP(
            n_neighbors=max(2, min(15, n - 1)),
            min_dist=0.1,
            metric="cosine",
            random_state=seed,  # also makes UMAP single-threaded: same seed, same map
            init="spectral" if n > 20 else "random",
        )
        return np.asarray(model.fit_transform(reduced), dtype=np.float64), "umap"
    if method != "tsne":
        raise ValueError(f"unknown map method {method!r}: umap, tsne or auto")
    from sklearn.manifold import TSNE

    tsne = TSNE(
        n_components=2,
        perplexity=max(2.0, min(30.0, (n - 1) / 3)),
        init="pca",
        metric="cosine",
        random_state=seed,
    )
    return np.asarray(tsne.fit_transform(reduced), dtype=np.float64), "tsne"


def choose_clusters(reduced: np.ndarray, n_genres: int, seed: int) -> dict:
    """k-means for each k in [n_genres, 3 n_genres]; the k with the best silhouette wins."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    z = l2_normalise(reduced)
    top = min(3 * n_genres, len(z) - 1)
    scores, best = {}, None
    for k in range(max(2, min(n_genres, top)), top + 1):
        km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(z)
        sample = min(SILHOUETTE_SAMPLE, len(z))
        s = float(silhouette_score(z, km.labels_, sample_size=sample, random_state=seed))
        scores[k] = round(s, 4)
        if best is None or s > best[0]:
            best = (s, k, km)
    assert best is not None
    _, k, km = best
    return {
        "k": k,
        "labels": km.labels_.astype(int),
        "centres": km.cluster_centers_,
        "silhouette_by_k": scores,
        "criterion": f"highest mean silhouette for k in [{min(scores)}, {max(scores)}]",
        "points": z,
    }


def describe_clusters(chosen: dict, y: np.ndarray, genres: list[str]) -> list[dict]:
    labels, z, centres = chosen["labels"], chosen["points"], chosen["centres"]
    out = []
    for c in range(chosen["k"]):
        members = np.flatnonzero(labels == c)
        counts = np.bincount(y[members], minlength=len(genres))
        share = counts / max(1, len(members))
        order = np.argsort(-share, kind="stable")
        mixed = [genres[i] for i in order if share[i] >= CONFUSABLE_SHARE]
        confusable = share[order[0]] < CONFUSABLE_TOP and len(mixed) >= 2
        dist = ((z[members] - centres[c]) ** 2).sum(1)
        nearest = members[np.argsort(dist, kind="stable")]
        out.append(
            {
                "cluster": c,
                "size": len(members),
                "genre_counts": {genres[i]: int(counts[i]) for i in order if counts[i]},
                "genre_share": {genres[i]: round(float(share[i]), 3) for i in order if counts[i]},
                "top_genre": genres[order[0]],
                "confusable": bool(confusable),
                "region": " + ".join(mixed) if confusable else None,
                "nearest": nearest[:8].tolist(),  # row indices of the covers nearest its centre
            }
        )
    out.sort(key=lambda c: (not c["confusable"], -c["size"], c["cluster"]))
    return out


def centroid_distances(feats: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
    z = l2_normalise(np.asarray(feats, dtype=np.float64))
    cent = l2_normalise(np.stack([z[y == g].mean(0) for g in range(n)]))
    d = 1.0 - cent @ cent.T
    np.fill_diagonal(d, 0.0)
    return np.clip((d + d.T) / 2, 0.0, 2.0)


def confusion_distances(confusion: np.ndarray) -> np.ndarray:
    cm = np.asarray(confusion, dtype=np.float64)
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    d = 1.0 - (rates + rates.T) / 2
    np.fill_diagonal(d, 0.0)
    return np.clip(d, 0.0, 1.0)


def linkage(distances: np.ndarray) -> np.ndarray:
    from scipy.cluster.hierarchy import linkage as scipy_linkage
    from scipy.spatial.distance import squareform

    return scipy_linkage(squareform(distances, checks=False), method="average")


def knn_confusion(feats: dict[str, np.ndarray], y: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Test confusion of the baseline (cosine kNN, k = 10, train as reference)."""
    pred = knn_predict(feats["train"], y["train"], feats["test"], n)
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (y["test"], pred), 1)
    return cm


def analyse(
    feats: np.ndarray,
    labels: np.ndarray,
    splits: np.ndarray,
    genres: list[str],
    *,
    seed: int = 0,
    map_method: str = "auto",
    confusion: np.ndarray | None = None,
    confusion_source: str = "",
    projection: dict | None = None,
) -> dict:
    """Everything the page shows, as plain values (row indices refer to ``feats``).

    BLAS/OpenMP run on one thread: on a busy 2-core CPU the default pools only spin (t-SNE on
    120 points: 52 s with them, 1.4 s without)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return _analyse(
            feats, labels, splits, genres, seed, map_method, confusion, confusion_source, projection
        )


def _analyse(
    feats: np.ndarray,
    labels: np.ndarray,
    splits: np.ndarray,
    genres: list[str],
    seed: int,
    map_method: str,
    confusion: np.ndarray | None,
    confusion_source: str,
    projection: dict | None,
) -> dict:
    labels, splits = np.asarray(labels), np.asarray(splits)
    n = len(genres)
    reduced = reduce(feats, seed)
    coords, used = embed_2d(reduced, seed, map_method)
    chosen = choose_clusters(reduced, n, seed)
    clusters = describe_clusters(chosen, labels, genres)
    by = {sp: feats[splits == sp] for sp in ("train", "val", "test")}
    y = {sp: labels[splits == sp] for sp in ("train", "val", "test")}
    if confusion is None:
        confusion = knn_confusion(by, y, n)
        confusion_source = "cosine kNN (k = 10) on these features, train -> test"
    separation = {"features": pair_separation(by["test"], y["test"], genres)}
    if projection is not None:
        separation["projected"] = pair_separation(
            project(projection, by["test"]), y["test"], genres
        )
    return {
        "map": {"method": used, "coords": coords, "pca_dims": reduced.shape[1]},
        "clusters": {
            "k": chosen["k"],
            "criterion": chosen["criterion"],
            "silhouette_by_k": chosen["silhouette_by_k"],
            "labels": chosen["labels"],
            "items": clusters,
        },
        "trees": {
            "centroid": {"distances": centroid_distances(by["train"], y["train"], n)},
            "confusion": {
                "distances": confusion_distances(confusion),
                "matrix": np.asarray(confusion).astype(int).tolist(),
                "source": confusion_source,
            },
        },
        "separation": separation,
        "seed": seed,
    }
