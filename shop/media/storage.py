"""Where uploaded files and image renditions are kept: a directory, or an S3-compatible bucket.

Keys are made by the shop (``products/<random>/480.webp``, ``uploads/<random>``, ``certificates/...``),
never from a client's file name, and every key is checked again here before it touches a path, so
nothing can be written or read outside the store's root. ``MEDIA_STORAGE=local`` (the embedded
default) keeps files under ``MEDIA_DIR`` (``DATA_DIR/media``); ``MEDIA_STORAGE=s3`` keeps them in
``MEDIA_S3_BUCKET`` through boto3 (AWS, MinIO, Ceph...). Web processes and workers must see the same
store: one machine's directory, a shared volume, or the bucket.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

from flask import current_app

from shop.media.errors import StoredFileMissing

# Lower-case letters, digits, dot, dash and underscore in slash-separated parts; no empty part, no part
# starting with a dot (so no "..", no hidden files).
_KEY = re.compile(r"[a-z0-9_][a-z0-9_.-]{0,63}(/[a-z0-9_][a-z0-9_.-]{0,63}){0,5}")


class BadKey(ValueError):
    """A storage key that is not one the shop makes (a bug, or someone probing paths)."""


def check_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise BadKey(f"not a storage key: {key!r}")
    return key


class Store(Protocol):
    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str = "") -> None: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def local_path(self, key: str) -> Path | None: ...


class LocalStore:
    """Files under one directory; each write lands whole (temporary file, then rename)."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root):  # a symlink pointing out of the store
            raise BadKey(f"{key!r} leaves the store")
        return path

    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str = "") -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StoredFileMissing(f"no file {key}") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None


class S3Store:
    """Objects in an S3-compatible bucket. Public renditions are read by browsers from
    ``MEDIA_PUBLIC_BASE_URL`` when set (the bucket's policy makes ``products/`` public); certificate scans
    and uploads stay private and are read only through the shop."""

    def __init__(self, bucket: str, *, endpoint_url: str = "", region: str = ""):
        # why: boto3 and botocore (about 25 MB) are loaded only by processes of a shop that uses a bucket
        import boto3

        # why: as boto3 above
        from botocore.config import Config as BotoConfig

        self.bucket = bucket
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            config=BotoConfig(
                connect_timeout=3, read_timeout=20, retries={"max_attempts": 3, "mode": "standard"}
            ),
        )

    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str = "") -> None:
        extra = {"CacheControl": cache_control} if cache_control else {}
        self.client.put_object(
            Bucket=self.bucket, Key=check_key(key), Body=data, ContentType=content_type, **extra
        )

    def get(self, key: str) -> bytes:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=check_key(key))
        except self.client.exceptions.ClientError as exc:  # botocore.exceptions.ClientError
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise StoredFileMissing(f"no file {key}") from None
            raise
        return obj["Body"].read()

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=check_key(key))
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=check_key(key))

    def local_path(self, key: str) -> Path | None:
        return None


_EXT = "shop.media_store"


def get_store() -> Store:
    """The current app's store, made once per app from its settings."""
    store = current_app.extensions.get(_EXT)
    if store is None:
        settings = current_app.extensions["settings"]
        if settings.MEDIA_STORAGE == "s3":
            store = S3Store(
                settings.MEDIA_S3_BUCKET,
                endpoint_url=settings.MEDIA_S3_ENDPOINT_URL,
                region=settings.MEDIA_S3_REGION,
            )
        else:
            store = LocalStore(settings.media_dir)
        current_app.extensions[_EXT] = store
    return store
