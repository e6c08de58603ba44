"""The ``artifacts:`` section of ``dvc.yaml``: one entry per model, derived from its card."""

from __future__ import annotations

import re
from typing import Any

from gitreg.domain import refs, yamlio
from gitreg.domain.card import Card
from gitreg.errors import InvalidInputError

DVC_YAML = "dvc.yaml"


def entry(card: Card) -> dict[str, Any]:
    """What ``dvc artifacts`` and DVC Studio read about a model."""
    data: dict[str, Any] = {"path": f"{refs.model_dir(card.name)}/{card.artifact.path}", "type": "model"}
    if card.description:
        data["desc"] = card.description
    if card.labels:
        data["labels"] = list(card.labels)
    return data


def with_entry(text: str | bytes | None, name: str, new: dict[str, Any] | None) -> str:
    """``dvc.yaml`` text with ``name``'s artifact entry replaced (or removed when ``new`` is None).

    Everything else (pipeline stages, comments, order) is kept; artifacts stay sorted by name so
    that two models' entries never depend on the order they were registered in. An ``artifacts:``
    section in the plain shape gitreg writes is edited as text, one entry's lines (a round trip of a
    1,000-model file through ruamel takes a second); anything else goes through ruamel.
    """
    if isinstance(text, bytes):
        text = text.decode()
    spliced = _spliced(text or "", name, new)
    return spliced if spliced is not None else _round_trip(text, name, new)


_ENTRY_HEADER = re.compile(r"^  ([^\s:#'\"][^:#]*):$")


def _spliced(text: str, name: str, new: dict[str, Any] | None) -> str | None:
    """The edit as text, or None when the section is not in the plain shape (sorted plain names at two
    spaces, their fields deeper, no comments, flow styles or blank lines inside)."""
    lines = text.splitlines(keepends=True)
    if not text.endswith("\n") or lines.count("artifacts:\n") != 1:
        return None
    start = lines.index("artifacts:\n") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].strip() and not lines[i].startswith(" ")),
               len(lines))
    blocks: dict[str, list[str]] = {}
    for line in lines[start:end]:
        header = _ENTRY_HEADER.match(line.rstrip("\n"))
        if header and refs.NAME_RE.match(header[1]):
            blocks[header[1]] = [line]
        elif line.startswith("    ") and blocks and "#" not in line and line.strip():
            blocks[next(reversed(blocks))].append(line)
        else:
            return None
    if not blocks or list(blocks) != sorted(blocks):
        return None
    if new is None:
        blocks.pop(name, None)
    else:
        blocks[name] = ["  " + line + "\n" for line in yamlio.dump({name: new}).splitlines()]
    body = [line for key in sorted(blocks) for line in blocks[key]]
    return "".join(lines[:start] + body + lines[end:]) if body else None


def _round_trip(text: str | None, name: str, new: dict[str, Any] | None) -> str:
    try:
        data = yamlio.load_roundtrip(text or "", DVC_YAML) or {}
    except yamlio.YAMLError as exc:
        raise InvalidInputError(f"{DVC_YAML} is not valid YAML ({exc}): fix it by hand first") from exc
    if not isinstance(data, dict):
        raise InvalidInputError(f"{DVC_YAML} must be a mapping: fix it by hand first")
    artifacts = data.get("artifacts") or {}
    if not isinstance(artifacts, dict):
        raise InvalidInputError(f"the artifacts section of {DVC_YAML} must map model names to entries, not "
                                f"{str(artifacts)[:40]!r}: fix it by hand first")
    artifacts = dict(artifacts)
    if new is None:
        artifacts.pop(name, None)
    else:
        artifacts[name] = new
    data["artifacts"] = {key: artifacts[key] for key in sorted(artifacts)}
    return yamlio.dump(data)
