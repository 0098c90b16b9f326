"""Alembic environment for the gateway store. Run through ``gateway.store.db.upgrade``."""
