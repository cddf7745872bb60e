"""Learned spaces that pull confused genres apart, fitted on train features only.

Two transformations, each returned as plain arrays (``heads_runtime.project`` applies them, so
model.pt never holds a pickle):

- ``lda``: linear discriminant analysis (scikit-learn, eigen solver with Ledoit-Wolf
  shrinkage: the features have more dimensions than a genre has covers) keeps the
  ``n_genres - 1`` directions that maximise between-genre over within-genre scatter.
- ``supcon``: a small MLP (features -> 256 -> 64, L2-normalised) trained with a supervised
  contrastive loss whose negatives are weighted by how often train covers of the two genres
  are confused (out-of-fold kNN on train): a confused genre pair pushes apart harder. The
  number of steps is chosen on val kNN weighted F1.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import torch

from sleeve.inference.heads_runtime import (
    knn_probabilities,
    knn_search,
    l2_normalise,
    project,
)
from sleeve.training.evaluation.metrics import classification_metrics

T = TypeVar("T")

PROJECTIONS = ("lda", "supcon")
KNN_K = 10  # neighbours for the out-of-fold confusion and the val checks


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))


def _scaler(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    return mean, np.where(scale > 1e-8, scale, 1.0)


def knn_predict(
    x_ref: np.ndarray, y_ref: np.ndarray, x: np.ndarray, n_classes: int, k: int = KNN_K
) -> np.ndarray:
    """Cosine kNN labels with the product's distance-weighted vote."""
    k = min(k, len(x_ref))
    sims, idx = knn_search(l2_normalise(x_ref), l2_normalise(x), k)
    return knn_probabilities(sims, np.asarray(y_ref)[idx], n_classes).argmax(1)


def train_confusion(
    x: np.ndarray, y: np.ndarray, n_classes: int, folds: int = 5, seed: int = 0
) -> np.ndarray:
    """Symmetric pair confusion rates on train from out-of-fold kNN: c[i, j] is the mean of
    the share of genre i called j and of j called i. Test and val are not touched."""
    rng = np.random.default_rng(seed)
    fold = rng.permutation(len(y)) % folds
    pred = np.empty_like(y)
    for f in range(folds):
        inside = fold == f
        pred[inside] = knn_predict(x[~inside], y[~inside], x[inside], n_classes)
    cm = np.zeros((n_classes, n_classes))
    np.add.at(cm, (y, pred), 1)
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    sym = (rates + rates.T) / 2
    np.fill_diagonal(sym, 0.0)
    return sym


def pair_weights(confusion: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Weight of a negative pair of genres in the loss: 1 + strength x its confusion relative
    to the most confused pair (so the worst pair weighs 1 + strength, a never-confused one 1)."""
    top = confusion.max()
    w = 1.0 + strength * (confusion / top if top > 0 else confusion)
    np.fill_diagonal(w, 1.0)
    return w


def fit_lda(x: np.ndarray, y: np.ndarray) -> dict:
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    mean, scale = _scaler(x)
    z = (x - mean) / scale
    lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto").fit(z, y)
    dims = max(1, len(np.unique(y)) - 1)
    weight = lda.scalings_[:, :dims].T  # eigen solver: transform(z) = z @ scalings_
    centre = (z.mean(axis=0) @ weight.T)[None, :]  # z is centred on train; kept for clarity
    return {
        "kind": "lda",
        "mean": _t(mean),
        "scale": _t(scale),
        "layers": [{"weight": _t(weight), "bias": _t(-centre[0])}],
        "normalise": True,
        "params": {"solver": "eigen", "shrinkage": "auto (Ledoit-Wolf)", "dims": dims},
    }


def weighted_supcon_loss(
    emb: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al., 2020) with each negative's term in the
    denominator multiplied by its genre pair's weight: confused pairs cost more."""
    sims = emb @ emb.T / temperature
    n = len(labels)
    eye = torch.eye(n, dtype=torch.bool)
    same = (labels[:, None] == labels[None, :]) & ~eye
    w = weights[labels][:, labels].masked_fill(eye, 0.0)
    logits = sims - sims.max(dim=1, keepdim=True).values.detach()
    denom = (w * torch.exp(logits)).sum(dim=1, keepdim=True)
    log_prob = logits - torch.log(denom + 1e-12)
    pos = same.float()
    per_anchor = -(log_prob * pos).sum(1) / pos.sum(1).clamp(min=1)
    return per_anchor[pos.sum(1) > 0].mean()


def _on_one_torch_thread(fn: Callable[..., T]) -> Callable[..., T]:
    """Run ``fn`` with torch on one thread, restoring the caller's setting afterwards."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)

    return wrapper


@_on_one_torch_thread
def fit_supcon(
    x_tr: np.ndarray,
    y_tr: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    genres: list[str],
    *,
    seed: int = 0,
    hidden: int = 256,
    dims: int = 64,
    steps: int = 300,
    check_every: int = 25,
    temperature: float = 0.1,
    strength: float = 1.0,
    batch: int = 512,
) -> dict:
    """The metric-learning head; the step count with the best val kNN weighted F1 is kept.

    Runs on one thread: the matrices are small, so more threads only spin (measured 14x
    slower with 2 threads on a busy 2-core CPU), and one thread gives the same numbers
    wherever it runs."""
    start = time.perf_counter()
    n_classes = len(genres)
    confusion = train_confusion(x_tr, y_tr, n_classes, seed=seed)
    weights = torch.from_numpy(pair_weights(confusion, strength)).float()
    mean, scale = _scaler(x_tr)
    z_tr = torch.from_numpy(((x_tr - mean) / scale).astype(np.float32))
    labels = torch.from_numpy(np.asarray(y_tr, dtype=np.int64))
    gen = torch.Generator().manual_seed(seed)
    first = torch.nn.Linear(z_tr.shape[1], hidden)
    second = torch.nn.Linear(hidden, dims)
    with torch.no_grad():  # seeded init, independent of the global RNG
        for layer in (first, second):
            bound = 1.0 / np.sqrt(layer.in_features)
            layer.weight.uniform_(-bound, bound, generator=gen)
            layer.bias.uniform_(-bound, bound, generator=gen)
    params = [*first.parameters(), *second.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-3)

    def arrays() -> dict:
        return {
            "kind": "supcon",
            "mean": _t(mean),
            "scale": _t(scale),
            "layers": [
                {
                    "weight": _t(layer.weight.detach().double().numpy()),
                    "bias": _t(layer.bias.detach().double().numpy()),
                }
                for layer in (first, second)
            ],
            "normalise": True,
        }

    def val_f1(proj: dict) -> float:
        pred = knn_predict(project(proj, x_tr), y_tr, project(proj, x_val), n_classes)
        return classification_metrics(y_val, pred, genres)["weighted_f1"]

    best = (-1.0, 0, arrays())
    history = []
    for step in range(1, steps + 1):
        idx = torch.randperm(len(labels), generator=gen)[:batch]
        x = z_tr[idx]
        keep = (torch.rand(x.shape, generator=gen) > 0.2).float() / 0.8  # input dropout
        h = torch.relu(first(x * keep))
        emb = torch.nn.functional.normalize(second(h), dim=1)
        loss = weighted_supcon_loss(emb, labels[idx], weights, temperature)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % check_every == 0:
            proj = arrays()
            f1 = val_f1(proj)
            history.append(
                {"step": step, "loss": round(float(loss.detach()), 4), "val_knn_wf1": f1}
            )
            if f1 > best[0]:
                best = (f1, step, proj)
    f1, step, proj = best
    proj["params"] = {
        "hidden": hidden,
        "dims": dims,
        "temperature": temperature,
        "pair_weight_strength": strength,
        "train_pair_confusion": np.round(confusion, 4).tolist(),
        "steps_chosen_on_val": step,
        "val_knn_weighted_f1": f1,
        "history": history,
        "seconds": round(time.perf_counter() - start, 2),
    }
    return proj


def fit_projection(
    name: str,
    x_tr: np.ndarray,
    y_tr: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    genres: list[str],
    seed: int = 0,
) -> dict:
    if name == "lda":
        return fit_lda(x_tr, y_tr)
    if name == "supcon":
        return fit_supcon(x_tr, y_tr, x_val, y_val, genres, seed=seed)
    raise ValueError(f"unknown projection {name!r}; known: {', '.join(PROJECTIONS)}")


def stored(projection: dict) -> dict:
    """The arrays the runtime needs (fit details stay in the run's metrics)."""
    return {k: v for k, v in projection.items() if k != "params"}
