"""The composition root: one place that wires settings to real parts (database, signer, keys,
adapters, dispatcher). Tests pass fakes in here instead of patching."""
from __future__ import annotations

from dataclasses import dataclass

from gateway import signing
from gateway.adapters.sandbox import SandboxGovernment
from gateway.config import Settings
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

    def submit(self, tenant_id: str, body) -> order_service.Submitted:
        return order_service.submit_order(self.uow_factory, self.declarer, self.key, self.clock, self.ids,
                                          tenant_id, body, adapter=self.settings.adapter)

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

    if key is None:
        if settings.signing_key:
            key = signing.load_key_material(settings.signing_key, settings.signing_cert)
        else:
            key = signing.ensure_dev_key(settings.instance_dir)
    signer = signing.XmlSigner(signing.by_name(settings.signature))
    declarer = Declarer(signer, ids)
    if adapters is None:
        adapters = {"sandbox": SandboxGovernment(clock=clock, ids=UuidGenerator())}
    dispatcher = Dispatcher(uow_factory, adapters, clock)
    return Gateway(settings, engine, uow_factory, clock, ids, key, declarer, adapters, dispatcher)
