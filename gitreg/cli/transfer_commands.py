"""Air-gapped transfer: export versions to one file, import it in another registry."""

from __future__ import annotations

from pathlib import Path

import click

from gitreg.cli import render
from gitreg.cli.commands import _registry, json_option, push_option


@click.command()
@click.argument("references", nargs=-1, required=True, metavar="REF...")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The file to write (it must not exist), e.g. models.bundle.tar.")
@click.option("--with-stages", is_flag=True,
              help="Also carry the stage branches, every version they hold and GTO's stage tags.")
@json_option
@click.pass_context
def export(ctx, references, output, with_stages, as_json) -> None:
    """Write versions to one file for a registry with no network to this one.

    The file holds a Git bundle of the versions' tags (and deprecations),
    their artifact bytes (fetched from the DVC remote when not cached) and a
    manifest with the sha256 of every member. Carry it over, then run
    `gitreg import FILE` there. Each REF is NAME (latest), NAME@VERSION or
    NAME#STAGE.

    \b
    Examples:
      gitreg export churn@1.2.0 fraud -o models.bundle.tar
      gitreg export churn#production -o prod.tar --with-stages
    """
    result = _registry(ctx).export(references, output, with_stages=with_stages)
    if as_json:
        render.emit_json(result.to_dict())
        return
    click.echo(f"Wrote {result.path} ({result.size} bytes): {', '.join(result.versions)}")
    click.echo(f"  import it with `gitreg import {result.path.name}` in the other registry")


@click.command(name="import")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE")
@click.option("--init", "new_registry", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Start a new registry in DIR from the bundle's history (the first transfer to a site).")
@push_option
@json_option
@click.pass_context
def import_(ctx, source, new_registry, push, as_json) -> None:
    """Bring in versions that `gitreg export` wrote, checking everything first.

    Every member's checksum, the Git bundle, the shared history, every card
    and every byte (against the md5 its DVC pointer records) are checked
    before anything changes. Then the bytes go into the DVC cache and the
    same tags (same ids), deprecations and stage branches are created in one
    transaction. Importing the same file again changes nothing. A tampered
    or truncated file, a tag that exists here with other content, a stage
    that would move backwards or a registry with another history are
    refused with the repository unchanged.

    \b
    Examples:
      gitreg import models.bundle.tar
      gitreg import models.bundle.tar --push
      gitreg import models.bundle.tar --init /srv/registry   # the first transfer
    """
    if new_registry is not None:
        if push:
            raise click.UsageError("--init makes a registry with no origin: add one, then run `gitreg push`")
        from gitreg.registry import Registry

        _, result = Registry.import_new(source, new_registry)
        click.echo(f"Started a registry in {new_registry} from {source.name}", err=as_json)
    else:
        result = _registry(ctx).import_bundle(source, push=push)
    if as_json:
        render.emit_json(result.to_dict())
        return
    if not result.created:
        click.echo(f"Nothing to import: the {render.plural(len(result.present), 'ref')} of {source.name} are here already")
        return
    click.echo(f"Imported {', '.join(ref.split('/', 2)[-1] for ref in result.created)} "
               f"({render.plural(result.objects, 'artifact file')} added to the DVC cache)")
    if result.pushed:
        click.echo("Pushed to origin")


TRANSFER_COMMANDS = [export, import_]
