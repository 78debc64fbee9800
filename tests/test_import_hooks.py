"""after_import: a callback once a module is imported, without importing it."""

from __future__ import annotations

import sys

from modeler.tracking.import_hooks import after_import


def test_the_callback_runs_once_right_after_the_first_import(tmp_path, monkeypatch):
    (tmp_path / "late_module.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen = []
    after_import("late_module", lambda: seen.append(sys.modules["late_module"].VALUE), key="k")
    after_import("late_module", lambda: seen.append("replaced"), key="k")  # same key: one hook
    assert "late_module" not in sys.modules and seen == []
    import late_module  # noqa: F401

    assert seen == ["replaced"]
    after_import("late_module", lambda: seen.append("now"))  # imported already: right away
    assert seen == ["replaced", "now"]
    monkeypatch.delitem(sys.modules, "late_module")


def test_a_failing_callback_never_fails_the_import(tmp_path, monkeypatch):
    (tmp_path / "other_module.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    after_import("other_module", lambda: 1 / 0)
    import other_module

    assert other_module.VALUE == 1
    monkeypatch.delitem(sys.modules, "other_module")
