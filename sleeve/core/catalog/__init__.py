"""The SQLite/PostgreSQL catalog: models, engine/session factory and migrations."""

from sleeve.core.catalog.db import Catalog, open_catalog

__all__ = ["Catalog", "open_catalog"]
