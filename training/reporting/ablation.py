"""The report's ablation section: what each early-fusion rung sees and what it adds.

Shown when the run trained side rungs (sleeve/inference/side_features.py):
every rung of the run that
is an image rung, the text rungs or a side rung, with its inputs, val and test weighted F1 and
the test difference to the image SVC (when the run has one).
"""

from __future__ import annotations

from sleeve.inference.run_metrics import RunMetrics
from sleeve.inference.side_features import parse_side

HEAD = ["rung", "inputs", "val wF1", "test wF1", "test vs image svc"]
NOTE = (
    "Early fusion: each block standardised on train and weighted (the side blocks' weight and "
    "C chosen on val), one SVC / logistic head on the concatenation; fused is late fusion of "
    "log-probabilities. One split: differences under about 0.035 are within its noise."
)


def inputs_of(method: str) -> str | None:
    spec = parse_side(method)
    if spec is None:
        return {"svc": "image", "text": "words (late, alone)", "fused": "image + words (late)"}.get(
            method
        )
    parts = ["image" + (f" (PCA {spec.pca})" if spec.pca else "")] if spec.image else []
    if spec.groups:
        parts.append("attributes" if spec.every else "attributes: " + "/".join(spec.groups))
    if spec.text:
        parts.append("words (SVD)")
    return " + ".join(parts)


def ablation_rows(metrics: RunMetrics) -> list[list[str]]:
    methods = metrics.methods
    if not any(parse_side(m) for m in methods):
        return []
    base = methods["svc"].test.get("weighted_f1") if "svc" in methods else None
    rows = []
    for name, m in methods.items():
        what = inputs_of(name)
        if what is None:
            continue
        test = m.test["weighted_f1"]
        rows.append(
            [
                name,
                what,
                f"{m.val['weighted_f1']:.3f}",
                f"{test:.3f}",
                f"{test - base:+.3f}" if base is not None else "—",
            ]
        )
    return rows
