"""Settings, read once from the environment (or given directly). Validated with clear errors."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class Settings:
    instance_dir: Path = field(default_factory=lambda: Path("instance").resolve())
    database_url: str | None = None           # default: SQLite file under instance_dir
    signing_key: Path | None = None           # PEM private key; default: a development key under instance_dir
    signing_cert: Path | None = None          # PEM certificate matching signing_key
    signature: str = "rsa-sha256"             # rsa-sha256 | rsa-sha1
    adapter: str = "sandbox"

    @classmethod
    def from_env(cls, env=None, **overrides) -> "Settings":
        env = os.environ if env is None else env
        values = {}
        if env.get("GATEWAY_INSTANCE_DIR"):
            values["instance_dir"] = Path(env["GATEWAY_INSTANCE_DIR"]).resolve()
        if env.get("GATEWAY_DATABASE_URL"):
            values["database_url"] = env["GATEWAY_DATABASE_URL"]
        if env.get("GATEWAY_SIGNING_KEY"):
            values["signing_key"] = Path(env["GATEWAY_SIGNING_KEY"])
        if env.get("GATEWAY_SIGNING_CERT"):
            values["signing_cert"] = Path(env["GATEWAY_SIGNING_CERT"])
        if env.get("GATEWAY_SIGNATURE"):
            values["signature"] = env["GATEWAY_SIGNATURE"]
        if env.get("GATEWAY_ADAPTER"):
            values["adapter"] = env["GATEWAY_ADAPTER"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        if (self.signing_key is None) != (self.signing_cert is None):
            raise ConfigError("GATEWAY_SIGNING_KEY and GATEWAY_SIGNING_CERT are given together (key and its certificate)")
        for p in (self.signing_key, self.signing_cert):
            if p is not None and not Path(p).is_file():
                raise ConfigError(f"signing file not found: {p}")
        if self.signature not in ("rsa-sha256", "rsa-sha1"):
            raise ConfigError(f"GATEWAY_SIGNATURE must be rsa-sha256 or rsa-sha1, not {self.signature!r}")
        if self.adapter != "sandbox":
            raise ConfigError(f"GATEWAY_ADAPTER {self.adapter!r} is not available; the adapters so far: sandbox")
        if self.database_url and not self.database_url.startswith(("sqlite:", "postgresql")):
            raise ConfigError(f"GATEWAY_DATABASE_URL must be a sqlite: or postgresql: URL, not {self.database_url!r}")
