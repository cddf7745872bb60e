"""The per-genre attribute profile as small multiples: one panel per attribute, a bar per genre.

Written into the export beside attributes.csv and linked from the dataset card. Every panel
shares the genre order, so a genre's bars line up down the columns.
"""

from __future__ import annotations

import io
import math

# panel titles: what each profile key measures (shares are of the exported covers measured)
TITLES = {
    "face": "share with a face (person)",
    "group": "share with a group (3+ faces)",
    "photo": "share: photo",
    "illustration": "share: illustration",
    "typography": "share: typography only",
    "has_text": "share with words read",
    "text_share": "mean text share of area",
    "brightness": "mean brightness",
    "saturation": "mean saturation",
    "colourfulness": "mean colourfulness",
    "warmth": "mean warmth",
    "edge_density": "mean edge density",
    "symmetry_lr": "mean left-right symmetry",
    "glcm_contrast": "mean GLCM contrast",
}
COLS = 4


def profile_png(profile: dict[str, dict[str, float | int]], keys: list[str]) -> bytes:
    """PNG bytes of the small multiples for ``keys`` (profile columns), or b"" if none."""
    genres = list(profile)
    keys = [k for k in keys if any(k in profile[g] for g in genres)]
    if not keys or not genres:
        return b""
    import matplotlib

    matplotlib.use("Agg")  # no display, no GUI toolkit
    from matplotlib.figure import Figure

    rows = math.ceil(len(keys) / COLS)
    fig = Figure(figsize=(3.2 * COLS, 0.35 * len(genres) * rows + 0.9 * rows), dpi=100)
    axes = fig.subplots(rows, COLS, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(keys):
            ax.set_axis_off()
            continue
        key = keys[i]
        values = [float(profile[g].get(key, math.nan)) for g in genres]
        ax.barh(range(len(genres)), values, color="#4c72b0")
        ax.set_yticks(range(len(genres)), genres if i % COLS == 0 else [""] * len(genres))
        ax.invert_yaxis()
        ax.set_title(TITLES.get(key, key), fontsize=9)
        ax.tick_params(labelsize=8)
        for y, v in enumerate(values):
            if not math.isnan(v):
                ax.text(v, y, f" {v:.3g}", va="center", fontsize=7)
        ax.margins(x=0.25)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
