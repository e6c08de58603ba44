"""``gitreg signatures``: the signature of every event (``--sign`` itself: :mod:`gitreg.cli.sign_option`)."""

from __future__ import annotations

import sys

import click

from gitreg.cli import render
from gitreg.cli.commands import _registry, json_option
from gitreg.errors import IntegrityError


@click.command()
@json_option
@click.pass_context
def signatures(ctx, as_json) -> None:
    """Show the signature of every version, deprecation, stage change and alias change.

    Each is checked with Git's own verification against .gitreg/allowed_signers
    (Git's SSH format) and .gitreg/gpg-keys.asc committed on the main branch.
    States: good, unsigned, bad (changed since signed), unknown-key. Exits 13
    when a signature is bad or one that .gitreg.yaml's signing: requires is
    missing (as `gitreg verify --signatures`).

    \b
    Examples:
      gitreg signatures
      gitreg signatures --json
    """
    report = _registry(ctx).signatures()
    if as_json:
        render.emit_json(report.to_dict())
    else:
        for event in report.events:
            mark = "required" if event.required else ""
            click.echo(f"{event.signature.state:<12} {event.kind:<12} {event.subject}  {mark}".rstrip())
        for problem in report.all_problems:
            click.echo(f"breach: {problem}")
        counts = report.counts()
        click.echo(", ".join(f"{n} {state}" for state, n in counts.items()) + f" of {len(report.events)} events")
    if report.all_problems:
        sys.exit(int(IntegrityError.exit_code))


SIGN_COMMANDS = [signatures]
