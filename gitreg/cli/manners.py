"""How the CLI talks while it works: the library's log records and byte-level progress bars, on stderr.

Verbosity ``-1`` (``-q``): results and errors only. ``0``: progress (bars on a terminal, else a line
before and after a large transfer). ``1`` (``-v``): debug detail too, DVC's own log lines among it
(``dvc: ...``; without ``-v`` they are kept off the console, and DVC's failures reach the user as
gitreg's one-line errors).

Bars use tqdm: DVC already depends on it (no new package, and it is imported only when a transfer
starts, so ``gitreg --help`` stays instant), it counts bytes in the same SI units as
:func:`gitreg.domain.sizes.human_bytes`, and it writes nothing but the bar to a terminal. They are
drawn only when stderr is a terminal; piped or redirected output gets no bar and no escape code.
"""

from __future__ import annotations

import logging
import os
import sys

import click

from gitreg.io import progress


class Stderr(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno <= logging.DEBUG and not message.startswith("dvc: "):
            message = f"debug: {message}"
        click.echo(message, err=True)


def setup(verbosity: int) -> None:
    """The ``gitreg`` logger's lines on stderr at the level ``verbosity`` asks; bars on a terminal."""
    logger = logging.getLogger("gitreg")
    if not any(isinstance(handler, Stderr) for handler in logger.handlers):
        logger.addHandler(Stderr())
        logger.propagate = False
    logger.setLevel(logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity > 0 else logging.INFO)
    if "gitreg.io.dvc" in sys.modules:  # imported already (a test, an embedding program): follow the new level
        sys.modules["gitreg.io.dvc"]._capture_dvc_logs()
    progress.set_renderer(bar if verbosity >= 0 and _is_terminal(sys.stderr) else None)


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def bar(description: str, total: int):
    """A byte bar on stderr (kept when done, so the terminal shows what moved and how fast)."""
    from tqdm import tqdm

    try:  # a terminal that does not know its size (0 x 0) would get no bar at all
        known = all(os.get_terminal_size(sys.stderr.fileno()))
    except (OSError, ValueError):
        known = False
    size = {"dynamic_ncols": True} if known else {"ncols": 80, "nrows": 24}
    return tqdm(total=total, desc=description, unit="B", unit_scale=True, unit_divisor=1000, file=sys.stderr,
                mininterval=0.1, leave=True, colour=None, **size)
