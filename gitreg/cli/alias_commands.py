"""``gitreg alias set|rm|list``: free-form named pointers at versions (not stages: no order, no gates)."""

from __future__ import annotations

from datetime import datetime, timezone

import click

from gitreg.cli import render
from gitreg.cli.commands import _registry, json_option, push_option, repo_option
from gitreg.cli.sign_option import sign_option


@click.group()
def alias() -> None:
    """Named pointers at versions: champion, challenger, shadow, canary, ...

    An alias is a free-form name for one version of a model, read as
    NAME@ALIAS wherever a reference is taken (show, get, compare, load,
    search 'aliases == champion'). Unlike a stage it has no order and no
    gates and holds no files: it moves in one recorded commit, shown by
    `gitreg log` with author and time.

    \b
    Examples:
      gitreg alias set churn champion 1.2.0
      gitreg alias set churn challenger latest --push
      gitreg alias list churn
      gitreg show churn@champion
    """


@alias.command(name="set")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.argument("version", metavar="VERSION")
@sign_option
@push_option
@json_option
@click.pass_context
def alias_set(ctx, name: str, alias_name: str, version: str, push: bool, as_json: bool) -> None:
    """Point NAME@ALIAS at VERSION (1.2.0, v1.2.0, latest, another alias, or #STAGE).

    VERSION is resolved now: the alias then stays on that version until it
    is set again (it does not follow latest or the stage).

    ALIAS is 2 to 64 lower-case letters, digits, '-' and '_', starting with a
    letter; it may not be named like a version (v2, 1.2.0, latest) or like a
    stage. A deprecated version cannot be aliased.

    \b
    Examples:
      gitreg alias set churn champion 1.2.0
      gitreg alias set churn champion challenger      # promote the challenger
      gitreg alias set churn shadow '#staging' --push
    """
    change = _registry(ctx).alias_set(name, alias_name, version, push=push)
    if as_json:
        render.emit_json({**change.to_dict(), "pushed": push})
    elif change.changed:
        was = f" (was v{change.previous})" if change.previous else ""
        click.echo(f"{name}@{alias_name} -> v{change.version.version}{was}" + (", pushed to origin" if push else ""))
    else:
        click.echo(f"{name}@{alias_name} already points at v{change.version.version}: nothing changed")


@alias.command(name="rm")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@sign_option
@push_option
@json_option
@click.pass_context
def alias_rm(ctx, name: str, alias_name: str, push: bool, as_json: bool) -> None:
    """Remove NAME@ALIAS (recorded: `gitreg log` keeps its history).

    \b
    Example:
      gitreg alias rm churn shadow --push
    """
    change = _registry(ctx).alias_rm(name, alias_name, push=push)
    if as_json:
        render.emit_json({**change.to_dict(), "pushed": push})
    else:
        click.echo(f"Removed {name}@{alias_name} (was v{change.previous})" + (", pushed to origin" if push else ""))


@alias.command(name="list")
@click.argument("name", required=False)
@repo_option
@json_option
@click.pass_context
def alias_list(ctx, name: str | None, as_json: bool) -> None:
    """The aliases that point at a version now (of NAME, or of every model).

    \b
    Examples:
      gitreg alias list
      gitreg alias list churn --json
    """
    registry = _registry(ctx)
    snapshot = registry.snapshot(name)
    found = registry.aliases(name, snapshot=snapshot)
    withdrawn = snapshot.deprecations
    if as_json:
        render.emit_json_rows({**record.to_dict(), "time": _iso(record.timestamp),
                               "deprecated": (record.model, record.version) in withdrawn} for record in found)
        return
    if not found:
        click.echo(f"No aliases{' of ' + name if name else ''} yet: set one with `gitreg alias set NAME ALIAS VERSION`.")
        return
    rows = [[r.model, r.alias, f"v{r.version}" + (" (deprecated)" if (r.model, r.version) in withdrawn else ""),
             _iso(r.timestamp), r.author.split(" <")[0], render.short(r.commit)] for r in found]
    render.table(rows, ["NAME", "ALIAS", "VERSION", "SINCE", "BY", "RECORD"])


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat()


ALIAS_COMMANDS = [alias]
