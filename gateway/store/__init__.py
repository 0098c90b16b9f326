"""Storage adapter: SQLAlchemy models, Alembic migrations, engine set-up and the unit of work.

    from gateway.store.db import make_engine, upgrade, session_factory
    from gateway.store.uow import UnitOfWork

    engine = make_engine(url)
    upgrade(engine)
    uow = UnitOfWork(session_factory(engine))
"""
