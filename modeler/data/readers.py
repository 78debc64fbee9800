"""Read a data file into a pandas DataFrame, choosing the reader by the file's extension.

>>> from modeler.data.readers import format_of, read_frame
>>> format_of("transactions.csv.gz")
'.csv.gz'
>>> df = read_frame("transactions.csv.gz")              # doctest: +SKIP

Supported: ``.csv``, ``.tsv``, ``.csv.gz``, ``.tsv.gz``, ``.parquet``, ``.pq``, ``.jsonl``,
``.ndjson`` (JSON lines). CSV and TSV are read with pandas' default (C) engine, so frames and
dtypes are exactly what ``pandas.read_csv`` gives.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

from modeler.errors import DataError, UnsupportedFormatError

# extension -> reader kind; longest extensions first so ".csv.gz" wins over ".gz"
FORMATS: dict[str, str] = {
    ".csv.gz": "csv",
    ".tsv.gz": "tsv",
    ".parquet": "parquet",
    ".ndjson": "jsonl",
    ".jsonl": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".pq": "parquet",
}
SUPPORTED = ", ".join(sorted(FORMATS))


def has_extension(name: str) -> bool:
    """True when the base name has an extension (``data.csv``; not ``data`` or ``.env``)."""
    base = os.path.basename(name).lstrip(".")
    return "." in base and not base.endswith(".")


def format_of(name: str | os.PathLike[str], *, where: str = "") -> str:
    """The supported extension ``name`` ends with (lowercase), e.g. ``'.csv.gz'``.

    Raises:
        UnsupportedFormatError: no extension, or one modeler cannot read; the message lists
            the supported ones. ``where`` (e.g. ``"data.json: field 'fileName'"``) prefixes it.
    """
    text = os.fspath(name)
    lower = text.lower()
    for ext in FORMATS:
        if lower.endswith(ext):
            return ext
    prefix = f"{where}: " if where else ""
    if not has_extension(text):
        raise UnsupportedFormatError(
            f"{prefix}file name {text!r} has no extension; expected one of {SUPPORTED}"
        )
    got = "".join(Path(text).suffixes[-2:])
    raise UnsupportedFormatError(
        f"{prefix}file {text!r} has an unsupported extension {got!r}; expected one of {SUPPORTED}"
    )


def read_frame(
    path: str | os.PathLike[str], *, name: str | None = None, delimiter: str | None = None
) -> Any:
    """Read ``path`` into a DataFrame by its extension (or by ``name``'s, e.g. the S3 key's).

    >>> read_frame("cache/s3/bucket/data.tsv.gz")                     # doctest: +SKIP

    Raises:
        UnsupportedFormatError: the extension is not supported.
        DataError: the file cannot be parsed as its extension says.
    """
    import pandas as pd

    ext = format_of(name or path)
    kind = FORMATS[ext]
    # explicit, since ``path`` may be a cache file whose name does not carry the extension
    compression = "gzip" if ext.endswith(".gz") else None
    try:
        if kind == "csv":
            return pd.read_csv(path, sep=delimiter or ",", compression=compression)
        if kind == "tsv":
            return pd.read_csv(path, sep=delimiter or "\t", compression=compression)
        if kind == "parquet":
            return pd.read_parquet(path)
        frame = pd.read_json(path, lines=True)
    except gzip.BadGzipFile as exc:  # an OSError, but about the content
        raise DataError(
            f"{os.fspath(path)}: not gzip data, though the extension {ext} says so: {exc}"
        ) from exc
    except (OSError, MemoryError):
        raise
    except Exception as exc:  # pandas/pyarrow raise many unrelated types for bad content
        raise DataError(
            f"{os.fspath(path)}: cannot read as {kind.upper()} (extension {ext}): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if frame.shape == (0, 0):  # as an empty CSV is refused
        raise DataError(f"{os.fspath(path)}: no records to read as JSON lines (extension {ext})")
    return frame
