"""get_file: local files and a real S3 endpoint (moto server on 127.0.0.1), every failure named."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest
from fixtures.s3 import unique_bucket

from modeler.data import storage
from modeler.data.files import get_file
from modeler.errors import (
    AccessDeniedError,
    DataError,
    DataNotFoundError,
    DescriptorError,
    DownloadError,
    InvalidNameError,
    OptionError,
    StorageUnreachableError,
    UnsafePathError,
    UnsupportedFormatError,
)
from modeler.state import SESSION

FRAME = pd.DataFrame({"amount": [1.5, 20.0, 300.25], "label": [0, 1, 0]})
CSV = FRAME.to_csv(index=False).encode()
ACCESS = "AKIAEXAMPLEACCESS123"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(client, key: str = "exports/tx.csv", body: bytes = CSV) -> str:
    bucket = unique_bucket()
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key=key, Body=body)
    return bucket


def descriptor(path: Path, **fields) -> str:
    path.write_text(json.dumps(fields))
    return str(path)


# --- local files ---------------------------------------------------------------------------
WRITERS = {
    "tx.csv": lambda p: FRAME.to_csv(p, index=False),
    "tx.tsv": lambda p: FRAME.to_csv(p, sep="\t", index=False),
    "tx.csv.gz": lambda p: p.write_bytes(gzip.compress(CSV)),
    "tx.tsv.gz": lambda p: FRAME.to_csv(p, sep="\t", index=False, compression="gzip"),
    "tx.parquet": lambda p: FRAME.to_parquet(p),
    "tx.pq": lambda p: FRAME.to_parquet(p),
    "tx.jsonl": lambda p: FRAME.to_json(p, orient="records", lines=True),
    "tx.ndjson": lambda p: FRAME.to_json(p, orient="records", lines=True),
}


@pytest.mark.parametrize("name", list(WRITERS))
def test_reads_each_format_and_records_the_dataset(tmp_path, name):
    WRITERS[name](tmp_path / name)
    df = get_file(name)
    pd.testing.assert_frame_equal(df, FRAME)
    (record,) = SESSION.datasets
    assert record.name == name
    assert record.source == (tmp_path / name).resolve().as_uri()
    assert record.digest == sha256((tmp_path / name).read_bytes())
    assert (record.rows, record.columns) == (3, ("amount", "label"))


def test_file_uri_descriptor_and_as_path(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "tx.csv").write_bytes(CSV)
    uri = (tmp_path / "out" / "tx.csv").as_uri()
    pd.testing.assert_frame_equal(get_file(uri), FRAME)
    # filePath relative to the working directory, as exports write it
    local = descriptor(tmp_path / "d.json", target="local", filePath="out", fileName="tx.csv")
    assert get_file(local, as_path=True) == tmp_path / "out" / "tx.csv"
    assert SESSION.datasets[-1].rows is None and SESSION.datasets[-1].digest == sha256(CSV)


def test_local_descriptor_found_beside_itself(tmp_path, monkeypatch):
    (tmp_path / "exports" / "out").mkdir(parents=True)
    (tmp_path / "exports" / "out" / "tx.csv").write_bytes(CSV)
    d = descriptor(
        tmp_path / "exports" / "d.json", target="local", filePath="out", fileName="tx.csv"
    )
    monkeypatch.chdir(tmp_path / "exports" / "out")  # filePath is not relative to here
    assert len(get_file(d)) == 3


def test_local_file_absent(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"data file not found: .*missing\.csv"):
        get_file("missing.csv")
    d = descriptor(tmp_path / "d.json", target="local", filePath="out", fileName="tx.csv")
    with pytest.raises(
        DataNotFoundError, match=r"d\.json: .*out/tx\.csv.*fields 'filePath'/'fileName'"
    ):
        get_file(d)
    assert SESSION.datasets == []


@pytest.mark.parametrize("name", ["tx.csv.gz", "tx.tsv.gz"])
def test_a_gz_file_that_is_not_gzip_is_a_data_error(tmp_path, name):
    (tmp_path / name).write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match=rf"{name}: not gzip data, though the extension"):
        get_file(str(tmp_path / name))
    assert SESSION.datasets == []


@pytest.mark.parametrize("name", ["tx.csv", "tx.jsonl"])
def test_an_empty_file_is_a_data_error_whatever_its_format(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    with pytest.raises(DataError, match=rf"{name}: "):
        get_file(name)


def test_a_descriptor_saved_with_a_bom_and_a_label_the_file_lacks(tmp_path):
    """Windows Notepad starts UTF-8 with a byte-order mark; a misspelt label is named."""
    FRAME.to_csv(tmp_path / "tx.csv", index=False)
    text = json.dumps({"target": "Label", "filePath": ".", "fileName": "tx.csv"})
    (tmp_path / "d.json").write_bytes(b"\xef\xbb\xbf" + text.encode())
    with pytest.warns(
        UserWarning,
        match=r"names the label column 'Label', which tx\.csv does "
        r"not have \(did you mean 'label'\?\); its columns: amount, label",
    ):
        df = get_file("d.json")
    pd.testing.assert_frame_equal(df, FRAME)


@pytest.mark.parametrize("delim", ["|", ";", "\\t"])
def test_an_accuinsight_export_is_split_by_its_file_delim(tmp_path, delim):
    sep = "\t" if delim == "\\t" else delim
    FRAME.to_csv(tmp_path / "tx.csv", sep=sep, index=False)
    path = descriptor(
        tmp_path / "d.json", target="label", filePath=".", fileName="tx.csv", fileDelim=delim
    )
    pd.testing.assert_frame_equal(get_file(path), FRAME)


def test_a_file_delim_of_more_than_one_character_is_refused(tmp_path):
    path = descriptor(tmp_path / "d.json", target="local", fileName="tx.csv", fileDelim="||")
    with pytest.raises(DescriptorError, match=r"field 'fileDelim' must be one character"):
        get_file(path)


def test_unsupported_sources(tmp_path):
    (tmp_path / "tx.xlsx").write_bytes(b"x")
    with pytest.raises(UnsupportedFormatError, match=r"'\.xlsx'; expected one of .*\.csv"):
        get_file("tx.xlsx")
    assert (
        get_file("tx.xlsx", as_path=True).name == "tx.xlsx"
    )  # any file, when only its path is wanted
    with pytest.raises(UnsupportedFormatError, match="has no extension"):
        get_file("s3://bucket/exports/transactions")  # refused before any request
    with pytest.raises(OptionError, match="unsupported scheme"):
        get_file("gs://bucket/tx.csv")
    with pytest.raises(OptionError, match="expected s3://bucket/key"):
        get_file("s3://bucket/")


# --- S3 ------------------------------------------------------------------------------------
def test_s3_download_cache_and_lineage(s3_env, tmp_path):
    bucket = put(s3_env)
    df = get_file(f"s3://{bucket}/exports/tx.csv")
    pd.testing.assert_frame_equal(df, FRAME)
    cached = tmp_path / "cache" / "s3" / bucket / "exports" / "tx.csv"
    assert cached.read_bytes() == CSV
    (record,) = SESSION.datasets
    assert (record.name, record.source) == ("tx.csv", f"s3://{bucket}/exports/tx.csv")
    assert (record.digest, record.rows) == (sha256(CSV), 3)

    # a hit: one HEAD, no download, no re-hashing
    calls = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(storage, "_transfer", lambda *a, **k: calls.append(a))
        mp.setattr(storage, "sha256_file", lambda *a: pytest.fail("hashed a cache hit"))
        assert get_file(f"s3://{bucket}/exports/tx.csv", as_path=True) == cached
    assert calls == [] and SESSION.datasets[-1].digest == sha256(CSV)

    # the object changed: new ETag, downloaded again
    s3_env.put_object(Bucket=bucket, Key="exports/tx.csv", Body=CSV + b"4.0,1\n")
    assert len(get_file(f"s3://{bucket}/exports/tx.csv")) == 4
    # refresh=True downloads even when nothing changed
    before = cached.stat().st_mtime_ns
    time.sleep(0.01)
    get_file(f"s3://{bucket}/exports/tx.csv", refresh=True, as_path=True)
    assert cached.stat().st_mtime_ns != before
    assert sorted(p.name for p in cached.parent.iterdir()) == [".tx.csv.modeler.json", "tx.csv"]


def test_s3_descriptor_with_endpoint_and_multipart_progress(
    s3_env, s3_endpoint, tmp_path, monkeypatch, capfd
):
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.delenv("MLFLOW_S3_ENDPOINT_URL")
    body = b"a,b\n" + b"1234567,7654321\n" * 600_000  # 9.6 MB: ranged GETs in parallel, a bar
    bucket = put(s3_env, key="big/tx.csv", body=body)
    d = descriptor(
        tmp_path / "d.json",
        target="s3",
        bucketName=bucket,
        filePath="big",
        fileName="tx.csv",
        endpointUrl=s3_endpoint,
    )
    path = get_file(d, as_path=True, cache_dir=tmp_path / "elsewhere")
    assert path == tmp_path / "elsewhere" / "s3" / bucket / "big" / "tx.csv"
    assert SESSION.datasets[-1].digest == sha256(body)
    bar = re.compile(r"tx\.csv: +\d+%\|")
    assert bar.search(capfd.readouterr().err)  # the progress bar, on stderr

    small = put(s3_env)
    d = descriptor(
        tmp_path / "small.json",
        target="s3",
        bucketName=small,
        filePath="exports",
        fileName="tx.csv",
        endpointUrl=s3_endpoint,
    )
    get_file(d, as_path=True)
    assert not bar.search(capfd.readouterr().err)  # no bar for small files


def test_bucket_and_key_absent(s3_env, tmp_path):
    with pytest.raises(
        DataNotFoundError,
        match=r"s3://no-such-bucket-x/tx\.csv: bucket 'no-such-bucket-x' does not exist",
    ):
        get_file("s3://no-such-bucket-x/tx.csv")
    bucket = put(s3_env)
    with pytest.raises(
        DataNotFoundError,
        match=rf"s3://{bucket}/exports/nope\.csv: key 'exports/nope\.csv' not found",
    ):
        get_file(f"s3://{bucket}/exports/nope.csv")
    d = descriptor(
        tmp_path / "d.json", target="s3", bucketName="no-such-bucket-x", fileName="a.csv"
    )
    with pytest.raises(DataNotFoundError, match=r"d\.json: .*does not exist.*field 'bucketName'"):
        get_file(d)
    assert not (tmp_path / "cache" / "s3" / bucket / "exports" / "nope.csv").exists()


@pytest.fixture
def limited_user(s3_env):
    """Keys of an IAM user allowed to list buckets only (a real 403 once IAM is enforced)."""
    import boto3

    iam = boto3.client("iam")
    name = unique_bucket("user")
    iam.create_user(UserName=name)
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}],
    }
    iam.put_user_policy(UserName=name, PolicyName="list-only", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def test_access_denied_with_keys_in_descriptor_hides_them(
    s3_env, limited_user, tmp_path, monkeypatch, capfd, caplog
):
    from moto import settings

    access, secret = limited_user
    bucket = put(s3_env)
    # from here on the moto server checks every request against IAM (its default is to allow all)
    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    d = descriptor(
        tmp_path / "d.json",
        target="s3",
        bucketName=bucket,
        filePath="exports",
        fileName="tx.csv",
        myAccessKey=access,
        mySecretKey=secret,
    )
    caplog.set_level(logging.INFO)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(
            AccessDeniedError, match=r"d\.json: s3://.*access denied.*'myAccessKey'/'mySecretKey'"
        ) as info:
            get_file(d)
    seen = [
        str(info.value),
        repr(info.value),
        *capfd.readouterr(),
        caplog.text,
        *(str(w.message) for w in caught),
    ]
    assert len(caught) == 1  # the plaintext-keys warning, once
    for text in seen:
        assert access not in text and secret not in text


def test_keys_never_printed_logged_or_recorded(s3_env, tmp_path, capfd, caplog):
    bucket = put(s3_env)  # moto without IAM accepts any key: these are used and succeed
    fields = dict(
        target="s3", bucketName=bucket, filePath="exports", myAccessKey=ACCESS, mySecretKey=SECRET
    )
    good = descriptor(tmp_path / "good.json", fileName="tx.csv", **fields)
    missing = descriptor(tmp_path / "missing.json", fileName="nope.csv", **fields)
    closed = descriptor(
        tmp_path / "closed.json",
        fileName="tx.csv",
        endpointUrl=f"http://127.0.0.1:{_closed_port()}",
        **fields,
    )
    # at DEBUG botocore itself logs request headers, which carry the key id (never the secret)
    caplog.set_level(logging.DEBUG)
    texts = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(get_file(good)) == 3
        for bad, error in ((missing, DataNotFoundError), (closed, StorageUnreachableError)):
            with pytest.raises(error) as info:
                get_file(bad)
            texts += [str(info.value), repr(info.value)]
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("modeler")]
    texts += [*capfd.readouterr(), *(str(w.message) for w in caught), *ours, repr(SESSION.datasets)]
    texts += [json.dumps(json.loads(p.read_text())) for p in (tmp_path / "cache").rglob("*.json")]
    for text in texts:
        assert ACCESS not in text and SECRET not in text
    assert SECRET not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.INFO and ACCESS in r.getMessage()]


def _closed_port() -> int:
    from fixtures.s3 import free_port

    return free_port()  # bound and released: nothing listens there


def test_endpoint_unreachable_fails_fast(s3_env, monkeypatch):
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    start = time.monotonic()
    with pytest.raises(StorageUnreachableError, match=rf"S3 endpoint {endpoint} did not answer"):
        get_file("s3://bucket/tx.csv")
    assert time.monotonic() - start < 15


def test_endpoint_resolution_order(monkeypatch):
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://mlflow-s3:9000")
    assert storage.resolve_endpoint() == "http://mlflow-s3:9000"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://aws-env:9000")
    assert storage.resolve_endpoint() == "http://aws-env:9000"
    assert storage.resolve_endpoint("http://descriptor:9000") == "http://descriptor:9000"
    assert storage.public_url("http://user:pw@minio:9000/") == "http://user:***@minio:9000/"


@pytest.mark.parametrize(
    "key",
    ["../../outside.csv", "a/../../outside.csv", "/etc/outside.csv", "a//b.csv", "./a.csv"],
)
def test_paths_escaping_the_cache_are_refused(tmp_path, key):
    with pytest.raises(UnsafePathError, match="key"):
        get_file(f"s3://bucket/{key}")  # refused before any request: no s3_env needed
    assert not list(tmp_path.rglob("outside.csv"))


def test_descriptor_path_escaping_the_cache(tmp_path):
    d = descriptor(
        tmp_path / "d.json", target="s3", bucketName="fraud", filePath="../../x", fileName="a.csv"
    )
    with pytest.raises(UnsafePathError, match=r"d\.json: .*'\.\.'.*fields 'filePath'/'fileName'"):
        get_file(d)


def _tampered_transfer(monkeypatch, change):
    """Run the real managed download, but through a sink that alters the bytes on the way."""
    real = storage._transfer

    class Tampered:
        def __init__(self, sink):
            self.sink, self.seen = sink, 0

        def write(self, data):
            out = change(self.seen, data)
            self.seen += len(data)
            self.sink.write(out)
            return len(data)

        def seekable(self):
            return False

    monkeypatch.setattr(
        storage,
        "_transfer",
        lambda client, bucket, key, sink, **kw: real(client, bucket, key, Tampered(sink), **kw),
    )


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_truncated_download_leaves_no_file(s3_env, tmp_path, monkeypatch):
    bucket = put(s3_env)
    _tampered_transfer(monkeypatch, lambda seen, data: data[:-10])  # the last 10 bytes get lost
    with pytest.raises(
        DownloadError, match=rf"truncated: expected {len(CSV)} bytes, got {len(CSV) - 10}"
    ):
        get_file(f"s3://{bucket}/exports/tx.csv")
    assert _leftovers(tmp_path / "cache" / "s3" / bucket / "exports") == []
    assert SESSION.datasets == []


def test_corrupted_download_fails_the_checksum(s3_env, tmp_path, monkeypatch):
    bucket = put(s3_env)  # single-part upload: S3 reports a full-object CRC32
    _tampered_transfer(monkeypatch, lambda seen, data: data.upper())
    with pytest.raises(DownloadError, match="checksum mismatch: S3 reports crc32"):
        get_file(f"s3://{bucket}/exports/tx.csv")
    assert _leftovers(tmp_path / "cache" / "s3" / bucket / "exports") == []


def test_failed_or_interrupted_download_keeps_the_previous_copy(s3_env, monkeypatch):
    bucket = put(s3_env)
    path = get_file(f"s3://{bucket}/exports/tx.csv", as_path=True)

    def disk_full(seen, data):
        raise OSError(28, "No space left on device")

    _tampered_transfer(monkeypatch, disk_full)  # fails inside boto3's transfer threads
    with pytest.raises(OSError, match="No space left"):
        get_file(f"s3://{bucket}/exports/tx.csv", refresh=True)
    assert path.read_bytes() == CSV
    assert _leftovers(path.parent) == [".tx.csv.modeler.json", "tx.csv"]

    def interrupted(client, bucket, key, sink, **kw):
        sink.write(CSV[:5])
        raise KeyboardInterrupt  # Ctrl-C reaches the main thread while it waits on the transfer

    monkeypatch.setattr(storage, "_transfer", interrupted)
    with pytest.raises(KeyboardInterrupt):
        get_file(f"s3://{bucket}/exports/tx.csv", refresh=True)
    assert path.read_bytes() == CSV
    assert _leftovers(path.parent) == [".tx.csv.modeler.json", "tx.csv"]


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("AccessDenied", 403, AccessDeniedError),
        ("InvalidAccessKeyId", 403, AccessDeniedError),
        ("SignatureDoesNotMatch", 403, AccessDeniedError),
        ("403", 403, AccessDeniedError),
        ("NoSuchKey", 404, DataNotFoundError),
        ("NoSuchBucket", 404, DataNotFoundError),
        ("PreconditionFailed", 412, DownloadError),
    ],
)
def test_s3_error_codes_map_to_modeler_errors(code, status, error):
    from botocore.exceptions import ClientError

    exc = ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "HeadObject",
    )
    cls, message, _ = storage._from_client_error(exc, None, "b", "k.csv", "http://127.0.0.1:1")
    assert cls is error and message.startswith("s3://b/k.csv: ")


# --- names: spaces, long keys, long local names --------------------------------------------
def test_bucket_with_a_space_is_refused_before_any_request(monkeypatch):
    def no_network(**kwargs):
        raise AssertionError("an S3 client was made")

    monkeypatch.setattr(storage, "make_client", no_network)
    with pytest.raises(InvalidNameError) as info:
        get_file("s3://fraud exports/tx.csv")
    assert str(info.value).startswith("s3://fraud exports/tx.csv: bucket name 'fraud exports'")
    assert "a space at position 6 is not allowed" in str(info.value)
    with pytest.raises(InvalidNameError, match=r"S3 keys are at most 1024 bytes"):
        get_file("s3://fraud/" + "k/" * 600 + "tx.csv")


def test_a_300_character_key_loads_through_a_hashed_cache_name(s3_env, tmp_path, monkeypatch):
    key = "exports/" + "transactions-" * 22 + "2026.csv"
    assert len(key) > 300 and len(key.rsplit("/", 1)[1]) > 255
    bucket = put(s3_env, key=key)
    path = get_file(f"s3://{bucket}/{key}", as_path=True)
    expected = hashlib.sha256(key.encode()).hexdigest() + ".csv"
    assert path == tmp_path / "cache" / "s3" / bucket / "_hashed" / expected
    assert path.read_bytes() == CSV
    meta = json.loads((path.parent / f".{path.name}.modeler.json").read_text())
    assert meta["source"] == f"s3://{bucket}/{key}"

    def no_download(*args, **kwargs):
        raise AssertionError("downloaded again")

    monkeypatch.setattr(storage, "_download", no_download)
    pd.testing.assert_frame_equal(get_file(f"s3://{bucket}/{key}"), FRAME)  # a cache hit
    assert SESSION.datasets[-1].source == f"s3://{bucket}/{key}"


def test_local_names_too_long_for_the_filesystem(tmp_path):
    name = "transactions-" * 20 + ".csv"
    with pytest.raises(InvalidNameError) as info:
        get_file(name)
    assert f"is {len(name)} bytes long; file names on this system are at most 255" in str(
        info.value
    )
    d = descriptor(tmp_path / "d.json", target="local", filePath="out", fileName=name)
    with pytest.raises(InvalidNameError, match=r"d\.json: fields 'filePath'/'fileName': the name"):
        get_file(d)


def test_endpoint_passwords_never_reach_a_message(s3_env, tmp_path, monkeypatch):
    password = "S3Endp0intPass"
    closed = f"http://minio:{password}@127.0.0.1:{_closed_port()}"
    d = descriptor(
        tmp_path / "d.json", target="s3", bucketName="fraud", fileName="a.csv", endpointUrl=closed
    )
    with (
        pytest.warns(UserWarning, match="were dropped") as caught,
        pytest.raises(StorageUnreachableError) as info,
    ):
        get_file(d)
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed)
    with pytest.raises(StorageUnreachableError) as env_info:
        get_file("s3://fraud/a.csv")
    assert "minio:***@127.0.0.1" not in str(env_info.value)  # not used, so not even shown
    for text in (str(info.value), repr(info.value), str(env_info.value), str(caught[0].message)):
        assert password not in text
