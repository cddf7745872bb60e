"""What `train-and-evaluate` runs when not told: the strongest recipe measured, or --quick.

The default is an SVC on the Lite0+Lite1 stack with flip-TTA and ``--style`` (texture
statistics), the words on the cover (``text``) and their fusion (``fused``). Across three
splits of the shared covers it beat the same recipe on Lite0 alone on the test split, the
grouped headline and the covers with no words (benchmarks/results/model.json against
model_lite0.json), and its first run, embedding pass and ONNX export included, fits the 15
minutes asked of the default for 4,000 covers on 2 cores (benchmarks/results/recipe_time.json;
it became affordable when the Lite backbones moved to ONNX Runtime). Without the ``ocr`` extra
(no OCR engine, or no text.jsonl in the export) the default recipe refuses before any work with
one line naming what to install (training/fit/methods/text.py ``require_words``): it never
silently ships the SVC alone. An image-only ``--method`` still runs. ``--quick`` is the Lite0
ladder. Any recipe option given (--method, --backbone, --flip-tta, --style) means the user is
composing a recipe: the options apply on top of the quick ladder's defaults, as before. Early
fusion of the words and the cover attributes with the Lite0 embedding (``svc+text-early+attrs``,
benchmarks/results/side_ablation.json) scored below fused on val, so it is not part of the
recipe.
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


# the image rung of the default: the Lite0+Lite1 stack, each cover and its mirror, with style
STACK = f"{DEFAULT_BACKBONE}+efficientnet_lite1"
BEST = Recipe(("svc", "text", "fused"), STACK, flip_tta=True, style=True)
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
