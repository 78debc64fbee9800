"""Data descriptors: the small JSON files a data pipeline exports (Accuinsight format).

>>> from modeler.data.descriptor import load_descriptor, save_descriptor
>>> save_descriptor("data.json", target="s3", bucketName="fraud", filePath="exports/2026-11",
...                 fileName="tx.parquet", endpointUrl="http://minio:9000")   # doctest: +SKIP
PosixPath('/home/me/project/data.json')
>>> load_descriptor("data.json").uri                                            # doctest: +SKIP
's3://fraud/exports/2026-11/tx.parquet'

Fields (camelCase, as exported): ``target`` (``local`` or ``s3``), ``filePath``, ``fileName``,
``bucketName``, ``region``, ``endpointUrl`` (``endpoint`` is accepted as an alias) and the legacy
``myAccessKey`` / ``mySecretKey``. Keys in a file still work, with a warning; they are never put
in a repr, a message or a saved file unless ``save_credentials=True``.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modeler.data.readers import format_of, has_extension
from modeler.errors import DescriptorError

TARGETS = ("local", "s3")
_STRING_FIELDS = (
    "target",
    "filePath",
    "fileName",
    "bucketName",
    "region",
    "endpointUrl",
    "endpoint",
    "myAccessKey",
    "mySecretKey",
)


@dataclass(frozen=True, kw_only=True)
class Descriptor:
    """Where a data file lives. ``repr`` never shows ``access_key`` / ``secret_key``.

    ``origin`` is the descriptor file it was read from (relative ``filePath`` values of local
    descriptors are looked up beside it when not found under the working directory).
    """

    target: str
    file_path: str | None = None
    file_name: str
    bucket_name: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    origin: Path | None = field(default=None, compare=False)

    @property
    def has_credentials(self) -> bool:
        return bool(self.access_key and self.secret_key)

    @property
    def key(self) -> str:
        """The S3 object key, ``filePath/fileName`` (the path's outer ``/`` dropped)."""
        prefix = (self.file_path or "").strip("/")
        return f"{prefix}/{self.file_name}" if prefix else self.file_name

    @property
    def uri(self) -> str:
        """``s3://bucket/key`` for S3; for local, the path as written (``get_file`` resolves it)."""
        if self.target == "s3":
            return f"s3://{self.bucket_name}/{self.key}"
        return os.path.join(self.file_path or "", self.file_name)


def load_descriptor(path: str | os.PathLike[str]) -> Descriptor:
    """Read and validate a descriptor JSON.

    >>> d = load_descriptor("exports/data.json")            # doctest: +SKIP
    >>> d.target, d.file_name                               # doctest: +SKIP
    ('local', 'data.csv')

    Raises:
        DescriptorError: the file is missing, not JSON, not an object, or a field is missing
            or invalid; the message names the file and the field.
        UnsupportedFormatError: ``fileName`` has an extension modeler cannot read.

    Warns:
        UserWarning: the file holds ``myAccessKey`` / ``mySecretKey`` (they are still used).
    """
    where = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DescriptorError(f"{where}: descriptor file not found") from None
    except IsADirectoryError:
        raise DescriptorError(f"{where}: is a directory, expected a descriptor JSON file") from None
    except UnicodeDecodeError as exc:
        raise DescriptorError(f"{where}: not UTF-8 text (byte {exc.start})") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        # exc.msg only: the default str() is fine too, but never echo the document (keys)
        raise DescriptorError(
            f"{where}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    descriptor = _validate(raw, where, origin=Path(path).resolve())
    if descriptor.access_key or descriptor.secret_key:
        warnings.warn(
            f"{where}: the descriptor holds plaintext credentials (myAccessKey/mySecretKey). "
            "They are used for now; prefer AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, an AWS "
            "profile (AWS_PROFILE) or an IAM role, and remove them from the file.",
            UserWarning,
            stacklevel=2,
        )
    return descriptor


def save_descriptor(
    path: str | os.PathLike[str],
    *,
    target: str,
    filePath: str | None = None,  # the export format's field names
    fileName: str,
    bucketName: str | None = None,
    region: str | None = None,
    endpointUrl: str | None = None,
    myAccessKey: str | None = None,
    mySecretKey: str | None = None,
    save_credentials: bool = False,
) -> Path:
    """Write a descriptor JSON that :func:`load_descriptor` reads back; returns its path.

    >>> save_descriptor("d.json", target="local", filePath="o", fileName="d.csv")  # doctest: +SKIP
    PosixPath('/home/me/project/d.json')

    The fields are validated as :func:`load_descriptor` does, and the file is replaced
    atomically. ``myAccessKey`` / ``mySecretKey`` are written only with
    ``save_credentials=True`` (the file is then readable by its owner only); otherwise they are
    dropped with a warning, and ``get_file`` uses the environment's credentials.
    """
    fields = {
        "target": target,
        "filePath": filePath,
        "fileName": fileName,
        "bucketName": bucketName,
        "region": region,
        "endpointUrl": endpointUrl,
    }
    secrets = {"myAccessKey": myAccessKey, "mySecretKey": mySecretKey}
    if save_credentials:
        fields.update(secrets)
    elif myAccessKey or mySecretKey:
        warnings.warn(
            f"{os.fspath(path)}: myAccessKey/mySecretKey were not written (pass "
            "save_credentials=True to store them in plain text); get_file will use "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, an AWS profile or an IAM role.",
            UserWarning,
            stacklevel=2,
        )
    data = {k: v for k, v in fields.items() if v is not None}
    _validate(data, os.fspath(path), origin=None)

    final = Path(path).expanduser().resolve()
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        # mkstemp makes the file 0600; keep that for credentials, else the usual 0644
        if not (save_credentials and (myAccessKey or mySecretKey)):
            os.chmod(tmp, 0o644)
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return final


def _validate(raw: Any, where: str, *, origin: Path | None) -> Descriptor:
    """Check a parsed descriptor; every message names ``where`` and the field at fault."""
    if not isinstance(raw, dict):
        raise DescriptorError(
            f"{where}: expected a JSON object with 'target' and 'fileName'; "
            f"got a JSON {_json_type(raw)}"
        )
    for name in _STRING_FIELDS:
        value = raw.get(name)
        if value is not None and not isinstance(value, str):
            raise DescriptorError(
                f"{where}: field {name!r} must be a string; got a JSON {_json_type(value)}"
            )
    # exports write "" for fields that do not apply: treat them as absent
    get = {k: (v.strip() or None) if isinstance(v, str) else v for k, v in raw.items()}.get

    target = get("target")
    if target is None:
        raise DescriptorError(f"{where}: field 'target' is missing; expected 'local' or 's3'")
    if target.lower() not in TARGETS:
        raise DescriptorError(
            f"{where}: field 'target' must be one of 'local', 's3'; got {raw['target']!r}"
        )
    target = target.lower()

    file_name = get("fileName")
    if file_name is None:
        raise DescriptorError(f"{where}: field 'fileName' is missing; expected e.g. 'data.csv'")
    if not has_extension(file_name):
        raise DescriptorError(
            f"{where}: field 'fileName' must have an extension that names its format "
            f"(e.g. 'data.csv'); got {file_name!r}"
        )
    format_of(file_name, where=f"{where}: field 'fileName'")

    endpoint = get("endpointUrl")
    alias = get("endpoint")
    if endpoint and alias and endpoint != alias:
        raise DescriptorError(
            f"{where}: fields 'endpointUrl' and 'endpoint' (its alias) disagree: "
            f"{endpoint!r} vs {alias!r}; keep one"
        )
    endpoint_field = "endpointUrl" if endpoint else "endpoint"
    endpoint = endpoint or alias
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise DescriptorError(
            f"{where}: field {endpoint_field!r} must start with http:// or https://; "
            f"got {endpoint!r}"
        )

    bucket = get("bucketName")
    if target == "s3":
        if bucket is None:
            raise DescriptorError(
                f"{where}: field 'bucketName' is missing; target 's3' needs the bucket's name"
            )
        if "/" in bucket:
            raise DescriptorError(
                f"{where}: field 'bucketName' must be a bucket name without '/'; got {bucket!r} "
                "(put the folder in 'filePath')"
            )

    access, secret = get("myAccessKey"), get("mySecretKey")
    if bool(access) != bool(secret):
        have, lack = ("myAccessKey", "mySecretKey") if access else ("mySecretKey", "myAccessKey")
        raise DescriptorError(
            f"{where}: field {lack!r} is missing while {have!r} is set; give both, or neither "
            "and use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an AWS profile"
        )

    return Descriptor(
        target=target,
        file_path=get("filePath"),
        file_name=file_name,
        bucket_name=bucket if target == "s3" else None,
        region=get("region"),
        endpoint_url=endpoint,
        access_key=access,
        secret_key=secret,
        origin=origin,
    )


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return "string"
