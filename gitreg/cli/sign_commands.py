"""Signing on the command line: ``--sign/--no-sign`` for write commands, ``gitreg signatures``."""

from __future__ import annotations

import sys

import click

from gitreg.errors import IntegrityError


def _remember_sign(ctx: click.Context, _param, value: bool | None) -> None:
    ctx.meta["gitreg.sign"] = value


# one option for every write: the value reaches the Registry that `_registry(ctx)` makes (its sign_default)
sign_option = click.option(
    "--sign/--no-sign", default=None, expose_value=False, callback=_remember_sign,
    help="Sign the tag or commit with Git's own signing (user.signingkey, gpg.format ssh or GPG); "
         "default: as .gitreg.yaml's signing: requires.")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
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
    from gitreg.cli import render
    from gitreg.cli.commands import _registry  # gitreg.cli.commands imports sign_option from here

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
