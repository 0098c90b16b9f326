"""Entry point ``sandbox``: the in-process sandbox government (the default adapter).

Options (all optional)::

    {"script": {...SandboxScript data...}, "script_file": "faults.json", "require_signatures": true}
"""
from __future__ import annotations

import json

from gateway.ports import Clock, IdGenerator

from ..options import AdapterConfigError, OptionReader
from .government import SandboxGovernment
from .script import SandboxScript


def _parse(options: dict) -> tuple[SandboxScript, bool]:
    r = OptionReader("sandbox", options)
    script_data = r.value("script")
    script_file = r.file("script_file")
    require_signatures = r.boolean("require_signatures", default=True)
    script = SandboxScript()
    try:
        if script_data is not None:
            if not isinstance(script_data, dict):
                raise ValueError(f"script must be an object, got {script_data!r}")
            script = SandboxScript.from_dict(script_data)
        elif script_file is not None and script_file.is_file():
            data = json.loads(script_file.read_text("utf-8"))
            data.pop("transport", None)   # transport faults only apply to the sandbox process
            script = SandboxScript.from_dict(data)
    except (ValueError, KeyError, TypeError) as exc:
        r.problem(f"script: {exc}")
    r.done()
    return script, require_signatures


def create(options: dict, *, clock: Clock, ids: IdGenerator) -> SandboxGovernment:
    script, require_signatures = _parse(options)
    return SandboxGovernment(clock=clock, ids=ids, script=script, require_signatures=require_signatures)


def check_options(options: dict) -> None:
    _parse(options)


create.check_options = check_options   # type: ignore[attr-defined]  # read by adapters.registry

__all__ = ["create", "AdapterConfigError"]
