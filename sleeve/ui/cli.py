"""`sleeve <subcommand>`: one entry point for every command (each also has its own script)."""

from __future__ import annotations

import importlib
import sys

# subcommand -> (module with main(argv), one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "collect": ("sleeve.collector.cli", "harvest covers + genre tags into the catalog"),
    "build-dataset": ("sleeve.dataset.cli", "dedup, label, balance, split and export a dataset"),
    "train-and-evaluate": ("sleeve.training.cli", "train the model ladder and write a report"),
    "predict": ("sleeve.ui.predict_cli", "top-k genres for images, folders or URLs"),
    "review": ("sleeve.ui.review.cli", "label-issue suspects of a run; keep/exclude/relabel"),
    "text": ("sleeve.dataset.text.cli", "read the words on catalog covers (OCR cache)"),
    "app": ("sleeve.ui.app.cli", "start the Streamlit web app"),
    "demo": ("sleeve.ui.demo", "offline demo: fake catalogues -> collect -> build -> train"),
    "fake-services": ("sleeve.fakes.__main__", "serve the loopback catalogue fakes"),
    "db": ("sleeve.ui.catalog_cli", "catalog schema: upgrade, current revision"),
    "attributes": ("sleeve.dataset.attributes.cli", "colour, texture, structure, faces per cover"),
    "analyze": ("sleeve.training.analyze.cli", "map, cluster and compare confusable genres"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: sleeve <command> [options]   (sleeve <command> --help for each)", ""]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    if args[0] in {"--version", "version"}:
        from sleeve.core import __version__

        print(f"sleeve {__version__}")
        return 0
    entry = COMMANDS.get(args[0])
    if entry is None:
        print(f"error: unknown command {args[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(entry[0])
    return int(module.main(args[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
