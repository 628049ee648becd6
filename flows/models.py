"""Models loaded once per worker process.

A shard task asks for its models here instead of loading them: the first shard a process runs
(a Dask worker, or the flow's own process with the thread runner) loads them, every later shard
with the same settings reuses them. One set is kept per kind, so a worker that moves on to other
settings frees the old models.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

_loaded: dict[str, tuple[Hashable, Any]] = {}
_loading = threading.Lock()


def loaded_once(kind: str, key: Hashable, load: Callable[[], Any]) -> Any:
    """`load()`'s value for `key`, computed once in this process (threads wait for it)."""
    with _loading:
        cached = _loaded.get(kind)
        if cached is None or cached[0] != key:
            _loaded.pop(kind, None)
            _loaded[kind] = (key, load())
        return _loaded[kind][1]
