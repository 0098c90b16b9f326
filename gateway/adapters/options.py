"""Reading adapter options (a plain dict from configuration) with clear, complete errors.

    r = OptionReader("http", options)
    url = r.url("base_url", required=True)
    connect = r.seconds("connect_timeout", default=5.0)
    r.done()            # raises AdapterConfigError listing every problem, unknown keys included

Every problem is collected first, so one error message names all of them.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar
from urllib.parse import urlsplit

from gateway.ports import Clock, IdGenerator

A = TypeVar("A")


class AdapterConfigError(ValueError):
    """Adapter options are missing, malformed or unknown; the message says which and why."""


class OptionReader:
    def __init__(self, adapter: str, options: dict | None):
        self.adapter = adapter
        self.problems: list[str] = []
        if options is None:
            options = {}
        if not isinstance(options, dict):
            self.problems.append(f"options must be a JSON object, got {type(options).__name__}")
            options = {}
        self._options = options
        self._seen: set[str] = set()

    def _get(self, name: str):
        self._seen.add(name)
        return self._options.get(name)

    def value(self, name: str):
        """The option as given (any JSON value), or None; the caller checks it."""
        return self._get(name)

    def string(self, name: str, *, required: bool = False, default: str | None = None,
               max_length: int | None = None) -> str | None:
        value = self._get(name)
        if value is None or value == "":
            if required:
                self.problems.append(f"{name} is required")
            return default
        if not isinstance(value, str):
            self.problems.append(f"{name} must be a string, got {value!r}")
            return default
        if max_length is not None and len(value) > max_length:
            self.problems.append(f"{name} must be at most {max_length} characters, got {value!r}")
        return value

    def url(self, name: str, *, required: bool = False, schemes: tuple[str, ...] = ("http", "https"),
            default: str | None = None) -> str | None:
        value = self.string(name, required=required, default=default)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.hostname:
            self.problems.append(f"{name} must be a {' or '.join(schemes)} URL with a host, got {value!r}")
        return value.rstrip("/") if parts.scheme in ("http", "https") else value

    def seconds(self, name: str, *, default: float, minimum: float = 0.001, maximum: float = 3600) -> float:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problems.append(f"{name} must be a number of seconds, got {value!r}")
            return default
        if not minimum <= value <= maximum:
            self.problems.append(f"{name} must be between {minimum} and {maximum} seconds, got {value!r}")
            return default
        return float(value)

    def integer(self, name: str, *, default: int, minimum: int = 1, maximum: int = 100_000) -> int:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            self.problems.append(f"{name} must be a whole number from {minimum} to {maximum}, got {value!r}")
            return default
        return value

    def boolean(self, name: str, *, default: bool) -> bool:
        value = self._get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problems.append(f"{name} must be true or false, got {value!r}")
            return default
        return value

    def file(self, name: str, *, required: bool = False) -> Path | None:
        return self._path(name, required, Path.is_file, "file not found: {}")

    def folder(self, name: str, *, required: bool = False) -> Path | None:
        """A folder path; created by the adapter if missing, so only its shape is checked here."""
        return self._path(name, required, lambda path: not path.exists() or path.is_dir(),
                          "{} exists and is not a folder")

    def _path(self, name: str, required: bool, fits: Callable[[Path], bool], problem: str) -> Path | None:
        """A path (``~`` expanded); ``problem`` (the value in ``{}``) is noted when it does not ``fits``."""
        value = self.string(name, required=required)
        if value is None:
            return None
        path = Path(value).expanduser()
        if not fits(path):
            self.problems.append(f"{name}: " + problem.format(value))
        return path

    def mapping(self, name: str, *, default: dict[str, str] | None = None) -> dict[str, str]:
        value = self._get(name)
        if value is None:
            return dict(default or {})
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in value.items()):
            self.problems.append(f"{name} must be an object of strings, got {value!r}")
            return dict(default or {})
        return dict(value)

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def done(self) -> None:
        unknown = sorted(set(self._options) - self._seen)
        if unknown:
            self.problems.append(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(self._seen))}")
        if self.problems:
            raise AdapterConfigError(f"adapter {self.adapter!r} options: " + "; ".join(self.problems))


class AdapterFactory(Generic[A]):
    """What the registry loads by name: ``factory(options, *, clock, ids) -> adapter``, carrying
    ``check_options(options)`` (raises AdapterConfigError) that settings call at start-up."""

    def __init__(self, build: Callable[..., A], check_options: Callable[[dict], None]):
        self._build = build
        self.check_options = check_options

    def __call__(self, options: dict, *, clock: Clock, ids: IdGenerator) -> A:
        return self._build(options, clock=clock, ids=ids)
