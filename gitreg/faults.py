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
