"""Side rungs: an SVC / logistic head on the image embedding concatenated with side features
(the export's attributes.csv and the OCR words), i.e. early fusion
(sleeve/inference/side_features.py).

The side blocks' weight (their total variance against the image's 1) and the head's C are
chosen together on val; model.pt is the image rung's payload (backbone, recipe) with the head
on the fused vector and a ``side`` block of plain arrays, so ``Classifier`` recomputes the same
features for a new cover (attributes by the stored extractors, words by the OCR engine).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from sleeve.core.errors import ConfigError
from sleeve.core.vision.backbones import load_backbone
from sleeve.dataset.attributes.decode import load_view
from sleeve.dataset.text.ocr import engine_version
from sleeve.inference.estimators import logreg_model, svc_model
from sleeve.inference.heads_runtime import head_probabilities
from sleeve.inference.side_features import (
    ATTRS_MISSING,
    AttributeTable,
    SideFeatures,
    SideSpec,
    check_extractors,
    cover_attributes,
    fit_attr_block,
    fit_image_block,
    fit_text_block,
    is_side_method,
    parse_side,
    read_attribute_table,
)
from sleeve.training.config import TrainConfig
from sleeve.training.fit.heads_arrays import svc_head
from sleeve.training.fit.methods import FittedHead, MethodOutcome, RungContext
from sleeve.training.fit.methods.embedding import (
    backbone_seconds,
    export_features,
    head_payload,
    split_arrays,
    split_labels,
)
from sleeve.training.fit.methods.heads import _fit_temperature, _full_linear, _select
from sleeve.training.fit.methods.text import export_texts, ocr_seconds

if TYPE_CHECKING:
    from sleeve.training.data import Export

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")
SIDE_WEIGHTS = (0.25, 0.5, 1.0)  # the side blocks' total variance, the image's being 1
C_GRID = {"svc": (1.0, 3.0, 10.0), "logreg": (0.01, 0.05, 0.2, 1.0)}


def side_specs(methods: tuple[str, ...]) -> list[SideSpec]:
    return [s for s in (parse_side(m) for m in methods) if s is not None]


def attribute_inputs(export: Export, table: AttributeTable, groups: tuple[str, ...]) -> dict:
    """split -> (covers, columns) of the groups' columns; NaN where a cover was not measured."""
    cols = [i for i, c in enumerate(table.columns) if c.split(".", 1)[0] in groups]
    empty = np.full(len(table.columns), np.nan)
    return {
        sp: np.array([table.rows.get(s.sha256, empty)[cols] for s in export.split(sp)]).reshape(
            -1, len(cols)
        )
        for sp in SPLITS
    }


def fit_head(
    kind: str,
    z_tr: np.ndarray,
    y_tr: np.ndarray,
    z_val: np.ndarray,
    y_val: np.ndarray,
    genres: list[str],
    seed: int,
) -> FittedHead:
    """SVC (RBF) or logistic regression on already scaled features (the head stores no scaler:
    the side block's own scaling is the one applied at predict time)."""
    if kind == "svc":

        def fit(params: dict) -> dict:
            model = svc_model(params["C"], seed).fit(z_tr, y_tr)
            temperature = _fit_temperature(model.decision_function(z_val), y_val, model.classes_)
            return svc_head(model, temperature, len(genres))
    else:

        def fit(params: dict) -> dict:
            model = logreg_model(params["C"], seed).fit(z_tr, y_tr)
            coef, bias = _full_linear(model, len(genres))
            return {
                "type": "linear",
                "weight": torch.from_numpy(coef),
                "bias": torch.from_numpy(bias),
            }

    return _select(kind, [{"C": c} for c in C_GRID[kind]], fit, z_val, y_val, genres)


def fit_side(
    spec: SideSpec,
    inputs: dict[str, dict],
    y: dict[str, np.ndarray],
    genres: list[str],
    table: AttributeTable | None,
    seed: int,
) -> tuple[SideFeatures, FittedHead]:
    """``inputs``: split -> {"image": array, "attrs": array, "text": list of str}."""
    start = time.perf_counter()
    train = inputs["train"]
    blocks = []
    if spec.image:
        blocks.append(fit_image_block(train["image"], spec.pca))
    if spec.groups:
        assert table is not None
        cols = [c for c in table.columns if c.split(".", 1)[0] in spec.groups]
        blocks.append(fit_attr_block(train["attrs"], cols, table.extractors))
    if spec.text:
        blocks.append(fit_text_block(train["text"], seed))
    base = SideFeatures(blocks)
    weights = SIDE_WEIGHTS if spec.image and len(blocks) > 1 else (1.0,)
    best: tuple[float, float, SideFeatures, FittedHead] | None = None
    for w in weights:
        feats = base.with_side_weight(w, train) if len(weights) > 1 else base
        z = {sp: _z(feats, inputs[sp]) for sp in ("train", "val")}
        fitted = fit_head(spec.head, z["train"], y["train"], z["val"], y["val"], genres, seed)
        f1 = fitted.params["val_weighted_f1"]
        if best is None or f1 > best[0]:  # ties: the smaller side weight
            best = (f1, w, feats, fitted)
    assert best is not None
    _, w, feats, fitted = best
    fitted.method = spec.name
    fitted.params.update(
        side_weight=w,
        blocks={b.kind: b.dims for b in feats.blocks},
        head=spec.head,
        **({"image_pca": spec.pca} if spec.pca else {}),
        **({"attribute_groups": list(spec.groups)} if spec.groups else {}),
    )
    fitted.train_seconds = time.perf_counter() - start
    return feats, fitted


def _z(feats: SideFeatures, split_inputs: dict) -> np.ndarray:
    return feats.transform(
        split_inputs.get("image"), split_inputs.get("attrs"), split_inputs.get("text")
    )


class SideRung:
    """Early fusion: side features (attributes, the words' TF-IDF) beside the image embedding
    under one head; asked for by name (``svc+attrs``, ``text-early``, ...)."""

    names: tuple[str, ...] = ()  # a pattern, not a list: see side_features.parse_side

    def wanted(self, config: TrainConfig) -> bool:
        return any(is_side_method(m) for m in config.methods)

    def fit(self, ctx: RungContext) -> list[MethodOutcome]:
        return run_side_methods(
            ctx.export, ctx.config, ctx.device, ctx.cache_root, ctx.features.get("x")
        )


def run_side_methods(
    export: Export,
    config: TrainConfig,
    device: torch.device,
    cache_root: Path | None,
    feats: np.ndarray | None = None,
) -> list[MethodOutcome]:
    """Fit every side rung in ``config.methods`` (asked for by name: a missing side file or
    package is a one-line ConfigError). ``feats``: the run's image features, when computed."""
    specs = side_specs(config.methods)
    if not specs:
        return []
    table = None
    if any(s.groups for s in specs):
        table = read_attribute_table(export.dataset)
        if table is None:
            raise ConfigError(ATTRS_MISSING)
        present = {c.split(".", 1)[0] for c in table.columns}
        # ``attrs``: the groups the export measured (a build may leave faces out)
        specs = [
            replace(s, groups=tuple(g for g in s.groups if g in present)) if s.every else s
            for s in specs
        ]
    groups = tuple(sorted({g for s in specs for g in s.groups}))
    if table is not None:
        absent = [g for g in groups if not any(c.startswith(g + ".") for c in table.columns)]
        if absent:
            raise ConfigError(
                f"the export's attributes.csv has no {', '.join(absent)} columns: rebuild it "
                "with build-dataset --attributes on (the default: every group)"
            )
        check_extractors({g: table.extractors[g] for g in groups})
    texts = _texts(export) if any(s.text for s in specs) else None
    backbone = load_backbone(config.backbone, config.weights, device)
    recipe = config.recipe()
    if feats is None and any(s.image for s in specs):
        feats = export_features(export, config, backbone, device, cache_root)
    x = split_arrays(export, feats)[0] if feats is not None else {}
    y = {sp: split_labels(export, sp) for sp in SPLITS}
    per_image = backbone_seconds(export, backbone, recipe, device)
    outcomes = []
    for spec in specs:
        attrs = attribute_inputs(export, table, spec.groups) if table and spec.groups else {}
        inputs: dict[str, dict] = {sp: {} for sp in SPLITS}
        for sp in SPLITS:
            if spec.image:
                inputs[sp]["image"] = x[sp]
            if spec.groups:
                inputs[sp]["attrs"] = attrs[sp]
            if spec.text:
                assert texts is not None
                inputs[sp]["text"] = [texts.get(s.sha256, "") for s in export.split(sp)]
        side, fitted = fit_side(spec, inputs, y, export.genres, table, config.seed)
        test_probs = head_probabilities(fitted.head, _z(side, inputs["test"]))
        payload = head_payload(export, config, fitted, backbone, recipe)
        payload["side"] = side.to_dict()
        ips = 1.0 / (per_image + _side_seconds(export, side))
        outcomes.append(MethodOutcome(fitted, test_probs, ips, payload))
        log.info("%s: val weighted F1 %.3f", spec.name, fitted.params["val_weighted_f1"])
    return outcomes


def _texts(export: Export) -> dict[str, str]:
    texts = export_texts(export)
    if texts is None:
        raise ConfigError(
            "text-early reads the export's text.jsonl, which it lacks: build it with the OCR "
            "extra installed (pip install 'sleeve[ocr]'), then run build-dataset again"
        )
    if engine_version() is None:
        raise ConfigError("text-early reads new covers' words: pip install 'sleeve[ocr]'")
    return texts


def _side_seconds(export: Export, side: SideFeatures, n: int = 4) -> float:
    """Seconds per cover for the side inputs (attributes, OCR) on a few test covers."""
    seconds = 0.0
    if side.needs_text:
        seconds += ocr_seconds(export, n)
    block = side.block("attrs")
    probe = export.split("test")[:n]
    if block is not None and probe:
        start = time.perf_counter()
        for s in probe:
            cover_attributes(load_view(s.source()), block.columns, block.extractors)
        seconds += (time.perf_counter() - start) / len(probe)
    return seconds
