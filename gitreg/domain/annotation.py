"""What is said of a version after registration: labels, a note, a link, with who and when.

The card is immutable; annotations are their own record, a Git note on the version's tag object under
``refs/notes/gitreg``. A note holds one entry per line, each a JSON object, and is kept as its sorted,
de-duplicated lines: exactly what ``git notes merge -s cat_sort_uniq`` makes of two writers' notes, so a
merge never conflicts and every reader, writer and the server's hook agree on one form. Entries are
ordered by time when read (their first key is the time, so the sorted lines are nearly that order).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

from gitreg.errors import InvalidInputError, UnsafeContentError

LABEL_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._:/-]{0,62}[A-Za-z0-9])?\Z")
MAX_NOTE = 2000  # characters: a note is a sentence or two; documents belong in models/NAME/README.md
MAX_LINK = 2000
MAX_LABELS = 20  # per annotation
MAX_BLOB = 1_000_000  # bytes of one version's note, as read from a repository
KEYS = ("time", "author", "labels", "note", "link")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z")


@dataclass(frozen=True)
class Annotation:
    time: str  # ISO 8601, UTC, to the second
    author: str  # "Name <email>"
    labels: tuple[str, ...] = ()
    note: str = ""
    link: str = ""

    def to_dict(self) -> dict:
        return {"time": self.time, "author": self.author, "labels": list(self.labels), "note": self.note,
                "link": self.link}

    def to_line(self) -> str:
        """The entry as the note stores it: one line of ASCII JSON, keys in ``KEYS`` order."""
        return json.dumps(self.to_dict(), ensure_ascii=True, separators=(",", ":"))


# ------------------------------------------------------------------------------------ input
def check_label(label: str) -> str:
    if not LABEL_RE.match(label or ""):
        raise InvalidInputError(f"invalid label {label!r}: use letters, digits and . _ : / -, starting and "
                                "ending with a letter or digit, at most 64 characters (e.g. validated-site-b)")
    return label


def check_note(note: str | None) -> str:
    text = (note or "").strip()
    if len(text) > MAX_NOTE:
        raise InvalidInputError(f"the note is {len(text)} characters long: say it in at most {MAX_NOTE} "
                                f"(a longer text belongs in models/NAME/README.md)")
    if any(ord(c) < 32 and c not in "\n\t" for c in text):
        raise InvalidInputError("the note holds control characters: write plain text")
    return text


def check_link(link: str | None) -> str:
    text = (link or "").strip()
    if not text:
        return ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(text) > MAX_LINK \
            or any(c.isspace() or ord(c) < 32 for c in text):
        raise InvalidInputError(f"invalid link {text[:80]!r}: give an http(s) URL, e.g. "
                                "https://tracker.example.com/FDA-2026-14")
    if "@" in parts.netloc:
        raise InvalidInputError("the link carries credentials (user:password@): give the URL without them")
    return text


def make(author: str, timestamp: int, labels, note: str | None, link: str | None) -> Annotation:
    """A checked annotation; at least one of labels, note and link."""
    if len(labels) > MAX_LABELS:
        raise InvalidInputError(f"{len(labels)} labels in one annotation: give at most {MAX_LABELS}")
    checked = tuple(dict.fromkeys(check_label(label) for label in labels))
    text, url = check_note(note), check_link(link)
    if not (checked or text or url):
        raise InvalidInputError("say what to add: give --label L (repeatable), --note TEXT or --link URL")
    return Annotation(format_time(timestamp), author, checked, text, url)


def format_time(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------------ the note
def lines(text: str) -> list[str]:
    """The note's entries as lines (``\\n`` only: the JSON is ASCII, so nothing else ends a line)."""
    return [line for line in text.split("\n") if line.strip()]


def with_entry(text: str, entry: Annotation) -> str:
    """The note with ``entry`` added, in the one form every writer makes: sorted unique lines."""
    return "".join(f"{line}\n" for line in sorted({*lines(text), entry.to_line()}))


def parse_line(line: str) -> Annotation:
    """One stored entry, checked as strictly as input is (``InvalidInputError`` says why not)."""
    try:
        data = json.loads(line)
    except ValueError:
        raise InvalidInputError("an entry is not JSON") from None
    if type(data) is not dict or set(data) - set(KEYS) or not {"time", "author"} <= set(data):
        raise InvalidInputError(f"an entry must be a JSON object with keys {', '.join(KEYS)}")
    labels, note, link = data.get("labels", []), data.get("note", ""), data.get("link", "")
    if type(labels) is not list or not all(type(x) is str for x in labels) or type(note) is not str \
            or type(link) is not str or type(data["author"]) is not str or type(data["time"]) is not str:
        raise InvalidInputError("an entry's labels must be a list of text, its other fields text")
    if not TIME_RE.match(data["time"]) or not data["author"].strip():
        raise InvalidInputError("an entry needs a time (2026-01-31T12:00:00Z) and an author")
    found = Annotation(data["time"], data["author"], tuple(labels), note, link)
    checked = make(found.author, 0, found.labels, found.note, found.link)
    if (checked.labels, checked.note, checked.link) != (found.labels, found.note, found.link):
        raise InvalidInputError("an entry's labels repeat or its note or link has surrounding blanks")
    return found


def read(text: bytes | str) -> tuple[list[Annotation], list[str]]:
    """The valid entries of a stored note, oldest first, and why each other line is not one."""
    if len(text) > MAX_BLOB:
        raise UnsafeContentError(f"an annotation note is {len(text):,} bytes, more than {MAX_BLOB:,}")
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    found, problems = [], []
    for line in lines(text):
        try:
            found.append(parse_line(line))
        except InvalidInputError as exc:
            problems.append(str(exc))
    found.sort(key=lambda a: (a.time, a.to_line()))
    return found, problems


def labels_of(annotations: list[Annotation]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(label for a in annotations for label in a.labels))
