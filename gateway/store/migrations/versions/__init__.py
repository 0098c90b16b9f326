"""Alembic revisions (this file only makes the folder a package, so wheels include it)."""
