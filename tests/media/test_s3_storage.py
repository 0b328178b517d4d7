"""Media in an S3-compatible bucket: moto's S3 server (a local HTTP stand-in for S3, in this process)
takes the uploads and renditions through boto3, exactly as MinIO or AWS would."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request

import boto3
import pytest
from moto.server import ThreadedMotoServer
from PIL import Image
from sqlalchemy import select

from shop.core.db import db
from shop.media.models import ProductImage
from tests.backoffice.helpers import admin_api, make_catalogue, upload
from tests.conftest import make_app, migrate, truncate_all
from tests.media import files

BUCKET = "gangu-media"
PUBLIC_RENDITIONS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/products/*",
        }
    ],
}


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_app(s3_endpoint, pg_url, redis_url, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    app = make_app(
        pg_url,
        redis_url,
        tmp_path,
        MEDIA_STORAGE="s3",
        MEDIA_S3_BUCKET=BUCKET,
        MEDIA_S3_ENDPOINT_URL=s3_endpoint,
        MEDIA_S3_REGION="us-east-1",
        OUTBOX_DELIVERY="inline",
    )
    migrate(app)
    truncate_all(app)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def _keys(endpoint: str) -> set[str]:
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    return {o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def test_uploads_and_renditions_live_in_the_bucket_without_their_exif(s3_app, s3_endpoint, tmp_path):
    api = admin_api(s3_app.test_client())
    product_id = make_catalogue(api)["id"]
    r = upload(
        api, f"/api/v1/admin/products/{product_id}/images", files.jpeg_with_gps(), "x.jpg", "image/jpeg"
    )
    assert r.status_code == 201, r.json
    image = db.session.scalar(select(ProductImage))
    assert image.status == "ready"
    assert _keys(s3_endpoint) == {
        f"products/{image.key}/{n}"
        for n in ["master.jpg"] + [f"{w}.{e}" for w in (240, 480, 960) for e in ("webp", "jpg")]
    }
    assert not (tmp_path / "media").exists()  # nothing went to the local directory

    served = api.client.get(r.json["url"])  # through the shop, read from the bucket
    assert served.status_code == 200 and "immutable" in served.headers["Cache-Control"]
    assert files.exif_of(served.data)[1] == {}
    obj = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").head_object(
        Bucket=BUCKET, Key=f"products/{image.key}/480.webp"
    )
    assert obj["ContentType"] == "image/webp" and "immutable" in obj["CacheControl"]


def test_a_public_base_url_sends_browsers_to_the_bucket(s3_app, s3_endpoint):
    # The policy docs/back-office.md gives: renditions public, everything else (uploads, scans) private.
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").put_bucket_policy(
        Bucket=BUCKET, Policy=json.dumps(PUBLIC_RENDITIONS)
    )
    s3_app.extensions["settings"].MEDIA_PUBLIC_BASE_URL = f"{s3_endpoint}/{BUCKET}"
    api = admin_api(s3_app.test_client())
    product_id = make_catalogue(api)["id"]
    upload(api, f"/api/v1/admin/products/{product_id}/images", files.png())
    shown = api.client.get(f"/api/v1/products/{product_id}").json["images"][0]
    assert shown["url"].startswith(f"{s3_endpoint}/{BUCKET}/products/")
    with urllib.request.urlopen(shown["renditions"][0]["webp"], timeout=10) as resp:
        data = resp.read()
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "WEBP" and im.width == 240
    key = db.session.scalar(select(ProductImage.key))
    with pytest.raises(urllib.error.HTTPError) as refused:  # uploads stay private
        boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").put_object(
            Bucket=BUCKET, Key="uploads/secret", Body=b"x"
        )
        urllib.request.urlopen(f"{s3_endpoint}/{BUCKET}/uploads/secret", timeout=10)
    assert refused.value.code == 403 and key
