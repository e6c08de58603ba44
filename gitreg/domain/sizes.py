"""The one byte formatter: SI units (1 kB = 1000 B, as disks, networks and the progress bars count)."""

from __future__ import annotations

UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB")


def human_bytes(size: int | float) -> str:
    """``999 B``, ``1.0 kB``, ``7.9 MB``, ``1.5 GB``: one decimal above bytes, never ``1000.0 kB``."""
    value = float(size)
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value < 1000:
        return f"{sign}{value:.0f} B"
    for unit in UNITS[1:]:
        value /= 1000
        if round(value, 1) < 1000 or unit == UNITS[-1]:
            return f"{sign}{value:.1f} {unit}"
    raise AssertionError("unreachable")
