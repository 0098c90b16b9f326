"""The one ``Base`` of the models, its naming convention, the column helpers and the closed vocabularies.

The conventions they follow are in the package's docstring (gateway/store/models/__init__.py).
"""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, ForeignKey, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from gateway.domain.vocabulary import AGENCIES  # noqa: F401 - a closed vocabulary of the tables too

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Closed vocabularies enforced by CHECK constraints (changing one needs a migration).
DIRECTIONS = ("import", "export")
OUTBOX_STATES = ("pending", "sent", "failed", "done")
RECEIPT_OUTCOMES = ("applied", "ignored", "quarantined", "unmatched")
RECEIPT_EVENT_OUTCOMES = ("applied", "ignored")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator):
    """``DateTime(timezone=True)`` that is aware on every backend.

    Binding a naive datetime raises ``ValueError`` (we never guess a time zone). Values are
    stored in UTC; SQLite keeps them as naive ISO text in UTC, so text comparison there orders
    correctly. Loaded values are aware UTC datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime refused (give it a time zone): {value!r}")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _tenant_fk(nullable: bool = False, *, index: bool = True) -> Mapped:
    """``index=False`` where a composite index starting with the tenant serves (filings: 0039)."""
    return mapped_column(String(36), ForeignKey("tenants.id"), nullable=nullable, index=index)


def _parent(target: str):
    """Many-to-one link, there only so a flush inserts parents before children (SQLAlchemy
    orders a flush by relationships, not by foreign keys). ``lazy="raise"``: reading it is an
    error, so nobody walks across rows (or tenants) by accident; load through the repositories
    by id and tenant. Assigning it is allowed and sets the foreign key."""
    return relationship(target, lazy="raise")
