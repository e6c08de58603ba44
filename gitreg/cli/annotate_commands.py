"""``annotate``: labels, notes and links added to a version after registration."""

from __future__ import annotations

import click

from gitreg.cli import render
from gitreg.cli.commands import _registry, json_option


@click.command()
@click.argument("ref", metavar="NAME@VERSION", required=False)
@click.option("--match", metavar="EXPR", help="Annotate every version this search expression selects.")
@click.option("--dry-run", is_flag=True, help="With --match: print the versions and change nothing.")
@click.option("--yes", is_flag=True, help="Confirm a --match that selects more than 10 versions.")
@click.option("--label", "labels", multiple=True, metavar="L",
              help="A label (repeatable): letters, digits and . _ : / -, e.g. validated-site-b.")
@click.option("--note", metavar="TEXT", help="A note, at most 2000 characters.")
@click.option("--link", metavar="URL", help="An http(s) link, e.g. to a ticket or a report.")
@click.option("--push", is_flag=True,
              help="Publish the annotation to origin at once (merged with another writer's if they pushed first).")
@json_option
@click.pass_context
def annotate(ctx, ref, match, dry_run, yes, labels, note, link, push: bool, as_json: bool) -> None:
    """Add labels, a note or a link to a version after registration.

    The card and the tag never change: each annotation is one entry (author,
    time, labels, note, link) in the version's Git note under
    refs/notes/gitreg. `gitreg show` lists them under the card, `gitreg search
    'labels contains L'` finds them, `gitreg push`/`pull` share them.

    \b
    Examples:
      gitreg annotate churn@1.2.0 --label validated-site-b
      gitreg annotate churn@1.2.0 --note "FDA submission 2026-14" --link https://jira.example.com/FDA-14
      gitreg annotate churn@1.2.0 --label approved --label eu --push
      gitreg annotate --match 'name == churn and created >= 2026-06' --label audited-2026 --dry-run
    """
    if match is not None:
        _annotate_matching(ctx, ref, match, dry_run, yes, labels, note, link, push, as_json)
        return
    if ref is None:
        raise click.UsageError("name the version, NAME@VERSION, or select versions with --match EXPR")
    result = _registry(ctx).annotate(ref, labels=labels, note=note, link=link, push=push)
    if as_json:
        render.emit_json(result.to_dict())
        return
    published = " and pushed it to origin" if result.pushed else " (publish with `gitreg push`)"
    click.echo(f"Annotated {result.version.tag}{published}; it has {render.plural(len(result.annotations), 'annotation')}")


def _annotate_matching(ctx, ref, match, dry_run, yes, labels, note, link, push, as_json) -> None:
    if ref is not None:
        raise click.UsageError("--match selects the versions itself: give no NAME@VERSION")
    found = _registry(ctx).annotate_matching(match, labels=labels, note=note, link=link, push=push, dry_run=dry_run,
                                             yes=yes)
    if as_json:
        render.emit_json({"dry_run": dry_run, "annotated": [item.tag if dry_run else item.to_dict() for item in found]})
        return
    for item in found:
        click.echo(f"Would annotate {item.tag}" if dry_run else f"Annotated {item.version.tag}")
    if push and not dry_run:
        click.echo("Pushed to origin")


ANNOTATE_COMMANDS = [annotate]
