"""Descriptors: the Accuinsight export format, read and written; every bad input named."""

from __future__ import annotations

import json
import stat
import warnings

import pytest

from modeler.data.descriptor import Descriptor, load_descriptor, save_descriptor
from modeler.errors import DescriptorError, ModelerError, UnsupportedFormatError

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
                "extraField": 1,  # exports carry other fields: ignored
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
            r"field 'target' must be one of 'local', 's3'; got 'hdfs'",
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
            {"target": "s3", "bucketName": "b", "fileName": "a.csv", "endpointUrl": "minio:9000"},
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
        {"target": "s3", "bucketName": "b", "fileName": "a.csv", "myAccessKey": ACCESS},
    )
    with pytest.raises(DescriptorError, match="'mySecretKey' is missing") as info:
        load_descriptor(path)
    assert ACCESS not in str(info.value)


def test_keys_in_a_descriptor_warn_once_and_stay_hidden(tmp_path):
    path = write(
        tmp_path / "d.json",
        {
            "target": "s3",
            "bucketName": "b",
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
        target="s3", bucketName="b", fileName="a.csv", myAccessKey=ACCESS, mySecretKey=SECRET
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
    with pytest.raises(DescriptorError, match="field 'target' must be one of"):
        save_descriptor(tmp_path / "d.json", target="ftp", fileName="a.csv")
    with pytest.raises(DescriptorError, match="field 'bucketName' is missing"):
        save_descriptor(tmp_path / "d.json", target="s3", fileName="a.csv")
    assert list(tmp_path.iterdir()) == []


def test_save_replaces_atomically(tmp_path):
    path = tmp_path / "sub" / "d.json"
    save_descriptor(path, target="local", fileName="a.csv")
    save_descriptor(path, target="local", fileName="b.csv")
    assert load_descriptor(path).file_name == "b.csv"
    assert [p.name for p in path.parent.iterdir()] == ["d.json"]  # no temp files left
