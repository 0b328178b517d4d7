"""Delivering buyer notices: every notice is shown on the buyer's order pages; with
``NOTIFY_SENDER=smtp`` it is also mailed through ``SMTP_URL`` (smtp://user:password@host:port)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from flask import current_app
from sqlalchemy import update

from shop.accounts.models import User
from shop.core.db import atomic, db, utcnow
from shop.orders.models import Order, OrderNotice

SUBJECTS = {
    "paid": ("订单已付款", "Your order is paid"),
    "expired": ("订单未按时付款，已失效", "Your order expired unpaid"),
    "cancelled": ("订单已取消", "Your order was cancelled"),
    "refunded": ("订单已退款", "Your order was refunded"),
    "auto_refunded": ("付款已自动退回", "Your payment was refunded automatically"),
    "payment_failed": ("付款未成功", "Your payment did not go through"),
}


def notice_text(kind: str) -> tuple[str, str]:
    return SUBJECTS.get(kind, ("订单有更新", "Your order was updated"))


def _send_mail(to: str, subject: str, body: str) -> None:
    url = urlsplit(current_app.extensions["settings"].SMTP_URL)
    with smtplib.SMTP(url.hostname or "127.0.0.1", url.port or 25, timeout=10) as smtp:
        if url.scheme == "smtp+starttls":
            smtp.starttls()
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        msg = EmailMessage()
        msg["From"] = f"noreply@{url.hostname or 'localhost'}"
        msg["To"] = to
        msg["Subject"] = subject
        msg.set_content(body)
        smtp.send_message(msg)


def deliver_notice(notice_id: int) -> str:
    """Deliver one notice (mail when configured) and mark it delivered; a delivered notice is skipped."""
    notice = db.session.get(OrderNotice, notice_id)
    if notice is None or notice.delivered_at is not None:
        return "nothing to deliver"
    if current_app.extensions["settings"].NOTIFY_SENDER == "smtp":
        order = db.session.get(Order, notice.order_id)
        user = db.session.get(User, notice.user_id)
        zh, en = notice_text(notice.kind)
        db.session.rollback()  # no transaction open while talking to the mail server
        _send_mail(
            user.email,
            f"{zh} / {en} · {order.number}",
            f"{zh}\n{en}\n\n{current_app.extensions['settings'].PUBLIC_BASE_URL}/orders/{order.id}",
        )
    with atomic():
        db.session.execute(
            update(OrderNotice)
            .where(OrderNotice.id == notice_id, OrderNotice.delivered_at.is_(None))
            .values(delivered_at=utcnow())
        )
    return "delivered"
