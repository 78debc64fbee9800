"""Naming rules checked before any request or file access: S3 buckets and keys, local names.

>>> from modeler.data.names import check_bucket, check_key, check_local_path, cache_name
>>> check_bucket("fraud exports")                                       # doctest: +SKIP
InvalidNameError: bucket name 'fraud exports' breaks S3's naming rule: ...
>>> cache_name("exports/" + "x" * 300 + ".csv")                        # doctest: +SKIP
'_hashed/5f0c...e1.csv'

A key too long to be a file name in the cache is cached under a name made from its sha256
(:func:`cache_name`), so it still loads; the sidecar beside the copy records the real key.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path, PurePosixPath

from modeler.errors import InvalidNameError

BUCKET_RULE = (
    "3 to 63 characters: letters, digits, '.', '-' or '_', starting and ending with a letter "
    "or digit"
)
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]")
MAX_KEY_BYTES = 1024  # S3's limit for an object key, UTF-8 encoded
NAME_MAX = 255  # bytes in one file name, when the filesystem does not say
PATH_MAX = 4096
# room left in a cached name for the sidecar (".<name>.modeler.json") and temp-file affixes
_CACHE_NAME_MAX = NAME_MAX - 40
_CACHE_PATH_MAX = PATH_MAX - 200
HASHED_DIR = "_hashed"


def check_bucket(bucket: str, *, where: str = "") -> None:
    """Raise :class:`InvalidNameError` naming ``bucket`` and the rule it breaks.

    The rule is S3's (and MinIO's), widened to the uppercase letters and ``_`` that old
    buckets may still have; a space, ``/`` or any other character is refused.
    """
    if _BUCKET.fullmatch(bucket):
        return
    prefix = f"{where}: " if where else ""
    bad = next((c for c in bucket if not (c.isascii() and (c.isalnum() or c in "._-"))), None)
    if bad is not None:
        why = f"{_char(bad)} at position {bucket.index(bad) + 1} is not allowed"
    elif not 3 <= len(bucket) <= 63:
        why = f"it is {len(bucket)} characters long"
    else:
        why = "it must start and end with a letter or digit"
    raise InvalidNameError(
        f"{prefix}bucket name {bucket!r} breaks S3's naming rule ({BUCKET_RULE}): {why}"
    )


def check_key(key: str, *, where: str = "") -> None:
    """Raise :class:`InvalidNameError` if ``key`` is longer than S3 allows (1024 bytes)."""
    size = len(key.encode("utf-8", "surrogatepass"))
    if size > MAX_KEY_BYTES:
        prefix = f"{where}: " if where else ""
        raise InvalidNameError(
            f"{prefix}key {_short(key)!r} is {size:,} bytes long; S3 keys are at most "
            f"{MAX_KEY_BYTES} bytes (UTF-8)"
        )


def cache_name(key: str) -> str:
    """The cache path of ``key`` below its bucket folder: the key itself when every segment
    fits in a file name, else ``_hashed/<sha256 of the key><extension>``."""
    segments = key.split("/")
    if all(len(os.fsencode(s)) <= _CACHE_NAME_MAX for s in segments) and (
        len(os.fsencode(key)) <= _CACHE_PATH_MAX
    ):
        return key
    suffix = "".join(PurePosixPath(segments[-1]).suffixes[-2:])
    if len(suffix) > 16 or not suffix.isascii():
        suffix = ""
    return (
        f"{HASHED_DIR}/{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()}{suffix}"
    )


def check_local_path(path: str | os.PathLike[str], *, where: str = "") -> None:
    """Raise :class:`InvalidNameError` if a name in ``path`` is longer than the filesystem
    allows (``NAME_MAX``, usually 255 bytes), or the whole path longer than ``PATH_MAX``.

    Without this check the OS answers with a bare ``OSError: File name too long``.
    """
    text = os.fspath(path)
    prefix = f"{where}: " if where else ""
    name_max, path_max = _limits(Path(text))
    size = len(os.fsencode(text))
    if size > path_max:
        raise InvalidNameError(
            f"{prefix}path {_short(text)!r} is {size:,} bytes long; paths on this system are "
            f"at most {path_max:,} bytes (PATH_MAX)"
        )
    for part in Path(text).parts:
        size = len(os.fsencode(part))
        if size > name_max:
            raise InvalidNameError(
                f"{prefix}the name {_short(part)!r} in {_short(text, 80)!r} is {size:,} bytes "
                f"long; file names on this system are at most {name_max} bytes (NAME_MAX)"
            )


def _limits(path: Path) -> tuple[int, int]:
    """(NAME_MAX, PATH_MAX) of the filesystem holding ``path``'s nearest existing folder."""
    folder = path if path.is_absolute() else Path.cwd() / path
    for candidate in (folder, *folder.parents):
        try:
            if candidate.is_dir():
                return (
                    os.pathconf(candidate, "PC_NAME_MAX"),
                    os.pathconf(candidate, "PC_PATH_MAX"),
                )
        except (OSError, ValueError):
            continue
    return NAME_MAX, PATH_MAX


def _short(text: str, keep: int = 40) -> str:
    return text if len(text) <= keep else f"{text[: keep // 2]}...{text[-keep // 2 :]}"


def _char(c: str) -> str:
    return {" ": "a space", "/": "'/'", "\t": "a tab"}.get(c, repr(c))
