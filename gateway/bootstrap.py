"""The composition root: one place that wires settings to real parts (database, signer, keys,
adapters, dispatcher). Tests pass fakes in here instead of patching."""
from __future__ import annotations

from dataclasses import dataclass

from gateway import signing
from gateway.adapters import registry
from gateway.config import Settings, receipt_trust
from gateway.ports import SystemClock, UuidGenerator
from gateway.service import orders as order_service
from gateway.service.declare import Declarer
from gateway.service.dispatch import Dispatcher
from gateway.store import db
from gateway.store.uow import UnitOfWork


@dataclass
class Gateway:
    settings: Settings
    engine: object
    uow_factory: object
    clock: object
    ids: object
    key: signing.KeyMaterial
    declarer: Declarer
    adapters: dict
    dispatcher: Dispatcher
    keystore: object = None      # gateway.signing.keystore.KeyStore (tenant keys, encrypted)
    key_for: object = None       # tenant id -> signing key (tenant's key store key, else ``key``)
    realtime179: object = None   # gateway.service.realtime179.Realtime179 (platDataOpen, 179 upload)

    def channel_for(self, tenant_id: str) -> str:
        """The delivery channel (adapter name in the outbox) of a tenant: by tenant id, then by its
        transmitting-enterprise code, then the default channel."""
        table = self.settings.tenant_channels
        if tenant_id in table:
            return table[tenant_id]
        if table:
            with self.uow_factory() as uow:
                tenant = uow.tenants.get(tenant_id)
                if tenant is not None and tenant.cop_code in table:
                    return table[tenant.cop_code]
        return self.settings.default_channel or next(iter(self.adapters))

    def submit(self, tenant_id: str, body) -> order_service.Submitted:
        return order_service.submit_order(self.uow_factory, self.declarer, self.key_for or self.key, self.clock,
                                          self.ids, tenant_id, body, adapter=self.channel_for(tenant_id))

    def order(self, tenant_id: str, order_id: str) -> dict:
        return order_service.order_view(self.uow_factory, tenant_id, order_id)

    def filing_bytes(self, tenant_id: str, filing_id: str):
        return order_service.filing_bytes(self.uow_factory, tenant_id, filing_id)


def bootstrap(settings: Settings | None = None, *, clock=None, ids=None, adapters=None, key=None) -> Gateway:
    settings = settings or Settings.from_env()
    settings.instance_dir.mkdir(parents=True, exist_ok=True)
    clock = clock or SystemClock()
    ids = ids or UuidGenerator()
    url = settings.database_url or db.default_sqlite_url(settings.instance_dir)
    engine = db.make_engine(url)
    db.upgrade(engine)
    sessions = db.session_factory(engine)

    def uow_factory():
        return UnitOfWork(sessions)

    from gateway.config import ConfigError
    from gateway.signing import keystore as key_store

    algorithms = signing.by_name(settings.signature)
    if key is None:
        if settings.signing_key:
            key = signing.load_key_material(settings.signing_key, settings.signing_cert)
        else:
            key = signing.ensure_dev_key(settings.instance_dir, key_type=algorithms.key_type)
    sm2_options = signing.Sm2Options(encoding=settings.sm2_encoding, user_id=settings.sm2_user_id.encode("ascii"))
    signer = signing.XmlSigner(algorithms, sm2=sm2_options, signed_input=settings.signed_input)
    other = signing.by_name(settings.sm2_signature if algorithms.key_type == "rsa" else "rsa-sha256")
    signers = {algorithms.key_type: signer,
               other.key_type: signing.XmlSigner(other, sm2=sm2_options, signed_input=settings.signed_input)}
    declarer = Declarer(signer, ids, signers=signers)
    try:
        encryptor = key_store.KeyEncryptor.from_text(settings.keystore_key) if settings.keystore_key else None
        keystore = key_store.KeyStore(uow_factory, encryptor, clock)
        keystore.check_startup()      # keys stored but no (or another) master key: refuse to start
    except key_store.KeystoreError as e:
        raise ConfigError(str(e)) from None
    key_for = key_store.TenantKeys(keystore, key, settings.signing_channel)
    if adapters is None:
        # by name through the entry points (gateway/adapters/registry.py); the in-process sandbox is
        # the default. Adapters draw their own ids (never the gateway's, which name the filings).
        adapters = {name: registry.load_adapter(ch["adapter"], ch.get("options", {}), clock=clock, ids=UuidGenerator())
                    for name, ch in settings.channel_table().items()}
    from gateway.adapters.webhook_http import HttpWebhookPoster

    dispatcher = Dispatcher(uow_factory, adapters, clock, ids=UuidGenerator(), webhook_poster=HttpWebhookPoster(),
                            receipt_trust=receipt_trust(settings))
    from gateway.service.realtime179 import Realtime179

    realtime179 = Realtime179(uow_factory, key_for, clock, ids, settings.realtime_upload_url, sm2_options=sm2_options)
    return Gateway(settings, engine, uow_factory, clock, ids, key, declarer, adapters, dispatcher,
                   keystore=keystore, key_for=key_for, realtime179=realtime179)
