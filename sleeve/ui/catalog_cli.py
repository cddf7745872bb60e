"""`sleeve db`: apply the catalog's migrations or show where the schema stands."""

from __future__ import annotations

import argparse

from sleeve.core.catalog.db import (
    alembic_config,
    catalog_exists,
    check_known_revision,
    current_revision,
    head_revision,
    make_engine,
    upgrade,
)
from sleeve.core.cliutil import run_command
from sleeve.core.settings import Settings, load_settings, redact_url


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sleeve db",
        description="Catalog schema migrations (Alembic). Commands apply them automatically; "
        "this is for teams that upgrade a shared PostgreSQL catalog deliberately.",
        epilog="Examples:\n  sleeve db upgrade\n  SLEEVE_DATABASE_URL=postgresql://u:p@host/db "
        "sleeve db current\n  sleeve db check",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "action",
        choices=("upgrade", "current", "check"),
        help="upgrade: apply migrations; current: show the revision; check: verify that every "
        "image row has its file and the file still hashes to the row",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        settings = load_settings()
        url = settings.catalog_url
        if args.action == "current" and not catalog_exists(url):  # read-only: create nothing
            print(f"catalog {redact_url(url)}: not created yet (newest: {head_revision(url)})")
            return 0
        engine = make_engine(url)
        if args.action == "check":
            return _check(settings)
        if args.action == "upgrade":
            upgrade(engine)
        print(f"catalog {redact_url(engine.url.render_as_string(hide_password=False))}")
        print(f"  revision {current_revision(engine)} (newest: {head_revision(url)})")
        if args.action == "current":
            with engine.connect() as conn:  # a newer sleeve's revision: say so, exit 4
                check_known_revision(conn, alembic_config(url))
        return 0

    return run_command(body)


def _check(settings: Settings) -> int:
    from sleeve.core.catalog.db import open_catalog
    from sleeve.core.catalog.integrity import check_integrity
    from sleeve.core.images.store import ImageStore

    store = ImageStore.from_settings(settings)
    report = check_integrity(open_catalog(settings.catalog_url), store)
    print(f"covers in {store.where}")  # credentials redacted
    print(
        f"{report.images} images checked: {len(report.missing)} missing, "
        f"{len(report.mismatched)} changed on disk"
    )
    for sha in report.missing[:20]:
        print(f"  missing  {sha}")
    for sha in report.mismatched[:20]:
        print(f"  changed  {sha}")
    return 0 if report.ok else 1
