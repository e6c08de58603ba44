"""``audit``: a compliance report of every event in a time window, with its evidence, and a summary.

Deterministic: the events are ``log``'s (whose order is exact), oldest first; times are the commits' own, in
UTC; nothing of the moment the report is made goes into it. Two runs over the same history, here or in a
clone, give the same bytes.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from gitreg.domain.trace import Audit, AuditWindow
from gitreg.errors import InvalidInputError
from gitreg.io.git import Git
from gitreg.services import audit
from gitreg.services.snapshot import Snapshot
from gitreg.services.trace import Checker, steps_with_evidence

_DATE = re.compile(r"\d{4}-\d\d-\d\d\Z")


def window(since: str | None, until: str | None, stage: str | None, model: str | None) -> AuditWindow:
    """``since`` inclusive, ``until`` inclusive of a whole day when it is a date (``2026-03-31``), else exact."""
    start = _parse(since, "--since") if since is not None else None
    end = _parse(until, "--until") if until is not None else None
    if end is not None and _DATE.match(until):
        end = _in_range(lambda: end + timedelta(days=1), until, "--until")
    if start is not None and end is not None and end <= start:
        raise InvalidInputError(f"--until {until} is not after --since {since}: give a window that holds time")
    return AuditWindow(_in_range(lambda: _iso(start), since, "--since"), _in_range(lambda: _iso(end), until, "--until"),
                       stage, model)


def _in_range(compute, text: str | None, option: str):
    """``compute()``, or one clear line when the date is at the calendar's edge (year 1 or 9999 in UTC)."""
    try:
        return compute()
    except OverflowError:
        raise InvalidInputError(f"{option} {text[:60]!r} is out of range: give a date between 0001-01-02 and "
                                "9999-12-30") from None


def _parse(text: str, option: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(f"{option} {text[:60]!r} is no date: write it as 2026-01-31 or "
                                "2026-01-31T12:00:00+00:00") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).replace(microsecond=0).isoformat() if value else None


def report(git: Git, snapshot: Snapshot, span: AuditWindow, check: Checker | None = None) -> Audit:
    events = audit.events(git, snapshot.config, list(snapshot.versions), span.model, span.stage,
                          snapshot.deprecations.values() if span.stage is None else ())
    chosen = [event for event in events if span.holds(_utc(event.time))][::-1]
    tag_oids = {v.commit: v.tag_oid for v in snapshot.versions if v.tag_oid}
    return Audit(span, tuple(steps_with_evidence(git, chosen, check, tag_oids)), check is not None)


def _utc(time: str) -> str:
    try:
        return _iso(datetime.fromisoformat(time.replace("Z", "+00:00")))
    except ValueError:
        return time
