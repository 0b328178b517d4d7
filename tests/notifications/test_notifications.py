import socket

import pytest
from sqlalchemy import func, select

from shop.core.db import atomic, db
from shop.core.models import OutboxMessage
from shop.notifications.models import Notification
from shop.notifications.services import deliver, for_user, notify
from tests.conftest import create_user


def test_notify_is_queued_with_the_change_and_deduplicated(app):
    user = create_user("buyer@example.cn")
    for _ in range(2):
        with atomic():
            notify(
                dedupe_key="order:1:paid", kind="order_paid", subject="已支付", body="订单已支付", user=user
            )
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 1
    msg = db.session.scalar(select(OutboxMessage).where(OutboxMessage.task == "shop.notifications.send"))
    assert msg is not None


def test_store_sender_marks_stored_and_delivery_is_idempotent(app):
    user = create_user("buyer@example.cn")
    with atomic():
        note = notify(dedupe_key="k1", kind="x", subject="s", body="b", user=user)
    assert deliver(note.id) == "stored"
    assert deliver(note.id) == "stored"
    db.session.expire_all()
    assert [n.status for n in for_user(user.id)] == ["stored"]
    assert db.session.get(Notification, note.id).attempts == 1


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_smtp_sender_sends_a_real_email(app):
    from aiosmtpd.controller import Controller

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope)
            return "250 OK"

    port = _free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    settings = app.extensions["settings"]
    settings.NOTIFY_SENDER, settings.SMTP_URL = "smtp", f"smtp://127.0.0.1:{port}?from=shop@gangu.example"
    try:
        user = create_user("buyer@example.cn")
        with atomic():
            note = notify(
                dedupe_key="k2", kind="x", subject="取货码 123456", body="请到华明馆取货", user=user
            )
        assert deliver(note.id) == "sent"
    finally:
        controller.stop()
        settings.NOTIFY_SENDER, settings.SMTP_URL = "store", ""
    assert len(received) == 1
    assert received[0].rcpt_tos == ["buyer@example.cn"]
    assert (
        "华明馆".encode() in received[0].content
        or b"=E5=8D=8E" in received[0].content
        or b"5Y2O" in received[0].content
    )


def test_smtp_failure_keeps_it_pending_for_retry(app):
    settings = app.extensions["settings"]
    settings.NOTIFY_SENDER, settings.SMTP_URL = "smtp", f"smtp://127.0.0.1:{_free_port()}"
    try:
        user = create_user("buyer@example.cn")
        with atomic():
            note = notify(dedupe_key="k3", kind="x", subject="s", body="b", user=user)
        with pytest.raises(OSError):
            deliver(note.id)
    finally:
        settings.NOTIFY_SENDER, settings.SMTP_URL = "store", ""
    db.session.expire_all()
    n = db.session.get(Notification, note.id)
    assert n.status == "pending" and n.attempts == 1
