"""The encrypted blob store on S3 (django-storages' S3Storage against moto's S3 server, over
real HTTP): streaming round trips through multipart upload and server-side copy, what lands in
the bucket, visibility after commit, repair on open, the sweeper."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import boto3
import pytest
import tink
from botocore.exceptions import ClientError
from django.db import transaction
from mypy_boto3_s3 import S3Client
from storages.backends.s3 import S3Storage

from cuspid.core import clock
from cuspid.keys import blobs
from cuspid.keys.blobs import (
    CHUNK_SIZE,
    BlobTooLarge,
    SweepReport,
    blob_chunks,
    blob_delete,
    blob_open,
    blob_put,
    blobs_sweep,
)
from cuspid.keys.models import EncryptedBlob, OwnerKind

PATIENT = OwnerKind.PATIENT
CANARY = b"CANARY-s3-blob-8e21aa"
Capture = Callable[..., Any]


@pytest.fixture
def s3(aws_endpoint: str) -> S3Client:
    return boto3.client("s3")


@pytest.fixture
def bucket(s3: S3Client) -> str:
    name = f"cuspid-blobs-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def s3_storage(endpoint: str, bucket: str, **options: Any) -> Any:
    return S3Storage(
        bucket_name=bucket,
        endpoint_url=endpoint,
        access_key="testing",
        secret_key="testing",
        region_name="us-east-1",
        **options,
    )


@pytest.fixture
def storage(aws_endpoint: str, bucket: str) -> Any:
    return s3_storage(aws_endpoint, bucket)


@pytest.fixture
def owner() -> uuid.UUID:
    return uuid.uuid4()


def bucket_objects(s3: S3Client, bucket: str) -> dict[str, bytes]:
    listing = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {
        entry["Key"]: s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
        for entry in listing
    }


def put(storage: Any, owner: uuid.UUID, data: bytes, capture: Capture, **kwargs: Any) -> Any:
    with capture(execute=True):
        return blob_put(
            kind=PATIENT, owner_id=owner, source=io.BytesIO(data), storage=storage, **kwargs
        )


class RequestFailed(Exception):
    """The request failed after the upload: its transaction rolls back."""


def put_rolled_back(storage: Any, owner: uuid.UUID, data: bytes) -> EncryptedBlob:
    """Store ``data`` in a transaction that then rolls back; the row it had made."""
    with contextlib.suppress(RequestFailed), transaction.atomic():
        blob = blob_put(kind=PATIENT, owner_id=owner, source=io.BytesIO(data), storage=storage)
        raise RequestFailed
    return blob


def read_all(blob: EncryptedBlob, storage: Any) -> bytes:
    with blob_open(blob, storage) as plaintext:
        return b"".join(iter(lambda: plaintext.read(CHUNK_SIZE), b""))


def test_a_large_file_round_trips_and_the_bucket_holds_only_ciphertext(
    db: None,
    s3: S3Client,
    bucket: str,
    storage: Any,
    owner: uuid.UUID,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    # Over the 8 MiB multipart threshold: a multipart upload, then a multipart copy.
    data = os.urandom(4 * CHUNK_SIZE) + CANARY + os.urandom(5 * CHUNK_SIZE + 777)
    blob = put(storage, owner, data, django_capture_on_commit_callbacks)
    assert (blob.size, blob.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    objects = bucket_objects(s3, bucket)
    assert list(objects) == [f"blobs/{blob.id}"]
    [ciphertext] = objects.values()
    assert CANARY not in ciphertext
    assert ciphertext != data
    assert b"".join(blob_chunks(blob, storage)) == data
    with django_capture_on_commit_callbacks(execute=True):
        blob_delete(blob, storage)
    assert bucket_objects(s3, bucket) == {}


def test_the_storage_location_prefixes_every_key(
    db: None,
    s3: S3Client,
    aws_endpoint: str,
    bucket: str,
    owner: uuid.UUID,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    storage = s3_storage(aws_endpoint, bucket, location="cuspid")
    blob = put(storage, owner, b"scan", django_capture_on_commit_callbacks)
    assert list(bucket_objects(s3, bucket)) == [f"cuspid/blobs/{blob.id}"]
    assert read_all(blob, storage) == b"scan"


def test_nothing_is_visible_before_commit_and_open_repairs_a_lost_promotion(
    db: None,
    s3: S3Client,
    bucket: str,
    storage: Any,
    owner: uuid.UUID,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        blob = blob_put(kind=PATIENT, owner_id=owner, source=io.BytesIO(b"x"), storage=storage)
    assert list(bucket_objects(s3, bucket)) == [f"tmp/{blob.id}"]
    assert read_all(blob, storage) == b"x"
    assert list(bucket_objects(s3, bucket)) == [f"blobs/{blob.id}"]
    s3.delete_object(Bucket=bucket, Key=f"blobs/{blob.id}")
    with pytest.raises(FileNotFoundError):
        blob_open(blob, storage)


def test_an_object_under_another_blobs_name_does_not_open(
    db: None,
    s3: S3Client,
    bucket: str,
    storage: Any,
    owner: uuid.UUID,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    first = put(storage, owner, b"first", django_capture_on_commit_callbacks)
    second = put(storage, owner, b"second", django_capture_on_commit_callbacks)
    s3.copy_object(
        Bucket=bucket,
        Key=f"blobs/{first.id}",
        CopySource={"Bucket": bucket, "Key": f"blobs/{second.id}"},
    )
    with pytest.raises(tink.TinkError):
        blob_open(first, storage)


def test_a_source_over_the_limit_leaves_nothing_in_the_bucket(
    db: None,
    s3: S3Client,
    bucket: str,
    storage: Any,
    owner: uuid.UUID,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    with pytest.raises(BlobTooLarge):
        put(storage, owner, bytes(12 * CHUNK_SIZE), django_capture_on_commit_callbacks,
            max_bytes=10 * CHUNK_SIZE)  # fmt: skip
    assert not EncryptedBlob.objects.exists()
    assert bucket_objects(s3, bucket) == {}
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_the_sweeper_promotes_committed_objects_and_removes_orphans(
    transactional_db: None,
    s3: S3Client,
    bucket: str,
    storage: Any,
    owner: uuid.UUID,
) -> None:
    kept = blob_put(kind=PATIENT, owner_id=owner, source=io.BytesIO(b"kept"), storage=storage)
    rolled_back = put_rolled_back(storage, owner, b"gone")
    unpromoted = blob_put(kind=PATIENT, owner_id=owner, source=io.BytesIO(b"x"), storage=storage)
    s3.copy_object(  # as if the promotion had not run: the object is back under tmp/
        Bucket=bucket,
        Key=f"tmp/{unpromoted.id}",
        CopySource={"Bucket": bucket, "Key": f"blobs/{unpromoted.id}"},
    )
    s3.delete_object(Bucket=bucket, Key=f"blobs/{unpromoted.id}")
    deleted = blob_put(kind=PATIENT, owner_id=owner, source=io.BytesIO(b"d"), storage=storage)
    EncryptedBlob.objects.filter(id=deleted.id).delete()  # as if the removal had not run
    s3.put_object(Bucket=bucket, Key="blobs/README", Body=b"not a blob")
    assert sorted(bucket_objects(s3, bucket)) == sorted(
        [
            f"blobs/{kept.id}",
            f"tmp/{rolled_back.id}",
            f"tmp/{unpromoted.id}",
            f"blobs/{deleted.id}",
            "blobs/README",
        ]
    )
    report = blobs_sweep(older_than=timedelta(0), storage=storage)
    assert report == SweepReport(promoted=1, removed_orphans=2, skipped=1)
    assert sorted(bucket_objects(s3, bucket)) == sorted(
        [f"blobs/{kept.id}", f"blobs/{unpromoted.id}", "blobs/README"]
    )
    assert read_all(unpromoted, storage) == b"x"
    assert not blobs._stale(storage, f"tmp/{uuid.uuid4()}", clock.now())


def test_other_s3_errors_are_not_taken_for_a_missing_object(
    db: None,
    aws_endpoint: str,
    storage: Any,
    owner: uuid.UUID,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    blob = put(storage, owner, b"x", django_capture_on_commit_callbacks)
    elsewhere = s3_storage(aws_endpoint, f"no-such-bucket-{uuid.uuid4().hex[:8]}")
    with pytest.raises(ClientError) as raised:
        blob_open(blob, elsewhere)
    assert raised.value.response.get("Error", {}).get("Code") == "NoSuchBucket"
