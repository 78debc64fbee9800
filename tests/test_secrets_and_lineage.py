"""A run made from S3 data with keys in the descriptor: lineage logged, no secret anywhere."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from fixtures.s3 import unique_bucket
from sklearn.linear_model import LogisticRegression

from modeler import accu
from modeler.cli import main

ACCESS = "AKIAMODELERTESTKEY01"
SECRET = "s3cr3t/ModelerTest+Key0123456789abcdefXYZ"


def everything_a_run_wrote(store, run, tmp_path: Path) -> str:
    parts = [
        json.dumps(run.data.params),
        json.dumps(run.data.tags),
        json.dumps(sorted(run.data.metrics)),
        run.info.run_name,
    ]
    for ds in run.inputs.dataset_inputs:
        parts += [ds.dataset.source, ds.dataset.name, ds.dataset.schema or ""]
    local = Path(store.client.download_artifacts(run.info.run_id, "", str(tmp_path)))
    for path in local.rglob("*"):
        if path.is_file():
            parts.append(path.read_bytes().decode("latin-1"))
    return "\n".join(parts)


def test_no_key_in_anything_a_run_writes_or_prints(s3_env, store, tmp_path, capfd, caplog):
    caplog.set_level("INFO")
    bucket = unique_bucket()
    s3_env.create_bucket(Bucket=bucket)
    frame = pd.DataFrame(
        {"amount": [1.0, 5.0, 2.0, 8.0, 3.0, 9.0] * 20, "isFraud": [0, 1, 0, 1, 0, 0] * 20}
    )
    s3_env.put_object(Bucket=bucket, Key="exports/tx.csv", Body=frame.to_csv(index=False))
    # the keys written in the descriptor are the ones that work here (moto accepts any)
    desc = tmp_path / "data.json"
    desc.write_text(
        json.dumps(
            {
                "target": "s3",
                "bucketName": bucket,
                "filePath": "exports",
                "fileName": "tx.csv",
                "region": "us-east-1",
                "endpointUrl": s3_env.meta.endpoint_url,
                "myAccessKey": ACCESS,
                "mySecretKey": SECRET,
            }
        )
    )
    with pytest.warns(UserWarning, match="plaintext credentials"):
        df = accu.get_file(str(desc))
    X, y = df[["amount"]], df["isFraud"]
    accu.autolog(validation=(X, y))
    try:
        LogisticRegression().fit(X, y)
    finally:
        accu.autolog(disable=True)
    run = store.only_run()
    (ds,) = run.inputs.dataset_inputs
    assert json.loads(ds.dataset.source)["uri"] == f"s3://{bucket}/exports/tx.csv"
    assert ds.dataset.name == "tx.csv" and len(ds.dataset.digest) > 8
    written = everything_a_run_wrote(store, run, tmp_path / "artifacts")
    printed = capfd.readouterr()
    for text in (written, printed.out, printed.err, caplog.text):
        assert ACCESS not in text and SECRET not in text


def test_get_file_from_the_shell(tmp_path):
    data = tmp_path / "tx.csv"
    pd.DataFrame({"a": [1, 2]}).to_csv(data, index=False)
    desc = tmp_path / "d.json"
    result = CliRunner().invoke(main, ["get-file", str(data), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(tmp_path / "o.csv")["a"].tolist() == [1, 2]
    accu.set_storage(str(desc), target="local", filePath=str(tmp_path), fileName="tx.csv")
    result = CliRunner().invoke(main, ["get-file", str(desc)])
    assert result.exit_code == 0 and result.output.strip() == str(data)
    bad = CliRunner().invoke(main, ["get-file", str(tmp_path / "nope.csv")])
    assert bad.exit_code == 2 and "nope.csv" in bad.output
    long = CliRunner().invoke(main, ["get-file", str(data), "--out", "o" * 300 + ".csv"])
    assert long.exit_code == 2
    assert "error: --out: the name 'oooo" in long.output and "at most 255 bytes" in long.output


def test_no_endpoint_password_in_any_message_repr_log_or_file(
    s3_env, store, tmp_path, capfd, caplog
):
    """An endpoint URL with a password, given the original's way: used without it, shown and
    written nowhere (messages, warnings, reprs, logs, descriptors, cache sidecars, the run)."""
    from modeler.compat import accuinsight
    from modeler.errors import DataNotFoundError

    password = "MinioPassw0rd-Leak"
    caplog.set_level("DEBUG")
    bucket = unique_bucket()
    s3_env.create_bucket(Bucket=bucket)
    frame = pd.DataFrame({"amount": [1.0, 5.0, 2.0, 8.0] * 25, "isFraud": [0, 1, 0, 0] * 25})
    s3_env.put_object(Bucket=bucket, Key="exports/tx.csv", Body=frame.to_csv(index=False))
    endpoint = s3_env.meta.endpoint_url.replace("http://", f"http://minio:{password}@")
    legacy = accuinsight()
    seen = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = legacy.set_storage(
            target="isFraud",
            bucket_name=bucket,
            file_path="exports/tx.csv",
            endpoint_url=endpoint,
            access_key=ACCESS,
            secret_key=SECRET,
            save_json=True,
        )
        df = legacy.get_file()  # the storage just set, keys and all, in memory
        again = legacy.get_file(written)  # the file: no keys, the environment's credentials
        seen.append(repr(legacy._storage))
        with pytest.raises(DataNotFoundError) as missing:
            legacy.set_storage(
                target="isFraud", bucket_name=bucket, file_path="nope.csv", endpoint_url=endpoint
            )
            legacy.get_file()
        seen += [str(missing.value), repr(missing.value)]
        legacy.autolog(validation=(df[["amount"]], df["isFraud"]))
        try:
            LogisticRegression().fit(df[["amount"]], df["isFraud"])
        finally:
            legacy.autolog(disable=True)
    assert len(df) == len(again) == 100 and legacy.target_name == "isFraud"
    run = store.only_run()
    seen.append(everything_a_run_wrote(store, run, tmp_path / "artifacts"))
    seen += [str(w.message) for w in caught]
    assert any("minio:***@127.0.0.1" in text for text in seen)  # said, but masked
    files = [p for p in tmp_path.rglob("*") if p.is_file() and "artifacts" not in p.parts]
    seen += [p.read_bytes().decode("latin-1") for p in files]
    printed = capfd.readouterr()
    seen += [printed.out, printed.err, caplog.text]
    for text in seen:
        assert password not in text
        assert SECRET not in text
    assert (
        json.loads((tmp_path / written).read_text())
        .get("endpointUrl", "")
        .startswith("http://127.0.0.1:")
    )
