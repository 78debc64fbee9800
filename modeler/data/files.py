"""``get_file``: load a pipeline export from disk or S3, verified and cached, and remember it.

>>> from modeler.data.files import get_file
>>> df = get_file("exports/data.json")                         # doctest: +SKIP
>>> df = get_file("s3://fraud/exports/2026-11/tx.parquet")     # doctest: +SKIP
>>> path = get_file("file:///data/tx.csv.gz", as_path=True)    # doctest: +SKIP

Each successful call records a :class:`modeler.state.DatasetRecord` (file name, a credential-free
source URI, the content's sha256, rows and columns) in the session, so the next run logs the
file as its dataset input. Names are checked before any request: a bucket name with a space, a
key longer than S3 allows or a local name longer than the filesystem allows is an
:class:`~modeler.errors.InvalidNameError` naming the value and the rule.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from modeler.data.descriptor import Descriptor, load_descriptor
from modeler.data.names import check_bucket, check_key, check_local_path
from modeler.data.readers import format_of, read_frame
from modeler.errors import (
    DataError,
    DataNotFoundError,
    OptionError,
    UnsafePathError,
)
from modeler.state import SESSION, DatasetRecord, Session

_URI_HELP = "a descriptor .json path, s3://bucket/key, file:///abs/path or a local file path"


@dataclass(frozen=True)
class _Plan:
    """What a source names: a local file (``candidates``) or an S3 object (``bucket``/``key``)."""

    name: str
    candidates: tuple[Path, ...] = ()
    bucket: str | None = None
    key: str | None = None
    descriptor: Descriptor | None = None
    where: str = ""  # prefix for error messages: the descriptor file, or ""


@dataclass(frozen=True)
class Loaded:
    """What :func:`load_file` found: the local path, the frame (unless not read), its source."""

    path: Path
    frame: Any
    descriptor: Descriptor | None


def get_file(
    source: str | os.PathLike[str] | Descriptor,
    *,
    as_path: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    refresh: bool = False,
    session: Session | None = None,
) -> Any:
    """Load a data file named by a descriptor JSON or a URI; return a DataFrame (or its path).

    >>> df = get_file("data.json")                                   # doctest: +SKIP
    >>> get_file("s3://fraud/tx.csv", as_path=True)                  # doctest: +SKIP
    PosixPath('/home/me/.cache/modeler/s3/fraud/tx.csv')

    Args:
        source: a descriptor ``.json`` path, ``s3://bucket/key``, ``file:///abs/path`` or a path
            to a ``.csv``, ``.tsv``, ``.csv.gz``, ``.tsv.gz``, ``.parquet``/``.pq`` or
            ``.jsonl``/``.ndjson`` file; or a :class:`Descriptor` made in memory.
        as_path: return the local ``Path`` (for S3, the cached copy) instead of reading it.
        cache_dir: where S3 objects are cached (default: ``modeler.config.cache_dir()``), under
            ``s3/<bucket>/<key>``.
        refresh: download again even when the cached copy still matches the object.
        session: where the dataset is recorded (default: ``modeler.state.SESSION``).

    Raises:
        ModelerError: a subclass naming the file and the field or key at fault
            (``DescriptorError``, ``DataNotFoundError``, ``AccessDeniedError``,
            ``StorageUnreachableError``, ``DownloadError``, ``UnsafePathError``,
            ``InvalidNameError``, ``UnsupportedFormatError``).
    """
    loaded = load_file(
        source, read=not as_path, cache_dir=cache_dir, refresh=refresh, session=session
    )
    return loaded.path if as_path else loaded.frame


def load_file(
    source: str | os.PathLike[str] | Descriptor,
    *,
    read: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    refresh: bool = False,
    session: Session | None = None,
) -> Loaded:
    """:func:`get_file`, returning the local path, the frame (``read=False``: None) and the
    descriptor it followed, if any.

    >>> load_file("data.json").descriptor.label                    # doctest: +SKIP
    'isFraud'
    """
    session = SESSION if session is None else session
    plan = _plan(source)
    as_path = not read
    try:
        if not as_path:  # before any download: a 2 GB file we cannot read is not fetched
            format_of(plan.name)
        if plan.bucket is not None:
            path, digest, uri = _fetch_s3(plan, cache_dir, refresh)
        else:
            path, digest, uri = _fetch_local(plan)
        delimiter = plan.descriptor.delimiter if plan.descriptor is not None else None
        frame = None if as_path else read_frame(path, name=plan.name, delimiter=delimiter)
    except DataError as exc:
        if not plan.where:
            raise
        raise _in_descriptor(exc, plan) from None
    rows = None if frame is None else len(frame)
    columns = () if frame is None else tuple(str(c) for c in frame.columns)
    label = plan.descriptor.label if plan.descriptor is not None else None
    if frame is not None and label is not None and label not in columns:
        import difflib
        import warnings

        close = difflib.get_close_matches(label, columns, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        warnings.warn(
            f"{plan.where}: field 'target' names the label column {label!r}, which "
            f"{plan.name} does not have{hint}; its columns: {', '.join(columns[:20])}",
            UserWarning,
            stacklevel=3,
        )
    session.record_dataset(
        DatasetRecord(name=plan.name, source=uri, digest=digest, rows=rows, columns=columns)
    )
    return Loaded(path=path, frame=frame, descriptor=plan.descriptor)


def _plan(source: Any) -> _Plan:
    if isinstance(source, Descriptor):
        return _descriptor_plan(source, "set_storage(...)")
    if not isinstance(source, (str, os.PathLike)):
        raise OptionError(f"source must be {_URI_HELP}; got {type(source).__name__}")
    text = os.fspath(source)
    if not isinstance(text, str) or not text.strip():
        raise OptionError(f"source must be {_URI_HELP}; got {text!r}")
    lower = text.lower()
    if lower.startswith("s3://"):
        # split by hand: '?' and '#' are legal in S3 keys, urlsplit would eat them
        bucket, _, key = text[5:].partition("/")
        if not bucket or not key or key.endswith("/"):
            raise OptionError(f"{text!r} does not name a file; expected s3://bucket/key")
        check_bucket(bucket, where=text)
        check_key(key, where=text)
        return _Plan(name=key.rsplit("/", 1)[-1], bucket=bucket, key=key)
    if lower.startswith("file://"):
        parts = urlsplit(text)
        local = unquote(parts.path)
        if parts.netloc not in ("", "localhost") or not local.startswith("/"):
            raise OptionError(f"{text!r} is not a local file URI; expected file:///abs/path")
        return _local_plan(Path(local))
    if "://" in text:
        raise OptionError(f"{text!r}: unsupported scheme; expected {_URI_HELP}")
    path = Path(text).expanduser()
    if lower.endswith(".json"):
        return _descriptor_plan(load_descriptor(path), text)
    return _local_plan(path)


def _local_plan(path: Path) -> _Plan:
    check_local_path(path)
    return _Plan(name=path.name, candidates=(path.absolute(),))


def _descriptor_plan(d: Descriptor, where: str) -> _Plan:
    if d.target == "s3":
        return _Plan(name=d.file_name, bucket=d.bucket_name, key=d.key, descriptor=d, where=where)
    rel = Path(d.path).expanduser()
    check_local_path(rel, where=f"{where}: fields 'filePath'/'fileName'")
    # Exports write filePath relative to the workspace the notebook runs in; a descriptor moved
    # together with its data is found too.
    candidates = [rel.absolute()]
    if not rel.is_absolute() and d.origin is not None:
        candidates.append(d.origin.parent / rel)
    unique = tuple(dict.fromkeys(candidates))
    return _Plan(name=d.file_name, candidates=unique, descriptor=d, where=where)


def _fetch_local(plan: _Plan) -> tuple[Path, str, str]:
    from modeler.data.storage import sha256_file

    for path in plan.candidates:
        if path.is_file():
            resolved = path.resolve()
            return resolved, sha256_file(resolved), resolved.as_uri()
    looked = " or ".join(str(p) for p in plan.candidates)
    if len(plan.candidates) == 1 and plan.candidates[0].is_dir():
        raise DataNotFoundError(f"{looked}: is a directory, expected a data file")
    raise DataNotFoundError(f"data file not found: {looked}")


def _fetch_s3(plan: _Plan, cache_dir: Any, refresh: bool) -> tuple[Path, str, str]:
    from modeler.config import cache_dir as resolve_cache_dir
    from modeler.data.storage import fetch, make_client

    d = plan.descriptor
    client = make_client(
        endpoint_url=d.endpoint_url if d else None,
        region=d.region if d else None,
        access_key=d.access_key if d else None,
        secret_key=d.secret_key if d else None,
    )
    secrets = (d.access_key, d.secret_key) if d else ()
    assert plan.bucket is not None and plan.key is not None
    got = fetch(
        client,
        plan.bucket,
        plan.key,
        resolve_cache_dir(cache_dir),
        refresh=refresh,
        secrets=[s for s in secrets if s],
    )
    return got.path, got.sha256, f"s3://{plan.bucket}/{plan.key}"


def _in_descriptor(exc: DataError, plan: _Plan) -> DataError:
    """The same error, prefixed with the descriptor file and the field that led to it."""
    fault = getattr(exc, "fault", None)
    if fault is None and isinstance(exc, (DataNotFoundError, UnsafePathError)):
        fault = "key"
    has_keys = plan.descriptor is not None and plan.descriptor.has_credentials
    hint = {
        "bucket": "field 'bucketName'",
        "key": "fields 'filePath'/'fileName'",
        "endpoint": "field 'endpointUrl' (or AWS_ENDPOINT_URL)",
        "credentials": (
            "fields 'myAccessKey'/'mySecretKey'"
            if has_keys
            else "credentials from the environment, profile or IAM role"
        ),
    }.get(fault or "")
    text = f"{plan.where}: {exc}" + (f" [{hint}]" if hint else "")
    new = type(exc)(text)
    new.fault = fault  # type: ignore[attr-defined]
    return new
