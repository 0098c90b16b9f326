"""The parsers and checks of the environment's values (gateway/config/variables.py uses them):
each raises ValueError (→ the variable's rule) or ConfigError (its own one-line message)."""
from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gateway.signing.algorithms import NAMES


class ConfigError(Exception):
    """A setting is wrong: the message is one line naming the variable and the rule."""


@dataclass(frozen=True)
class Bounded:
    """A number with a lower bound: what the docs call it, the rule an error states, how it is read and
    the check that holds for it however it was given (one row of ``VARIABLES`` takes all four)."""
    kind: str
    rule: str
    parse: Callable[[str], object]
    check: Callable[[object], bool]


def _integer(minimum: int) -> Bounded:
    return Bounded("integer", f"must be an integer ≥ {minimum}", int,
                   lambda v: isinstance(v, int) and v >= minimum)


def _seconds(minimum: float) -> Bounded:
    def parse(text: str) -> float:
        value = float(text)
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(text)
        return value
    return Bounded("seconds", f"must be a number ≥ {minimum}", parse,
                   lambda v: v is None or (isinstance(v, int | float) and v >= minimum))


def _one_of(names) -> Callable[[object], bool]:
    return lambda v: v in names


def _paths(text: str) -> tuple[Path, ...]:
    return tuple(Path(p.strip()) for p in text.split(",") if p.strip())


def _networks(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def _are_networks(value: object) -> bool:
    """Every item a CIDR network (``127.0.0.0/8``, ``10.1.2.3``, ``::1/128``)."""
    try:
        return isinstance(value, tuple | list) and all(ipaddress.ip_network(n, strict=False) for n in value)
    except (TypeError, ValueError):
        return False


def _json_object(name: str, text: str) -> dict:
    try:
        options = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(options, dict):
        raise ConfigError(f"{name} must be a JSON object, got {type(options).__name__}")
    return options


def _adapter_options_file(where: str) -> dict:
    name = "GATEWAY_ADAPTER_OPTIONS_FILE"
    try:
        text = Path(where).read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read {where}: {exc.strerror}") from None
    return _json_object(name, text)


def _channels_file(where: str) -> dict:
    """{"channels": {name: {"adapter": ..., "options": {...}, "environment": "sandbox"|"production"}},
        "tenants": {tenant id or transmitting-enterprise code: channel name}, "default": name}"""
    path = Path(where)
    try:
        data = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(f"GATEWAY_CHANNELS_FILE: cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"GATEWAY_CHANNELS_FILE: {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("channels"), dict) or not data["channels"]:
        raise ConfigError(f"GATEWAY_CHANNELS_FILE: {path} needs a non-empty \"channels\" object")
    return {"channels": data["channels"], "tenant_channels": dict(data.get("tenants") or {}),
            "agency_channels": dict(data.get("agencies") or {}),
            "default_channel": data.get("default") or next(iter(data["channels"]))}


def _database_url(text: str) -> str:
    if not text.startswith(("sqlite:", "postgresql")):
        raise ValueError(text)
    return text


def _boolean(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise ValueError(text)


def _ascii(text: str) -> str:
    if not text.isascii():
        raise ValueError(text)
    return text


_INT1 = _integer(1)
_S001 = _seconds(0.01)
_S1 = _seconds(1)
_SM2_NAMES = tuple(n for n in NAMES if n.startswith("sm2-"))
_RECEIPT_MODES = ("none", "if-present", "required")
_MIGRATE_MODES = ("embedded", "always", "never")
_LOG_FORMATS = ("json", "text")


def _sha256_hex(text: str) -> str:
    value = text.strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ValueError(text)
    return value


# ---- the gateway key's backend (GATEWAY_SIGNING_BACKEND; docs/signing.md "Keys on a token") ---------

_SIGNING_BACKENDS = ("software", "pkcs11", "bridge")
_PKCS11_SIGNATURES = ("rsa-sha1", "rsa-sha256")        # standard mechanisms; SM2 on tokens is vendor-defined


def _secret_file(name: str) -> Callable[[str], str]:
    """A secret read from a file only its owner may read (mode 0600 or 0400), its one line stripped."""
    def parse(where: str) -> str:
        import os
        import stat

        try:
            mode = stat.S_IMODE(os.stat(where).st_mode)
            text = Path(where).read_text("utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}: cannot read {where}: {exc.strerror}") from None
        if mode & 0o077:
            raise ConfigError(f"{name}: {where} is mode {mode:04o}, others may read it: must be readable by its "
                              f"owner only (chmod 0600 {where})")
        if not text or "\n" in text:
            raise ConfigError(f"{name}: {where} must hold the secret on one line")
        return text
    return parse


def _is_local_ws_url(url: object) -> bool:
    """A ws:// or wss:// URL to localhost or 127.0.0.0/8 (or ::1)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
        parts.port                                         # noqa: B018 (a bad port raises ValueError)
    except ValueError:
        return False
    if parts.scheme not in ("ws", "wss") or not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_ws_url(url: object) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(str(url))
        return parts.scheme in ("ws", "wss") and bool(parts.hostname) and (parts.port or 0) >= 0
    except ValueError:
        return False


def check_signing_backend(s) -> None:
    """The rules between GATEWAY_SIGNING_BACKEND and the settings it needs (``s``: a Settings)."""
    kind = s.signing_backend
    if kind == "software":
        return
    if s.signing_key is not None:
        raise ConfigError(f"GATEWAY_SIGNING_KEY: not with GATEWAY_SIGNING_BACKEND={kind} (the gateway key is "
                          f"the {kind} backend's; unset GATEWAY_SIGNING_KEY and GATEWAY_SIGNING_CERT)")
    if kind == "pkcs11":
        for var, value in (("GATEWAY_PKCS11_MODULE", s.pkcs11_module), ("GATEWAY_PKCS11_TOKEN", s.pkcs11_token),
                           ("GATEWAY_PKCS11_KEY_LABEL", s.pkcs11_key_label), ("GATEWAY_PKCS11_PIN_FILE", s.pkcs11_pin)):
            if not value:
                raise ConfigError(f"{var}: must be set with GATEWAY_SIGNING_BACKEND=pkcs11")
        if s.signature not in _PKCS11_SIGNATURES:
            raise ConfigError(f"GATEWAY_SIGNATURE: the pkcs11 backend signs {' or '.join(_PKCS11_SIGNATURES)} "
                              f"(SM2 on tokens needs vendor mechanisms, not supported), got {s.signature!r}")
    else:
        if not s.signing_bridge_url:
            raise ConfigError("GATEWAY_SIGNING_BRIDGE_URL: must be set with GATEWAY_SIGNING_BACKEND=bridge")
        if not s.signature.startswith("sm2-") and s.signature != "rsa-sha1":
            raise ConfigError("GATEWAY_SIGNATURE: the bridge (E-Port control) signs rsa-sha1 or an sm2-* variant "
                              f"(the card hashes itself), got {s.signature!r}")
    if s.pkcs11_cert is not None and not Path(s.pkcs11_cert).is_file():
        raise ConfigError(f"GATEWAY_PKCS11_CERT: certificate file not found: {s.pkcs11_cert}")
    if s.signing_bridge_url and not s.signing_bridge_remote and not _is_local_ws_url(s.signing_bridge_url):
        raise ConfigError(f"GATEWAY_SIGNING_BRIDGE_URL: must be a ws:// URL on localhost or 127.0.0.0/8 (the control "
                          f"runs on the signing machine; GATEWAY_SIGNING_BRIDGE_REMOTE=true to allow another host), "
                          f"got {s.signing_bridge_url!r}")
