"""The journal on its own: durable appends, cut and garbled lines, the lock, old outboxes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from modeler.errors import JournalError
from modeler.tracking import journal as journal_module
from modeler.tracking.journal import Journal


def new(tmp_path, **meta):
    return Journal.create(
        tracking_uri="sqlite:///x.db",
        experiment="e",
        run_name="r",
        tags={"a": "b"},
        base=tmp_path,
        **meta,
    )


def test_appends_are_whole_lines_read_back_in_order(tmp_path):
    j = new(tmp_path)
    j.append({"op": "batch", "params": {"C": "1"}})
    j.append({"op": "batch", "metrics": [["loss", float("nan"), 1, 0]]}, {"op": "returned"})
    read = j.read()
    assert [op["op"] for op in read.ops] == ["batch", "batch", "returned"]
    assert read.ops[1]["metrics"][0][1] != read.ops[1]["metrics"][0][1]  # NaN survives
    assert not read.truncated
    meta = json.loads((j.root / "run.json").read_text())
    assert meta["journal_id"] == j.id and meta["owned"] is True and meta["tags"] == {"a": "b"}
    assert journal_module.folders(tmp_path) == [j.root]


def test_a_cut_last_line_is_left_out_and_repaired(tmp_path):
    j = new(tmp_path)
    j.append({"op": "batch", "params": {"C": "1"}})
    with open(j.ops_path, "a") as fh:
        fh.write('{"op": "batch", "par')
    read = j.read()
    assert len(read.ops) == 1 and read.truncated
    assert j.repair() is True
    j.append({"op": "end", "status": "FINISHED"})
    assert [op["op"] for op in j.read().ops] == ["batch", "end"]
    assert j.repair() is False


@pytest.mark.parametrize(
    "line, match",
    [
        ("{not json", r"line 2: not valid JSON"),
        ('["a list"]', r"line 2: expected an object with an 'op' field"),
        ('{"no_op": 1}', r"line 2: expected an object with an 'op' field"),
    ],
)
def test_a_garbled_line_names_file_and_line(tmp_path, line, match):
    j = new(tmp_path)
    j.append({"op": "batch", "params": {"C": "1"}})
    with open(j.ops_path, "a") as fh:
        fh.write(line + "\n")
    with pytest.raises(JournalError, match=match) as caught:
        j.read()
    assert str(j.ops_path) in str(caught.value)


def test_claim_sets_a_damaged_journal_aside_and_says_where(tmp_path):
    j = new(tmp_path)
    j.unlock()
    (j.root / "run.json").write_text('{"journal_id": ')
    with pytest.raises(JournalError, match=r"run.json: not readable JSON.*set aside in") as caught:
        Journal.claim(j.root)
    target = tmp_path / "journal" / "damaged" / j.root.name
    assert str(target) in str(caught.value)
    assert (target / "reason.txt").read_text().startswith(str(j.root / "run.json"))
    assert journal_module.folders(tmp_path) == []
    assert [p for p, _ in journal_module.damaged(tmp_path)] == [target]


def test_missing_fields_in_run_json_are_named(tmp_path):
    j = new(tmp_path)
    (j.root / "run.json").write_text(json.dumps({"journal_id": "x", "tracking_uri": "u"}))
    with pytest.raises(JournalError, match=r"missing field\(s\) \['experiment', 'run_name'\]"):
        Journal.open(j.root)


def test_one_process_holds_a_journal(tmp_path):
    j = new(tmp_path)
    code = (
        "import sys; from pathlib import Path; from modeler.tracking.journal import Journal; "
        "print(Journal.claim(Path(sys.argv[1])) is None)"
    )
    held = subprocess.run([sys.executable, "-c", code, str(j.root)], capture_output=True, text=True)
    assert held.stdout.strip() == "True", held.stderr  # locked by this (live) process
    j.unlock()
    free = subprocess.run([sys.executable, "-c", code, str(j.root)], capture_output=True, text=True)
    assert free.stdout.strip() == "False", free.stderr


def test_a_journal_being_created_is_never_seen_half_made(tmp_path):
    (tmp_path / "journal" / ".new-abc" / "files").mkdir(parents=True)  # a create in progress
    assert journal_module.folders(tmp_path) == []


def test_modeler_0_1_outbox_folders_are_read(tmp_path):
    old = tmp_path / "outbox" / "abc"
    (old / "files").mkdir(parents=True)
    (old / "run.json").write_text(
        json.dumps(
            {
                "outbox_id": "abc",
                "tracking_uri": "http://h:5000",
                "experiment": "e",
                "run_name": "keras-ABC",
                "tags": {},
                "server_run_id": None,
                "start_time": 1,
            }
        )
    )
    (old / "ops.jsonl").write_text('{"op": "end", "status": "FINISHED", "end_time": 2}\n')
    (folder,) = journal_module.folders(tmp_path)
    j = Journal.claim(folder)
    assert j is not None and j.id == "abc" and j.owned and j.meta["run_id"] is None
    assert [op["op"] for op in j.read().ops] == ["end"]
