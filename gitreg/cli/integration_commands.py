"""Bridges to the tools teams already run: ``gitreg mlflow export|import``, ``gitreg wandb export|import``."""

from __future__ import annotations

from pathlib import Path

import click

from gitreg.cli import render
from gitreg.cli.commands import _registry, json_option, push_option

tracking_option = click.option("--tracking-uri", metavar="URI",
                               help="The MLflow tracking server or store (default: MLFLOW_TRACKING_URI).")


@click.group()
def mlflow() -> None:
    """Export versions to MLflow, or register MLflow models here (needs gitreg-dvc[mlflow])."""


@mlflow.command(name="export")
@click.argument("references", nargs=-1, required=True, metavar="REF...")
@tracking_option
@click.option("--registered-model", metavar="NAME", help="The MLflow registered model (default: the gitreg name).")
@click.option("--experiment", default="gitreg", show_default=True, help="The MLflow experiment the runs go to.")
@json_option
@click.pass_context
def mlflow_export(ctx, references, tracking_uri, registered_model, experiment, as_json) -> None:
    """Make each version an MLflow run and registered model version.

    The run holds the card's metrics and params, gitreg's tag, commit and md5
    as tags, and the artifact; the stages holding a version become aliases
    of its model version. Running it again changes nothing.

    \b
    Examples:
      gitreg mlflow export churn#production churn --tracking-uri http://mlflow:5000
      gitreg mlflow export churn@1.2.0 --tracking-uri sqlite:///mlflow.db --registered-model churn-prod
    """
    report = _registry(ctx).mlflow_export(references, tracking_uri=tracking_uri, registered_model=registered_model,
                                          experiment=experiment)
    if as_json:
        render.emit_json(report.to_dict())
        return
    for done in report.exported:
        state = "exported as" if done.created else "already exported as"
        click.echo(f"{done.tag} {state} {done.registered_model} version {done.version} (run {done.run_id})")
    for model, aliases in report.aliases.items():
        click.echo(f"  aliases of {model}: " + ", ".join(f"{a}=v{v}" for a, v in sorted(aliases.items())))


@mlflow.command(name="import")
@click.argument("uri", metavar="MODEL_URI")
@click.option("--as", "name", required=True, metavar="NAME", help="The gitreg model to register it as.")
@tracking_option
@click.option("--version", metavar="X.Y.Z", help="Explicit version (default: the next by --bump).")
@click.option("--bump", type=click.Choice(["major", "minor", "patch", "auto"]), help="How to bump the latest version.")
@click.option("--label", "labels", multiple=True, help="A label (repeatable).")
@push_option
@json_option
@click.pass_context
def mlflow_import(ctx, uri, name, tracking_uri, version, bump, labels, push, as_json) -> None:
    """Register an MLflow model or run artifact as a new version of NAME.

    MODEL_URI is models:/NAME/VERSION, models:/NAME@ALIAS or runs:/RUN_ID/PATH.
    The run's metrics, params and description come along; the model's
    signature and the MLflow source (tracking URI without password, run,
    model version) are recorded in the card's lineage.

    \b
    Examples:
      gitreg mlflow import models:/churn@champion --as churn --tracking-uri http://mlflow:5000
      gitreg mlflow import runs:/0a1b2c.../model --as churn --bump patch --push
    """
    found = _registry(ctx).mlflow_import(uri, name, tracking_uri=tracking_uri, version=version, bump=bump,
                                         labels=labels, push=push)
    if as_json:
        render.emit_json(found.to_dict())
    else:
        click.echo(f"Registered {found.tag} from {uri} (commit {render.short(found.commit)})")


@click.group()
def wandb() -> None:
    """Log versions to Weights & Biases, or register W&B artifacts here (needs gitreg-dvc[wandb])."""


@wandb.command(name="export")
@click.argument("references", nargs=-1, required=True, metavar="REF...")
@click.option("--project", required=True, help="The W&B project.")
@click.option("--entity", help="The W&B entity (team or user; default: yours).")
@click.option("--dir", "directory", type=click.Path(file_okay=False), help="Where the run goes (default: WANDB_DIR, else .git/gitreg/wandb).")
@click.option("--online", is_flag=True, help="Upload now instead of writing an offline run for `wandb sync`.")
@json_option
@click.pass_context
def wandb_export(ctx, references, project, entity, directory, online, as_json) -> None:
    """Log each version as a W&B model artifact, offline unless --online.

    The card is the artifact's metadata; gitreg-X.Y.Z and the stages that
    hold the version are its aliases. Offline, the run is written to a
    folder that `wandb sync` uploads from any machine that may.

    \b
    Examples:
      gitreg wandb export churn#production --project churn
      wandb sync .git/gitreg/wandb/wandb/offline-run-*
    """
    report = _registry(ctx).wandb_export(references, project, entity=entity, directory=directory, online=online)
    if as_json:
        render.emit_json(report.to_dict())
        return
    for tag, aliases in report.artifacts.items():
        click.echo(f"Logged {tag} as a model artifact (aliases: {', '.join(aliases)})")
    if report.offline:
        click.echo(f"  offline run in {report.run_dir}: upload it with `wandb sync {report.run_dir}`")


@wandb.command(name="import")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--as", "name", required=True, metavar="NAME", help="The gitreg model to register it as.")
@click.option("--metadata", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.json",
              help="The artifact's metadata, saved as JSON (json.dump(artifact.metadata, ...)).")
@click.option("--version", metavar="X.Y.Z", help="Explicit version (default: the next by --bump).")
@click.option("--bump", type=click.Choice(["major", "minor", "patch", "auto"]), help="How to bump the latest version.")
@push_option
@json_option
@click.pass_context
def wandb_import(ctx, folder, name, metadata, version, bump, push, as_json) -> None:
    """Register a downloaded W&B artifact FOLDER as a new version of NAME.

    A folder of one file registers that file. Metadata written by `gitreg
    wandb export` gives back the card's metrics, params, labels and
    description; other metadata gives its metrics/params mappings, or its
    numbers as metrics and other plain values as params.

    \b
    Examples:
      wandb artifact get acme/churn/churn:production --root dl/
      gitreg wandb import dl/ --as churn --metadata dl-metadata.json
    """
    found = _registry(ctx).wandb_import(folder, name, metadata=metadata, version=version, bump=bump, push=push)
    if as_json:
        render.emit_json(found.to_dict())
    else:
        click.echo(f"Registered {found.tag} from {folder} (commit {render.short(found.commit)})")


INTEGRATION_COMMANDS = [mlflow, wandb]
