"""`sleeve db`: apply the catalog's migrations or show where the schema stands."""

from __future__ import annotations

import argparse

from sleeve.catalog.db import current_revision, head_revision, make_engine, upgrade
from sleeve.cliutil import run_command
from sleeve.settings import load_settings


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sleeve db",
        description="Catalog schema migrations (Alembic). Commands apply them automatically; "
        "this is for teams that upgrade a shared PostgreSQL catalog deliberately.",
        epilog="Examples:\n  sleeve db upgrade\n  SLEEVE_DATABASE_URL=postgresql://u:p@host/db "
        "sleeve db current",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", choices=("upgrade", "current"))
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        settings = load_settings()
        engine = make_engine(settings.catalog_url)
        if args.action == "upgrade":
            upgrade(engine)
        print(f"catalog {engine.url.render_as_string(hide_password=True)}")
        print(
            f"  revision {current_revision(engine)} (newest: {head_revision(settings.catalog_url)})"
        )
        return 0

    return run_command(body)
