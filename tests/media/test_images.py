"""Product images with real files: a PNG, a phone JPEG whose EXIF GPS must be gone, a renamed text file,
a decompression bomb, an oversized upload; renditions served with long cache headers; nothing written
outside the media directory."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from shop.core.db import db
from shop.core.models import OutboxMessage
from shop.media.models import ProductImage
from shop.media.storage import BadKey, LocalStore
from tests.backoffice.helpers import admin_api, make_catalogue, upload
from tests.media import files

WIDTHS = (240, 480, 960)


def _files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def shop(inline_app):
    api = admin_api(inline_app.test_client())
    product = make_catalogue(api)
    return api, product["id"], inline_app.extensions["settings"].media_dir


def test_a_png_becomes_webp_and_jpeg_renditions_served_for_a_year(shop):
    api, product_id, media_dir = shop
    r = upload(api, f"/api/v1/admin/products/{product_id}/images", files.png())
    assert r.status_code == 201, r.json
    assert r.json["status"] == "pending" and r.json["url"].endswith("/960.jpg")

    image = db.session.scalar(select(ProductImage))
    assert (image.status, image.source_format, image.width, image.height) == ("ready", "PNG", 640, 480)
    served = api.client.get(r.json["url"])
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert (
        "immutable" in served.headers["Cache-Control"]
        and "max-age=31536000" in served.headers["Cache-Control"]
    )
    with Image.open(io.BytesIO(served.data)) as im:
        assert im.format == "JPEG" and im.size == (640, 480)  # never enlarged past the original

    listed = api.client.get("/api/v1/products").json["items"][0]["images"]
    assert len(listed) == 1 and listed[0]["cover"] is True and listed[0]["url"] == r.json["url"]
    by_width = {r["width"]: r for r in listed[0]["renditions"]}
    assert set(by_width) == {240, 480, 640}
    webp = api.client.get(by_width[240]["webp"])
    with Image.open(io.BytesIO(webp.data)) as im:
        assert webp.mimetype == "image/webp" and im.format == "WEBP" and im.size == (240, 180)
    assert _files_under(media_dir) == {
        f"products/{image.key}/{name}"
        for name in ["master.jpg"] + [f"{w}.{ext}" for w in WIDTHS for ext in ("webp", "jpg")]
    }  # the upload itself is gone once processed


def test_a_phone_photo_is_turned_upright_and_its_gps_position_is_gone(shop):
    api, product_id, media_dir = shop
    original = files.jpeg_with_gps()
    tags, gps, _raw = files.exif_of(original)
    assert gps[2] == (39.0, 5.0, 24.0) and tags[files.MAKE] == "GanguTestCam"  # the test file has them

    r = upload(api, f"/api/v1/admin/products/{product_id}/images", original, "IMG_0001.JPG", "image/jpeg")
    assert r.status_code == 201
    image = db.session.scalar(select(ProductImage))
    assert (image.width, image.height) == (480, 640)  # the EXIF orientation was applied before stripping
    stored = sorted((media_dir / "products" / image.key).iterdir())
    assert len(stored) == 7
    for path in stored:
        data = path.read_bytes()
        tags, gps, raw = files.exif_of(data)
        assert tags == {} and gps == {} and raw is None, path.name
        assert b"GanguTestCam" not in data and b"Exif" not in data
    assert not (media_dir / "uploads").exists() or not any((media_dir / "uploads").iterdir())


@pytest.mark.parametrize(
    ("content", "name", "mimetype", "status", "slug"),
    [
        (files.text_renamed(), "apples.jpg", "image/jpeg", 415, "unsupported-media-type"),
        (b"GIF89a" + b"\0" * 100, "a.gif", "image/gif", 415, "unsupported-media-type"),
        (files.decompression_bomb(), "field.png", "image/png", 422, "image-too-many-pixels"),
        (files.png()[:200], "cut.png", "image/png", 422, "broken-image"),
        (b"", "empty.png", "image/png", 422, "empty-upload"),
    ],
    ids=["renamed-text", "gif", "bomb", "truncated", "empty"],
)
def test_what_is_not_a_usable_image_is_refused_and_nothing_is_kept(
    shop, content, name, mimetype, status, slug
):
    api, product_id, media_dir = shop
    if slug == "image-too-many-pixels":
        assert len(content) < 100_000  # small on disk, 64 megapixels decoded
    r = upload(api, f"/api/v1/admin/products/{product_id}/images", content, name, mimetype)
    assert r.status_code == status and r.content_type == "application/problem+json", r.data[:300]
    assert r.json["type"].endswith(slug) and r.json["errors"][0]["field"] == "file"
    assert db.session.scalar(select(func.count()).select_from(ProductImage)) == 0
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert _files_under(media_dir) == set()


def test_oversized_uploads_are_413_and_the_one_megabyte_limit_stays_elsewhere(shop):
    api, product_id, media_dir = shop
    big = os.urandom(8 * 1024 * 1024 + 200 * 1024)
    r = upload(api, f"/api/v1/admin/products/{product_id}/images", big, "big.jpg", "image/jpeg")
    assert r.status_code == 413 and r.content_type == "application/problem+json"
    just_over = os.urandom(8 * 1024 * 1024 + 10)  # within the envelope's slack, over the file limit
    r = upload(api, f"/api/v1/admin/products/{product_id}/images", just_over, "big.jpg", "image/jpeg")
    assert r.status_code == 413 and r.json["errors"] == [
        {"field": "file", "message": "larger than the limit"}
    ]
    r = api.post("/api/v1/admin/categories", json={"code": "x", "name": "x" * (2 * 1024 * 1024)})
    assert r.status_code == 413
    assert _files_under(media_dir) == set()


def test_client_file_names_and_types_are_never_trusted(shop):
    api, product_id, media_dir = shop
    r = upload(
        api,
        f"/api/v1/admin/products/{product_id}/images",
        files.png(),
        "../../../../tmp/evil.sh",
        "text/x-sh",
    )
    assert r.status_code == 201  # judged by its content: a PNG
    image = db.session.scalar(select(ProductImage))
    assert all(p.startswith(f"products/{image.key}/") for p in _files_under(media_dir))
    assert not Path("/tmp/evil.sh").exists()
    # JSON sent to the upload endpoint is not a file.
    assert api.post(f"/api/v1/admin/products/{product_id}/images", json={"file": "x"}).status_code == 422
    # Only rendition addresses are served: not uploads, not certificates, not paths out of the store.
    for path in ("/media/../config/__init__.py", f"/media/uploads/{image.key}", "/media/certificates/x.pdf"):
        assert api.client.get(path).status_code == 404, path


def test_the_store_refuses_keys_that_leave_its_directory(tmp_path):
    store = LocalStore(tmp_path / "media")
    for key in ("../x", "/etc/passwd", "a/../../x", ".hidden", "products/../../x", "a//b", "A/B"):
        with pytest.raises(BadKey):
            store.put(key, b"x", content_type="text/plain")
    (tmp_path / "media" / "products").symlink_to(tmp_path)
    with pytest.raises(BadKey):
        store.put("products/escape", b"x", content_type="text/plain")
    assert not (tmp_path / "escape").exists()


def test_images_are_ordered_the_first_is_the_cover_and_removal_deletes_files(shop):
    api, product_id, media_dir = shop
    ids = [
        upload(api, f"/api/v1/admin/products/{product_id}/images", files.png()).json["id"] for _ in range(3)
    ]
    r = api.client.put(
        f"/api/v1/admin/products/{product_id}/images/order",
        json={"ids": [ids[2]]},
        headers=api._headers(None),
    )
    assert [i["id"] for i in r.json["items"]] == [ids[2], ids[0], ids[1]]
    shown = api.client.get(f"/api/v1/products/{product_id}").json["images"]
    assert [i["id"] for i in shown] == [ids[2], ids[0], ids[1]] and [i["cover"] for i in shown] == [
        True,
        False,
        False,
    ]
    key = db.session.get(ProductImage, ids[2]).key
    assert api.client.delete(f"/api/v1/admin/images/{ids[2]}", headers=api._headers(None)).status_code == 204
    assert not (media_dir / "products" / key).exists() or not any((media_dir / "products" / key).iterdir())
    assert api.client.get(f"/api/v1/products/{product_id}").json["images"][0]["id"] == ids[0]


def test_an_upload_retried_with_its_idempotency_key_is_kept_once(shop):
    api, product_id, _ = shop
    # A client retrying sends the same bytes (the same multipart boundary).
    body = (
        b"--fixedboundary\r\n"
        b'Content-Disposition: form-data; name="file"; filename="p.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + files.png() + b"\r\n--fixedboundary--\r\n"
    )
    headers = {**api._headers(None), "Idempotency-Key": "photo-1"}
    answers = [
        api.client.post(
            f"/api/v1/admin/products/{product_id}/images",
            data=body,
            content_type="multipart/form-data; boundary=fixedboundary",
            headers=headers,
        )
        for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [201, 201] and answers[0].json == answers[1].json
    assert answers[1].headers["Idempotent-Replayed"] == "true"
    assert db.session.scalar(select(func.count()).select_from(ProductImage)) == 1


def test_processing_twice_changes_nothing_and_a_pending_image_answers_503(app):
    from shop.media import services

    api = admin_api(app.test_client())  # delivery through the broker: nothing processed yet
    product_id = make_catalogue(api)["id"]
    r = upload(api, f"/api/v1/admin/products/{product_id}/images", files.png())
    pending = api.client.get(r.json["url"])
    assert pending.status_code == 503 and pending.headers["Retry-After"] == "2"
    image_id = r.json["id"]
    assert services.process_image(image_id) == "ready"
    assert services.process_image(image_id) == "ready"
    assert api.client.get(r.json["url"]).status_code == 200
    db.session.rollback()
    assert db.session.get(ProductImage, image_id).status == "ready"
