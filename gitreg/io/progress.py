"""What long steps tell the user. The library logs (logger ``gitreg``) and never prints; the CLI
shows these lines on stderr. Only transfers of at least ``LARGE`` bytes are worth a line."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("gitreg")
LARGE = 50 << 20


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


@contextmanager
def step(what: str, size: int) -> Iterator[None]:
    """Announce a transfer of ``size`` bytes before it starts, and its duration when it ends."""
    if size < LARGE:
        yield
        return
    log.info("%s (%s)…", what, human(size))
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    log.info("  done in %.1f s (%s/s)", elapsed, human(int(size / elapsed)) if elapsed > 0 else "-")
