"""Montages of a run's top label-issue suspects, for checking them by eye.

    python benchmarks/tools/label_issue_montage.py RUN_DIR OUT_DIR [--top 100] [--per-sheet 20]

Each tile shows the cover with its rank, sha256 prefix, the given genre and the suggested one
(the out-of-fold argmax) with their probabilities. The sheets are written outside the
repository (they are pictures of the covers); the verdicts go to
benchmarks/results/label_issues_review.json (see README, Measured).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

from sleeve.inference.rundir import Run

TILE, TEXT = 200, 44


def sheet(rows: list[dict[str, str]], columns: int = 5) -> Image.Image:
    lines = -(-len(rows) // columns)
    out = Image.new("RGB", (columns * TILE, lines * (TILE + TEXT)), "white")
    draw = ImageDraw.Draw(out)
    for n, r in enumerate(rows):
        x, y = (n % columns) * TILE, (n // columns) * (TILE + TEXT)
        try:
            with Image.open(r["path"]) as img:
                img = img.convert("RGB")
                img.thumbnail((TILE - 8, TILE - 8))
                out.paste(img, (x + 4, y + 4))
        except OSError:
            draw.text((x + 10, y + 90), "unreadable", fill="red")
        given, suggested = r["given_genre"], r["suggested_genre"]
        draw.text((x + 4, y + TILE), f"#{r['rank']} {r['sha256'][:10]}", fill="black")
        draw.text(
            (x + 4, y + TILE + 14),
            f"given {given} {float(r['p.' + given]):.2f}",
            fill="black",
        )
        draw.text(
            (x + 4, y + TILE + 28),
            f"sugg. {suggested} {float(r['p.' + suggested]):.2f}",
            fill="blue",
        )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--top", type=int, default=100)
    p.add_argument("--per-sheet", type=int, default=20)
    args = p.parse_args()
    rows = Run(args.run).label_issues()[: args.top]
    args.out.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(rows), args.per_sheet):
        part = rows[start : start + args.per_sheet]
        path = args.out / f"suspects-{start + 1:03d}-{start + len(part):03d}.png"
        sheet(part).save(path)
        print(path)


if __name__ == "__main__":
    main()
