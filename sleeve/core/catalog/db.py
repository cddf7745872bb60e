"""Engine and session factory for the catalog, and its schema migrations.

The schema is created and upgraded only by Alembic migrations (``migrations/``), applied
automatically when a command opens the catalog (``open_catalog``) or by ``sleeve db upgrade``.
SQLite runs in WAL mode so a reader (the app, build-dataset) never blocks a running harvest.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

if sys.platform != "win32":  # Windows: no flock; concurrent first opens stay unserialised there
    import fcntl

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine.interfaces import DBAPIConnection, ExceptionContext
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from sleeve.core.errors import DISK_FULL, ConfigError, NewerCatalogError, StorageError
from sleeve.core.settings import check_database_url, normalise_database_url, redact_url


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for the catalog at ``url``; a SQLite catalog's folder is created here (use
    :func:`catalog_exists` first where nothing may be created)."""
    check_database_url(url)  # unparsable or unsupported: one ConfigError line, password masked
    url = normalise_database_url(url)
    if url.startswith("sqlite"):
        path = url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                if exc.errno in DISK_FULL:  # not a configuration problem: the command says so
                    raise
                raise ConfigError(f"cannot create the catalog directory for {path}: {exc}") from exc
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    event.listen(engine, "handle_error", _storage_errors(engine))
    return engine


# SQLite's messages for its result codes SQLITE_NOTADB, SQLITE_CORRUPT and SQLITE_FULL.
_DAMAGED = ("file is not a database", "database disk image is malformed")
_FULL = "database or disk is full"
_PG_DISK_FULL = "53100"  # SQLSTATE disk_full


def _storage_errors(engine: Engine) -> Callable[[ExceptionContext], None]:
    """A damaged catalog or a full disk, wherever a query meets it, becomes one StorageError
    naming the catalog and the fix (instead of a long SQLAlchemy traceback)."""
    where = engine.url.database if engine.dialect.name == "sqlite" else None
    # redact_url, not hide_password: a password may sit in the query (?password=...) too
    where = where or redact_url(engine.url.render_as_string(hide_password=False))

    def handle(context: ExceptionContext) -> None:
        error = context.original_exception
        text = str(error).lower()
        if any(m in text for m in _DAMAGED):
            raise StorageError(
                f"the catalog {where} is damaged ({error}): restore it from a backup, or move "
                "it aside and run the command again to start a new catalog"
            ) from error
        if _FULL in text or getattr(error, "sqlstate", None) == _PG_DISK_FULL:
            raise StorageError(
                f"disk full writing the catalog {where}: free some space, then run the same "
                "command again (committed work is kept)"
            ) from error
        if context.connection is None and isinstance(error, Exception):  # while connecting
            first = (
                str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            )
            raise StorageError(
                f"cannot reach the catalog at {where} ({first}): check SLEEVE_DATABASE_URL and "
                "that the database server is up"
            ) from error

    return handle


def alembic_config(url: str) -> Config:
    script_location = str(resources.files("sleeve.migrations"))
    cfg = Config()
    cfg.set_main_option("script_location", script_location)
    cfg.set_main_option("sqlalchemy.url", normalise_database_url(url).replace("%", "%%"))
    return cfg


# Any fixed 64-bit key: every sleeve process on one PostgreSQL database agrees on it.
_PG_MIGRATION_LOCK = 0x51EE7E_0001


@contextmanager
def _sqlite_migration_lock(engine: Engine) -> Iterator[None]:
    """An exclusive lock on ``<catalog>.migrate-lock`` while the schema is created or upgraded.

    Two commands started together on a new catalog both saw no schema and both ran the first
    migration (``table artists already exists``): SQLite DDL outside a transaction does not
    stop the second creator. The lock file is left in place on purpose: deleting it would let
    a third process lock a new file while the second still holds the old one.
    """
    database = engine.url.database
    if sys.platform == "win32" or not database or database == ":memory:":
        yield
        return
    lock_path = Path(f"{database}.migrate-lock")
    try:
        fh = lock_path.open("a")
    except OSError:  # read-only directory: nobody can be creating the schema there either
        yield
        return
    with fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # released when the file is closed
        yield


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (a no-op when it is already there).

    Serialised across processes: a file lock beside a SQLite catalog, a transaction-scoped
    advisory lock on PostgreSQL (held until this transaction commits the new schema).
    """
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    sqlite = engine.dialect.name == "sqlite"
    with _sqlite_migration_lock(engine) if sqlite else nullcontext(), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            lock = text("SELECT pg_advisory_xact_lock(:key)")
            conn.execute(lock, {"key": _PG_MIGRATION_LOCK})
        check_known_revision(conn, cfg)  # before alembic, whose own error is a traceback
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_known_revision(conn: Connection, cfg: Config) -> None:
    """Refuse a catalog whose schema revision this sleeve's migrations do not know: a newer
    sleeve migrated it, and neither upgrading nor using it here is safe."""
    current = MigrationContext.configure(conn).get_current_revision()
    script = ScriptDirectory.from_config(cfg)
    if current is not None and current not in {s.revision for s in script.walk_revisions()}:
        raise NewerCatalogError(current)


def catalog_exists(url: str) -> bool:
    """False only for a SQLite catalog whose file is not there yet (read-only commands then
    report that instead of creating it); a server database is assumed to exist."""
    url = normalise_database_url(url)
    if not url.startswith("sqlite"):
        return True
    path = url.split("sqlite:///", 1)[-1]
    return not path or path == ":memory:" or Path(path).is_file()


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


@dataclass
class Catalog:
    engine: Engine
    sessions: sessionmaker[Session]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on any error."""
        s = self.sessions()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def dispose(self) -> None:
        self.engine.dispose()


def open_catalog(url: str, *, migrate: bool = True) -> Catalog:
    """Open (and by default create/upgrade) the catalog at ``url``."""
    engine = make_engine(url)
    try:
        if migrate:
            upgrade(engine)
        else:
            with engine.connect() as conn:
                check_known_revision(conn, alembic_config(url))
    except OperationalError as exc:
        shown = redact_url(engine.url.render_as_string(hide_password=False))
        raise StorageError(f"cannot open the catalog at {shown}: {exc.orig}") from exc
    return Catalog(engine, sessionmaker(engine, expire_on_commit=False))
