"""The run journal: everything a run will contain, on local disk before it goes anywhere.

One folder per run, ``<cwd>/mlruns/journal/<journal id>/`` (``docs/run-layout.md``)::

    run.json        who and where: journal id, store (never a password), experiment, name, tags
    ops.jsonl       one operation per line, appended and fsync'ed as the run happens
    files/<n>/      artifacts, each folder written before the line that names it
    snapshot/       what the evaluation and the model need, written before ``fit`` returns
    progress.json   how many operations the store already has, and the run id there
    lock            flock'ed by the one process writing or replaying this journal

>>> j = Journal.create(tracking_uri="sqlite:///mlruns/mlflow.db", experiment="fraud",
...                    run_name="keras-7F3A", tags={})          # doctest: +SKIP
>>> j.append({"op": "batch", "params": {"epochs": "10"}})        # doctest: +SKIP

A process that dies leaves its journal behind, unlocked: ``modeler sync`` or the next
``accu.autolog()`` completes the run from it. A journal that cannot be read is moved to
``journal/damaged/`` with a note saying why, and never blocks the others.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeler import layout
from modeler.config import embedded_store_dir
from modeler.errors import JournalError


def journal_dir(base: Path | None = None) -> Path:
    """``<cwd>/mlruns/journal``: beside the embedded store, whatever store the run is for."""
    return (base or embedded_store_dir()) / layout.JOURNAL_DIR


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some filesystems do not open directories
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write, fsync, rename: readers see the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_tree(root: Path) -> None:
    """fsync every file under ``root`` and the folders holding them."""
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    for folder in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        fsync_dir(folder)


@dataclass
class Ops:
    """The operations of a journal as read from disk."""

    ops: list[dict[str, Any]]
    truncated: bool  # the last line was cut (a crash while appending): it is left out


class Journal:
    """One run on local disk. Appends are thread-safe; one process holds its lock."""

    def __init__(self, root: Path, meta: dict[str, Any]) -> None:
        self.root = root
        self.meta = meta
        self.run_id: str | None = meta.get("run_id")  # the store's id, once the run is there
        self._lock = threading.Lock()
        self._lock_fd: int | None = None
        self._files = sum(1 for _ in (root / "files").iterdir()) if (root / "files").is_dir() else 0

    # --- creating and opening ---------------------------------------------------------------
    @classmethod
    def create(
        cls,
        *,
        tracking_uri: str,
        experiment: str,
        run_name: str,
        tags: dict[str, str],
        run_id: str | None = None,
        attach_to: str | None = None,
        base: Path | None = None,
        journal_id: str | None = None,
    ) -> Journal:
        """A new journal, locked by this process.

        ``run_id`` set: the journal adds to that existing run and never ends it (a test-set
        evaluation, a run the user started); ``attach_to``: the same for the run of another
        journal, found by its id once that one is replayed. ``tracking_uri`` must already be
        redacted.
        """
        journal_id = journal_id or uuid.uuid4().hex
        parent = journal_dir(base)
        # built under a hidden name, locked, then renamed: no other process ever sees a
        # journal folder without its run.json or its lock
        building = parent / f".new-{journal_id}"
        (building / "files").mkdir(parents=True)
        (building / "snapshot").mkdir()
        journal = cls(
            building,
            {
                "schema": layout.JOURNAL_SCHEMA,
                "journal_id": journal_id,
                "tracking_uri": tracking_uri,
                "experiment": experiment,
                "run_name": run_name,
                "tags": tags,
                "run_id": run_id,
                "attach_to": attach_to,
                "owned": run_id is None and attach_to is None,
                "start_time": int(time.time() * 1000),
                "pid": os.getpid(),
            },
        )
        journal.try_lock()
        write_json_atomic(building / layout.JOURNAL_RUN, journal.meta)
        os.replace(building, parent / journal_id)
        journal.root = parent / journal_id
        fsync_dir(parent)
        return journal

    @classmethod
    def claim(cls, root: Path) -> Journal | None:
        """Lock a journal left on disk and open it; None when another process holds it.

        A damaged journal is moved to ``damaged/`` (with ``reason.txt``) and JournalError
        says which file, what is wrong and where the folder went.
        """
        holder = cls(root, {})
        if not holder.try_lock():
            return None
        try:
            journal = cls.open(root)
            journal.read()  # a garbled line is damage too
        except JournalError as exc:
            target = set_aside(root, str(exc), unlock=holder.unlock)
            raise JournalError(f"{exc}; the journal was set aside in {target}") from None
        journal._lock_fd, holder._lock_fd = holder._lock_fd, None
        return journal

    @classmethod
    def open(cls, root: Path) -> Journal:
        """A journal left on disk. Raises JournalError naming the file when run.json is bad."""
        path = root / layout.JOURNAL_RUN
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise JournalError(
                f"{path}: missing (the journal was never completely created)"
            ) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise JournalError(f"{path}: not readable JSON ({exc})") from None
        if not isinstance(meta, dict):
            raise JournalError(f"{path}: expected a JSON object, got {type(meta).__name__}")
        if "journal_id" not in meta and "outbox_id" in meta:  # written by modeler 0.1
            meta["journal_id"] = meta["outbox_id"]
            meta.setdefault("run_id", meta.get("server_run_id"))
            meta.setdefault("owned", True)
        missing = [
            k for k in ("journal_id", "tracking_uri", "experiment", "run_name") if k not in meta
        ]
        if missing:
            raise JournalError(f"{path}: missing field(s) {missing}; found {sorted(meta)}")
        meta.setdefault("tags", {})
        meta.setdefault("owned", meta.get("run_id") is None)
        meta.setdefault("start_time", int(path.stat().st_mtime * 1000))
        return cls(root, meta)

    @property
    def id(self) -> str:
        return str(self.meta["journal_id"])

    @property
    def owned(self) -> bool:
        """True when the journal created its run, and so ends it."""
        return bool(self.meta.get("owned", True))

    @property
    def ops_path(self) -> Path:
        return self.root / layout.JOURNAL_OPS

    # --- the lock: one process writes or replays a journal ------------------------------------
    def try_lock(self) -> bool:
        """Take the journal's lock without waiting; False when another process holds it."""
        if self._lock_fd is not None:
            return True
        try:
            fd = os.open(self.root / layout.JOURNAL_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # the folder went away (replayed and removed meanwhile)
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise
        self._lock_fd = fd
        return True

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    # --- writing -----------------------------------------------------------------------------
    def append(self, *ops: dict[str, Any]) -> None:
        """Append operations: one write and one fsync, so they are on disk when this returns."""
        text = "".join(json.dumps(op, default=str) + "\n" for op in ops)
        with self._lock, open(self.ops_path, "a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    def new_folder(self, prefix: str = "") -> tuple[Path, str]:
        """An empty folder under ``files/`` and its path relative to the journal."""
        with self._lock:
            n = self._files
            self._files += 1
        rel = f"files/{prefix}{n}"
        path = self.root / rel
        if path.exists():  # left by a crash between mkdir and the line naming it
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path, rel

    def add_files(self, fill: Callable[[Path], None], artifact_path: str | None) -> None:
        """Let ``fill(folder)`` write files; make them durable; record an artifacts operation."""
        folder, rel = self.new_folder()
        fill(folder)
        fsync_tree(folder)
        self.append({"op": "artifacts", "dir": rel, "path": artifact_path})

    # --- reading -------------------------------------------------------------------------------
    def read(self) -> Ops:
        """Every complete operation. A cut last line is left out and reported as truncated.

        Raises JournalError naming the file and line when a complete line is not an operation.
        """
        try:
            raw = self.ops_path.read_bytes()
        except FileNotFoundError:
            return Ops([], False)
        lines = raw.split(b"\n")
        tail = lines.pop()  # after the last newline: empty, or a line cut by a crash
        ops = []
        for number, line in enumerate(lines, start=1):
            ops.append(self._parse(line, number))
        truncated = bool(tail.strip())
        return Ops(ops, truncated)

    def repair(self) -> bool:
        """Cut a partly written last line off the file, so later appends start clean.

        Returns True when something was cut (the run is then tagged as truncated).
        """
        with self._lock:
            try:
                raw = self.ops_path.read_bytes()
            except FileNotFoundError:
                return False
            end = raw.rfind(b"\n") + 1
            if end == len(raw):
                return False
            with open(self.ops_path, "r+b") as fh:
                fh.truncate(end)
                fh.flush()
                os.fsync(fh.fileno())
            return True

    def _parse(self, line: bytes, number: int) -> dict[str, Any]:
        try:
            op = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise JournalError(f"{self.ops_path}, line {number}: not valid JSON ({exc})") from None
        if not isinstance(op, dict) or not isinstance(op.get("op"), str):
            raise JournalError(
                f"{self.ops_path}, line {number}: expected an object with an 'op' field; "
                f"got {line[:80]!r}"
            )
        return op

    # --- progress of the replay ----------------------------------------------------------------
    def progress(self) -> dict[str, Any]:
        path = self.root / layout.JOURNAL_PROGRESS
        try:
            progress = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"done": 0}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise JournalError(f"{path}: not readable JSON ({exc})") from None
        if not isinstance(progress, dict) or not isinstance(progress.get("done", 0), int):
            raise JournalError(f"{path}: expected {{'done': <int>, ...}}; got {progress!r:.80}")
        progress.setdefault("done", 0)
        return progress

    def save_progress(self, progress: dict[str, Any]) -> None:
        write_json_atomic(self.root / layout.JOURNAL_PROGRESS, progress)

    # --- the end of a journal ------------------------------------------------------------------
    def remove(self) -> None:
        """Delete the folder once everything in it is in the store."""
        shutil.rmtree(self.root, ignore_errors=True)
        self.unlock()

    def set_aside(self, reason: str) -> Path:
        """Move the folder to ``journal/damaged/`` with ``reason.txt``; returns the new path."""
        return set_aside(self.root, reason, unlock=self.unlock)


def set_aside(root: Path, reason: str, unlock: Callable[[], None] | None = None) -> Path:
    """Move a damaged journal folder to ``<journal dir>/damaged/<name>`` with a note."""
    target_dir = root.parent / layout.DAMAGED_DIR
    target_dir.mkdir(exist_ok=True)
    target = target_dir / root.name
    if target.exists():
        target = target_dir / f"{root.name}-{uuid.uuid4().hex[:8]}"
    (root / "reason.txt").write_text(reason + "\n", encoding="utf-8")
    os.replace(root, target)
    fsync_dir(target_dir)
    if unlock is not None:
        unlock()
    return target


def folders(base: Path | None = None) -> list[Path]:
    """Journal folders waiting on disk (and modeler 0.1 outbox folders), oldest first."""
    store = base or embedded_store_dir()
    found: list[Path] = []
    for parent in (store / layout.JOURNAL_DIR, store / layout.LEGACY_OUTBOX_DIR):
        if parent.is_dir():
            found += [
                p
                for p in parent.iterdir()
                if p.is_dir() and p.name != layout.DAMAGED_DIR and not p.name.startswith(".")
            ]

    def started(path: Path) -> float:
        try:
            return (path / layout.JOURNAL_RUN).stat().st_mtime
        except OSError:
            return path.stat().st_mtime if path.exists() else 0.0

    return sorted(found, key=started)


def damaged(base: Path | None = None) -> Iterator[tuple[Path, str]]:
    """Journals set aside, with the reason recorded for each."""
    store = base or embedded_store_dir()
    for parent in (store / layout.JOURNAL_DIR, store / layout.LEGACY_OUTBOX_DIR):
        box = parent / layout.DAMAGED_DIR
        if box.is_dir():
            for path in sorted(box.iterdir()):
                note = path / "reason.txt"
                yield path, note.read_text(encoding="utf-8").strip() if note.exists() else "?"
