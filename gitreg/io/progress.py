"""What long steps tell the user. The library logs (logger ``gitreg``) and never prints; the CLI
shows these lines on stderr. Only transfers of at least ``LARGE`` bytes are worth a line.

Byte-level progress: a program that shows bars (the CLI, on a terminal) installs a renderer with
:func:`set_renderer`. Inside :func:`step`, gitreg's own copies (:func:`copy`) and DVC's transfers
(:func:`dvc_callback`) then report each chunk of bytes to that bar instead of the two lines. Without
a renderer nothing changes: copies stay kernel copies, DVC gets no callback.
"""

from __future__ import annotations

import contextvars
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from gitreg.domain.sizes import human_bytes

log = logging.getLogger("gitreg")
LARGE = 50 << 20
CHUNK = 1 << 20


class Bar(Protocol):
    def update(self, n: int) -> Any: ...
    def close(self) -> Any: ...


Renderer = Callable[[str, int], Bar]  # (description, total bytes) -> a bar
_renderer: Renderer | None = None
_current: contextvars.ContextVar[Callable[[int], None] | None] = contextvars.ContextVar("gitreg_bar", default=None)


def set_renderer(renderer: Renderer | None) -> None:
    """Show byte-level bars through ``renderer`` (None: the default lines only)."""
    global _renderer
    _renderer = renderer


@contextmanager
def step(what: str, size: int) -> Iterator[None]:
    """A transfer of ``size`` bytes: a bar when a renderer is installed, else a line before a large one
    starts and its duration when it ends."""
    if _renderer is not None and size > 0:
        with _bar(what, size):
            yield
        return
    if size < LARGE:
        yield
        return
    log.info("%s (%s)…", what, human_bytes(size))
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    log.info("  done in %.1f s (%s/s)", elapsed, human_bytes(int(size / elapsed)) if elapsed > 0 else "-")


@contextmanager
def _bar(what: str, size: int) -> Iterator[None]:
    bar = _renderer(what, size)
    moved = 0
    lock = threading.Lock()  # DVC's worker threads report at once

    def advance(n: int) -> None:
        nonlocal moved
        with lock:
            n = max(0, min(n, size - moved))  # a bar never runs past its total
            if n:
                moved += n
                bar.update(n)

    token = _current.set(advance)
    try:
        yield
        advance(size - moved)  # what moved without telling (a link, a reflink, a server-side copy)
    finally:
        _current.reset(token)
        bar.close()


def advance(n: int) -> None:
    """Report ``n`` more bytes moved to the bar of the current step (nothing when there is none)."""
    current = _current.get()
    if current is not None:
        current(n)


def copy(source: str | Path, target: str | Path) -> None:
    """``shutil.copyfile``, chunk by chunk into the current step's bar when there is one."""
    if _current.get() is None:
        shutil.copyfile(source, target)
        return
    with open(source, "rb") as reader, open(target, "wb") as writer:
        while chunk := reader.read(CHUNK):
            writer.write(chunk)
            advance(len(chunk))


def dvc_callback():
    """An fsspec callback for a DVC transfer that reports bytes to the current step's bar; None when
    there is no bar (DVC then keeps its own silent default). DVC moves files in worker threads, which do
    not see this context: the callback holds the bar's function itself."""
    current = _current.get()
    if current is None:
        return None
    from fsspec.callbacks import Callback

    class Bytes(Callback):
        """A file's bytes (DVC branches one child per file from the transfer's file-count callback)."""

        def __init__(self):
            super().__init__()
            self.reported = 0

        def call(self, *args, **kwargs) -> None:
            current(self.value - self.reported)
            self.reported = self.value

    class Files(Callback):
        def branched(self, path_1, path_2, **kwargs):
            return Bytes()

    return Files()
