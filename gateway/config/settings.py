"""The settings object: ``Settings.from_env`` reads every row of ``VARIABLES`` (variables.py) and refuses
a bad value with one line naming the variable and the rule; the checks across settings run here too."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from gateway.adapters.registry import AdapterConfigError, check_options
from gateway.domain.vocabulary import AGENCIES

from .values import ConfigError, check_signing_backend
from .variables import VARIABLES


@dataclass(frozen=True)
class Settings:
    instance_dir: Path = field(default_factory=lambda: Path("instance").resolve())
    database_url: str | None = None           # default: SQLite file under instance_dir
    signing_key: Path | None = None           # PEM private key; default: a development key under instance_dir
    signing_cert: Path | None = None          # PEM certificate matching signing_key
    signature: str = "rsa-sha1"               # rsa-sha1 | rsa-sha256 | sm2-sm3 | sm2-sm3-sha1 | sm2-sm3-w3c | sm2-sm3-w3c-sha1
    # signing (docs/signing.md): the SM2 variant used for SM2 keys, its value encoding and user ID,
    # what the SignatureValue signs, the key store's master key and channel
    sm2_signature: str = "sm2-sm3-w3c-sha1"   # the real-card SM2 form (docs/signing.md "Defaults")
    sm2_encoding: str = "raw"                 # raw (r||s, E-Port) | der
    sm2_user_id: str = "1234567812345678"
    signed_input: str = "signed-info"         # signed-info | digest-value
    keystore_key: str | None = field(default=None, repr=False)   # GATEWAY_KEYSTORE_KEY (secret)
    signing_channel: str = "ceb"
    # the gateway key on a token or behind the E-Port control (docs/signing.md "Keys on a token");
    # tenant keys (the encrypted key store) stay software keys
    signing_backend: str = "software"         # software | pkcs11 | bridge
    pkcs11_module: Path | None = None
    pkcs11_token: str | None = None
    pkcs11_key_label: str | None = None
    pkcs11_pin: str | None = field(default=None, repr=False)          # GATEWAY_PKCS11_PIN_FILE (secret)
    pkcs11_cert: Path | None = None           # when the token holds no certificate object
    signing_bridge_url: str | None = None
    signing_bridge_password: str | None = field(default=None, repr=False)   # ..._PASSWORD_FILE (secret)
    signing_bridge_remote: bool = False       # allow a bridge host outside 127.0.0.0/8
    dxp_id: str = "DXPENT0000000000"          # BaseTransfer/dxpId written by `gateway declare`
    realtime_upload_url: str | None = None    # GATEWAY_179_UPLOAD_URL: customs' realTimeDataUpload (179)
    adapter: str = "sandbox"
    # GATEWAY_ADAPTER_OPTIONS (a JSON object) or GATEWAY_ADAPTER_OPTIONS_FILE (a JSON file); docs/adapters.md
    adapter_options: dict = field(default_factory=dict, repr=False)   # may hold secrets (URLs, keys)
    # GATEWAY_CHANNELS_FILE: named delivery channels (adapter, options, environment) and which tenant
    # uses which (docs/adapters.md "Channels"); without it, one channel named after ``adapter``
    channels: dict = field(default_factory=dict, repr=False)
    tenant_channels: dict = field(default_factory=dict)   # tenant -> channel, or -> {agency: channel or None}
    agency_channels: dict = field(default_factory=dict)   # agency -> channel or None, for every tenant
    default_channel: str | None = None
    # GATEWAY_RECEIPT_SIGNATURES: none | if-present | required; None: by channel (bootstrap.receipt_trust)
    receipt_signatures: str | None = None
    government_certs: tuple = ()              # GATEWAY_GOVERNMENT_CERTS: PEM files of the signers trusted for receipts
    retention_years: int = 5                  # GATEWAY_RETENTION_YEARS: raw bytes kept at least this long (docs/audit.md)
    operator_key_sha256: str | None = field(default=None, repr=False)   # operator API key, by its sha256 (hex)
    # the console (gateway/web/, docs/console.md): the session secret (default: a random one kept in the
    # instance folder) and whether its cookie is sent over HTTPS only (off only for http://127.0.0.1)
    console_secret: str | None = field(default=None, repr=False)
    console_secure_cookies: bool = True
    idempotency_hours: int = 24               # GATEWAY_IDEMPOTENCY_HOURS: Idempotency-Key answers kept (docs/api.md)
    upload_max_bytes: int = 10 * 1024 * 1024  # GATEWAY_UPLOAD_MAX_BYTES: a bulk file's bound (docs/bulk-files.md)
    intake_group_max: int = 16                # GATEWAY_INTAKE_GROUP_MAX: single orders stored together (group commit)
    # delivery (docs/deployment.md): the dispatcher's batch, lease, backoff, breaker and webhooks
    dispatch_batch: int = 100
    dispatch_processes: int = 1                   # dispatcher processes `gateway serve` starts
    dispatch_nice: int = 0                        # added to their niceness (10: the API answers first)
    dispatch_lease_seconds: float | None = None   # None: 120 s, and the breaker's probe lease its own 60 s
    send_concurrency: int = 8                     # sends in flight per dispatcher on HTTP/SOAP channels
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 600.0
    breaker_threshold: int = 5
    breaker_cooldown_seconds: float = 30.0
    breaker_max_cooldown_seconds: float = 600.0
    webhook_timeout_seconds: float = 10.0
    webhook_max_attempts: int = 15
    webhook_retry_base_seconds: float = 2.0
    webhook_retry_max_seconds: float = 3600.0
    # distributed mode (gateway.worker)
    broker_url: str = field(default="amqp://guest:guest@127.0.0.1:5672//", repr=False)
    queue: str = "gateway"
    dispatch_interval: float = 1.0
    task_budget_seconds: float = 20.0
    task_expires: float | None = None         # None: 10 × dispatch_interval, at least 10 s
    # ---- trust (issue 9): the environment of the single channel without GATEWAY_CHANNELS_FILE
    # (sandbox | production; default: sandbox for the sandbox adapter, production for any other)
    channel_environment: str | None = None
    # allow if-present / none on a production channel (logged at every start)
    receipt_signatures_override: bool = False
    # the plausible window of an order's own dates (docs/errors.md, rule date-window)
    earliest_order_date: date = date(2000, 1, 1)   # GATEWAY_EARLIEST_ORDER_DATE (YYYY-MM-DD)
    order_date_ahead_days: int = 1                 # GATEWAY_ORDER_DATE_AHEAD_DAYS: how far past now
    webhook_allow_networks: tuple = ()     # not-public networks webhooks may reach (gateway/egress.py)
    realtime179_per_minute: int = 60       # 179 platDataOpen calls per tenant and process (docs/signing.md)
    realtime179_sources: tuple = ()        # the networks customs calls platDataOpen from (empty: any)
    # operations (docs/deployment.md): the production server, migrations, metrics, logs
    web_workers: int = 2                      # gunicorn worker processes of `gateway serve`
    web_threads: int = 4                      # threads per worker
    auto_migrate: str = "embedded"            # embedded (SQLite only) | always | never
    metrics_key_sha256: str | None = field(default=None, repr=False)   # /metrics bearer key, by its sha256
    log_format: str = "json"                  # json | text

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> Settings:
        """Every GATEWAY_* variable of ``env`` (default: the process environment), then the
        ``overrides`` that are not None; checked as a whole (``check``)."""
        env = os.environ if env is None else env
        if env.get("GATEWAY_ADAPTER_OPTIONS") and env.get("GATEWAY_ADAPTER_OPTIONS_FILE"):
            raise ConfigError("give GATEWAY_ADAPTER_OPTIONS or GATEWAY_ADAPTER_OPTIONS_FILE, not both")
        values: dict = {}
        for var in VARIABLES:
            text = env.get(var.name)
            if not text:
                continue
            try:
                value = var.parse(text)
                if var.check is not None and not var.check(value):
                    raise ValueError(text)
            except ValueError:
                raise ConfigError(f"{var.name}: {var.rule} (got {text!r})") from None
            if var.attr:
                values[var.attr] = value
            elif isinstance(value, dict):       # a file that fills several settings
                values.update(value)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.check()
        return settings

    @property
    def task_expiry(self) -> float:
        """Seconds a worker's beat tick may wait in the queue before it is dropped."""
        return self.task_expires if self.task_expires is not None else max(10.0, self.dispatch_interval * 10)

    def channel_table(self) -> dict:
        """name -> {"adapter", "options", "environment"}: the configured channels, or the single
        channel the plain adapter settings describe."""
        if self.channels:
            return self.channels
        environment = self.channel_environment or ("sandbox" if self.adapter == "sandbox" else "production")
        return {self.adapter: {"adapter": self.adapter, "options": self.adapter_options, "environment": environment}}

    def _check_route(self, where: str, agency: str, name) -> None:
        if agency not in AGENCIES:
            raise ConfigError(f"GATEWAY_CHANNELS_FILE: {where}: unknown agency {agency!r} "
                              f"(agencies: {', '.join(AGENCIES)})")
        if name is None and agency != "customs":
            return                                   # no channel: records prepared, not transmitted
        if name not in self.channels:
            raise ConfigError(f"GATEWAY_CHANNELS_FILE: {where} uses unknown channel {name!r} "
                              f"(channels: {', '.join(sorted(self.channels))})")

    def check(self) -> None:
        """The rules that hold between settings (and for settings given directly, not read)."""
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
            for tenant, entry in self.tenant_channels.items():
                for agency, name in (entry.items() if isinstance(entry, dict) else [("customs", entry)]):
                    self._check_route(f"tenant {tenant!r}", agency, name)
            for agency, name in self.agency_channels.items():
                self._check_route("agencies", agency, name)
            if self.default_channel is not None and self.default_channel not in self.channels:
                raise ConfigError(f"GATEWAY_CHANNELS_FILE: default channel {self.default_channel!r} is not defined")
        if self.channel_environment == "production" and self.adapter == "sandbox" and not self.channels:
            raise ConfigError("GATEWAY_CHANNEL_ENVIRONMENT: the sandbox government cannot be a production channel")
        for var in VARIABLES:           # the same rule for a value given directly as for one read
            if var.check is not None and var.attr and not var.check(getattr(self, var.attr)):
                raise ConfigError(f"{var.name}: {var.rule} (got {getattr(self, var.attr)!r})")
        for p in self.government_certs:
            if not Path(p).is_file():
                raise ConfigError(f"GATEWAY_GOVERNMENT_CERTS: certificate file not found: {p}")
        if (self.signing_key is None) != (self.signing_cert is None):
            raise ConfigError("GATEWAY_SIGNING_KEY and GATEWAY_SIGNING_CERT are given together (key and its certificate)")
        for p in (self.signing_key, self.signing_cert):
            if p is not None and not Path(p).is_file():
                raise ConfigError(f"signing file not found: {p}")
        check_signing_backend(self)
        try:
            check_options(self.adapter, self.adapter_options)
        except AdapterConfigError as exc:
            raise ConfigError(f"GATEWAY_ADAPTER / GATEWAY_ADAPTER_OPTIONS: {exc}") from None
        for name, ch in self.channels.items():
            try:
                check_options(ch["adapter"], ch.get("options", {}))
            except AdapterConfigError as exc:
                raise ConfigError(f"GATEWAY_CHANNELS_FILE: channel {name!r}: {exc}") from None
