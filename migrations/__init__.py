"""Alembic migrations for the catalog (script_location = sleeve.migrations)."""
