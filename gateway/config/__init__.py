"""The gateway's settings: one object read by every process (``gateway serve``, ``dispatch run``,
``declare``, every other command, the Celery worker), from the environment or given directly.

- ``settings.py``: ``Settings`` and ``Settings.from_env``, which reads every variable and refuses a bad
  value with one line naming the variable and the rule, e.g. ``GATEWAY_DISPATCH_BATCH: must be an
  integer ≥ 1 (got 'abc')``; the checks across settings (keys, channels, signing backend).
- ``variables.py``: ``VARIABLES``, one row per environment variable (name, attribute, type, rule,
  meaning); docs/configuration.md is generated from it (``gateway config docs``) and a test holds the two
  together. Adding a setting: a field on ``Settings`` and a row in ``VARIABLES``.
- ``values.py``: how values are read and checked (numbers with bounds, files, URLs, secrets).
"""
from .settings import Settings
from .values import ConfigError
from .variables import VARIABLES, Variable

__all__ = ["VARIABLES", "ConfigError", "Settings", "Variable"]
