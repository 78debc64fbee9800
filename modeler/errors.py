"""Every user-facing failure of modeler is a ``ModelerError``.

Messages state the rule, then the value at fault, e.g.::

    DescriptorError: data.json: field 'target' must be one of 'local', 's3'; got 'hdfs'

Catch ``ModelerError`` to handle all of them; catch a subclass for one kind.
"""

from __future__ import annotations


class ModelerError(Exception):
    """Base class of every error modeler raises on purpose."""


class ConfigError(ModelerError, ValueError):
    """A setting (tracking URI, experiment, cache dir, an option) is invalid."""


class OptionError(ModelerError, TypeError):
    """An argument to a public function has the wrong type or value."""


# --- data: descriptors, storage, readers -------------------------------------------------
class DataError(ModelerError):
    """Base class for failures to locate, fetch or read a data file."""


class DescriptorError(DataError, ValueError):
    """A descriptor JSON is missing, malformed, or has a missing or invalid field."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A local file, bucket or key does not exist."""


class AccessDeniedError(DataError, PermissionError):
    """The storage refused access with the credentials found."""


class StorageUnreachableError(DataError, ConnectionError):
    """The storage endpoint did not answer in time."""


class DownloadError(DataError):
    """A download was truncated or its content does not match the source."""


class UnsafePathError(DataError, ValueError):
    """A file name would place a file outside the cache directory."""


class InvalidNameError(DataError, ValueError):
    """A bucket name, object key or file name breaks a naming rule of S3 or of the filesystem."""


class UnsupportedFormatError(DataError, ValueError):
    """A file's extension is not one modeler can read."""


# --- evaluation ---------------------------------------------------------------------------
class EvaluationError(ModelerError, ValueError):
    """Labels, scores or a threshold cannot be evaluated."""


class CostError(EvaluationError):
    """A cost specification is invalid (negative, wrong length, unknown column)."""


class SparkDataError(EvaluationError):
    """A Spark DataFrame cannot be evaluated: a missing or mistyped column, labels that are not
    0/1, scores that are not finite numbers, or no rows."""


# --- imbalance ----------------------------------------------------------------------------
class SamplingError(ModelerError, ValueError):
    """A resampling request cannot be carried out on the data given."""


# --- tracking and comparison --------------------------------------------------------------
class TrackingError(ModelerError):
    """The tracking store could not be reached or refused a request."""


class JournalError(TrackingError):
    """A run's journal on local disk is damaged (unreadable run.json, a garbled line)."""


class CompareError(ModelerError, ValueError):
    """Runs cannot be selected or compared."""


class RunNotFoundError(CompareError, LookupError):
    """A run id, run name or model version does not exist in the store."""


class ModelerWarning(UserWarning):
    """Something went wrong in logging; the user's training was not affected."""
