"""A fault-injection switch for crash tests: ``GITREG_FAULT=<point>`` kills the process at that point.

Each write command calls :func:`point` between its steps; tests set the variable to prove that a
``kill -9`` at any step leaves nothing half-done (the journal finishes or undoes it next time).
"""

from __future__ import annotations

import os
import signal

VARIABLE = "GITREG_FAULT"


def point(name: str) -> None:
    """Die here, as ``kill -9`` would, when the switch names this point."""
    if os.environ.get(VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)


PAUSE_VARIABLE = "GITREG_PAUSE"  # "<point>@<dir>": wait at that point until <dir>/go exists
PAUSE_LIMIT = 60.0


def pause(name: str) -> None:
    """Hold here, as a slow network would, until the test says go: lets a test line up racing writers."""
    point_name, _, folder = os.environ.get(PAUSE_VARIABLE, "").partition("@")
    if point_name != name or not folder:
        return
    import time
    from pathlib import Path

    Path(folder, f"{os.getpid()}.waiting").touch()
    deadline = time.monotonic() + PAUSE_LIMIT
    while not Path(folder, "go").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
