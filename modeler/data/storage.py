"""S3 storage: a boto3 client that fails fast, and a verified, atomic, cached download.

>>> from modeler.data.storage import fetch, make_client
>>> client = make_client(endpoint_url="http://minio:9000")               # doctest: +SKIP
>>> got = fetch(client, "fraud", "exports/tx.csv", cache_root)           # doctest: +SKIP
>>> got.path, got.sha256                                                 # doctest: +SKIP
(PosixPath('/home/me/.cache/modeler/s3/fraud/exports/tx.csv'), '9f86d0...')

The copy lives at ``<cache_root>/s3/<bucket>/<key>``, with a small sidecar JSON beside it
(``.<name>.modeler.json``: ETag, size, sha256) so that a later call skips the download, and the
hashing, when a HEAD of the object still reports the same ETag and size.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import sys
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeler.data.names import cache_name
from modeler.errors import (
    AccessDeniedError,
    ConfigError,
    DataError,
    DataNotFoundError,
    DownloadError,
    StorageUnreachableError,
    UnsafePathError,
)
from modeler.redact import redact_text, redact_url, without_credentials

CONNECT_TIMEOUT_S = 3.0  # an unreachable endpoint fails in seconds, not minutes
READ_TIMEOUT_S = 60.0
MAX_ATTEMPTS = 2  # total attempts per request, first one included
PROGRESS_MIN_BYTES = 8 * 2**20  # smaller downloads finish before a bar says anything useful
CHUNK_BYTES = 4 * 2**20
META_SUFFIX = ".modeler.json"

_DENIED = {
    "AccessDenied",
    "403",
    "Forbidden",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AllAccessDisabled",
    "AccountProblem",
    "InvalidToken",
    "ExpiredToken",
    "InvalidSecurity",
    "TokenRefreshRequired",
}
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}


@dataclass(frozen=True)
class Fetched:
    """A local copy of an S3 object; ``cached`` is True when no download was needed."""

    path: Path
    sha256: str
    size: int
    etag: str | None
    cached: bool


def resolve_endpoint(explicit: str | None = None) -> str | None:
    """``explicit`` > ``AWS_ENDPOINT_URL`` > ``MLFLOW_S3_ENDPOINT_URL`` > None (AWS default)."""
    return (
        explicit
        or os.environ.get("AWS_ENDPOINT_URL")
        or os.environ.get("MLFLOW_S3_ENDPOINT_URL")
        or None
    )


def make_client(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
) -> Any:
    """An S3 client with a 3 s connect timeout and 2 attempts per request.

    >>> client = make_client(endpoint_url="http://127.0.0.1:9000")       # doctest: +SKIP

    Credentials come from boto3's chain (environment, profile, IAM role) unless both keys are
    given. Endpoint as :func:`resolve_endpoint`.
    """
    import boto3
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import ProfileNotFound

    # S3 signs requests with access keys: a password written in the URL is never used
    endpoint = resolve_endpoint(endpoint_url)
    endpoint = without_credentials(endpoint) if endpoint else endpoint
    config = Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        # MinIO and other S3-compatible stores behind a plain host name need path-style URLs
        s3={"addressing_style": "path"} if endpoint else None,
    )
    try:
        # a fresh session each call, so credentials and profile changes in os.environ apply
        core = botocore.session.Session()
        core.register_component("data_loader", _data_loader())
        session = boto3.session.Session(
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=region,
            botocore_session=core,
        )
        return session.client("s3", endpoint_url=endpoint, config=config)
    except ProfileNotFound as exc:
        raise ConfigError(f"AWS profile not found: {exc}; check AWS_PROFILE") from None
    except ValueError as exc:  # botocore rejects a malformed endpoint URL this way
        message = f"S3 endpoint {public_url(endpoint)!r} is not a valid URL: {exc}"
        raise ConfigError(message) from None


@functools.cache
def _data_loader() -> Any:
    """botocore's loader of service models, shared by all clients this module makes.

    The models are read-only JSON; loading them again for every client took 60-200 ms here,
    most of the time of a cache hit. The loader holds no credentials or settings.
    """
    import botocore.session

    return botocore.session.Session().get_component("data_loader")


def public_url(url: str | None) -> str:
    """``url`` with any password masked (safe to print), or the AWS default when None."""
    if not url:
        return "the default AWS S3 endpoint"
    return redact_url(url)


def cache_path(cache_root: str | os.PathLike[str], bucket: str, key: str) -> Path:
    """``<cache_root>/s3/<bucket>/<key>``, refusing keys that would land outside it.

    A key with a segment too long for a file name (or too long as a whole) is cached as
    ``<cache_root>/s3/<bucket>/_hashed/<sha256 of the key><extension>`` instead
    (:func:`modeler.data.names.cache_name`); the sidecar records the real key.

    Raises:
        UnsafePathError: ``..``, ``.`` or empty segments, an absolute key, or a NUL byte.
    """
    uri = f"s3://{bucket}/{key}"
    if not bucket or bucket in (".", "..") or "/" in bucket or "\\" in bucket:
        raise UnsafePathError(f"{uri}: bucket name {bucket!r} is not a safe folder name")
    if key.startswith("/") or "\0" in key:
        raise UnsafePathError(
            f"{uri}: key {key!r} is absolute or holds a NUL byte; it would be written outside "
            "the cache directory"
        )
    segments = key.replace("\\", "/").split("/")
    bad = [s for s in segments if s in ("", ".", "..")]
    if bad:
        raise UnsafePathError(
            f"{uri}: key {key!r} has a {bad[0]!r} segment; it would be written outside the "
            "cache directory or onto another key's copy"
        )
    root = Path(cache_root) / "s3"
    target = root.joinpath(bucket, *cache_name("/".join(segments)).split("/"))
    # belt and braces: whatever the segments, the normalised path must stay under the root
    if not os.path.normpath(target).startswith(os.path.normpath(root) + os.sep):
        raise UnsafePathError(f"{uri}: key {key!r} escapes the cache directory {root}")
    return target


def sha256_file(path: str | os.PathLike[str]) -> str:
    """sha256 hex of a file, read in 4 MB chunks."""
    digest = hashlib.sha256()
    buf = bytearray(CHUNK_BYTES)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()


def fetch(
    client: Any,
    bucket: str,
    key: str,
    cache_root: str | os.PathLike[str],
    *,
    refresh: bool = False,
    secrets: Iterable[str] = (),
) -> Fetched:
    """Make sure ``<cache_root>/s3/<bucket>/<key>`` holds the object; return it with its sha256.

    >>> fetch(client, "fraud", "exports/tx.csv", Path("/tmp/cache")).cached   # doctest: +SKIP
    True

    One HEAD decides: same ETag and size as the sidecar says, and the file untouched since, means
    a cache hit (``refresh=True`` downloads anyway). Otherwise the object is downloaded with
    boto3's managed transfer (parallel ranged GETs for large objects) into a temporary file in
    the same folder, hashed as it is written, checked for size (and for S3's full-object
    checksum when the store reports one), then renamed into place.

    Raises:
        DataNotFoundError, AccessDeniedError, StorageUnreachableError, DownloadError,
        UnsafePathError: each naming ``s3://bucket/key``; ``secrets`` are scrubbed from messages.
    """
    secrets = tuple(s for s in secrets if s)
    target = cache_path(cache_root, bucket, key)
    with _translated(client, bucket, key, secrets):
        head = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        size, etag = int(head["ContentLength"]), head.get("ETag")
        endpoint = public_url(client.meta.endpoint_url)
        if not refresh:
            digest = _cached_digest(
                target, size=size, etag=etag, endpoint=endpoint, source=f"s3://{bucket}/{key}"
            )
            if digest:
                return Fetched(target, digest, size, etag, cached=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = _download(client, bucket, key, target, head)
    _write_meta(
        target,
        {
            "source": f"s3://{bucket}/{key}",
            "endpoint": endpoint,
            "etag": etag,
            "size": size,
            "sha256": digest,
            "mtime_ns": target.stat().st_mtime_ns,
        },
    )
    return Fetched(target, digest, size, etag, cached=False)


# --- download ------------------------------------------------------------------------------
class _Sink:
    """A write-only, non-seekable file: boto3 then writes parts in order, so we hash as we go."""

    def __init__(self, file: Any, bar: Any, crc32: bool) -> None:
        self._file, self._bar = file, bar
        self.sha256 = hashlib.sha256()
        self.crc32: int | None = 0 if crc32 else None
        self.size = 0

    def write(self, data: bytes) -> int:
        self._file.write(data)
        self.sha256.update(data)
        if self.crc32 is not None:
            self.crc32 = zlib.crc32(data, self.crc32)
        self.size += len(data)
        self._bar.update(len(data))
        return len(data)

    def seekable(self) -> bool:
        return False


def _transfer(
    client: Any, bucket: str, key: str, sink: Any, *, size: int, etag: str | None
) -> None:
    """boto3's managed download into ``sink``, told the size and ETag from our HEAD.

    Passing them on saves s3transfer its own HEAD, and the ETag makes every ranged GET
    conditional (If-Match), so an object replaced mid-download fails instead of mixing versions.
    """
    from boto3.s3.transfer import TransferConfig, create_transfer_manager
    from s3transfer.subscribers import BaseSubscriber

    class _Known(BaseSubscriber):
        def on_queued(self, future: Any, **kwargs: Any) -> None:
            future.meta.provide_transfer_size(size)
            if etag:
                future.meta.provide_object_etag(etag)

    # "classic": the sink and the size/ETag subscriber rely on s3transfer, not the CRT client
    config = TransferConfig(preferred_transfer_client="classic")
    with create_transfer_manager(client, config) as manager:
        manager.download(bucket, key, sink, subscribers=[_Known()]).result()


def _download(client: Any, bucket: str, key: str, target: Path, head: dict[str, Any]) -> str:
    from tqdm import tqdm

    uri = f"s3://{bucket}/{key}"
    size, etag = int(head["ContentLength"]), head.get("ETag")
    want_sha = _full_object_checksum(head, "ChecksumSHA256")
    want_crc = None if want_sha else _full_object_checksum(head, "ChecksumCRC32")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        bar = tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=target.name,
            file=sys.stderr,
            leave=False,
            disable=size < PROGRESS_MIN_BYTES,
        )
        with os.fdopen(fd, "wb") as f, bar:
            sink = _Sink(f, bar, crc32=want_crc is not None)
            _transfer(client, bucket, key, sink, size=size, etag=etag)
        if sink.size != size:
            message = f"{uri}: download truncated: expected {size} bytes, got {sink.size}"
            raise _error(DownloadError, message, "key")
        for algorithm, want, got in (
            ("sha256", want_sha, _b64(sink.sha256.digest())),
            ("crc32", want_crc, _b64((sink.crc32 or 0).to_bytes(4, "big"))),
        ):
            if want and got != want:
                raise _error(
                    DownloadError,
                    f"{uri}: checksum mismatch: S3 reports {algorithm} "
                    f"{want}, the downloaded file has {got}",
                    "key",
                )
        # drop the old sidecar first: a crash between the two steps then means a miss, not a
        # stale hit
        _meta_path(target).unlink(missing_ok=True)
        # no fsync: the rename is what makes an interrupted download invisible, and syncing
        # hundreds of MB would cost more than the download itself on a fast store
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sink.sha256.hexdigest()


def _full_object_checksum(head: dict[str, Any], field: str) -> str | None:
    """The checksum of the whole object, if the store reports one (not a per-part composite).

    Without ``ChecksumType`` (older stores, moto) only a single-part object's checksum is
    trusted: a multipart ETag (``"...-N"``) means the value may be a checksum of checksums.
    """
    value = head.get(field)
    kind = head.get("ChecksumType")
    if not value or "-" in value:
        return None
    if kind is None:
        return None if "-" in (head.get("ETag") or "") else value
    return value if kind == "FULL_OBJECT" else None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# --- cache sidecar -------------------------------------------------------------------------
def _meta_path(target: Path) -> Path:
    return target.with_name(f".{target.name}{META_SUFFIX}")


def _cached_digest(
    target: Path, *, size: int, etag: str | None, endpoint: str, source: str
) -> str | None:
    """The stored sha256 when the cached copy still matches the object, else None."""
    if not etag:
        return None
    try:
        meta = json.loads(_meta_path(target).read_text(encoding="utf-8"))
        stat = target.stat()
    except (OSError, ValueError):
        return None
    digest = meta.get("sha256") if isinstance(meta, dict) else None
    fresh = (
        isinstance(digest, str)
        and len(digest) == 64
        and meta.get("etag") == etag
        and meta.get("size") == size == stat.st_size
        and meta.get("endpoint") == endpoint
        and meta.get("source") == source  # a hashed name holds this key, not another
        # a copy edited in place keeps its size but not its mtime
        and meta.get("mtime_ns") == stat.st_mtime_ns
    )
    return digest if fresh else None


def _write_meta(target: Path, meta: dict[str, Any]) -> None:
    final = _meta_path(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=final.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(meta, f)
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- errors --------------------------------------------------------------------------------
def _error(cls: type[DataError], message: str, fault: str, secrets: tuple[str, ...] = ()) -> Any:
    """``cls(message)`` with secrets scrubbed, tagged with what is at fault (``bucket``, ``key``,
    ``endpoint``, ``credentials``) so that ``get_file`` can name the descriptor field."""
    exc = cls(_scrub(message, secrets))
    exc.fault = fault  # type: ignore[attr-defined]
    return exc


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return redact_text(text)


@contextmanager
def _translated(client: Any, bucket: str, key: str, secrets: tuple[str, ...]) -> Iterator[None]:
    """Turn botocore / s3transfer failures into modeler errors naming s3://bucket/key."""
    from botocore.exceptions import (
        ClientError,
        HTTPClientError,
        NoCredentialsError,
        PartialCredentialsError,
    )
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from s3transfer.exceptions import RetriesExceededError

    uri = f"s3://{bucket}/{key}"
    endpoint = public_url(client.meta.endpoint_url)
    try:
        yield
    except ClientError as exc:
        cls, message, fault = _from_client_error(exc, client, bucket, key, endpoint)
        raise _error(cls, message, fault, secrets) from None
    except (NoCredentialsError, PartialCredentialsError):
        message = (
            f"{uri}: no AWS credentials found; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,"
            " AWS_PROFILE, or run where an IAM role is available"
        )
        raise _error(AccessDeniedError, message, "credentials") from None
    except (BotoConnectionError, HTTPClientError) as exc:
        message = (
            f"{uri}: S3 endpoint {endpoint} did not answer ({type(exc).__name__}: {exc});"
            " check endpointUrl / AWS_ENDPOINT_URL and that the store is running"
        )
        raise _error(StorageUnreachableError, message, "endpoint", secrets) from None
    except RetriesExceededError as exc:
        message = f"{uri}: download from {endpoint} failed after retries: {exc.last_exception}"
        raise _error(DownloadError, message, "key", secrets) from None


def _from_client_error(
    exc: Any, client: Any, bucket: str, key: str, endpoint: str
) -> tuple[type[DataError], str, str]:
    """(error class, message, fault) for an S3 error response."""
    uri = f"s3://{bucket}/{key}"
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    detail = f"{code}: {error.get('Message', '')}".rstrip(": ")
    if code in _DENIED or status == 403:
        message = (
            f"{uri}: access denied by {endpoint} ({detail}); check that the credentials "
            "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or IAM role) and the "
            "bucket policy allow s3:GetObject on this key"
        )
        return AccessDeniedError, message, "credentials"
    if code in _MISSING or status == 404:
        if code == "NoSuchBucket" or (code != "NoSuchKey" and not _bucket_exists(client, bucket)):
            message = f"{uri}: bucket {bucket!r} does not exist at {endpoint}"
            return DataNotFoundError, message, "bucket"
        message = f"{uri}: key {key!r} not found in bucket {bucket!r} at {endpoint}"
        return DataNotFoundError, message, "key"
    if code in ("PreconditionFailed", "412") or status == 412:
        return DownloadError, f"{uri}: the object changed during the download; run again", "key"
    return DataError, f"{uri}: S3 request to {endpoint} failed ({detail})", "key"


def _bucket_exists(client: Any, bucket: str) -> bool:
    """HEAD answers 404 for a missing bucket and a missing key alike: ask the bucket itself."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        return code not in ("404", "NoSuchBucket", "NotFound")
    except BotoCoreError:
        return True  # cannot tell; the key is the likelier culprit
    return True
