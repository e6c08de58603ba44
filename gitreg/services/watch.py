"""``watch``: follow a registry and hand each new event to the user, a command and a webhook.

Each round reads every event (the audit log plus annotations), oldest first, and delivers those whose id
the state file does not hold. The state file is append-only: a header line, then one event id per line,
written (and flushed) as soon as the event is delivered, so a watch killed at any point repeats at most
the event it was delivering and misses none. An exclusive lock on it keeps a second watch off the same
state.

Delivery is in order and at least once: an event whose webhook delivery still fails after the retries
stays undelivered, the round stops there (later events wait, so the receiver sees them in order), and
the next round tries it again. It is shown and its ``--exec`` command run only once per process; a
failing command is reported and counts as delivered (it is the command's to retry).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from gitreg.domain import annotation
from gitreg.domain import watch as rules
from gitreg.domain.version import ModelVersion
from gitreg.errors import ConflictError, GitregError, InvalidInputError
from gitreg.io import deliver, faults
from gitreg.io.git import Git

STATE_FORMAT = 1
NOTES_REF = "refs/notes/gitreg"


# ---------------------------------------------------------------------------------------- events
def annotation_events(git: Git, versions: Iterable[ModelVersion]) -> list[dict]:
    """Every annotation of every version as an event (``action: annotate``), oldest first."""
    notes = git.notes_list(NOTES_REF)
    if not notes:
        return []
    by_tag = {v.tag_oid: v for v in versions if v.tag_oid}
    wanted = [(blob, by_tag[obj]) for blob, obj in notes if obj in by_tag]
    blobs = git.read_blobs([blob for blob, _ in wanted])
    found = []
    for blob, version in wanted:
        try:
            entries = annotation.read(blobs.get(blob) or b"")[0]
        except GitregError:  # an over-limit note: `verify` names it
            continue
        for entry in entries:
            found.append({"action": "annotate", "model": version.name, "version": version.version,
                          "from_version": None, "stage": None, "author": entry.author,
                          "time": entry.time.replace("Z", "+00:00"), "commit": version.commit,
                          "labels": list(entry.labels), "note": entry.note or None, "link": entry.link or None,
                          "entry": rules.event_id({"entry": entry.to_line(), "commit": version.tag_oid})})
    return found


def ordered(log_newest_first: Iterable[dict], annotations: list[dict]) -> list[dict]:
    """One list, oldest first, each event with its ``id``; the log's own order is kept within a second."""
    events = [*reversed(list(log_newest_first)), *annotations]
    events.sort(key=lambda event: _stamp(event.get("time")))  # stable: the log's order stays
    return [{**event, "id": rules.event_id(event)} for event in events]


def _stamp(value) -> float:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


# ---------------------------------------------------------------------------------------- state
def _open_state(path: Path):
    """The state file opened for appending, never through a symbolic link (a state file pointed
    elsewhere would have ids appended to whatever it names); bytes that are not UTF-8 read as garbage."""
    if path.is_symlink():
        raise InvalidInputError(f"the state file {path} is a symbolic link: give --state PATH a regular file")
    if path.exists() and not path.is_file():
        raise InvalidInputError(f"the state file {path} is not a regular file: give another --state PATH")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:
        raise InvalidInputError(f"the state file {path} cannot be opened ({exc.strerror}): give another "
                                "--state PATH") from None
    return os.fdopen(fd, "a+", encoding="utf-8", errors="replace")


class State:
    """The ids of the events delivered, in an append-only file held under an exclusive lock."""

    def __init__(self, path: Path, source: str):
        self.path, self.source = path, source
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = _open_state(self.path)
        try:
            import fcntl

            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # no flock on this platform: one watch per state file is then the user's to keep
            pass
        except OSError:
            self._handle.close()
            raise ConflictError(f"another `gitreg watch` is using {self.path}: stop it, or give this one "
                                "--state PATH of its own") from None
        self._handle.seek(0)
        lines = self._handle.read().split("\n")
        self.fresh = not lines[0].strip()
        if self.fresh:
            self._write(json.dumps({"gitreg-watch": STATE_FORMAT, "source": source}))
        else:
            self._check_header(lines[0])
        # the last line may be cut short by a kill: an id is exactly 20 hex digits, anything else is dropped
        self.seen = {line for line in lines[1:] if len(line) == 20 and all(c in "0123456789abcdef" for c in line)}

    def _check_header(self, line: str) -> None:
        try:
            header = json.loads(line)
        except ValueError:
            header = None
        if not isinstance(header, dict) or header.get("gitreg-watch") != STATE_FORMAT:
            self.close()
            raise InvalidInputError(f"{self.path} is not a gitreg watch state file: give another --state PATH")

    def _write(self, line: str) -> None:
        self._handle.seek(0, os.SEEK_END)
        if self._handle.tell() and not self._ends_with_newline():
            self._handle.write("\n")  # a line cut short by a kill stays on its own, and is ignored
        self._handle.write(line + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as reader:
            reader.seek(-1, os.SEEK_END)
            return reader.read(1) == b"\n"

    def add(self, event_id: str) -> None:
        if event_id not in self.seen:
            self._write(event_id)
            self.seen.add(event_id)

    def add_all(self, ids: Iterable[str]) -> None:
        new = [i for i in ids if i not in self.seen]
        if new:
            self._write("\n".join(new))
            self.seen.update(new)

    def close(self) -> None:
        self._handle.close()


# ---------------------------------------------------------------------------------------- delivery
@dataclass(frozen=True)
class Webhook:
    url: str
    secret: bytes | None = None
    attempts: int = 5


@dataclass
class Round:
    delivered: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    pending: int = 0  # events left for the next round (a webhook that still fails)


class Watcher:
    """Rounds of: read the events, deliver the new ones in order, remember them."""

    def __init__(self, read: Callable[[], list[dict]], state: State, *, command: str | None = None,
                 webhook: Webhook | None = None, from_now: bool = False,
                 sleep: Callable[[float], None] = time.sleep):
        self.read, self.state, self.command, self.webhook = read, state, command, webhook
        self.from_now, self.sleep = from_now and state.fresh, sleep
        self.shown: set[str] = set()  # shown (and --exec run) in this process, waiting for the webhook

    def round(self, on_event: Callable[[dict], None], on_problem: Callable[[str], None]) -> Round:
        result = Round()
        try:
            events = self.read()
        except GitregError as exc:  # origin unreachable for a while: say so, try again next round
            on_problem(f"cannot read the registry: {exc}")
            result.problems.append(str(exc))
            return result
        if self.from_now:  # the first round of a new state with --from-now: what exists is history
            self.state.add_all(event["id"] for event in events)
            self.from_now = False
            return result
        new = [event for event in events if event["id"] not in self.state.seen]
        for position, event in enumerate(new):
            if event["id"] not in self.shown:
                on_event(event)
                self.shown.add(event["id"])
                problem = self._run_command(event)
                if problem:
                    on_problem(problem)
                    result.problems.append(problem)
            problem = self._post(event)
            if problem:
                on_problem(problem)
                result.problems.append(problem)
                result.pending = len(new) - position
                return result
            faults.point("watch:delivered")  # a kill here: delivered, not yet remembered (sent again once)
            self.state.add(event["id"])
            self.shown.discard(event["id"])
            result.delivered.append(event)
        return result

    def _run_command(self, event: dict) -> str | None:
        if not self.command:
            return None
        problem = deliver.run_command(self.command, rules.body(event) + b"\n",
                                      {"GITREG_EVENT_ID": event["id"], "GITREG_EVENT_ACTION": event["action"]})
        return f"--exec for event {event['id']} ({event['action']} {event['model']}): {problem}" if problem else None

    def _post(self, event: dict) -> str | None:
        if not self.webhook:
            return None
        payload = rules.body(event)
        headers = {rules.EVENT_HEADER: event["action"], rules.DELIVERY_HEADER: event["id"]}
        if self.webhook.secret is not None:
            headers[rules.SIGNATURE_HEADER] = rules.signature(self.webhook.secret, payload)
        scale = float(os.environ.get("GITREG_BACKOFF_SCALE") or 1)
        problem = None
        for attempt in range(self.webhook.attempts):
            if attempt:
                self.sleep(rules.back_off(attempt - 1, scale))
            problem = deliver.post(self.webhook.url, payload, headers)
            if problem is None:
                return None
        return (f"webhook delivery of event {event['id']} ({event['action']} {event['model']}) failed after "
                f"{self.webhook.attempts} attempts: {problem}; it is tried again next round")

    def run(self, interval: float, on_event: Callable[[dict], None], on_problem: Callable[[str], None],
            rounds: int | None = None) -> None:
        """Rounds every ``interval`` seconds (``rounds`` of them, or until interrupted)."""
        done = 0
        while rounds is None or done < rounds:
            self.round(on_event, on_problem)
            done += 1
            if rounds is None or done < rounds:
                self.sleep(interval)
