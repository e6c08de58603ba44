"""Sharing commands: push, pull, and the server-side hook."""

from __future__ import annotations

from pathlib import Path

import click

from gitreg.cli import render
from gitreg.cli.commands import _registry, json_option


@click.command()
@click.option("--artifacts", "all_artifacts", is_flag=True,
              help="Check (and upload) the bytes of every version, not only of new and staged ones.")
@json_option
@click.pass_context
def push(ctx, all_artifacts: bool, as_json: bool) -> None:
    """Publish the registry to origin: artifacts to the DVC remote first, then the
    current branch, new version tags and stage branches in one atomic push.
    Nothing is pushed unless the DVC remote holds every artifact they name.

    \b
    Examples:
      gitreg push
      gitreg push --artifacts   # repair versions published without their bytes
    """
    report = _registry(ctx).push(all_artifacts=all_artifacts)
    if as_json:
        render.emit_json(report.to_dict())
    elif not report.refs and not report.artifacts:
        click.echo("Everything up to date with origin")
    else:
        click.echo(f"Pushed to origin: {render.plural(report.artifacts, 'artifact')}, "
                   f"{', '.join(report.refs) or 'no refs'}")


@click.command()
@click.option("--artifacts", is_flag=True, help="Also fetch the artifacts of every stage into the DVC cache.")
@json_option
@click.pass_context
def pull(ctx, artifacts: bool, as_json: bool) -> None:
    """Fetch version tags and stage branches from origin (fast-forward only).

    \b
    Examples:
      gitreg pull
      gitreg pull --artifacts
    """
    report = _registry(ctx).pull(artifacts=artifacts)
    if as_json:
        render.emit_json(report.to_dict())
    else:
        updated = ", ".join(report.refs) or "nothing to update"
        click.echo(f"Pulled from origin: {updated}; {render.plural(report.artifacts, 'artifact')} fetched")


@click.group()
def hook() -> None:
    """Server-side protection for a shared (bare) repository."""


@hook.command(name="install")
@click.argument("repository", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a pre-receive hook that gitreg did not write.")
@click.option("--artifacts", metavar="DIR_OR_URL",
              help="Also reject version tags whose bytes this store (the DVC remote) does not hold.")
def hook_install(repository: Path, force: bool, artifacts: str | None) -> None:
    """Install a pre-receive hook in REPOSITORY that rejects pushes breaking the registry's rules.

    It rejects deleting or moving a version tag, a version tag whose card does
    not match it, a stage-branch update that is not a valid promotion,
    rollback or retirement (content equal to registered versions, gates
    passing for promotions), any non-fast-forward update of a stage branch, and
    an alias ref that is deleted, rewritten, badly named or names a version
    that does not exist (or is deprecated).
    With --artifacts it also rejects version tags whose bytes are not in that
    store (a directory is checked by md5; s3:// and other URLs by existence,
    with the server's credentials).

    \b
    Examples:
      gitreg hook install /srv/git/models.git
      gitreg hook install /srv/git/models.git --artifacts /srv/dvc-store
    """
    from gitreg.services import hook as server_hook

    click.echo(f"Installed {server_hook.install(repository, force=force, artifacts=artifacts)}")


REMOTE_COMMANDS = [push, pull, hook]
