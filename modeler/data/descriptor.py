"""Data descriptors: the small JSON files a data pipeline exports (Accuinsight format).

>>> from modeler.data.descriptor import load_descriptor, save_descriptor
>>> save_descriptor("data.json", target="s3", bucketName="fraud", filePath="exports/2026-11",
...                 fileName="tx.parquet", endpointUrl="http://minio:9000")   # doctest: +SKIP
PosixPath('/home/me/project/data.json')
>>> load_descriptor("data.json").uri                                            # doctest: +SKIP
's3://fraud/exports/2026-11/tx.parquet'

Fields (camelCase, as exported): ``target``, ``filePath``, ``fileName``, ``bucketName``,
``region``, ``endpointUrl`` (``endpoint`` is accepted as an alias) and the legacy
``myAccessKey`` / ``mySecretKey``. ``target`` is ``local`` or ``s3``; in files written by
Accuinsight it is the name of the label column instead, and the storage follows from the other
fields (``bucketName``: S3, else local). ``filePath`` is the folder, or the whole path when it
ends with ``fileName`` (Accuinsight's form). Accuinsight's ``bucketType`` (``s3``) and
``fileType`` are accepted, ``fileDelim`` splits CSV and TSV files; its HDFS exports
(``host``/``port``) are refused with a clear message. Any other field is an error that names
it and the closest known field.

Secrets: keys in a file still work, with a warning; they are never put in a repr, a message or
a saved file unless ``save_credentials=True``. A password inside ``endpointUrl`` is dropped with
a warning (S3 signs requests with access keys and never uses it), so it is neither shown nor
stored.
"""

from __future__ import annotations

import difflib
import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from modeler.data.names import check_bucket, check_key, check_local_path
from modeler.data.readers import format_of, has_extension
from modeler.errors import DescriptorError
from modeler.redact import has_credentials, redact_url, without_credentials

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
    "bucketType",
    "host",
    "fileType",
    "fileDelim",
)
# every field a descriptor may hold; "port" (HDFS) may be a number
KNOWN_FIELDS = (*_STRING_FIELDS, "port")
_TARGET_HELP = "'local' or 's3' (or, as in Accuinsight exports, the label column's name)"


@dataclass(frozen=True, kw_only=True, repr=False)
class Descriptor:
    """Where a data file lives. ``repr`` never shows keys or a password.

    ``origin`` is the descriptor file it was read from (relative ``filePath`` values of local
    descriptors are looked up beside it when not found under the working directory).
    ``label`` is the label column an Accuinsight export names in its ``target`` field.
    """

    target: str
    file_path: str | None = None
    file_name: str
    bucket_name: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    origin: Path | None = field(default=None, compare=False)
    label: str | None = None
    delimiter: str | None = None  # an Accuinsight export's fileDelim, for CSV and TSV files

    def __repr__(self) -> str:
        shown = {
            "target": self.target,
            "file_path": self.file_path,
            "file_name": self.file_name,
            "bucket_name": self.bucket_name,
            "region": self.region,
            "endpoint_url": redact_url(self.endpoint_url) if self.endpoint_url else None,
            "label": self.label,
        }
        inner = ", ".join(f"{k}={v!r}" for k, v in shown.items() if v is not None)
        keys = ", credentials=<hidden>" if self.access_key or self.secret_key else ""
        return f"Descriptor({inner}{keys})"

    __str__ = __repr__

    @property
    def has_credentials(self) -> bool:
        return bool(self.access_key and self.secret_key)

    @property
    def path(self) -> str:
        """``filePath/fileName``, or ``filePath`` alone when it already ends with the name."""
        folder = self.file_path or ""
        if (
            folder
            and not folder.endswith(("/", "\\"))
            and PurePosixPath(folder.replace("\\", "/")).name == self.file_name
        ):
            return folder
        return os.path.join(folder, self.file_name) if folder else self.file_name

    @property
    def key(self) -> str:
        """The S3 object key (:attr:`path` without a leading ``/``)."""
        return self.path.replace("\\", "/").lstrip("/")

    @property
    def uri(self) -> str:
        """``s3://bucket/key`` for S3; for local, the path as written (``get_file`` resolves it)."""
        if self.target == "s3":
            return f"s3://{self.bucket_name}/{self.key}"
        return self.path


def load_descriptor(path: str | os.PathLike[str]) -> Descriptor:
    """Read and validate a descriptor JSON.

    >>> d = load_descriptor("exports/data.json")            # doctest: +SKIP
    >>> d.target, d.file_name                               # doctest: +SKIP
    ('local', 'data.csv')

    Raises:
        DescriptorError: the file is missing, not JSON, not an object, has an unknown field, or
            a field is missing or invalid; the message names the file and the field.
        InvalidNameError: the path, bucket name or key breaks a naming rule.
        UnsupportedFormatError: ``fileName`` has an extension modeler cannot read.

    Warns:
        UserWarning: the file holds ``myAccessKey`` / ``mySecretKey`` (they are still used), or
            a password inside ``endpointUrl`` (dropped).
    """
    where = os.fspath(path)
    check_local_path(where, where="descriptor")
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # as Notepad saves it, too
    except FileNotFoundError:
        raise DescriptorError(f"{where}: descriptor file not found") from None
    except IsADirectoryError:
        raise DescriptorError(f"{where}: is a directory, expected a descriptor JSON file") from None
    except UnicodeDecodeError as exc:
        raise DescriptorError(f"{where}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise DescriptorError(f"{where}: cannot be read: {exc.strerror or exc}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        # exc.msg only: the default str() is fine too, but never echo the document (keys)
        raise DescriptorError(
            f"{where}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    descriptor, notes = _validate(raw, where, origin=Path(path).resolve())
    if descriptor.access_key or descriptor.secret_key:
        notes.append(
            f"{where}: the descriptor holds plaintext credentials (myAccessKey/mySecretKey). "
            "They are used for now; prefer AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, an AWS "
            "profile (AWS_PROFILE) or an IAM role, and remove them from the file."
        )
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    return descriptor


def describe(where: str = "set_storage(...)", *, warn: bool = True, **fields: Any) -> Descriptor:
    """A :class:`Descriptor` from export fields, validated as if read from a file named ``where``.

    >>> describe(target="isFraud", filePath="out/tx.csv", fileName="tx.csv").path
    'out/tx.csv'

    ``warn=False``: no warning about a password dropped from the endpoint (the caller gives it).
    """
    descriptor, notes = _validate(
        {k: v for k, v in fields.items() if v is not None}, where, origin=None
    )
    for note in notes if warn else []:
        warnings.warn(note, UserWarning, stacklevel=2)
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
    dropped with a warning, and ``get_file`` uses the environment's credentials. A password in
    ``endpointUrl`` is never written (dropped with a warning).
    """
    where = os.fspath(path)
    check_local_path(where, where="descriptor")
    fields = {
        "target": target,
        "filePath": filePath,
        "fileName": fileName,
        "bucketName": bucketName,
        "region": region,
        "endpointUrl": endpointUrl,
    }
    secrets = {"myAccessKey": myAccessKey, "mySecretKey": mySecretKey}
    notes = []
    if save_credentials:
        fields.update(secrets)
    elif myAccessKey or mySecretKey:
        notes.append(
            f"{where}: myAccessKey/mySecretKey were not written (pass "
            "save_credentials=True to store them in plain text); get_file will use "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, an AWS profile or an IAM role."
        )
    data = {k: v for k, v in fields.items() if v is not None}
    descriptor, more = _validate(data, where, origin=None)
    notes += more
    if descriptor.endpoint_url is not None:
        data["endpointUrl"] = descriptor.endpoint_url  # without any password
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)

    final = Path(path).expanduser().resolve()
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".descriptor.", suffix=".tmp")
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


def _validate(raw: Any, where: str, *, origin: Path | None) -> tuple[Descriptor, list[str]]:
    """Check a parsed descriptor; every message names ``where`` and the field at fault.

    Returns the descriptor and the warnings to give (credentials found and dropped).
    """
    if not isinstance(raw, dict):
        raise DescriptorError(
            f"{where}: expected a JSON object with 'target' and 'fileName'; "
            f"got a JSON {_json_type(raw)}"
        )
    unknown = [str(k) for k in raw if k not in KNOWN_FIELDS]
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
        raise DescriptorError(_missing(where, "target", f"expected {_TARGET_HELP}", unknown))
    file_name = get("fileName")
    if file_name is None:
        raise DescriptorError(_missing(where, "fileName", "expected e.g. 'data.csv'", unknown))
    if target.lower() == "s3" and get("bucketName") is None:
        raise DescriptorError(
            _missing(where, "bucketName", "target 's3' needs the bucket's name", unknown)
        )
    if unknown:
        raise DescriptorError(_unknown(where, unknown))

    if get("host") is not None or get("port") is not None or target.lower() == "hdfs":
        raise DescriptorError(
            f"{where}: HDFS exports (target 'hdfs' or fields 'host'/'port') are not supported; "
            f"export to S3 or a local file. Field 'target' must be {_TARGET_HELP}"
        )
    kind, label = _kind(where, target, raw["target"], get("bucketName"))
    bucket_type = get("bucketType")
    if bucket_type is not None and bucket_type.lower() != "s3":
        raise DescriptorError(f"{where}: field 'bucketType' must be 's3'; got {bucket_type!r}")

    if not has_extension(file_name):
        raise DescriptorError(
            f"{where}: field 'fileName' must have an extension that names its format "
            f"(e.g. 'data.csv'); got {file_name!r}"
        )
    format_of(file_name, where=f"{where}: field 'fileName'")

    notes: list[str] = []
    endpoint = _endpoint(where, get("endpointUrl"), get("endpoint"), notes)

    bucket = get("bucketName")
    if kind == "s3":
        assert bucket is not None  # checked above, or how the kind was inferred
        if "/" in bucket:
            raise DescriptorError(
                f"{where}: field 'bucketName' must be a bucket name without '/'; got {bucket!r} "
                "(put the folder in 'filePath')"
            )
        check_bucket(bucket, where=f"{where}: field 'bucketName'")

    access, secret = get("myAccessKey"), get("mySecretKey")
    if bool(access) != bool(secret):
        have, lack = ("myAccessKey", "mySecretKey") if access else ("mySecretKey", "myAccessKey")
        raise DescriptorError(
            f"{where}: field {lack!r} is missing while {have!r} is set; give both, or neither "
            "and use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an AWS profile"
        )

    delimiter = get("fileDelim")
    if delimiter is not None:
        delimiter = {"\\t": "\t", "tab": "\t"}.get(delimiter, delimiter)
        if len(delimiter) != 1:
            raise DescriptorError(
                f"{where}: field 'fileDelim' must be one character such as ',', '|' or '\\t'; "
                f"got {delimiter!r}"
            )
    descriptor = Descriptor(
        target=kind,
        file_path=get("filePath"),
        file_name=file_name,
        bucket_name=bucket if kind == "s3" else None,
        region=get("region"),
        endpoint_url=endpoint,
        access_key=access,
        secret_key=secret,
        origin=origin,
        label=label,
        delimiter=delimiter,
    )
    if kind == "s3":
        check_key(descriptor.key, where=f"{where}: fields 'filePath'/'fileName'")
    return descriptor, notes


def _kind(where: str, target: str, written: Any, bucket: str | None) -> tuple[str, str | None]:
    """(``local`` or ``s3``, the label column or None) from the ``target`` field."""
    lower = target.lower()
    if lower in TARGETS:
        return lower, None
    close = difflib.get_close_matches(lower, TARGETS, n=1, cutoff=0.75)
    if close:
        raise DescriptorError(
            f"{where}: field 'target' is {written!r}: did you mean {close[0]!r}? It must be "
            f"{_TARGET_HELP}"
        )
    # Accuinsight's meaning: target names the label; where the file is follows from the fields
    return ("s3" if bucket is not None else "local"), target


def _endpoint(where: str, url: str | None, alias: str | None, notes: list[str]) -> str | None:
    if url and alias and url != alias:
        raise DescriptorError(
            f"{where}: fields 'endpointUrl' and 'endpoint' (its alias) disagree: "
            f"{redact_url(url)!r} vs {redact_url(alias)!r}; keep one"
        )
    name = "endpointUrl" if url else "endpoint"
    endpoint = url or alias
    if endpoint is None:
        return None
    if "://" not in endpoint and _is_aws_host(endpoint):
        # Accuinsight wrote AWS endpoints as a bare host (s3.<region>.amazonaws.com)
        endpoint = f"https://{endpoint}"
    if not endpoint.startswith(("http://", "https://")):
        hint = f"; e.g. 'https://{endpoint}'" if "://" not in endpoint else ""
        raise DescriptorError(
            f"{where}: field {name!r} must start with http:// or https://; "
            f"got {redact_url(endpoint)!r}{hint}"
        )
    if has_credentials(endpoint):
        notes.append(
            f"{where}: field {name!r} holds credentials ({redact_url(endpoint)}); S3 signs "
            "requests with access keys and never uses them, so they were dropped and are "
            "neither shown nor stored. Give keys through AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY or an AWS profile."
        )
        endpoint = without_credentials(endpoint)
    return endpoint


def _is_aws_host(host: str) -> bool:
    """``s3.ap-northeast-2.amazonaws.com`` and the like: a bare AWS host name, no path."""
    import re

    return re.fullmatch(r"[a-z0-9.-]+\.amazonaws\.com(\.cn)?", host.lower()) is not None


def _missing(where: str, name: str, expected: str, present: list[str]) -> str:
    """``field 'x' is missing; <expected>``, plus the field written instead, if one is close."""
    text = f"{where}: field {name!r} is missing; {expected}"
    found = _closest(name, [k for k in present if k not in KNOWN_FIELDS])
    if found is not None:
        text += f". Found {found!r} instead: did you mean {name!r}?"
    return text


def _unknown(where: str, unknown: list[str]) -> str:
    parts = []
    for name in unknown:
        guess = _closest(name, list(KNOWN_FIELDS))
        parts.append(f"{name!r}" + (f" (did you mean {guess!r}?)" if guess else ""))
    fields = "fields" if len(unknown) > 1 else "field"
    return (
        f"{where}: unknown {fields} {', '.join(parts)}; a descriptor has only "
        f"{', '.join(repr(k) for k in KNOWN_FIELDS)}"
    )


def _closest(name: str, candidates: list[str]) -> str | None:
    """The candidate ``name`` most likely misspells (case ignored), or None."""
    by_lower = {c.lower(): c for c in candidates}
    match = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


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
