"""Training rungs in a learned space: kNN and SVC on LDA or metric-learning projections.

``lda-knn``, ``lda-svc``, ``supcon-knn``, ``supcon-svc``: the projection is fitted on train
(its settings chosen on val), then the usual kNN / SVC fitter runs on the projected features.
The stored head is ``{"type": "projected", "projection": arrays, "head": inner head}``, so
``predict`` and the app apply it through ``head_probabilities`` like any other head.
"""

from __future__ import annotations

import time

import numpy as np

from sleeve.inference.heads_runtime import project
from sleeve.training.fit.methods import FittedHead
from sleeve.training.fit.methods.heads import fit_svc
from sleeve.training.fit.methods.knn import fit_knn
from sleeve.training.fit.projection import PROJECTIONS, fit_projection, stored


def fit_projected_methods(
    wanted: list[str],
    x: dict[str, np.ndarray],
    y: dict[str, np.ndarray],
    genres: list[str],
    seed: int = 0,
) -> list[FittedHead]:
    """One FittedHead per wanted ``<projection>-<head>``; each projection is fitted once."""
    out = []
    for name in PROJECTIONS:
        heads = [m for m in wanted if m.startswith(f"{name}-")]
        if not heads:
            continue
        start = time.perf_counter()
        proj = fit_projection(name, x["train"], y["train"], x["val"], y["val"], genres, seed)
        fit_seconds = time.perf_counter() - start
        z = {sp: project(proj, x[sp]) for sp in ("train", "val")}
        for method in heads:
            if method.endswith("-knn"):
                inner = fit_knn(z["train"], y["train"], z["val"], y["val"], genres)
            else:
                inner = fit_svc(z["train"], y["train"], z["val"], y["val"], genres, seed=seed)
            head = {"type": "projected", "projection": stored(proj), "head": inner.head}
            params = {
                "projection": name,
                **{f"projection_{k}": v for k, v in proj.get("params", {}).items()},
                **inner.params,
            }
            out.append(
                FittedHead(method, head, inner.val_probs, params, inner.train_seconds + fit_seconds)
            )
    return out
