"""`predict`: top-k genres for cover images (files, folders, http(s) URLs).

Exit status (README, "Exit codes"): 0 when every input got predictions, 1 when at least one
input failed (the others are still answered), 2 usage error, 3 no trained model yet, 4 an
unreadable model file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sleeve.core.cliutil import (
    EXIT_FAILED,
    EXIT_OK,
    parser,
    printable,
    run_command,
    setup_logging,
)
from sleeve.core.progress import bar
from sleeve.core.settings import load_settings
from sleeve.inference.inputs import resolve_inputs
from sleeve.inference.predict import (
    DEFAULT_BATCH_SIZE,
    PredictionResult,
    load_classifier,
    predict_inputs,
    with_min_confidence,
)

EXAMPLES = """\
  predict cover.jpg                          top 3 genres of one cover, as a table
  predict covers/ --top-k 5                  every image in a folder (sorted)
  predict a.jpg https://example.org/b.png --json
      as JSON; a model with a text rung (text, fused) also lists the words it read on each cover
  predict covers/ --model sleeve-data/runs/20250101-120000-0123456789abcdef
  predict cover.jpg --min-confidence 0.6     "unsure" when the top genre's probability < 0.6

Exit status: 0 all inputs answered, 1 some inputs failed (each failure is reported in the
table or as {"path", "error"} in --json, and the others are still answered), 2 usage error,
3 no trained model yet (run `train-and-evaluate` first), 4 unreadable model file."""


def build_parser() -> argparse.ArgumentParser:
    p = parser("predict", "Predict the top genres of album covers with a trained model.", EXAMPLES)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image file, folder or http(s) URL")
    p.add_argument(
        "--model",
        type=Path,
        metavar="RUN_DIR",
        help="run directory (or its model.pt) to use; default: <data_dir>/runs/LATEST",
    )
    p.add_argument("--top-k", type=int, default=3, metavar="K", help="genres per image (3)")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.add_argument(
        "--min-confidence",
        type=float,
        metavar="T",
        help='answer "unsure" when the top probability is under T (the run\'s report lists '
        "thresholds chosen on val with the share of test covers answered and their F1)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help=f"images decoded and classified together ({DEFAULT_BATCH_SIZE})",
    )
    return p


def format_table(results: list[PredictionResult]) -> str:
    """One line per input: the path, then ``genre probability`` pairs or the error; control
    characters in names and errors are escaped, so a file name cannot forge a row."""
    paths = [printable(r.path) for r in results]
    width = min(max((len(p) for p in paths), default=5), 60)
    lines = [f"{'INPUT':<{width}}  TOP GENRES"]
    for r, path in zip(results, paths, strict=True):
        if r.ok:
            answer = "  ".join(f"{p.genre} {p.probability:.3f}" for p in r.predictions)
            answer = f"unsure ({answer})" if r.unsure else answer
        else:
            answer = f"error: {r.error}"
        lines.append(f"{path:<{width}}  {printable(answer)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)

    def body() -> int:
        settings = load_settings()
        with_min_confidence([], args.min_confidence)  # a bad threshold fails before any work
        classifier = load_classifier(args.model, settings)
        inputs = resolve_inputs(args.inputs)  # folders expanded once, so the bar knows the total
        progress = _progress(len(inputs), disabled=args.no_progress)
        try:
            results = predict_inputs(
                classifier,
                inputs,
                args.top_k,
                settings,
                batch_size=args.batch_size,
                on_result=None if progress is None else lambda _r: progress.update(1),
            )
        finally:
            if progress is not None:
                progress.close()
        results = with_min_confidence(results, args.min_confidence)
        if args.json:
            print(json.dumps([r.to_json() for r in results], indent=2, ensure_ascii=False))
        else:
            print(format_table(results))
        failed = sum(not r.ok for r in results)
        if failed:
            print(f"{failed} of {len(results)} inputs failed", file=sys.stderr)
            return EXIT_FAILED
        return EXIT_OK

    return run_command(body)


def _progress(total: int, *, disabled: bool) -> Any:
    """A tqdm bar on stderr for several inputs (tqdm hides it when stderr is not a terminal)."""
    if disabled or total < 2:
        return None

    return bar(total, "predict", leave=False)


if __name__ == "__main__":
    raise SystemExit(main())
