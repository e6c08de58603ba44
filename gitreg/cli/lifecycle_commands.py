"""A version's life after registration: deprecate."""

from __future__ import annotations

import click

from gitreg.cli import render
from gitreg.cli.commands import _registry, json_option, push_option
from gitreg.cli.sign_option import sign_option


@click.command()
@click.argument("ref", metavar="NAME@VERSION | NAME", required=False)
@click.option("--reason", required=True, metavar="TEXT", help="Why it is withdrawn (shown by show, load and log).")
@click.option("--all-versions", is_flag=True, help="Deprecate every version of NAME that is not deprecated yet.")
@click.option("--match", metavar="EXPR", help="Deprecate every version this search expression selects.")
@click.option("--dry-run", is_flag=True, help="Print what would be deprecated and change nothing.")
@click.option("--yes", is_flag=True, help="Confirm a --match that selects more than 10 versions.")
@sign_option
@push_option
@json_option
@click.pass_context
def deprecate(ctx, ref, reason, all_versions, match, dry_run, yes, push, as_json) -> None:
    """Withdraw a version without deleting anything.

    Makes GTO's deprecation tag NAME@vX.Y.Z! (annotated: the reason, who,
    when) on the version's commit. The version tag and card stay as they
    are. A deprecated version cannot be promoted; list, search and history
    leave it out unless --all; show says so with the reason; load warns.
    A stage holding it keeps it until you roll back or retire. A
    deprecation is never undone: register a new version instead.

    \b
    Examples:
      gitreg deprecate churn@1.2.0 --reason 'trained on leaked labels'
      gitreg deprecate churn --all-versions --reason 'model retired' --push
      gitreg deprecate --match 'created < 2025-01 and labels contains "site-a"' --reason 'old site' --dry-run
    """
    result = _registry(ctx).deprecate(ref, reason, all_versions=all_versions, push=push, match=match,
                                      dry_run=dry_run, yes=yes)
    if as_json:
        render.emit_json(result.to_dict())
        return
    verb = "Would deprecate" if dry_run else "Deprecated"
    for made in result.deprecations:
        click.echo(f"{verb} {made.name}@v{made.version} ({made.tag}): {made.reason}")
    for tag, stages in result.in_stages.items():
        click.echo(f"  note: {tag} is still in {', '.join(stages)}: roll back or retire it there "
                   f"(`gitreg rollback {tag.split('@')[0]} {stages[0]}`)")
    if result.pushed:
        click.echo("Pushed to origin")


LIFECYCLE_COMMANDS = [deprecate]
