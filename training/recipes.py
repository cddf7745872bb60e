"""What `train-and-evaluate` runs when not told: the strongest recipe measured, or --quick.

Across three splits of the shared covers (docs/text.md, benchmarks/results/text-lite0.json and
text.json) the words on the cover fused with an image SVC beat every image-only recipe, the
Lite0+Lite1 stack with flip-TTA and ``--style`` included. The stack with the text scores higher
still, but its embedding pass (four forward passes per cover) makes a first run several times
longer on 2 cores; Lite0 keeps the default within the 15 minutes asked of it. Without the
``ocr`` extra (no OCR engine, or no text.jsonl in the export) the default recipe refuses before
any work with one line naming what to install (training/fit/methods/text.py ``require_words``):
it never silently ships the SVC alone. An image-only ``--method`` still runs.
``--quick`` is today's Lite0 ladder. Any recipe option given (--method, --backbone, --flip-tta,
--style) means the user is composing a recipe: the options apply on top of the quick ladder's
defaults, as before. Early fusion of the words and the cover attributes with the Lite0
embedding (``svc+text-early+attrs``, benchmarks/results/side_ablation.json) scored below fused
on val on the same splits, so it is not part of the recipe.
"""

from __future__ import annotations

from dataclasses import dataclass

from sleeve.core.vision.backbones import DEFAULT_BACKBONE


@dataclass(frozen=True)
class Recipe:
    methods: tuple[str, ...] | None  # None: the CLI's ladder (DEFAULT_METHODS)
    backbone: str
    flip_tta: bool
    style: bool
    image_size: int = 224  # the embedding methods' input size (--image-size overrides)


BEST = Recipe(("svc", "text", "fused"), DEFAULT_BACKBONE, flip_tta=False, style=False)
QUICK = Recipe(None, DEFAULT_BACKBONE, flip_tta=False, style=False)


def resolve_recipe(
    quick: bool, method: str | None, backbone: str | None, flip_tta: bool, style: bool
) -> tuple[Recipe, str]:
    """(recipe, its name) from the CLI's recipe options (None / False: not given)."""
    explicit = method is not None or backbone is not None or flip_tta or style
    if not quick and not explicit:
        return BEST, "best-measured"
    return (
        Recipe(
            None,
            backbone or QUICK.backbone,
            flip_tta or QUICK.flip_tta,
            style or QUICK.style,
        ),
        "quick" if quick and not explicit else "as-given",
    )
