"""`sleeve app`: start the Streamlit web app (Predict, Report, Data pages)."""

from __future__ import annotations

import argparse

from sleeve.core.cliutil import parser, run_command, setup_logging
from sleeve.core.settings import load_settings
from sleeve.ui.app.launcher import run_app

EXAMPLES = """\
  sleeve app                       serve on http://127.0.0.1:8501 and open a browser
  sleeve app --port 8600 --headless
  streamlit run sleeve/ui/app/main.py the same app, started by Streamlit itself"""


def build_parser() -> argparse.ArgumentParser:
    p = parser("sleeve app", "Start the Streamlit app: predict, evaluation report, data.", EXAMPLES)
    p.add_argument("--port", type=int, default=8501, help="port on 127.0.0.1 (8501)")
    p.add_argument("--headless", action="store_true", help="do not open a browser")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run_command(lambda: run_app(load_settings(), args.port, args.headless))


if __name__ == "__main__":
    raise SystemExit(main())
