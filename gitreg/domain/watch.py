"""What ``gitreg watch`` decides without I/O: an event's identity, its line of text, the webhook's
signature and URL, the back-off between attempts.

An event is remembered by its identity, not by its time: a clone that pushes late brings events older
than those already reported, and they are still new.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlsplit

from gitreg.errors import InvalidInputError

# The fields that say which event it is (whatever else a later version adds to an event).
IDENTITY_FIELDS = ("action", "model", "version", "from_version", "stage", "alias", "commit", "time", "entry")
SIGNATURE_HEADER = "X-Gitreg-Signature"  # "sha256=<hex HMAC-SHA256 of the body>", as GitHub's X-Hub-Signature-256
EVENT_HEADER = "X-Gitreg-Event"  # the event's action
DELIVERY_HEADER = "X-Gitreg-Delivery"  # the event's id: a receiver can drop a repeated delivery


def event_id(event: dict) -> str:
    """A stable id of the event (20 hex digits of a SHA-256 of its identifying fields)."""
    key = json.dumps([event.get(field) for field in IDENTITY_FIELDS], separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def body(event: dict) -> bytes:
    """The bytes a webhook receives and ``--exec`` reads on stdin: the event as one line of JSON."""
    return json.dumps(event, sort_keys=True, separators=(",", ":")).encode()


def signature(secret: bytes, payload: bytes) -> str:
    """The value of ``X-Gitreg-Signature``: ``sha256=`` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret, payload, hashlib.sha256).hexdigest()


def signature_matches(secret: bytes, payload: bytes, header: str | None) -> bool:
    """What a receiver checks (in constant time)."""
    return bool(header) and hmac.compare_digest(signature(secret, payload), header or "")


def check_url(url: str) -> str:
    """An http(s) URL with a host, no credentials, no blanks; else one clear error."""
    text = (url or "").strip()
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        parts, port_ok = None, False
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok \
            or any(c.isspace() or ord(c) < 32 for c in text):
        raise InvalidInputError(f"invalid webhook URL {text[:80]!r}: give an http(s) URL with a host, "
                                "e.g. https://hooks.example.com/gitreg")
    if "@" in parts.netloc:
        raise InvalidInputError("the webhook URL carries credentials (user:password@): sign with "
                                "--secret-env VAR instead")
    return text


def back_off(attempt: int, scale: float = 1.0) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (0.5, 1, 2, 4 ... capped at 30), times ``scale``."""
    return scale * min(30.0, 0.5 * 2 ** attempt)


def describe(event: dict) -> str:
    """One line of text for a person: time, action, what changed, who."""
    action, model, version = event.get("action", "?"), event.get("model", "?"), event.get("version")
    what = f"{model}@{version}" if version else str(model)
    stage, alias = event.get("stage"), event.get("alias")
    if action in ("promote", "rollback") and stage:
        before = event.get("from_version")
        what += f" in {stage}" + (f" (was {before})" if before else "")
    elif action == "retire" and stage:
        what = f"{model} out of {stage}" + (f" (was {event.get('from_version')})" if event.get("from_version") else "")
    elif action.startswith("ab-") and event.get("experiment"):
        test = event["experiment"]
        what = (f"{model} in {stage}: A/B {test.get('id')} candidate {test.get('candidate')} on {test.get('split')}% "
                f"vs {test.get('control')}" + (f", {test['verdict']}" if test.get("verdict") else ""))
    elif action.startswith("alias-") and alias:
        what = f"{model}@{alias} -> {version}" if version else f"{model}@{alias} removed"
    elif stage:
        what += f" in {stage}"
    extra = event.get("note") or ", ".join(event.get("labels") or ())
    line = f"{event.get('time', '')}  {action:<11} {what}"
    if extra:
        line += f"  {' '.join(str(extra).split())[:120]}"
    author = event.get("author")
    return f"{line}  by {author}" if author else line
