"""Every environment variable of the settings, one row each: name, the ``Settings`` attribute it
fills, type, rule ("must be ..."), meaning, how to read and check it. ``Settings.from_env`` reads them
all; ``gateway config docs`` prints the table of docs/configuration.md from them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from gateway.signing.algorithms import NAMES, SIGNED_INPUTS, SM2_ENCODINGS

from .values import (
    _INT1,
    _LOG_FORMATS,
    _MIGRATE_MODES,
    _RECEIPT_MODES,
    _S001,
    _S1,
    _SIGNING_BACKENDS,
    _SM2_NAMES,
    Bounded,
    _adapter_options_file,
    _are_networks,
    _ascii,
    _boolean,
    _channels_file,
    _database_url,
    _is_ws_url,
    _json_object,
    _networks,
    _one_of,
    _paths,
    _secret_file,
    _sha256_hex,
)


@dataclass(frozen=True)
class Variable:
    name: str                          # GATEWAY_...
    attr: str                          # the Settings attribute; "" when parse returns several
    kind: str                          # for the docs
    rule: str                          # "must be ...": the error says it
    meaning: str
    parse: Callable[[str], object] = str         # raises ValueError (→ the rule) or ConfigError
    check: Callable[[object], bool] | None = None   # holds for the value however it was given
    secret: bool = False
    shown_default: str = ""            # when the field's own default does not say it


def _bounded(name: str, attr: str, meaning: str, bound: Bounded, **more) -> Variable:
    """The row of a number with a lower bound (``_INT1``, ``_S001``, ``_S1``): kind, rule, parse and check
    are the bound's."""
    return Variable(name, attr, bound.kind, bound.rule, meaning, bound.parse, bound.check, **more)


VARIABLES: tuple[Variable, ...] = (
    # where and what
    Variable("GATEWAY_INSTANCE_DIR", "instance_dir", "path", "must be a folder path",
             "instance folder: SQLite database, development key, audit checkpoints", lambda t: Path(t).resolve(),
             shown_default="./instance"),
    Variable("GATEWAY_DATABASE_URL", "database_url", "URL", "must be a sqlite: or postgresql: URL",
             "the database (default: SQLite under the instance folder)", _database_url,
             lambda v: v is None or str(v).startswith(("sqlite:", "postgresql"))),
    # signing (docs/signing.md)
    Variable("GATEWAY_SIGNING_KEY", "signing_key", "path", "must be a PEM file, given with GATEWAY_SIGNING_CERT",
             "the gateway's private key (default: a development key in the instance folder)", Path),
    Variable("GATEWAY_SIGNING_CERT", "signing_cert", "path", "must be a PEM file, given with GATEWAY_SIGNING_KEY",
             "the certificate of GATEWAY_SIGNING_KEY", Path),
    Variable("GATEWAY_SIGNATURE", "signature", "choice", f"must be one of {', '.join(NAMES)}",
             "signature algorithm of the gateway key (serve, dispatch, declare)", check=_one_of(NAMES)),
    Variable("GATEWAY_SM2_SIGNATURE", "sm2_signature", "choice", f"must be one of {', '.join(_SM2_NAMES)}",
             "the SM2 variant used for SM2 keys", check=_one_of(_SM2_NAMES)),
    Variable("GATEWAY_SM2_ENCODING", "sm2_encoding", "choice", f"must be one of {', '.join(SM2_ENCODINGS)}",
             "SM2 SignatureValue encoding: raw r||s (E-Port) or DER", check=_one_of(SM2_ENCODINGS)),
    Variable("GATEWAY_SM2_USER_ID", "sm2_user_id", "text", "must be non-empty ASCII",
             "SM2 user ID (ZA)", _ascii, lambda v: bool(v) and str(v).isascii()),
    Variable("GATEWAY_SIGNED_INPUT", "signed_input", "choice", f"must be one of {', '.join(SIGNED_INPUTS)}",
             "what the SignatureValue signs", check=_one_of(SIGNED_INPUTS)),
    Variable("GATEWAY_KEYSTORE_KEY", "keystore_key", "secret", "must be the key store's master key "
             "(gateway keys new-master-key)", "master key of the tenant key store (secret)", secret=True),
    Variable("GATEWAY_SIGNING_CHANNEL", "signing_channel", "text", "must be a channel name",
             "key store channel of the signing keys (also the default of gateway keys --channel)"),
    Variable("GATEWAY_SIGNING_BACKEND", "signing_backend", "choice", f"must be one of {', '.join(_SIGNING_BACKENDS)}",
             "where the gateway key signs: software (GATEWAY_SIGNING_KEY), pkcs11 (a token), bridge (the E-Port "
             "control); tenant keys are software keys", check=_one_of(_SIGNING_BACKENDS)),
    Variable("GATEWAY_PKCS11_MODULE", "pkcs11_module", "path", "must be an existing PKCS#11 module file (.so)",
             "the token's PKCS#11 module (pkcs11 backend)", Path, lambda v: v is None or Path(str(v)).is_file()),
    Variable("GATEWAY_PKCS11_TOKEN", "pkcs11_token", "text", "must be a token label", "the token's label"),
    Variable("GATEWAY_PKCS11_KEY_LABEL", "pkcs11_key_label", "text", "must be a key label",
             "CKA_LABEL of the gateway's private key (and of its certificate) on the token"),
    Variable("GATEWAY_PKCS11_PIN_FILE", "pkcs11_pin", "path", "must be a file readable by its owner only",
             "file holding the token's user PIN (chmod 0600; no plain PIN variable)",
             _secret_file("GATEWAY_PKCS11_PIN_FILE"), secret=True),
    Variable("GATEWAY_PKCS11_CERT", "pkcs11_cert", "path", "must be a PEM file",
             "certificate of the token key when the token holds none under its label", Path),
    Variable("GATEWAY_SIGNING_BRIDGE_URL", "signing_bridge_url", "URL", "must be a ws:// URL",
             "the signing bridge (bridge backend), on localhost / 127.0.0.0/8", check=lambda v: v is None or _is_ws_url(v)),
    Variable("GATEWAY_SIGNING_BRIDGE_PASSWORD_FILE", "signing_bridge_password", "path",
             "must be a file readable by its owner only", "file holding the card password the bridge asks for",
             _secret_file("GATEWAY_SIGNING_BRIDGE_PASSWORD_FILE"), secret=True),
    Variable("GATEWAY_SIGNING_BRIDGE_REMOTE", "signing_bridge_remote", "boolean", "must be true or false",
             "allow a bridge host outside localhost / 127.0.0.0/8", _boolean, shown_default="false"),
    Variable("GATEWAY_DXP_ID", "dxp_id", "text", "must be a DXP id", "BaseTransfer/dxpId of gateway declare"),
    # channels (docs/adapters.md)
    Variable("GATEWAY_ADAPTER", "adapter", "text", "must name an installed adapter",
             "the delivery adapter (sandbox, http, soap, dxp-amqp, dxp-files)"),
    Variable("GATEWAY_ADAPTER_OPTIONS", "adapter_options", "JSON object", "must be a JSON object",
             "the adapter's options (not with GATEWAY_ADAPTER_OPTIONS_FILE)",
             lambda t: _json_object("GATEWAY_ADAPTER_OPTIONS", t), secret=True),
    Variable("GATEWAY_ADAPTER_OPTIONS_FILE", "adapter_options", "path", "must be a readable JSON object file",
             "the adapter's options from a file", _adapter_options_file),
    Variable("GATEWAY_CHANNELS_FILE", "", "path", "must be a readable JSON file with a non-empty \"channels\" object",
             "named channels and which tenant uses which (replaces GATEWAY_ADAPTER*)", _channels_file),
    Variable("GATEWAY_CHANNEL_ENVIRONMENT", "channel_environment", "choice", "must be one of sandbox, production",
             "environment of the one channel without GATEWAY_CHANNELS_FILE (issue 9: production signs with tenant "
             "keys only)", check=lambda v: v in (None, "sandbox", "production"),
             shown_default="sandbox for the sandbox adapter, else production"),
    Variable("GATEWAY_179_UPLOAD_URL", "realtime_upload_url", "URL", "must be a URL",
             "customs' realTimeDataUpload endpoint (announcement 179)"),
    _bounded("GATEWAY_179_PER_MINUTE", "realtime179_per_minute",
             "platDataOpen calls per minute per tenant and process (more answer 429)", _INT1),
    Variable("GATEWAY_179_ALLOWED_SOURCES", "realtime179_sources", "networks",
             "must be comma-separated CIDR networks", "the networks customs calls platDataOpen from "
             "(default: any source)", _networks, _are_networks),
    # receipts and audit
    Variable("GATEWAY_RECEIPT_SIGNATURES", "receipt_signatures", "choice",
             f"must be one of {', '.join(_RECEIPT_MODES)}", "which receipt signatures are required (a channel's "
             "own receipt_signatures wins; docs/signing.md)", check=lambda v: v is None or v in _RECEIPT_MODES,
             shown_default="required on production channels, if-present on sandboxes"),
    Variable("GATEWAY_RECEIPT_SIGNATURES_OVERRIDE", "receipt_signatures_override", "boolean", "must be true or false",
             "allow if-present / none on a production channel (logged as a warning at every start)",
             _boolean, shown_default="false"),
    Variable("GATEWAY_GOVERNMENT_CERTS", "government_certs", "paths", "must be comma-separated PEM files",
             "certificates trusted for receipt signatures", _paths),
    _bounded("GATEWAY_RETENTION_YEARS", "retention_years",
             "raw bytes are kept at least this many years (docs/audit.md)", _INT1),
    # intake (docs/errors.md): the plausible window of an order's own dates, rule date-window
    Variable("GATEWAY_EARLIEST_ORDER_DATE", "earliest_order_date", "date", "must be a date YYYY-MM-DD",
             "orders dated before it are refused", date.fromisoformat, lambda v: isinstance(v, date)),
    _bounded("GATEWAY_ORDER_DATE_AHEAD_DAYS", "order_date_ahead_days",
             "orders dated more than this many days after now are refused", _INT1),
    _bounded("GATEWAY_IDEMPOTENCY_HOURS", "idempotency_hours",
             "hours an Idempotency-Key and its first answer are kept, per tenant (docs/api.md)", _INT1),
    Variable("GATEWAY_OPERATOR_KEY_SHA256", "operator_key_sha256", "hex", "must be a sha256 in hex",
             "the operator API key, by its sha256 (operator endpoints answer 403 without it)", secret=True),
    # the console (docs/console.md)
    Variable("GATEWAY_CONSOLE_SECRET", "console_secret", "secret", "must be at least 32 characters",
             "signs the console's session cookies (default: a random secret in the instance folder)",
             check=lambda v: v is None or len(str(v)) >= 32, secret=True),
    Variable("GATEWAY_CONSOLE_SECURE_COOKIES", "console_secure_cookies", "boolean", "must be true or false",
             "console cookies only over HTTPS; false only for http://127.0.0.1 in development", _boolean),
    _bounded("GATEWAY_UPLOAD_MAX_BYTES", "upload_max_bytes",
             "largest bulk file POST /v1/orders/upload accepts, in bytes (docs/bulk-files.md)", _INT1),
    _bounded("GATEWAY_INTAKE_GROUP_MAX", "intake_group_max",
             "single orders a process is asked to store at the same time (one tenant's) are stored together, at "
             "most this many in one transaction, each answered with its own result; 1: each alone "
             "(docs/performance.md \"Session 7: group commit for single orders\")",
             _INT1),
    # delivery (docs/deployment.md)
    _bounded("GATEWAY_DISPATCH_BATCH", "dispatch_batch",
             "outbox rows claimed per adapter and round, and receipts applied per transaction (smaller: "
             "shorter write transactions, for SQLite's one writer)", _INT1),
    _bounded("GATEWAY_DISPATCH_PROCESSES", "dispatch_processes",
             "dispatcher processes `gateway serve` starts (docs/deployment.md)", _INT1),
    Variable("GATEWAY_DISPATCH_NICE", "dispatch_nice", "niceness", "must be an integer 0..19",
             "added to the niceness of the dispatcher processes `gateway serve` starts, once they are up "
             "(e.g. 10: on a busy machine the API's requests get the CPU first, the outbox waits; "
             "docs/deployment.md)", int,
             lambda v: isinstance(v, int) and 0 <= v <= 19),
    _bounded("GATEWAY_DISPATCH_LEASE_SECONDS", "dispatch_lease_seconds",
             "a claim's lease (default 120; also the breaker's probe lease, else 60); keep > 2 × the adapter's "
             "connect + read timeout", _S1, shown_default="120"),
    Variable("GATEWAY_SEND_CONCURRENCY", "send_concurrency", "integer", "must be an integer 1..64",
             "sends a dispatcher keeps in flight at once on the network channels that can take it (http, soap; "
             "the in-process sandbox and DXP stay one at a time); 1: one after the other (docs/deployment.md)",
             int, lambda v: isinstance(v, int) and 1 <= v <= 64),
    _bounded("GATEWAY_RETRY_BASE_SECONDS", "retry_base_seconds", "first retry after about this", _S001),
    _bounded("GATEWAY_RETRY_MAX_SECONDS", "retry_max_seconds", "backoff ceiling", _S001),
    _bounded("GATEWAY_BREAKER_THRESHOLD", "breaker_threshold",
             "consecutive transport failures that open the circuit", _INT1),
    _bounded("GATEWAY_BREAKER_COOLDOWN_SECONDS", "breaker_cooldown_seconds",
             "open → half-open (doubles per failed probe)", _S001),
    _bounded("GATEWAY_BREAKER_MAX_COOLDOWN_SECONDS", "breaker_max_cooldown_seconds", "cool-down ceiling", _S001),
    _bounded("GATEWAY_WEBHOOK_TIMEOUT_SECONDS", "webhook_timeout_seconds", "per webhook POST", _S001),
    _bounded("GATEWAY_WEBHOOK_MAX_ATTEMPTS", "webhook_max_attempts", "then the delivery is marked failed", _INT1),
    _bounded("GATEWAY_WEBHOOK_RETRY_BASE_SECONDS", "webhook_retry_base_seconds",
             "first webhook retry after about this", _S001),
    _bounded("GATEWAY_WEBHOOK_RETRY_MAX_SECONDS", "webhook_retry_max_seconds", "webhook backoff ceiling", _S001),
    Variable("GATEWAY_WEBHOOK_ALLOW_NETWORKS", "webhook_allow_networks", "networks",
             "must be comma-separated CIDR networks", "networks webhooks may reach although not public, e.g. "
             "127.0.0.0/8 for development (default: public addresses on web ports only; docs/deployment.md)",
             _networks, _are_networks),
    # distributed mode (gateway.worker)
    Variable("GATEWAY_BROKER_URL", "broker_url", "URL", "must be an amqp:// or redis:// URL",
             "the Celery broker of gateway.worker",
             check=lambda v: str(v).startswith(("amqp://", "amqps://", "redis://", "rediss://", "memory://"))),
    Variable("GATEWAY_QUEUE", "queue", "text", "must be a queue name", "the Celery queue"),
    _bounded("GATEWAY_DISPATCH_INTERVAL", "dispatch_interval", "beat schedules the worker's steps this often", _S001),
    _bounded("GATEWAY_TASK_BUDGET_SECONDS", "task_budget_seconds",
             "a worker step repeats while it moves rows, up to this long", _S001),
    _bounded("GATEWAY_TASK_EXPIRES", "task_expires", "a beat tick older than this is dropped", _S001,
             shown_default="10 × the interval, at least 10"),
    # operations (docs/deployment.md)
    _bounded("GATEWAY_WEB_WORKERS", "web_workers", "gunicorn worker processes of gateway serve", _INT1),
    _bounded("GATEWAY_WEB_THREADS", "web_threads", "threads per gunicorn worker", _INT1),
    Variable("GATEWAY_AUTO_MIGRATE", "auto_migrate", "choice", f"must be one of {', '.join(_MIGRATE_MODES)}",
             "migrate the database at start: embedded = SQLite only (PostgreSQL refuses to start behind the "
             "code: run gateway db upgrade), always, never", check=_one_of(_MIGRATE_MODES)),
    Variable("GATEWAY_METRICS_KEY_SHA256", "metrics_key_sha256", "hex", "must be a sha256 in hex",
             "the /metrics bearer key, by its sha256 (the operator key works too; without either, /metrics "
             "answers 403)", _sha256_hex, secret=True),
    Variable("GATEWAY_LOG_FORMAT", "log_format", "choice", f"must be one of {', '.join(_LOG_FORMATS)}",
             "log lines of serve and dispatch run: one JSON object per line, or plain text (never colour "
             "codes off a terminal)", check=_one_of(_LOG_FORMATS)),
)
