"""The composition root: one place that wires settings to real parts (database, signer, keys,
adapters, dispatcher). Tests pass fakes in here instead of patching."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography import x509

from gateway import signing
from gateway.adapters import registry
from gateway.config import ConfigError, Settings
from gateway.domain.date_window import DateWindow
from gateway.egress import EgressPolicy
from gateway.ports import SystemClock, UuidGenerator
from gateway.service import channels
from gateway.service import holds as hold_service
from gateway.service import orders as order_service
from gateway.service.declare import Declarer
from gateway.service.delivery.backoff import Backoff
from gateway.service.delivery.breaker import BreakerPolicy
from gateway.service.delivery.receipt_trust import MODES, ChannelTrust, ReceiptTrust
from gateway.service.delivery.summaries import OrderSummaries
from gateway.service.delivery.webhook_secrets import SecretBox, SecretsError
from gateway.service.dispatch import DeliveryPolicy, Dispatcher
from gateway.service.group_commit import GroupCommit
from gateway.service.realtime179_calls import CallGuard
from gateway.signing import keystore as key_store
from gateway.signing.hardware import BackendSpec, Routing, TokenKey, open_backend
from gateway.signing.pkcs11 import TokenProblem
from gateway.signing.tenant_keys import TenantKeys
from gateway.store import db, permissions
from gateway.store.uow import UnitOfWork

log = logging.getLogger("gateway.config")     # start-up warnings about the settings

@dataclass
class Gateway:
    settings: Settings
    engine: Any                                  # sqlalchemy Engine
    uow_factory: Callable[[], UnitOfWork]
    clock: object
    ids: object
    key: signing.KeyMaterial
    declarer: Declarer
    adapters: dict
    dispatcher: Dispatcher
    keystore: Any = None         # gateway.signing.keystore.KeyStore (tenant keys, encrypted)
    key_for: object = None       # tenant id -> signing key (tenant's key store key, else ``key``)
    realtime179: object = None   # gateway.service.realtime179.Realtime179 (platDataOpen, 179 upload)
    egress: EgressPolicy = EgressPolicy()   # where webhooks may point (gateway/egress.py)
    secrets: SecretBox = SecretBox(None)     # webhook secrets sealed under the key-store master key
    file_warnings: tuple = ()                # instance files others may read (gateway/store/permissions.py)
    groups: GroupCommit | None = None        # single orders stored together (group commit); None: each alone

    def __post_init__(self) -> None:
        if self.groups is None and self.settings.intake_group_max > 1:
            self.groups = GroupCommit(self._submit_group, self.settings.intake_group_max)

    def channel_for(self, tenant_id: str, *, agency: str = channels.CUSTOMS, uow=None) -> str | None:
        """The delivery channel (adapter name in the outbox) of a tenant's filings for ``agency``, None
        when no channel carries that agency's records (gateway/service/channels.py). The tenant is
        found by id, then by its transmitting-enterprise code; then the default channel applies.
        Inside a transaction, pass its ``uow`` (a second connection would wait on its lock)."""
        return channels.route(_channel_entry(self.settings, self.uow_factory, tenant_id, uow),
                              self.settings.agency_channels, _default_channel(self.settings, self.adapters), agency)

    def channels_for(self, tenant_id: str, uow=None) -> dict[str, str | None]:
        """agency -> channel (or None) of one tenant."""
        return _routes(self.settings, self.uow_factory, self.adapters, tenant_id, uow)

    @property
    def date_window(self) -> DateWindow:
        return DateWindow(self.settings.earliest_order_date, self.settings.order_date_ahead_days)

    def submit(self, tenant_id: str, body) -> order_service.Submitted:
        """One order (JSON text), stored with the other single orders this process is storing at the same
        moment (group commit, service/group_commit.py); raises its own OrderInvalid, FilingInvalid or
        OrderConflict."""
        if self.groups is None:
            return order_service.submit_order(self.uow_factory, self.declarer, self.key_for or self.key, self.clock,
                                              self.ids, tenant_id, body, adapter=self.channels_for(tenant_id),
                                              window=self.date_window)
        item = self.groups.submit(tenant_id, body)
        if item.error is not None:
            raise item.error
        assert item.submitted is not None   # each item ends with an error or a submission
        return item.submitted

    def _submit_group(self, tenant_id: str, bodies: list) -> list[order_service.BatchItem]:
        return order_service.submit_batch(self.uow_factory, self.declarer, self.key_for or self.key, self.clock,
                                          self.ids, tenant_id, bodies, adapter=self.channels_for(tenant_id),
                                          window=self.date_window)

    def submit_batch(self, tenant_id: str, items: list) -> list[order_service.BatchItem]:
        """Bulk upload, signed like single orders (the tenant's key, ``key_for``): the items of a JSON array
        (parsed values: anything but an object is refused per item)."""
        return order_service.submit_batch(self.uow_factory, self.declarer, self.key_for or self.key, self.clock,
                                          self.ids, tenant_id, items, adapter=self.channels_for(tenant_id),
                                          parsed=True, window=self.date_window)

    def file_site(self, tenant_id: str, kind: str, body):
        """Store and queue a filing of another party (docs/site-filings.md), signed like orders (``key_for``)."""
        from gateway.service import site_filing_submit

        return site_filing_submit.submit(self.uow_factory, self.declarer, self.key_for or self.key, self.clock,
                                         self.ids, tenant_id, kind, body, adapter=self.channels_for(tenant_id))

    def release_held(self, tenant_id: str, order_id: str, reason: str) -> order_service.Submitted:
        """The operator sends a held order anyway (gateway.service.holds): its filings built, signed, queued."""
        return hold_service.release_held(self.uow_factory, self.declarer, self.key_for or self.key, self.clock, self.ids,
                                  tenant_id, order_id, adapter=self.channels_for(tenant_id), reason=reason,
                                  window=self.date_window)

    def order(self, tenant_id: str, order_id: str) -> dict:
        return order_service.order_view(self.uow_factory, tenant_id, order_id)

    def filing_bytes(self, tenant_id: str, filing_id: str):
        return order_service.filing_bytes(self.uow_factory, tenant_id, filing_id)


class UowFactory:
    """``uow_factory()``: a unit of work; ``uow_factory.read_only()``: one that only reads (on SQLite
    a deferred transaction that does not queue for the write lock: gateway.store.db.reader)."""

    def __init__(self, sessions, read_sessions):
        self._sessions, self._read_sessions = sessions, read_sessions

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self._sessions)

    def read_only(self) -> UnitOfWork:
        return UnitOfWork(self._read_sessions)


def _channel_entry(settings: Settings, uow_factory, tenant_id: str, uow=None):
    """The tenant's entry of the channels file (a channel name or agency -> channel), by tenant id,
    then by its transmitting-enterprise code; None when it has none."""
    table = settings.tenant_channels
    if tenant_id in table:
        return table[tenant_id]
    if not table:
        return None
    if uow is None:
        with db.reader(uow_factory)() as fresh:
            return _channel_entry(settings, uow_factory, tenant_id, fresh)
    tenant = uow.tenants.get(tenant_id)
    return table.get(tenant.cop_code) if tenant is not None else None


def _default_channel(settings: Settings, adapters: dict) -> str:
    return settings.default_channel or next(iter(adapters))


def _routes(settings: Settings, uow_factory, adapters: dict, tenant_id: str, uow=None) -> dict[str, str | None]:
    return channels.routes(_channel_entry(settings, uow_factory, tenant_id, uow), settings.agency_channels,
                           _default_channel(settings, adapters))


def _environment_of(environments: dict[str, str], routes: dict[str, str | None]) -> str:
    """"production" when any channel a tenant's filings go out on is (its key signs them all)."""
    used = {environments.get(name, "production") for name in routes.values() if name is not None}
    return "production" if used - {"sandbox"} else "sandbox"


def production_channels(settings: Settings) -> list[str]:
    return [name for name, ch in settings.channel_table().items() if ch.get("environment", "production") != "sandbox"]


def check_production_keys(settings: Settings, key_given: bool) -> None:
    """A production channel never signs with the throw-away development key: it needs the gateway's
    own key (audit checkpoints, evidence bundles) and a key store master key (the tenants' keys,
    which alone sign filings there). One-line ConfigError otherwise."""
    production = production_channels(settings)
    if not production:
        return
    where = f"production channel {production[0]!r}"
    if settings.signing_key is None and settings.signing_backend == "software" and not key_given:
        raise ConfigError(f"{where} has no real signing key: set GATEWAY_SIGNING_KEY and GATEWAY_SIGNING_CERT, "
                          "or GATEWAY_SIGNING_BACKEND=pkcs11|bridge (the development key signs on sandbox channels only)")
    if not settings.keystore_key:
        raise ConfigError(f"{where} has no tenant keys: set GATEWAY_KEYSTORE_KEY and import each tenant's key "
                          "(gateway keys import); filings there are signed with the tenant's key only")


def bootstrap(settings: Settings | None = None, *, clock=None, ids=None, adapters=None, key=None,
              read_only: bool = False, resolver=None) -> Gateway:
    """``read_only``: for commands that only read (``gateway audit check|log``): no key checks, no
    key store master key needed (nothing is signed; a tenant key asked for is refused).
    ``resolver``: host name -> addresses for the webhook egress policy (default: the system's)."""
    settings = settings or Settings.from_env()
    if not read_only:
        check_production_keys(settings, key_given=key is not None)
    permissions.make_instance_dir(settings.instance_dir)
    clock = clock or SystemClock()
    ids = ids or UuidGenerator()
    url = settings.database_url or db.default_sqlite_url(settings.instance_dir)
    db_file = db.sqlite_file(url)
    if db_file is not None:
        permissions.create_private_file(db_file)
    engine = db.make_engine(url)
    prepare_database(settings, engine)
    uow_factory = UowFactory(db.session_factory(engine), db.session_factory(db.read_only(engine)))

    if key is None:
        key = signing_key(settings)
    declarer = make_declarer(settings, ids)
    sm2_options = sm2_options_of(settings)
    try:
        encryptor = key_store.KeyEncryptor.from_text(settings.keystore_key) if settings.keystore_key else None
        keystore = key_store.KeyStore(uow_factory, None if read_only else encryptor, clock)
        if not read_only:
            keystore.check_startup()  # keys stored but no (or another) master key: refuse to start
    except key_store.KeystoreError as e:
        raise ConfigError(str(e)) from None
    secrets = SecretBox(encryptor)
    if not read_only:
        try:
            secrets.check_startup(uow_factory)   # seals clear secrets; sealed ones it cannot open: refuse
        except SecretsError as e:
            raise ConfigError(str(e)) from None
    file_warnings = permissions.check_instance(settings.instance_dir, db_file, settings.signing_key)
    if adapters is None:
        # by name through the entry points (gateway/adapters/registry.py); the in-process sandbox is
        # the default. Adapters draw their own ids (never the gateway's, which name the filings).
        adapters = {name: registry.load_adapter(ch["adapter"], ch.get("options", {}), clock=clock, ids=UuidGenerator())
                    for name, ch in settings.channel_table().items()}
    environments = {name: ch.get("environment", "production") for name, ch in settings.channel_table().items()}
    key_for = TenantKeys(keystore, key, settings.signing_channel,
                         environment_of=lambda tenant_id: _environment_of(
                             environments, _routes(settings, uow_factory, adapters, tenant_id)))
    from gateway.adapters.webhook_http import HttpWebhookPoster

    egress = EgressPolicy.from_networks(settings.webhook_allow_networks, resolver)
    dispatcher = Dispatcher(uow_factory, adapters, clock, ids=UuidGenerator(), webhook_poster=HttpWebhookPoster(egress),
                            webhook_secrets=secrets,
                            receipt_trust=receipt_trust(settings), policy=delivery_policy(settings),
                            summaries=OrderSummaries(uow_factory, clock, declarer, key_for))
    from gateway.service.realtime179 import Realtime179

    guard = CallGuard(clock, settings.realtime179_per_minute, settings.realtime179_sources)
    realtime179 = Realtime179(uow_factory, key_for, clock, ids, settings.realtime_upload_url, sm2_options=sm2_options,
                              guard=guard)
    return Gateway(settings, engine, uow_factory, clock, ids, key, declarer, adapters, dispatcher,
                   keystore=keystore, key_for=key_for, realtime179=realtime179, egress=egress, secrets=secrets,
                   file_warnings=file_warnings)


# ---- from settings to parts (also used by `gateway declare` and `gateway dispatch run`) ------------

def prepare_database(settings: Settings, engine) -> None:
    """Migrate at start in embedded mode (SQLite; GATEWAY_AUTO_MIGRATE=embedded, the default) or
    when told to (always); otherwise refuse to start on a database behind the code, with one line
    saying what to run (a PostgreSQL deployment migrates before it deploys: ``gateway db upgrade``)."""
    mode = settings.auto_migrate
    if mode == "always" or (mode == "embedded" and engine.dialect.name == "sqlite"):
        db.upgrade(engine)
        return
    current, heads = db.current_revision(engine), db.code_heads()
    if current != heads:
        raise ConfigError(f"the database is at revision {current or '(none: empty)'}, the code at {heads}: "
                          "run `gateway db upgrade` first")


def signing_key(settings: Settings, instance_dir: Path | None = None) -> signing.KeyMaterial | TokenKey:
    """The configured key and certificate, the key on the token or behind the bridge
    (GATEWAY_SIGNING_BACKEND), else the development key of the instance folder (of the type the
    configured signature needs)."""
    if settings.signing_backend != "software":
        return _token_key(settings)
    if settings.signing_key and settings.signing_cert:
        return signing.load_key_material(settings.signing_key, settings.signing_cert)
    key_type = signing.by_name(settings.signature).key_type
    return signing.ensure_dev_key(instance_dir or settings.instance_dir, key_type=key_type)


_PARTS = {"module": "GATEWAY_PKCS11_MODULE", "token": "GATEWAY_PKCS11_TOKEN", "pin": "GATEWAY_PKCS11_PIN_FILE",
          "key": "GATEWAY_PKCS11_KEY_LABEL"}


def hardware_backend(settings: Settings):
    """The process's one PKCS#11 / bridge backend of the settings (gateway.signing.hardware); a token or
    bridge that cannot be opened is a ConfigError naming the variable."""
    try:
        cert = x509.load_pem_x509_certificate(Path(settings.pkcs11_cert).read_bytes()) if settings.pkcs11_cert else None
    except (OSError, ValueError) as e:
        raise ConfigError(f"GATEWAY_PKCS11_CERT: not a readable PEM certificate: {e}") from None
    spec = BackendSpec(settings.signing_backend, module=str(settings.pkcs11_module), token=settings.pkcs11_token,
                       key_label=settings.pkcs11_key_label, pin=settings.pkcs11_pin, certificate=cert,
                       url=settings.signing_bridge_url, password=settings.signing_bridge_password,
                       sm2_encoding=settings.sm2_encoding)
    try:
        return open_backend(spec, signing.by_name(settings.signature))
    except TokenProblem as e:
        raise ConfigError(f"{_PARTS[e.part]}: {e}") from None
    except signing.SigningError as e:
        raise ConfigError(f"GATEWAY_SIGNING_BACKEND={settings.signing_backend}: {e}") from None


def _token_key(settings: Settings) -> TokenKey:
    """The gateway key on the token / behind the bridge, checked once: its certificate is found and a
    probe signature verifies with it (the key and the certificate belong together)."""
    backend = hardware_backend(settings)
    variable = "GATEWAY_PKCS11_KEY_LABEL" if settings.signing_backend == "pkcs11" else "GATEWAY_SIGNING_BRIDGE_URL"
    label = settings.pkcs11_key_label if settings.signing_backend == "pkcs11" else None
    try:
        if label is not None:
            backend.sign(b"gateway start-up probe", label)     # the private key first: its error says so
        key = TokenKey.of(backend, label)
        if settings.signing_backend == "pkcs11":
            key.check(signing.by_name(settings.signature))
    except TokenProblem as e:
        raise ConfigError(f"{_PARTS[e.part]}: {e}") from None
    except signing.SigningError as e:
        raise ConfigError(f"{variable}: {e}") from None
    return key


def sm2_options_of(settings: Settings) -> signing.Sm2Options:
    return signing.Sm2Options(encoding=settings.sm2_encoding, user_id=settings.sm2_user_id.encode("ascii"))


def make_declarer(settings: Settings, ids) -> Declarer:
    """A declarer signing as the settings say: the configured signature for keys of its type, the
    configured SM2 variant (or rsa-sha1) for the other type, SM2 options and signed input."""
    algorithms = signing.by_name(settings.signature)
    sm2_options = sm2_options_of(settings)
    if settings.signing_backend == "software":
        signer = signing.XmlSigner(algorithms, sm2=sm2_options, signed_input=settings.signed_input)
    else:    # the gateway key's signatures through the token / bridge, tenants' KeyMaterials in software
        backend = Routing(hardware_backend(settings), signing.software_backend(algorithms, sm2_options))
        signer = signing.XmlSigner(algorithms, backend, signed_input=settings.signed_input)
    other = signing.by_name(settings.sm2_signature if algorithms.key_type == "rsa" else signing.DEFAULT_RSA_NAME)
    signers = {algorithms.key_type: signer,
               other.key_type: signing.XmlSigner(other, sm2=sm2_options, signed_input=settings.signed_input)}
    return Declarer(signer, ids, signers=signers)


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    """The dispatcher's batch, send concurrency, lease, backoff, breaker and webhook settings."""
    d = DeliveryPolicy()
    lease = settings.dispatch_lease_seconds
    return replace(
        d,
        batch_size=settings.dispatch_batch,
        send_concurrency=settings.send_concurrency,
        lease_seconds=d.lease_seconds if lease is None else lease,
        backoff=Backoff(base=settings.retry_base_seconds, factor=d.backoff.factor, cap=settings.retry_max_seconds),
        breaker=BreakerPolicy(threshold=settings.breaker_threshold, cooldown_seconds=settings.breaker_cooldown_seconds,
                              max_cooldown_seconds=settings.breaker_max_cooldown_seconds,
                              probe_lease_seconds=d.breaker.probe_lease_seconds if lease is None else lease),
        webhook_backoff=Backoff(base=settings.webhook_retry_base_seconds, factor=d.webhook_backoff.factor,
                                cap=settings.webhook_retry_max_seconds),
        webhook_timeout_seconds=settings.webhook_timeout_seconds,
        webhook_max_attempts=settings.webhook_max_attempts,
    )


def receipt_trust(settings: Settings) -> ChannelTrust:
    """The receipt signature policy of every channel (gateway.service.delivery.receipt_trust): a
    channel's own ``receipt_signatures``, else GATEWAY_RECEIPT_SIGNATURES, else ``required`` on
    production channels and ``if-present`` on sandboxes. Refused at start-up (one line): ``required``
    without trusted government certificates; ``if-present`` / ``none`` on a production channel
    without GATEWAY_RECEIPT_SIGNATURES_OVERRIDE (which is logged)."""
    certs = []
    for path in settings.government_certs:
        try:
            certs.append(x509.load_pem_x509_certificate(Path(path).read_bytes()))
        except ValueError as exc:
            raise ConfigError(f"GATEWAY_GOVERNMENT_CERTS: {path} is not a PEM certificate: {exc}") from None
    expectation = signing.Expectation(trusted_certificates=tuple(certs) or None)
    by_channel, production = {}, None
    for name, ch in settings.channel_table().items():
        environment = ch.get("environment", "production")
        mode = ch.get("receipt_signatures") or settings.receipt_signatures or (
            "if-present" if environment == "sandbox" else "required")
        where = f"channel {name!r} ({environment})"
        if mode not in MODES:
            raise ConfigError(f"{where}: receipt_signatures must be none, if-present or required, not {mode!r}")
        if mode == "required" and not certs:
            raise ConfigError(f"{where} requires signed receipts but GATEWAY_GOVERNMENT_CERTS names no trusted "
                              "government certificate (any self-signed key would pass)")
        if environment != "sandbox" and mode != "required":
            if not settings.receipt_signatures_override:
                raise ConfigError(f"{where}: receipt signatures {mode!r} are allowed on sandbox channels only "
                                  "(production needs 'required'; GATEWAY_RECEIPT_SIGNATURES_OVERRIDE=true to insist)")
            log.warning("%s: receipts are accepted with signatures %r on a production channel "
                        "(GATEWAY_RECEIPT_SIGNATURES_OVERRIDE)", where, mode)
        by_channel[name] = ReceiptTrust(mode, expectation)
        if environment != "sandbox":
            production = production or by_channel[name]
    # a receipt pushed for a channel that is not configured: as strict as a production channel
    return ChannelTrust(by_channel, production or ReceiptTrust("if-present", expectation))

