"""Descriptors: the Accuinsight export format, read and written; every bad input named."""

from __future__ import annotations

import json
import stat
import warnings

import pytest

from modeler.data.descriptor import Descriptor, load_descriptor, save_descriptor
from modeler.errors import (
    DescriptorError,
    InvalidNameError,
    ModelerError,
    UnsupportedFormatError,
)

ACCESS = "AKIAEXAMPLEACCESS123"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def write(path, content) -> str:
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_local_descriptor_round_trip(tmp_path):
    path = save_descriptor(
        tmp_path / "d.json", target="local", filePath="data/out", fileName="tx.csv"
    )
    assert json.loads(path.read_text()) == {
        "target": "local",
        "filePath": "data/out",
        "fileName": "tx.csv",
    }
    d = load_descriptor(path)
    assert (d.target, d.file_path, d.file_name, d.bucket_name) == (
        "local",
        "data/out",
        "tx.csv",
        None,
    )


def test_s3_descriptor_fields_and_endpoint_alias(tmp_path):
    d = load_descriptor(
        write(
            tmp_path / "d.json",
            {
                "target": "S3",
                "bucketName": "fraud",
                "filePath": "/exports/2026/",
                "fileName": "tx.parquet",
                "region": "eu-west-1",
                "endpoint": "http://minio:9000",
                "bucketType": "s3",  # Accuinsight exports carry it
                "myAccessKey": "",  # empty means absent: no warning
            },
        )
    )
    assert d == Descriptor(
        target="s3",
        file_path="/exports/2026/",
        file_name="tx.parquet",
        bucket_name="fraud",
        region="eu-west-1",
        endpoint_url="http://minio:9000",
    )
    assert d.key == "exports/2026/tx.parquet"
    assert d.uri == "s3://fraud/exports/2026/tx.parquet"


def test_a_bare_aws_endpoint_host_is_read_as_https(tmp_path):
    """Accuinsight wrote AWS endpoints without a scheme; other bare hosts are refused."""
    fields = {
        "target": "isFraud",
        "bucketName": "fraud",
        "filePath": "exports",
        "fileName": "d.csv",
    }
    d = load_descriptor(
        write(tmp_path / "aws.json", {**fields, "endpoint": "s3.ap-northeast-2.amazonaws.com"})
    )
    assert d.endpoint_url == "https://s3.ap-northeast-2.amazonaws.com"
    with pytest.raises(DescriptorError, match=r"got 'minio:9000'; e\.g\. 'https://minio:9000'"):
        load_descriptor(write(tmp_path / "minio.json", {**fields, "endpoint": "minio:9000"}))


@pytest.mark.parametrize(
    ("content", "error", "match"),
    [
        (
            '{"target": "local",\n "fileName": }',
            DescriptorError,
            r"not valid JSON: .* line 2 column",
        ),
        ("[1, 2]", DescriptorError, r"expected a JSON object.*got a JSON array"),
        ({"fileName": "a.csv"}, DescriptorError, r"field 'target' is missing"),
        (
            {"target": "hdfs", "fileName": "a.csv"},
            DescriptorError,
            r"HDFS exports .* not supported; export to S3 or a local file",
        ),
        ({"target": "local"}, DescriptorError, r"field 'fileName' is missing"),
        (
            {"target": "local", "fileName": "transactions"},
            DescriptorError,
            r"field 'fileName' must have an extension.*'transactions'",
        ),
        (
            {"target": "local", "fileName": "tx.xlsx"},
            UnsupportedFormatError,
            r"field 'fileName'.*'\.xlsx'; expected one of .*\.csv.*\.parquet",
        ),
        ({"target": "s3", "fileName": "a.csv"}, DescriptorError, r"field 'bucketName' is missing"),
        (
            {"target": "local", "fileName": ["a.csv"]},
            DescriptorError,
            r"field 'fileName' must be a string; got a JSON array",
        ),
        (
            {
                "target": "s3",
                "bucketName": "fraud",
                "fileName": "a.csv",
                "endpointUrl": "minio:9000",
            },
            DescriptorError,
            r"field 'endpointUrl' must start with http:// or https://",
        ),
    ],
    ids=[
        "not-json",
        "not-object",
        "no-target",
        "bad-target",
        "no-filename",
        "no-extension",
        "bad-extension",
        "no-bucket",
        "wrong-type",
        "bad-endpoint",
    ],
)
def test_bad_descriptors_name_the_file_and_field(tmp_path, content, error, match):
    path = write(tmp_path / "bad.json", content)
    with pytest.raises(error, match=match) as info:
        load_descriptor(path)
    assert str(info.value).startswith(path)
    assert isinstance(info.value, ModelerError)


def test_missing_descriptor_names_the_path(tmp_path):
    with pytest.raises(DescriptorError, match=r"nope\.json: descriptor file not found"):
        load_descriptor(tmp_path / "nope.json")


def test_only_one_key_is_an_error_that_shows_neither(tmp_path):
    path = write(
        tmp_path / "d.json",
        {"target": "s3", "bucketName": "fraud", "fileName": "a.csv", "myAccessKey": ACCESS},
    )
    with pytest.raises(DescriptorError, match="'mySecretKey' is missing") as info:
        load_descriptor(path)
    assert ACCESS not in str(info.value)


def test_keys_in_a_descriptor_warn_once_and_stay_hidden(tmp_path):
    path = write(
        tmp_path / "d.json",
        {
            "target": "s3",
            "bucketName": "fraud",
            "fileName": "a.csv",
            "myAccessKey": ACCESS,
            "mySecretKey": SECRET,
        },
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = load_descriptor(path)
    assert [w.category for w in caught] == [UserWarning]
    text = str(caught[0].message)
    assert "AWS_ACCESS_KEY_ID" in text and "profile" in text
    assert (d.access_key, d.secret_key) == (ACCESS, SECRET)
    for shown in (text, repr(d), str(d)):
        assert ACCESS not in shown and SECRET not in shown


def test_save_omits_keys_unless_asked(tmp_path):
    fields = dict(
        target="s3", bucketName="fraud", fileName="a.csv", myAccessKey=ACCESS, mySecretKey=SECRET
    )
    with pytest.warns(UserWarning, match="save_credentials=True") as caught:
        path = save_descriptor(tmp_path / "plain.json", **fields)
    text = path.read_text()
    assert ACCESS not in text and SECRET not in text
    assert all(ACCESS not in str(w.message) and SECRET not in str(w.message) for w in caught)

    path = save_descriptor(tmp_path / "with-keys.json", save_credentials=True, **fields)
    assert json.loads(path.read_text())["mySecretKey"] == SECRET
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # plaintext keys: owner only
    with pytest.warns(UserWarning):
        assert load_descriptor(path).has_credentials


def test_save_validates_like_load_and_writes_nothing_on_error(tmp_path):
    with pytest.raises(DescriptorError, match="field 'target' is 'lcoal': did you mean 'local'"):
        save_descriptor(tmp_path / "d.json", target="lcoal", fileName="a.csv")
    with pytest.raises(DescriptorError, match="field 'bucketName' is missing"):
        save_descriptor(tmp_path / "d.json", target="s3", fileName="a.csv")
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]  # the test's own cache (conftest)


def test_save_replaces_atomically(tmp_path):
    path = tmp_path / "sub" / "d.json"
    save_descriptor(path, target="local", fileName="a.csv")
    save_descriptor(path, target="local", fileName="b.csv")
    assert load_descriptor(path).file_name == "b.csv"
    assert [p.name for p in path.parent.iterdir()] == ["d.json"]  # no temp files left


# --- field names: unknown and misspelled fields are named, with the closest known one --------
@pytest.mark.parametrize(
    ("fields", "match"),
    [
        (
            {"target": "s3", "bucketName": "fraud", "fileName": "a.csv", "endpiont": "http://m:9"},
            r"unknown field 'endpiont' \(did you mean 'endpoint'\?\); a descriptor has only "
            r"'target', 'filePath'",
        ),
        (
            {"target": "local", "fileName": "a.csv", "FilePath": "x", "colour": "red"},
            r"unknown fields 'FilePath' \(did you mean 'filePath'\?\), 'colour';",
        ),
        (
            {"target": "local", "filename": "a.csv"},
            r"field 'fileName' is missing; expected e\.g\. 'data\.csv'\. "
            r"Found 'filename' instead: did you mean 'fileName'\?",
        ),
        (
            {"Target": "local", "fileName": "a.csv"},
            r"field 'target' is missing; expected 'local' or 's3' .*label column.*"
            r"Found 'Target' instead: did you mean 'target'\?",
        ),
        (
            {"target": "s3", "bucket_name": "b", "fileName": "a.csv"},
            r"field 'bucketName' is missing; target 's3' needs the bucket's name\. "
            r"Found 'bucket_name' instead",
        ),
        (
            {"target": "loacl", "fileName": "a.csv"},
            r"field 'target' is 'loacl': did you mean 'local'\?",
        ),
        (
            {"target": "isFraud", "host": "namenode", "port": 8020, "filePath": "/d/a.csv"},
            r"field 'fileName' is missing",
        ),
        (
            {"target": "isFraud", "host": "nn", "port": 8020, "fileName": "a.csv"},
            r"HDFS exports \(target 'hdfs' or fields 'host'/'port'\) are not supported",
        ),
        (
            {"target": "isFraud", "bucketType": "gcs", "bucketName": "fraud", "fileName": "a.csv"},
            r"field 'bucketType' must be 's3'; got 'gcs'",
        ),
    ],
    ids=[
        "unknown",
        "unknowns",
        "misspelled-filename",
        "misspelled-target",
        "misspelled-bucket",
        "target-typo",
        "hdfs-no-name",
        "hdfs",
        "bucket-type",
    ],
)
def test_field_names_are_checked_and_the_closest_is_suggested(tmp_path, fields, match):
    path = write(tmp_path / "d.json", fields)
    with pytest.raises(DescriptorError, match=match) as info:
        load_descriptor(path)
    assert str(info.value).startswith(path)


def test_unknown_field_fails_before_any_network_call(tmp_path, monkeypatch):
    from modeler.data import storage
    from modeler.data.files import get_file

    def no_network(**kwargs):
        raise AssertionError("an S3 client was made")

    monkeypatch.setattr(storage, "make_client", no_network)
    path = write(
        tmp_path / "d.json",
        {"target": "s3", "bucketName": "fraud", "fileName": "a.csv", "endpiont": "http://m:9"},
    )
    with pytest.raises(DescriptorError, match="did you mean 'endpoint'"):
        get_file(path)


# --- Accuinsight's own export format -------------------------------------------------------
def test_accuinsight_exports_name_the_label_and_the_whole_path(tmp_path):
    local = load_descriptor(
        write(
            tmp_path / "local.json",
            {"target": "isFraud", "filePath": "exports/tx.csv", "fileName": "tx.csv"},
        )
    )
    assert (local.target, local.label, local.path) == ("local", "isFraud", "exports/tx.csv")
    s3 = load_descriptor(
        write(
            tmp_path / "s3.json",
            {
                "target": "isFraud",
                "bucketType": "s3",
                "bucketName": "fraud",
                "filePath": "exports/2026/tx.csv",
                "fileName": "tx.csv",
                "region": "us-east-1",
                "endpointUrl": "http://minio:9000",
                "fileType": "csv",
                "fileDelim": ",",
            },
        )
    )
    assert (s3.target, s3.label, s3.uri) == ("s3", "isFraud", "s3://fraud/exports/2026/tx.csv")
    # the modeler form: filePath is the folder
    folder = load_descriptor(
        write(
            tmp_path / "folder.json",
            {"target": "s3", "bucketName": "fraud", "filePath": "exports/", "fileName": "tx.csv"},
        )
    )
    assert (folder.label, folder.key) == (None, "exports/tx.csv")


# --- names: the rule and the value ---------------------------------------------------------
@pytest.mark.parametrize(
    ("bucket", "why"),
    [
        ("fraud exports", "a space at position 6 is not allowed"),
        ("ab", "it is 2 characters long"),
        ("-fraud", "must start and end with a letter or digit"),
        ("fraud:data", "':' at position 6 is not allowed"),
    ],
)
def test_bucket_names_break_a_named_rule(tmp_path, bucket, why):
    path = write(tmp_path / "d.json", {"target": "s3", "bucketName": bucket, "fileName": "a.csv"})
    with pytest.raises(InvalidNameError) as info:
        load_descriptor(path)
    text = str(info.value)
    assert text.startswith(f"{path}: field 'bucketName': bucket name {bucket!r}")
    assert "3 to 63 characters" in text and why in text


def test_a_key_longer_than_s3_allows(tmp_path):
    path = write(
        tmp_path / "d.json",
        {"target": "s3", "bucketName": "fraud", "filePath": "e/" * 520, "fileName": "a.csv"},
    )
    with pytest.raises(InvalidNameError, match=r"is 1,045 bytes long; S3 keys are at most 1024"):
        load_descriptor(path)


def test_descriptor_names_too_long_for_the_filesystem(tmp_path):
    long = tmp_path / ("d" * 300 + ".json")
    for call in (
        lambda: load_descriptor(long),
        lambda: save_descriptor(long, target="local", fileName="a.csv"),
    ):
        with pytest.raises(InvalidNameError, match=r"is 305 bytes long; file names on this"):
            call()


# --- passwords inside the endpoint URL -----------------------------------------------------
def test_endpoint_password_is_dropped_never_shown_or_written(tmp_path):
    password = "Endp0intPassw0rd"
    url = f"http://minio-user:{password}@minio:9000"
    path = write(
        tmp_path / "d.json",
        {"target": "s3", "bucketName": "fraud", "fileName": "a.csv", "endpointUrl": url},
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = load_descriptor(path)
        saved = save_descriptor(
            tmp_path / "saved.json",
            target="s3",
            bucketName="fraud",
            fileName="a.csv",
            endpointUrl=url,
        )
    assert d.endpoint_url == "http://minio:9000"
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2 and all("minio-user:***@minio:9000" in m for m in messages)
    assert json.loads(saved.read_text())["endpointUrl"] == "http://minio:9000"
    with pytest.raises(DescriptorError) as info:
        load_descriptor(
            write(
                tmp_path / "bad.json",
                {
                    "target": "s3",
                    "bucketName": "fraud",
                    "fileName": "a.csv",
                    "endpoint": "minio:1@x",
                },
            )
        )
    shown = [*messages, repr(d), str(d), saved.read_text(), str(info.value)]
    for text in shown:
        assert password not in text
    direct = Descriptor(target="s3", file_name="a.csv", bucket_name="b", endpoint_url=url)
    assert password not in repr(direct) and "minio-user:***@" in repr(direct)


def test_more_failures_are_named(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(DescriptorError, match=r"afile/d\.json: cannot be read: Not a directory"):
        load_descriptor(tmp_path / "afile" / "d.json")
    path = write(
        tmp_path / "d.json",
        {
            "target": "s3",
            "bucketName": "fraud",
            "fileName": "a.csv",
            "endpointUrl": "http://u:pw1@a:9000",
            "endpoint": "http://b:9000",
        },
    )
    with pytest.raises(DescriptorError, match="disagree") as info:
        load_descriptor(path)
    assert "pw1" not in str(info.value) and "'http://u:***@a:9000'" in str(info.value)
    deep = tmp_path.joinpath(*["d" * 200] * 25) / "x.json"  # names fit, the path does not
    with pytest.raises(InvalidNameError, match=r"bytes long; paths on this system are at most"):
        load_descriptor(deep)
