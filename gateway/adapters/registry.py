"""Adapters by name, found through the Python entry-point group ``gateway.adapters``.

An entry point names a factory: ``factory(options: dict, *, clock, ids) -> Adapter``. A factory
may also carry ``check_options(options) -> None`` (raising AdapterConfigError), which settings
call at start-up to refuse bad options before anything connects. A third party ships an adapter
as a package declaring, in its pyproject.toml::

    [project.entry-points."gateway.adapters"]
    my-eport = "my_package.adapter:create"

The built-in adapters (sandbox, http, soap, dxp-amqp, dxp-files) are declared the same way in
this project's pyproject.toml; ``BUILTIN`` lists them too, so a source tree that was never
installed (no entry-point metadata) still finds them.
"""
from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from gateway.ports import Adapter, Clock, IdGenerator

from .options import AdapterConfigError

GROUP = "gateway.adapters"

BUILTIN: dict[str, str] = {
    "sandbox": "gateway.adapters.sandbox.factory:create",
    "http": "gateway.adapters.http:create",
    "soap": "gateway.adapters.soap:create",
    "dxp-amqp": "gateway.adapters.dxp:create_amqp",
    "dxp-files": "gateway.adapters.dxp:create_files",
}


class UnknownAdapter(AdapterConfigError):
    """No adapter of that name is installed."""


def known_adapters() -> dict[str, str]:
    """name -> "module:attribute" of every adapter that can be loaded."""
    found = dict(BUILTIN)
    for ep in entry_points(group=GROUP):
        found[ep.name] = ep.value
    return found


def factory_for(name: str) -> Callable[..., Any]:
    known = known_adapters()
    target = known.get(name)
    if target is None:
        raise UnknownAdapter(f"unknown adapter {name!r}; known adapters: {', '.join(sorted(known))} "
                             f"(entry-point group {GROUP!r})")
    for ep in entry_points(group=GROUP, name=name):
        return ep.load()
    module, _, attribute = target.partition(":")
    obj: Any = import_module(module)       # then the attribute path named by the entry
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def check_options(name: str, options: dict | None) -> None:
    """Raise AdapterConfigError (UnknownAdapter for a bad name) without connecting anywhere."""
    factory = factory_for(name)
    check = getattr(factory, "check_options", None)
    if check is not None:
        check(options or {})


def load_adapter(name: str, options: dict | None, clock: Clock, ids: IdGenerator) -> Adapter:
    """Build the adapter ``name`` with its ``options``. Raises UnknownAdapter / AdapterConfigError."""
    adapter = factory_for(name)(options or {}, clock=clock, ids=ids)
    for method in ("send", "lookup", "fetch_receipts", "health"):
        if not callable(getattr(adapter, method, None)):
            raise AdapterConfigError(f"adapter {name!r} ({type(adapter).__name__}) has no {method}(): "
                                     "not an implementation of gateway.ports.Adapter")
    return adapter
