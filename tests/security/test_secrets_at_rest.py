"""Issue 9, item 8: secrets at rest. Webhook secrets are sealed (AES-256-GCM) under the key-store
master key and still sign every delivery; without a master key (the sandbox / development default)
they stay in clear with a start-up warning and are sealed at the first start with one; sealed
secrets that cannot be opened refuse the start. The instance folder is 0700, the database and key
files 0600; looser modes are reported at start-up."""
from __future__ import annotations

import base64
import logging
import os
import stat

import pytest
from sqlalchemy import select, update

from gateway.adapters.sandbox import SandboxGovernment
from gateway.api import create_app
from gateway.bootstrap import bootstrap
from gateway.config import ConfigError, Settings
from gateway.ports import SequentialIds, UuidGenerator
from gateway.service.delivery.webhook_secrets import SecretBox
from gateway.signing.keystore import KeyEncryptor
from gateway.store import models as m
from tests.delivery_helpers import LOOPBACK, ManualClock, WebhookReceiver
from tests.helpers import add_tenant, fixture_text

MASTER = base64.b64encode(b"m" * 32).decode()
OTHER = base64.b64encode(b"o" * 32).decode()


def start(tmp_path, signing_key, master=None):
    clock = ManualClock()
    sandbox = SandboxGovernment(clock=clock, ids=SequentialIds(prefix="5A4D8B00-0000-4000-9000"))
    settings = Settings(instance_dir=tmp_path / "instance", keystore_key=master, webhook_allow_networks=LOOPBACK)
    return bootstrap(settings, clock=clock, ids=UuidGenerator(),
                     adapters={"sandbox": sandbox}, key=signing_key)


def stored_secrets(gw) -> list[str]:
    with gw.uow_factory() as uow:
        return list(uow.session.scalars(select(m.Webhook.secret).order_by(m.Webhook.created_at)))


def register(gw, key, url) -> dict:
    r = create_app(gw).test_client().post("/v1/webhooks", json={"url": url}, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 201, r.json
    return r.json


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def receiver():
    r = WebhookReceiver()
    yield r
    r.close()


def test_secrets_are_sealed_under_the_master_key_and_still_sign(tmp_path, signing_key, receiver):
    gw = start(tmp_path, signing_key, MASTER)
    tenant, key = add_tenant(gw)
    hook = register(gw, key, receiver.url)
    (stored,) = stored_secrets(gw)
    assert stored.startswith("enc1:") and len(stored) <= 100
    raw = base64.b64decode(hook["secret"][len("whsec_"):])
    assert hook["secret"] not in stored and base64.b64encode(raw).decode() not in stored
    receiver.secret = hook["secret"]
    gw.submit(tenant, fixture_text("1210-single-line.json"))
    gw.dispatcher.run_once()
    assert receiver.accepted() and receiver.bad_signatures == 0
    db = tmp_path / "instance" / "gateway.sqlite3"
    for path in (db, db.with_name(db.name + "-wal")):
        if path.exists():
            assert hook["secret"].encode() not in path.read_bytes() and raw not in path.read_bytes()


def test_without_a_master_key_secrets_stay_clear_with_a_warning_then_are_sealed(tmp_path, signing_key, receiver,
                                                                               caplog):
    gw = start(tmp_path, signing_key)
    tenant, key = add_tenant(gw)
    hook = register(gw, key, receiver.url)
    assert stored_secrets(gw) == [hook["secret"]]                 # the development default
    with caplog.at_level(logging.WARNING, logger="gateway.webhooks"):
        start(tmp_path, signing_key)
    assert any("stored in clear" in r.getMessage() for r in caplog.records)
    sealed = start(tmp_path, signing_key, MASTER)                 # first start with a master key
    (stored,) = stored_secrets(sealed)
    assert stored.startswith("enc1:")
    receiver.secret = hook["secret"]
    sealed.submit(tenant, fixture_text("1210-single-line.json"))
    sealed.dispatcher.run_once()
    assert receiver.accepted() and receiver.bad_signatures == 0


def test_sealed_secrets_without_or_with_another_master_key_refuse_to_start(tmp_path, signing_key, receiver):
    gw = start(tmp_path, signing_key, MASTER)
    _tenant, key = add_tenant(gw)
    register(gw, key, receiver.url)
    with pytest.raises(ConfigError, match="GATEWAY_KEYSTORE_KEY"):
        start(tmp_path, signing_key)
    with pytest.raises(ConfigError, match="does not open"):
        start(tmp_path, signing_key, OTHER)


def test_a_sealed_secret_moved_to_another_webhook_does_not_open(tmp_path, signing_key, receiver):
    gw = start(tmp_path, signing_key, MASTER)
    _tenant, key = add_tenant(gw)
    register(gw, key, receiver.url)
    register(gw, key, receiver.url + "2")
    first, _second = stored_secrets(gw)
    with gw.uow_factory() as uow:
        uow.session.execute(update(m.Webhook).where(m.Webhook.url == receiver.url + "2").values(secret=first))
        uow.commit()
    with pytest.raises(ConfigError, match="does not open"):
        start(tmp_path, signing_key, MASTER)


def test_older_secrets_seal_and_open_to_the_same_text():
    box = SecretBox(KeyEncryptor.from_text(MASTER))
    for secret in ("whsec_" + base64.urlsafe_b64encode(b"\xfb" * 32).decode().rstrip("="),
                   "whsec_" + base64.b64encode(b"\xfb" * 32).decode()):
        sealed = box.seal("HOOK-1", secret)
        assert sealed.startswith("enc1:") and len(sealed) <= 100 and box.open("HOOK-1", sealed) == secret


def test_instance_files_are_private_and_looser_modes_are_reported(tmp_path, signing_key):
    old = os.umask(0o022)                  # a common default: files 0644, folders 0755
    try:
        gw = start(tmp_path / "fresh", signing_key)
        add_tenant(gw)
        instance = tmp_path / "fresh" / "instance"
        assert mode(instance) == 0o700
        assert mode(instance / "gateway.sqlite3") == 0o600
        assert mode(instance / "gateway.sqlite3-wal") == 0o600
        assert gw.file_warnings == ()
        os.chmod(instance, 0o755)
        os.chmod(instance / "gateway.sqlite3", 0o644)
        again = start(tmp_path / "fresh", signing_key)
        assert len(again.file_warnings) == 2
        assert any("gateway.sqlite3 is mode 0644" in w and "chmod 0600" in w for w in again.file_warnings)
        assert any("instance is mode 0755" in w for w in again.file_warnings)
    finally:
        os.umask(old)


def test_a_webhook_whose_secret_will_not_open_waits_and_does_not_hold_up_the_others(tmp_path, signing_key,
                                                                                    receiver):
    gw = start(tmp_path, signing_key, MASTER)
    tenant, key = add_tenant(gw)
    good = register(gw, key, receiver.url)
    broken = register(gw, key, receiver.url.replace("127.0.0.1", "127.0.0.2"))
    with gw.uow_factory() as uow:                        # altered after start-up checked it
        uow.session.execute(update(m.Webhook).where(m.Webhook.id == broken["id"]).values(secret="enc1:AAAA"))
        uow.commit()
    receiver.secret = good["secret"]
    gw.submit(tenant, fixture_text("1210-single-line.json"))
    gw.dispatcher.run_once()
    assert receiver.accepted()                            # the readable hook's deliveries went out
    with gw.uow_factory() as uow:
        waiting = uow.session.execute(
            select(m.WebhookDelivery.state, m.WebhookDelivery.last_error, m.WebhookDelivery.next_attempt_at,
                   m.WebhookDelivery.created_at)
            .where(m.WebhookDelivery.webhook_id == broken["id"])).all()
    assert waiting and all(state == "pending" and "secret unreadable" in (error or "") and at > created
                           for state, error, at, created in waiting), waiting     # put off, with the reason
