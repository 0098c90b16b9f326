"""The operator's console: server-rendered pages (Jinja, a little CSS, no script framework) on the
same Flask application as the JSON API, under /console (docs/console.md).

    init_app(app)     session secret and cookie flags from the settings, the blueprint, the filters
"""
from __future__ import annotations

from . import bulk, evidence, holds, operations, orders, words  # noqa: F401  (each registers its views on bp)
from .blueprint import bp
from .session import configure


def init_app(app) -> None:
    configure(app, app.extensions["gateway"].settings)
    words.register(app)
    app.register_blueprint(bp)


__all__ = ["init_app", "bp"]
