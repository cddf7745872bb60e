"""What `train-and-evaluate` runs when not told: the strongest recipe measured, or --quick.

Across three splits of the shared covers (README "Measured", benchmarks/results/train_eval*.json)
the Lite0+Lite1 stack at 240 px with flip-TTA and texture statistics (``--style``) under an
SVC scored 0.473 / 0.448 / 0.421 test weighted F1, above the Lite0 ladder's chosen model on
every split.
Its cost is the embedding pass: about 4 covers/s on 2 cores (four forward passes per cover),
so about 15 minutes for 4,000 covers, once (embeddings are cached). ``--quick`` is today's
Lite0 ladder. Any recipe option given (--method, --backbone, --flip-tta, --style) means the
user is composing a recipe: the options apply on top of the quick ladder's defaults, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from sleeve.training.backbones import DEFAULT_BACKBONE


@dataclass(frozen=True)
class Recipe:
    methods: tuple[str, ...] | None  # None: the CLI's ladder (DEFAULT_METHODS)
    backbone: str
    flip_tta: bool
    style: bool
    image_size: int = 224  # the embedding methods' input size (--image-size overrides)


# 240 px: Lite1's native size, as measured (benchmarks/train_eval.py)
BEST = Recipe(
    ("svc",), "efficientnet_lite0+efficientnet_lite1", flip_tta=True, style=True, image_size=240
)
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
