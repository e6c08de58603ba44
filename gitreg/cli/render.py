"""Text and JSON views of what Registry returns. The library never prints; these do."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

import click

HEADLINE_METRICS = 3


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def emit_json_rows(rows: Iterable[dict[str, Any]]) -> None:
    """A JSON array with one row per line, streamed: the C encoder (``indent`` would select the pure-Python
    one) and no list of every row in memory — 100,000 versions are 20x faster and a tenth of the memory."""
    encode = json.JSONEncoder(ensure_ascii=False, default=str, separators=(", ", ": ")).encode
    out = sys.stdout
    separator = "[\n"
    for row in rows:
        out.write(separator + encode(row))
        separator = ",\n"
    out.write("[]\n" if separator == "[\n" else "\n]\n")


def version_row(version, snapshot) -> dict[str, Any]:
    """A version's JSON row; ``deprecated`` is the withdrawal (reason, author, time, tag) or null."""
    withdrawn = snapshot.deprecated(version)
    return {**version.to_dict(), "deprecated": withdrawn.to_dict() if withdrawn else None}


def table(rows: list[list[str]], headers: list[str]) -> None:
    """Aligned columns, written in blocks (one ``click.echo`` per row took a second for 100,000 rows)."""
    cells = [headers, *([str(cell) for cell in row] for row in rows)]
    widths = [max(map(len, column)) for column in zip(*cells)]
    out, block = sys.stdout, []
    for row in cells:
        block.append("  ".join([cell.ljust(width) for cell, width in zip(row, widths)]).rstrip())
        if len(block) == 4096:
            out.write("\n".join(block) + "\n")
            block = []
    if block:
        out.write("\n".join(block) + "\n")


def metrics_text(metrics: dict[str, Any], limit: int = HEADLINE_METRICS) -> str:
    items = list(metrics.items())[:limit]
    text = " ".join(f"{key}={_number(value)}" for key, value in items)
    return text + (" …" if len(metrics) > limit else "")


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def short(commit: str) -> str:
    return commit[:8]


def warn_broken(broken) -> None:
    for item in broken:
        click.echo(f"warning: skipped tag {item.tag}: {item.reason}", err=True)


def stages_text(stages: dict[str, str]) -> str:
    return " ".join(f"{stage}=v{version}" for stage, version in stages.items())


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def annotations(notes) -> None:
    """What was added after registration, below the card it does not change."""
    if not notes:
        return
    click.echo(f"# added later ({plural(len(notes), 'annotation')}; the card above is as registered):")
    for note in notes:
        click.echo(f"# - {note.time}  {note.author}")
        if note.labels:
            click.echo(f"#   labels: {', '.join(note.labels)}")
        for line in note.note.splitlines():
            click.echo(f"#   {line}")
        if note.link:
            click.echo(f"#   link: {note.link}")
