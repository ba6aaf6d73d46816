"""Where photo files live: a local directory (the default) or an S3-compatible bucket (MinIO, OSS, COS, S3 …).

Keys are relative, slash-separated paths made by the attachments service ("ab/cd/<public_id>.jpg"). Both
backends refuse any other shape of key, so a key that reached them from a tampered row cannot name a file
outside their root or prefix.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from cityloop.core.errors import NotFound
from cityloop.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# A segment may not start with a dot: that excludes ".", ".." and hidden temp files in one rule.
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")


class InvalidKey(ValueError):
    """A key that is not a relative path of plain segments: a programming error, never a user's."""


def check_key(key: str) -> str:
    if len(key) > 200 or not all(_SEGMENT.fullmatch(part) for part in key.split("/")):
        raise InvalidKey(f"invalid storage key {key!r}")
    return key


class Storage(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes:
        """Raises NotFound when nothing is stored under `key`."""
        ...

    def delete(self, key: str) -> None:
        """Deleting a missing key is not an error: cleanup after a failure may run twice."""
        ...


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = self.root / check_key(key)
        # check_key already rules out "..": this catches a symlinked subdirectory pointing elsewhere.
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise InvalidKey(f"storage key {key!r} leaves {self.root}")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write a temporary file in the same directory, then rename over the target: a reader (or a crash)
        # sees the old file or the whole new one, never half a photo.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_dir(path.parent)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound("the stored photo file is missing") from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is: the database row committed next must not
    # outlive the file after a power cut. Windows cannot open a directory, and does not need this.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class S3Storage:
    def __init__(self, bucket: str, client: S3Client, prefix: str = "") -> None:
        if not bucket:
            raise ValueError("an S3 bucket name is required (CITYLOOP_S3_BUCKET)")
        self.bucket = bucket
        self.client = client
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise NotFound("the stored photo file is missing") from None
            raise
        return response["Body"].read()

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))


def storage_for(settings: Settings) -> Storage:
    """The backend the settings name; one instance per configuration, as clients are thread-safe and costly."""
    if settings.storage == "s3":
        return _s3_storage(settings.s3_bucket, settings.s3_endpoint_url, settings.s3_region, settings.s3_access_key,
                           settings.s3_secret_key, settings.s3_prefix)
    return _local_storage(settings.attachments_path())


@functools.lru_cache(maxsize=8)
def _local_storage(root: Path) -> LocalStorage:
    return LocalStorage(root)


@functools.lru_cache(maxsize=8)
def _s3_storage(bucket: str, endpoint_url: str | None, region: str | None, access_key: str | None,
                secret_key: str | None, prefix: str) -> S3Storage:
    # None credentials let boto3 fall back to its usual chain (environment, instance role …).
    # Bounded timeouts: an upload request must fail, not hang, when the object store is unreachable.
    client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region, aws_access_key_id=access_key,
                          aws_secret_access_key=secret_key,
                          config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3}))
    return S3Storage(bucket, client, prefix)
