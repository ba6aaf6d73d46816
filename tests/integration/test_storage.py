"""Photo storage backends: a local directory and an S3-compatible bucket (moto in place of a real one)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from cityloop.attachments.storage import InvalidKey, LocalStorage, S3Storage, Storage, storage_for
from cityloop.core.errors import NotFound
from cityloop.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

KEY = "ab/cd/abcdEFGH_ij-kl.jpg"
ESCAPING_KEYS = ["../outside.jpg", "ab/../../outside.jpg", "/etc/passwd", "", "ab//cd.jpg", ".hidden",
                 "ab/./cd.jpg", "ab\\..\\cd.jpg", "ab/cd.jpg\x00.png", "a" * 201]


def round_trip(storage: Storage) -> None:
    storage.put(KEY, b"first", "image/jpeg")
    assert storage.get(KEY) == b"first"
    storage.put(KEY, b"second", "image/jpeg")  # overwriting replaces the whole file
    assert storage.get(KEY) == b"second"
    storage.delete(KEY)
    with pytest.raises(NotFound):
        storage.get(KEY)
    storage.delete(KEY)  # deleting twice is fine: cleanup after a failure may repeat itself


# ---- local directory ----

def test_local_round_trip(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "photos")  # created on first write
    round_trip(storage)
    storage.put(KEY, b"kept", "image/jpeg")
    assert (tmp_path / "photos" / KEY).read_bytes() == b"kept"
    # The temporary file was renamed into place, not left beside it.
    assert sorted(p.name for p in (tmp_path / "photos" / "ab" / "cd").iterdir()) == ["abcdEFGH_ij-kl.jpg"]


def test_local_write_that_fails_leaves_neither_file_nor_temporary(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    storage = LocalStorage(tmp_path)

    def disk_full(_src: str, _dst: str) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space"):
        storage.put(KEY, b"data", "image/jpeg")
    assert list((tmp_path / "ab" / "cd").iterdir()) == []


@pytest.mark.parametrize("key", ESCAPING_KEYS)
def test_local_refuses_keys_that_are_not_plain_relative_paths(tmp_path: Path, key: str) -> None:
    storage = LocalStorage(tmp_path / "root")
    for call in (lambda: storage.put(key, b"x", "image/jpeg"), lambda: storage.get(key), lambda: storage.delete(key)):
        with pytest.raises(InvalidKey):
            call()
    assert not (tmp_path / "outside.jpg").exists()


def test_local_refuses_a_symlink_leading_out_of_the_root(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    (root / "ab").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(InvalidKey):
        LocalStorage(root).put("ab/x.jpg", b"x", "image/jpeg")
    assert list(elsewhere.iterdir()) == []


def test_storage_for_local_settings_uses_the_attachments_dir(tmp_path: Path) -> None:
    settings = Settings(attachments_dir=tmp_path)
    storage = storage_for(settings)
    assert isinstance(storage, LocalStorage)
    assert storage.root == tmp_path
    assert storage_for(Settings(attachments_dir=tmp_path)) is storage  # one instance per configuration


# ---- S3-compatible ----

@pytest.fixture
def s3() -> Iterator[S3Client]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="testing",
                              aws_secret_access_key="testing")
        client.create_bucket(Bucket="photos")
        yield client


def test_s3_round_trip_under_the_prefix(s3: S3Client) -> None:
    storage = S3Storage("photos", s3, prefix="/cityloop/")
    round_trip(storage)
    storage.put(KEY, b"kept", "image/webp")
    head = s3.head_object(Bucket="photos", Key=f"cityloop/{KEY}")
    assert head["ContentType"] == "image/webp"
    assert head["ContentLength"] == 4


def test_s3_without_prefix_stores_the_key_as_is(s3: S3Client) -> None:
    S3Storage("photos", s3).put(KEY, b"x", "image/png")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="photos")["Contents"]] == [KEY]


@pytest.mark.parametrize("key", ESCAPING_KEYS[:3])
def test_s3_refuses_keys_that_would_leave_the_prefix(s3: S3Client, key: str) -> None:
    with pytest.raises(InvalidKey):
        S3Storage("photos", s3, prefix="cityloop").put(key, b"x", "image/jpeg")


def test_s3_errors_other_than_a_missing_key_are_raised(s3: S3Client) -> None:
    with pytest.raises(ClientError):
        S3Storage("no-such-bucket", s3).get(KEY)


def test_storage_for_s3_settings(s3: S3Client) -> None:
    settings = Settings(storage="s3", s3_bucket="photos", s3_region="us-east-1", s3_access_key="testing",
                        s3_secret_key="testing", s3_prefix="city")
    storage = storage_for(settings)
    assert isinstance(storage, S3Storage)
    storage.put(KEY, b"x", "image/jpeg")
    assert s3.get_object(Bucket="photos", Key=f"city/{KEY}")["Body"].read() == b"x"


def test_s3_storage_needs_a_bucket(s3: S3Client) -> None:
    with pytest.raises(ValueError, match="bucket"):
        S3Storage("", s3)
