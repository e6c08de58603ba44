"""The sections ``gitreg --help`` lists commands in. Every command belongs to one (a test checks it, so a
command added without a section fails loudly); names listed here that are not registered are skipped."""

from __future__ import annotations

import click

SECTIONS: dict[str, tuple[str, ...]] = {
    "Versions": ("init", "register", "register-many", "get", "path", "env", "annotate", "deprecate"),
    "Stages": ("promote", "rollback", "retire", "alias", "ab", "check-promotion"),
    "Sharing": ("push", "pull", "export", "import", "sync-tags", "hook"),
    "Inspection": ("list", "show", "history", "log", "search", "compare", "stats", "verify", "ui", "report",
                   "trace", "audit", "signatures"),
    "Integrations": ("watch", "mlflow", "wandb", "completion", "demo"),
}
OTHER = "Other"


def section_of(command: str) -> str:
    return next((title for title, names in SECTIONS.items() if command in names), OTHER)


def format_sections(group: click.Group, ctx: click.Context, formatter: click.HelpFormatter) -> None:
    """The commands, section by section, each with its short help (as click lists them)."""
    commands = {name: group.get_command(ctx, name) for name in group.list_commands(ctx)}
    commands = {name: command for name, command in commands.items() if command is not None and not command.hidden}
    if not commands:
        return
    widest = max(len(name) for name in commands)  # one column for every section
    width = formatter.width - 6 - widest
    for title in [*SECTIONS, OTHER]:
        rows = [(name.ljust(widest), command.get_short_help_str(width)) for name, command in commands.items()
                if section_of(name) == title]
        if title != OTHER:
            rows.sort(key=lambda row: SECTIONS[title].index(row[0].rstrip()))
        if rows:
            with formatter.section(title):
                formatter.write_dl(rows)
