"""A withdrawn version: GTO's deprecation tag ``NAME@vX.Y.Z!``, annotated, on the version's commit.

The version tag and its card never change; the deprecation is its own record, which GTO reads as
the version's deregistration. The tag's message is the reason; its tagger says who and when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from gitreg.errors import InvalidInputError

MAX_REASON = 2000  # characters: a reason is a sentence or two, not a document


class DeprecatedVersionWarning(UserWarning):
    """``Registry.load`` of a deprecated version: it still loads, and the warning names the reason."""


@dataclass(frozen=True)
class Deprecation:
    name: str
    version: str
    reason: str
    author: str  # "Name <email>"
    time: str  # ISO 8601, UTC
    tag: str  # NAME@vX.Y.Z!
    commit: str = ""  # the version's commit, which the tag names

    def to_dict(self) -> dict:
        return {"reason": self.reason, "author": self.author, "time": self.time, "tag": self.tag}

    def describe(self) -> str:
        """``reason (by Name <email> on 2026-01-31)``."""
        return f"{self.reason} (by {self.author or 'an unknown author'} on {self.time[:10] or 'an unknown date'})"


def check_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise InvalidInputError("a deprecation needs a reason: give --reason TEXT (e.g. --reason 'leaks PII')")
    if len(text) > MAX_REASON:
        raise InvalidInputError(f"the reason is {len(text)} characters long: say it in at most {MAX_REASON}")
    return text


def tag_message(reason: str) -> str:
    return f"{reason}\n"


def from_tag(name: str, version: str, tag: str, message: str, tagger: str, commit: str = "") -> Deprecation:
    author, time = parse_tagger(tagger)
    return Deprecation(name, version, message.strip(), author, time, tag, commit)


def parse_tagger(tagger: str) -> tuple[str, str]:
    """``"Ada <ada@example.com> 1767225600 +0100"`` -> ("Ada <ada@example.com>", "2026-01-01T00:00:00Z")."""
    who, _, stamp = tagger.rpartition(">")
    parts = stamp.split()
    try:
        seconds = int(parts[0])
        when = datetime.fromtimestamp(seconds, timezone.utc)
        time = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    except (IndexError, ValueError, OverflowError, OSError):
        time = ""
    return (f"{who}>".strip() if who else tagger.strip()), time
