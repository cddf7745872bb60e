"""How far apart two genres sit in a feature space, measured on held-out covers.

For each genre pair, only the covers of those two genres are used, in the space as a cosine
kNN sees it (L2-normalised, so Euclidean distance ranks like cosine):

- ``silhouette``: scikit-learn's mean silhouette with the two genres as the clusters, in
  [-1, 1]; 0 means the genres overlap completely, higher means apart.
- ``knn_mix``: the mean share of each cover's 10 nearest neighbours (among the pair's covers)
  that belong to the other genre, divided by that genre's share of the pair: about 1.0 when
  the genres are mixed at random, 0.0 when every neighbour shares the cover's genre.

Pairs are ranked least separated first (lowest silhouette).
"""

from __future__ import annotations

import numpy as np

from sleeve.inference.heads_runtime import l2_normalise

MIX_K = 10


def pair_separation(z: np.ndarray, y: np.ndarray, genres: list[str]) -> list[dict]:
    from sklearn.metrics import silhouette_score

    z = l2_normalise(np.asarray(z, dtype=np.float64))
    y = np.asarray(y)
    rows = []
    for a in range(len(genres)):
        for b in range(a + 1, len(genres)):
            inside = (y == a) | (y == b)
            za, ya = z[inside], y[inside]
            if min((ya == a).sum(), (ya == b).sum()) < 2:
                continue
            rows.append(
                {
                    "pair": [genres[a], genres[b]],
                    "silhouette": round(float(silhouette_score(za, ya)), 4),
                    "knn_mix": round(knn_mix(za, ya), 4),
                    "covers": int(inside.sum()),
                }
            )
    rows.sort(key=lambda r: (r["silhouette"], r["pair"]))
    return rows


def knn_mix(z: np.ndarray, y: np.ndarray, k: int = MIX_K) -> float:
    k = min(k, len(z) - 1)
    d = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1, kind="stable")[:, :k]
    other = (y[nearest] != y[:, None]).mean(axis=1)
    # share of the other genre among the rest of the pair: what random mixing would give
    share = np.array([(y != label).sum() / (len(y) - 1) for label in y])
    return float((other / np.maximum(share, 1e-12)).mean())


def find_pair(rows: list[dict], a: str, b: str) -> dict | None:
    return next((r for r in rows if set(r["pair"]) == {a, b}), None)
