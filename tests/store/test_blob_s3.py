"""S3 specifics of ``FsspecBlobStore``: configuration from the environment, atomic keys and
errors when the endpoint is unreachable. Runs against moto's real S3 server on loopback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import pytest

from stackml._internal.hashing import hash_bytes
from stackml.errors import StoreUnavailable
from stackml.store.blobs.fsspec_store import FsspecBlobStore
from tests.store.blob_backends import S3_BUCKET, free_port, moto_s3, s3_options

pytestmark = pytest.mark.s3


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_s3() as url:
        yield url


def _client(endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_endpoint_and_credentials_from_the_environment(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    prefix = uuid.uuid4().hex
    store = FsspecBlobStore(f"s3://{S3_BUCKET}/{prefix}", skip_instance_cache=True)
    digest = store.put_bytes(b"from env")
    assert store.get_bytes(digest) == b"from env"
    key = f"{prefix}/{digest[:2]}/{digest}"
    body = _client(endpoint).get_object(Bucket=S3_BUCKET, Key=key)["Body"].read()
    assert body == b"from env"


def test_only_final_keys_are_written(endpoint: str) -> None:
    prefix = uuid.uuid4().hex
    store = FsspecBlobStore(f"s3://{S3_BUCKET}/{prefix}", **s3_options(endpoint))
    digests = {store.put_bytes(b"a"), store.put_bytes(b"b"), store.put_bytes(b"a")}
    listed = _client(endpoint).list_objects_v2(Bucket=S3_BUCKET, Prefix=prefix)
    keys = sorted(obj["Key"] for obj in listed["Contents"])
    assert keys == sorted([f"{prefix}/layout", *(f"{prefix}/{d[:2]}/{d}" for d in digests)])
    layout = _client(endpoint).get_object(Bucket=S3_BUCKET, Key=f"{prefix}/layout")
    assert layout["Body"].read() == b"flat\n"


def test_written_by_another_client_is_seen(endpoint: str) -> None:
    prefix = uuid.uuid4().hex
    store = FsspecBlobStore(f"s3://{S3_BUCKET}/{prefix}", **s3_options(endpoint))
    assert list(store.iter_digests()) == []  # fills any listing cache
    digest = hash_bytes(b"uploaded elsewhere")
    _client(endpoint).put_object(
        Bucket=S3_BUCKET,
        Key=f"{prefix}/{digest[:2]}/{digest}",
        Body=b"uploaded elsewhere",
    )
    assert store.exists(digest)
    assert list(store.iter_digests()) == [digest]
    assert store.get_bytes(digest) == b"uploaded elsewhere"


def test_older_nested_prefix_keeps_working(endpoint: str) -> None:
    prefix = uuid.uuid4().hex
    old = hash_bytes(b"written by an older version")
    _client(endpoint).put_object(
        Bucket=S3_BUCKET,
        Key=f"{prefix}/{old[:2]}/{old[2:4]}/{old}",
        Body=b"written by an older version",
    )
    store = FsspecBlobStore(f"s3://{S3_BUCKET}/{prefix}", **s3_options(endpoint))
    assert store.get_bytes(old) == b"written by an older version"
    assert store.depth == 2
    new = store.put_bytes(b"new content")
    assert store.key_of(new) == f"{S3_BUCKET}/{prefix}/{new[:2]}/{new[2:4]}/{new}"
    assert sorted(store.iter_digests()) == sorted([old, new])
    layout = _client(endpoint).get_object(Bucket=S3_BUCKET, Key=f"{prefix}/layout")
    assert layout["Body"].read() == b"nested\n"
    # A fresh client reads the marker instead of looking again.
    again = FsspecBlobStore(
        f"s3://{S3_BUCKET}/{prefix}", skip_instance_cache=True, **s3_options(endpoint)
    )
    assert again.depth == 2 and again.get_bytes(new) == b"new content"


def test_unreachable_endpoint_is_store_unavailable() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    options = s3_options(dead)
    options["config_kwargs"] = {"retries": {"max_attempts": 1}, "connect_timeout": 1}
    store = FsspecBlobStore(f"s3://{S3_BUCKET}/x", skip_instance_cache=True, **options)
    digest = hash_bytes(b"x")
    with pytest.raises(StoreUnavailable, match="s3://"):
        store.put_bytes(b"x")
    with pytest.raises(StoreUnavailable):
        store.exists(digest)
    with pytest.raises(StoreUnavailable):
        list(store.iter_digests())
