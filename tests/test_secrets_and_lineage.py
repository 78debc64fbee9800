"""A run made from S3 data with keys in the descriptor: lineage logged, no secret anywhere."""

from __future__ import annotations

import json
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
