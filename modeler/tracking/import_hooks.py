"""Run a function once a module has been imported, without importing it.

>>> after_import("imblearn.base", lambda: print("imbalanced-learn is here"))  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Callable
from typing import Any


def after_import(name: str, callback: Callable[[], None], key: str | None = None) -> None:
    """Call ``callback()`` right after module ``name`` is first imported (now, if it is); a
    second call with the same ``key`` before then replaces the first.

    A failing callback never fails the user's import.
    """
    if name in sys.modules:
        _call(callback)
        return
    for finder in [f for f in sys.meta_path if isinstance(f, _Finder)]:
        if key is not None and (finder.name, finder.key) == (name, key):
            sys.meta_path.remove(finder)
    sys.meta_path.insert(0, _Finder(name, callback, key))


def _call(callback: Callable[[], None]) -> None:
    try:
        callback()
    except Exception:  # bookkeeping only
        pass


class _Finder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: hands ``name``'s real spec over with a loader that calls back."""

    def __init__(self, name: str, callback: Callable[[], None], key: str | None) -> None:
        self.name, self.callback, self.key = name, callback, key

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)  # once; and the real finders answer below
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader, self.callback)
        return spec


class _Loader(importlib.abc.Loader):
    def __init__(self, loader: Any, callback: Callable[[], None]) -> None:
        self.loader, self.callback = loader, callback

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.loader.exec_module(module)
        _call(self.callback)
