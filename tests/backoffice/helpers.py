"""Builders for the back-office tests: an admin's API client and a small catalogue made through the API."""

from __future__ import annotations

import io

from PIL import Image

from shop.accounts.services import find_user_by_email
from tests.conftest import ApiClient, create_user

ADMIN = "admin@bo.example.cn"


def admin_api(client) -> ApiClient:
    # Creating the account again would reset its password, which ends its web sessions.
    if find_user_by_email(ADMIN) is None:
        create_user(ADMIN, role="admin")
    return ApiClient(client).as_user(ADMIN)


def png_bytes(width: int = 640, height: int = 480, color=(200, 40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "PNG")
    return buf.getvalue()


def upload(api: ApiClient, path: str, content: bytes, name: str = "photo.png", mimetype: str = "image/png"):
    return api.client.post(
        path,
        data={"file": (io.BytesIO(content), name, mimetype)},
        content_type="multipart/form-data",
        headers=api._headers(None),
    )


def patch(api: ApiClient, path: str, body: dict):
    return api.client.patch(path, json=body, headers=api._headers(None))


PRODUCER = {
    "code": "xiping-coop",
    "name": "西坪镇花椒合作社",
    "township": "西坪镇",
    "village": "西坪村",
    "kind": "cooperative",
    "linked_households": 42,
}
PRODUCT = {
    "name": "西坪花椒",
    "name_en": "Xiping Sichuan pepper",
    "category": "pepper",
    "producer": "xiping-coop",
    "description": "七月采摘。",
    "variants": [
        {"sku": "XP-PEP-250G", "name": "花椒 250克", "price_fen": 4500, "perishable": True},
        {"sku": "XP-PEP-500G", "name": "花椒 500克", "price_fen": 8500, "perishable": True},
    ],
}


def make_catalogue(api: ApiClient) -> dict:
    """A category, a producer and a product with two variants, made through the API."""
    assert api.post("/api/v1/admin/categories", json={"code": "pepper", "name": "花椒"}).status_code == 201
    assert api.post("/api/v1/admin/producers", json=PRODUCER).status_code == 201
    r = api.post("/api/v1/admin/products", json=PRODUCT)
    assert r.status_code == 201, r.json
    return r.json


def operator_without_location(email: str, name: str = "展位操作员"):
    """An operator account not working anywhere yet (the back office assigns them a location); made
    directly, as the CLI insists on a location and invitations are another page's business."""
    from shop.accounts.models import User
    from shop.accounts.services import hash_password
    from shop.core.db import atomic, db

    with atomic():
        user = User(email=email, name=name, password_hash=hash_password("password-123"), role="operator")
        db.session.add(user)
    return user
