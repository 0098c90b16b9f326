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
    signature: str = "rsa-sha256"             # rsa-sha256 | rsa-sha1 | sm2-sm3 | sm2-sm3-sha1 | sm2-sm3-w3c | sm2-sm3-w3c-sha1
    # signing (docs/signing.md): the SM2 variant used for SM2 keys, its value encoding and user ID,
    # what the SignatureValue signs, the key store's master key and channel
    sm2_signature: str = "sm2-sm3"
    sm2_encoding: str = "raw"                 # raw (r||s, E-Port) | der
    sm2_user_id: str = "1234567812345678"
    signed_input: str = "signed-info"         # signed-info | digest-value
    keystore_key: str | None = field(default=None, repr=False)   # GATEWAY_KEYSTORE_KEY (secret)
    signing_channel: str = "ceb"
    realtime_upload_url: str | None = None    # GATEWAY_179_UPLOAD_URL: customs' realTimeDataUpload (179)
    adapter: str = "sandbox"
    # GATEWAY_ADAPTER_OPTIONS (a JSON object) or GATEWAY_ADAPTER_OPTIONS_FILE (a JSON file); docs/adapters.md
    adapter_options: dict = field(default_factory=dict, repr=False)   # may hold secrets (URLs, keys)
    # GATEWAY_CHANNELS_FILE: named delivery channels (adapter, options, environment) and which tenant
    # uses which (docs/adapters.md "Channels"); without it, one channel named after ``adapter``
    channels: dict = field(default_factory=dict, repr=False)
    tenant_channels: dict = field(default_factory=dict)
    default_channel: str | None = None
    receipt_signatures: str = "if-present"    # GATEWAY_RECEIPT_SIGNATURES: none | if-present | required
    government_certs: tuple = ()              # GATEWAY_GOVERNMENT_CERTS: PEM files of the signers trusted for receipts
    retention_years: int = 5                  # GATEWAY_RETENTION_YEARS: raw bytes kept at least this long (docs/audit.md)

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
        if env.get("GATEWAY_ADAPTER_OPTIONS") or env.get("GATEWAY_ADAPTER_OPTIONS_FILE"):
            values["adapter_options"] = _adapter_options(env)
        if env.get("GATEWAY_179_UPLOAD_URL"):
            values["realtime_upload_url"] = env["GATEWAY_179_UPLOAD_URL"]
        for name in ("sm2_signature", "sm2_encoding", "sm2_user_id", "signed_input", "keystore_key", "signing_channel"):
            if env.get(f"GATEWAY_{name.upper()}"):
                values[name] = env[f"GATEWAY_{name.upper()}"]
        if env.get("GATEWAY_CHANNELS_FILE"):
            values.update(_channels_file(Path(env["GATEWAY_CHANNELS_FILE"])))
        if env.get("GATEWAY_RECEIPT_SIGNATURES"):
            values["receipt_signatures"] = env["GATEWAY_RECEIPT_SIGNATURES"]
        if env.get("GATEWAY_GOVERNMENT_CERTS"):
            values["government_certs"] = tuple(Path(p.strip()) for p in env["GATEWAY_GOVERNMENT_CERTS"].split(",") if p.strip())
        if env.get("GATEWAY_RETENTION_YEARS"):
            try:
                values["retention_years"] = int(env["GATEWAY_RETENTION_YEARS"])
            except ValueError:
                raise ConfigError(f"GATEWAY_RETENTION_YEARS must be a whole number of years, "
                                  f"not {env['GATEWAY_RETENTION_YEARS']!r}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.check()
        return settings

    def channel_table(self) -> dict:
        """name -> {"adapter", "options", "environment"}: the configured channels, or the single
        channel the plain adapter settings describe."""
        if self.channels:
            return self.channels
        environment = "sandbox" if self.adapter == "sandbox" else "production"
        return {self.adapter: {"adapter": self.adapter, "options": self.adapter_options, "environment": environment}}

    def check(self) -> None:
        if self.channels:
            for name, ch in self.channels.items():
                where = f"GATEWAY_CHANNELS_FILE: channel {name!r}"
                if not isinstance(ch, dict) or not isinstance(ch.get("adapter"), str):
                    raise ConfigError(f"{where} needs an \"adapter\" name")
                if ch.get("environment", "production") not in ("sandbox", "production"):
                    raise ConfigError(f"{where}: environment must be sandbox or production, not {ch.get('environment')!r}")
                if ch.get("environment", "production") == "production" and ch["adapter"] == "sandbox":
                    raise ConfigError(f"{where}: the sandbox government cannot be a production channel")
                if not isinstance(ch.get("options", {}), dict):
                    raise ConfigError(f"{where}: options must be a JSON object")
            for tenant, name in self.tenant_channels.items():
                if name not in self.channels:
                    raise ConfigError(f"GATEWAY_CHANNELS_FILE: tenant {tenant!r} uses unknown channel {name!r} "
                                      f"(channels: {', '.join(sorted(self.channels))})")
            if self.default_channel is not None and self.default_channel not in self.channels:
                raise ConfigError(f"GATEWAY_CHANNELS_FILE: default channel {self.default_channel!r} is not defined")
        if self.receipt_signatures not in ("none", "if-present", "required"):
            raise ConfigError("GATEWAY_RECEIPT_SIGNATURES must be none, if-present or required, "
                              f"not {self.receipt_signatures!r}")
        for p in self.government_certs:
            if not Path(p).is_file():
                raise ConfigError(f"GATEWAY_GOVERNMENT_CERTS: certificate file not found: {p}")
        if (self.signing_key is None) != (self.signing_cert is None):
            raise ConfigError("GATEWAY_SIGNING_KEY and GATEWAY_SIGNING_CERT are given together (key and its certificate)")
        for p in (self.signing_key, self.signing_cert):
            if p is not None and not Path(p).is_file():
                raise ConfigError(f"signing file not found: {p}")
        from gateway.signing.algorithms import NAMES, SIGNED_INPUTS, SM2_ENCODINGS

        if self.signature not in NAMES:
            raise ConfigError(f"GATEWAY_SIGNATURE must be one of {', '.join(NAMES)}, not {self.signature!r}")
        if not self.sm2_signature.startswith("sm2-") or self.sm2_signature not in NAMES:
            raise ConfigError(f"GATEWAY_SM2_SIGNATURE must be an sm2-* name of {', '.join(NAMES)}, not {self.sm2_signature!r}")
        if self.sm2_encoding not in SM2_ENCODINGS:
            raise ConfigError(f"GATEWAY_SM2_ENCODING must be raw or der, not {self.sm2_encoding!r}")
        if not self.sm2_user_id or not self.sm2_user_id.isascii():
            raise ConfigError("GATEWAY_SM2_USER_ID must be non-empty ASCII")
        if self.signed_input not in SIGNED_INPUTS:
            raise ConfigError(f"GATEWAY_SIGNED_INPUT must be one of {', '.join(SIGNED_INPUTS)}, not {self.signed_input!r}")
        from gateway.adapters.registry import AdapterConfigError, check_options

        try:
            check_options(self.adapter, self.adapter_options)
        except AdapterConfigError as exc:
            raise ConfigError(f"GATEWAY_ADAPTER / GATEWAY_ADAPTER_OPTIONS: {exc}") from None
        for name, ch in self.channels.items():
            try:
                check_options(ch["adapter"], ch.get("options", {}))
            except AdapterConfigError as exc:
                raise ConfigError(f"GATEWAY_CHANNELS_FILE: channel {name!r}: {exc}") from None
        if not isinstance(self.retention_years, int) or self.retention_years < 1:
            raise ConfigError(f"GATEWAY_RETENTION_YEARS must be at least 1, not {self.retention_years!r}")
        if self.database_url and not self.database_url.startswith(("sqlite:", "postgresql")):
            raise ConfigError(f"GATEWAY_DATABASE_URL must be a sqlite: or postgresql: URL, not {self.database_url!r}")


def _adapter_options(env) -> dict:
    import json

    if env.get("GATEWAY_ADAPTER_OPTIONS") and env.get("GATEWAY_ADAPTER_OPTIONS_FILE"):
        raise ConfigError("give GATEWAY_ADAPTER_OPTIONS or GATEWAY_ADAPTER_OPTIONS_FILE, not both")
    if env.get("GATEWAY_ADAPTER_OPTIONS_FILE"):
        name, where = "GATEWAY_ADAPTER_OPTIONS_FILE", env["GATEWAY_ADAPTER_OPTIONS_FILE"]
        try:
            text = Path(where).read_text("utf-8")
        except OSError as exc:
            raise ConfigError(f"{name}: cannot read {where}: {exc.strerror}") from None
    else:
        name, text = "GATEWAY_ADAPTER_OPTIONS", env["GATEWAY_ADAPTER_OPTIONS"]
    try:
        options = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(options, dict):
        raise ConfigError(f"{name} must be a JSON object, got {type(options).__name__}")
    return options


def receipt_trust(settings: Settings):
    """The receipt signature policy the settings describe (gateway.service.delivery.receipt_trust)."""
    from cryptography import x509

    from gateway.service.delivery.receipt_trust import ReceiptTrust
    from gateway.signing import Expectation

    certs = None
    if settings.government_certs:
        certs = []
        for path in settings.government_certs:
            try:
                certs.append(x509.load_pem_x509_certificate(Path(path).read_bytes()))
            except ValueError as exc:
                raise ConfigError(f"GATEWAY_GOVERNMENT_CERTS: {path} is not a PEM certificate: {exc}") from None
    return ReceiptTrust(settings.receipt_signatures, Expectation(trusted_certificates=certs))


def _channels_file(path: Path) -> dict:
    """{"channels": {name: {"adapter": ..., "options": {...}, "environment": "sandbox"|"production"}},
        "tenants": {tenant id or transmitting-enterprise code: channel name}, "default": name}"""
    import json

    try:
        data = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(f"GATEWAY_CHANNELS_FILE: cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"GATEWAY_CHANNELS_FILE: {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("channels"), dict) or not data["channels"]:
        raise ConfigError(f"GATEWAY_CHANNELS_FILE: {path} needs a non-empty \"channels\" object")
    return {"channels": data["channels"], "tenant_channels": dict(data.get("tenants") or {}),
            "default_channel": data.get("default") or next(iter(data["channels"]))}
