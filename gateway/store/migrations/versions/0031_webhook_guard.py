"""webhooks: event-type subscriptions, one live registration per URL

Revision ID: 0031
Revises: 0004
Create Date: 2026-12-07
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    op.add_column("webhooks", sa.Column("event_types", sa.String(length=200), server_default="*", nullable=False))
    # an earlier duplicate registration stays, the newer ones are marked deleted
    op.execute("UPDATE webhooks SET deleted_at = created_at WHERE deleted_at IS NULL AND EXISTS ("
               "SELECT 1 FROM webhooks w WHERE w.tenant_id = webhooks.tenant_id AND w.url = webhooks.url "
               "AND w.deleted_at IS NULL AND (w.created_at < webhooks.created_at "
               "OR (w.created_at = webhooks.created_at AND w.id < webhooks.id)))")
    op.create_index("uq_webhooks_tenant_url_live", "webhooks", ["tenant_id", "url"], unique=True,
                    sqlite_where=LIVE, postgresql_where=LIVE)


def downgrade() -> None:
    op.drop_index("uq_webhooks_tenant_url_live", table_name="webhooks")
    op.drop_column("webhooks", "event_types")
