"""Each command: parse options, call one Registry method, render the result."""

from __future__ import annotations

from pathlib import Path

import click

from gitreg.cli import render
from gitreg.cli.sign_option import sign_option
from gitreg.domain.refs import ModelRef


def _registry(ctx: click.Context):
    from gitreg.registry import Registry

    remote = ctx.meta.get("gitreg.repo")
    if remote:
        return Registry.open(remote)
    registry = Registry(".")
    registry.sign_default = ctx.meta.get("gitreg.sign")  # --sign/--no-sign (gitreg.cli.sign_commands)
    return registry


json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


def _remember_repo(ctx: click.Context, _param, value: str | None) -> None:
    ctx.meta["gitreg.repo"] = value


repo_option = click.option(
    "--repo", metavar="URL", expose_value=False, callback=_remember_repo,
    help="Read a remote registry (Git URL or shared repository) without a working clone; cached.")
all_option = click.option("--all", "include_deprecated", is_flag=True,
                          help="Include deprecated versions (`gitreg deprecate`), marked as such.")
push_option = click.option(
    "--push", is_flag=True,
    help="Publish at once: artifact to the DVC remote, then refs to origin atomically (retried if raced).")


@click.command()
@click.argument("path", default=".", type=click.Path(file_okay=False))
@click.option("--remote", metavar="DIR_OR_URL", help="Default DVC remote for artifacts (a directory or s3://…).")
@click.option("--endpoint-url", help="S3-compatible endpoint (MinIO, Ceph, …); committed with the remote.")
@click.option("--region", help="S3 region; committed with the remote.")
@click.option("--profile", help="AWS profile to use; kept in .dvc/config.local.")
@click.option("--access-key-id", help="Kept in .dvc/config.local, never committed (or use AWS_ACCESS_KEY_ID).")
@click.option("--secret-access-key", help="Kept in .dvc/config.local, never committed (or use AWS_SECRET_ACCESS_KEY).")
@click.option("--ci-install", metavar="SPEC",
              help="The pip requirement the CI workflows install (ci.install; default: this gitreg, "
                   "gitreg-dvc==VERSION). On an existing registry it re-pins .gitreg.yaml and the workflows.")
def init(path: str, remote: str | None, endpoint_url, region, profile, access_key_id, secret_access_key,
         ci_install: str | None) -> None:
    """Make PATH (default: here) a registry; creates the Git repository when missing.

    Running it again changes nothing.

    \b
    Examples:
      gitreg init
      gitreg init models-registry --remote /mnt/shared/dvc-store
      gitreg init --remote s3://ml-models/registry --region eu-west-1
      gitreg init --remote s3://models/reg --endpoint-url https://minio.internal:9000
      gitreg init --ci-install 'gitreg-dvc @ git+https://github.com/acme/gitreg@<commit>'
    """
    from gitreg.registry import Registry

    options = {"endpointurl": endpoint_url, "region": region, "profile": profile,
               "access_key_id": access_key_id, "secret_access_key": secret_access_key}
    registry, changed = Registry.init(path, remote=remote, remote_options=options, ci_install=ci_install)
    state = "Initialized" if changed else "Already initialized:"
    click.echo(f"{state} gitreg registry in {registry.root}")


@click.command()
@click.argument("name")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--version", "version", metavar="X.Y.Z", help="Explicit version (greater than the latest of its MAJOR.MINOR line).")
@click.option("--bump", type=click.Choice(["major", "minor", "patch", "auto"]),
              help="Bump the latest version (default auto: major when the signature changed, else minor).")
@click.option("--line", metavar="MAJOR[.MINOR]",
              help="Bump within a maintenance line: --bump patch --line 2.4, --bump minor --line 2.")
@click.option("--metric", "metric_pairs", multiple=True, metavar="K=V", help="A metric (repeatable).")
@click.option("--metrics", "metrics_file", type=click.Path(dir_okay=False), help="Metrics from a JSON or YAML file.")
@click.option("--param", "param_pairs", multiple=True, metavar="K=V", help="A training parameter (repeatable).")
@click.option("--label", "labels", multiple=True, help="A label (repeatable).")
@click.option("--description", default="", help="One line on what this version is.")
@click.option("--data", multiple=True, metavar="PATH|STAGE|REPO@REV:PATH",
              help="A DVC-tracked input it was trained on: a path, a dvc.lock stage, or a path of another DVC "
                   "repository at a revision (repeatable).")
@click.option("--allow-dirty-data", is_flag=True,
              help="Record a --data input whose workspace content differs from its DVC pointer (as dirty).")
@click.option("--code-repo", metavar="URL|PATH", help="The repository of the training code (default: this one).")
@click.option("--code-commit", metavar="SHA", help="The commit of the training code (default: HEAD).")
@click.option("--base", metavar="NAME@VERSION", help="The registered model it was fine-tuned from.")
@click.option("--mlflow-run", metavar="RUN_ID", help="Take metrics, params and description from this MLflow run.")
@click.option("--tracking-uri", metavar="URI", help="The MLflow tracking server of --mlflow-run (default: MLFLOW_TRACKING_URI).")
@click.option("--signature", "signature_file", type=click.Path(dir_okay=False),
              help="The model's signature as JSON (a pickle is never unpickled to read it).")
@click.option("--format", "fmt", metavar="FORMAT",
              help="The artifact's format when its name does not say it (skops, joblib, onnx, torch, "
                   "safetensors, xgboost, lightgbm, file...).")
@click.option("--dry-run", is_flag=True, help="Print what would be registered and change nothing.")
@sign_option
@push_option
@json_option
@click.pass_context
def register(ctx, name, path, version, bump, line, metric_pairs, metrics_file, param_pairs, labels,
             description, data, allow_dirty_data, code_repo, code_commit, base, mlflow_run, tracking_uri,
             signature_file, fmt, dry_run, push, as_json) -> None:
    """Register PATH (a file or folder) as a new version of model NAME.

    The artifact is tracked by DVC under models/NAME/, its card is written to
    models/NAME/card.yaml, only those paths are committed, and the annotated
    tag NAME@vX.Y.Z is created.

    \b
    Examples:
      gitreg register churn model.joblib --metric accuracy=0.91 --param C=1.0
      gitreg register churn model.joblib --bump patch --label tabular
      gitreg register churn model.joblib --version 2.0.0 --metrics metrics.json --data data/train.csv
      gitreg register churn model.joblib --data featurize --data https://github.com/acme/data@v3:raw/events.parquet
      gitreg register churn model.joblib --code-repo https://github.com/acme/train --code-commit <40-hex sha>
      gitreg register churn model.joblib --bump patch --push
      gitreg register churn model.joblib --bump patch --line 2.4   # a fix to the 2.4 line
      gitreg register churn model.skops --label tabular
      gitreg register churn model.pkl --signature signature.json
      gitreg register ranker booster.json --format xgboost
    """
    from gitreg.services import artifact_info, provenance

    metrics = provenance.read_metrics_file(metrics_file) if metrics_file else {}
    metrics.update(provenance.parse_pairs(metric_pairs, "metric"))
    registry = _registry(ctx)
    options = dict(version=version, bump=bump, metrics=metrics, params=provenance.parse_pairs(param_pairs, "param"),
                   labels=labels, description=description, data=data, base=base, line=line, format=fmt,
                   allow_dirty_data=allow_dirty_data, code_repo=code_repo, code_commit=code_commit,
                   signature=artifact_info.read_signature(signature_file) if signature_file else None)
    if dry_run and mlflow_run:
        raise click.UsageError("--dry-run does not read MLflow: give the metrics with --metric, or drop --dry-run")
    if dry_run:
        result = registry.plan_register(name, path, **options)
    else:
        result = registry.register(name, path, push=push, mlflow_run=mlflow_run, tracking_uri=tracking_uri, **options)
    if as_json:
        render.emit_json({"dry_run": dry_run, **result.to_dict()})
    elif dry_run:
        click.echo(f"Would register {result.tag} on {render.short(result.parent)} (nothing changed);"
                   " the md5 is computed when the bytes are stored:")
        click.echo(result.card.to_yaml().rstrip())
    else:
        click.echo(f"Registered {result.tag} (commit {render.short(result.commit)})")


@click.command(name="register-many")
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path), metavar="MANIFEST.yaml")
@click.option("--dry-run", is_flag=True, help="Print the versions it would register and change nothing.")
@sign_option
@push_option
@json_option
@click.pass_context
def register_many(ctx, manifest, dry_run, push, as_json) -> None:
    """Register many versions from one manifest, all or nothing.

    \b
    MANIFEST.yaml lists one entry per model (paths relative to the file):
      models:
        - name: churn
          path: out/churn.joblib
          bump: minor              # or version: 1.4.0
          metrics: {auc: 0.91}
          params: {C: 1.0}
          labels: [tabular]
        - name: fraud
          path: out/fraud/
    Every entry is checked before anything is stored; a failure takes back
    the versions made before it. With --push, one atomic push, bytes first.

    \b
    Examples:
      gitreg register-many release.yaml --dry-run
      gitreg register-many release.yaml --push
    """
    result = _registry(ctx).register_many(manifest, push=push, dry_run=dry_run)
    if as_json:
        render.emit_json(result.to_dict())
        return
    verb = "Would register" if dry_run else "Registered"
    for version in result.versions:
        click.echo(f"{verb} {version.tag}" + ("" if dry_run else f" (commit {render.short(version.commit)})"))
    if result.pushed:
        click.echo("Pushed to origin")


@click.command(name="list")
@all_option
@repo_option
@json_option
@click.pass_context
def list_models(ctx, include_deprecated: bool, as_json: bool) -> None:
    """List every model with its latest version, labels and headline metrics.

    Deprecated versions are not counted, and a model whose every version is
    deprecated is left out, unless --all.

    \b
    Examples:
      gitreg list
      gitreg list --all --json
    """
    registry = _registry(ctx)
    snapshot = registry.snapshot()
    models = registry.models(snapshot=snapshot, include_deprecated=include_deprecated)
    render.warn_broken(snapshot.broken)
    testing: dict[str, list] = {}  # models under an A/B test
    for record in registry.experiments(snapshot=snapshot):
        testing.setdefault(record.model, []).append(record)
    if as_json:
        render.emit_json_rows({**m.to_dict(), "deprecated": snapshot.deprecated(m.latest) is not None,
                               **({"experiment": [{"stage": e.stage, "id": e.id, "candidate": e.candidate,
                                                   "split": e.split} for e in testing[m.name]]}
                                  if m.name in testing else {})}  # only a model under an A/B test has the key
                              for m in models)
        return
    if not models:
        click.echo("No models yet: register one with `gitreg register NAME PATH`.")
        return
    rows = [[m.name, m.latest.version + _deprecated_mark(snapshot, m.latest), str(m.versions),
             render.stages_text(m.stages) + "".join(f" [A/B {e.stage}: v{e.candidate} {e.split:g}%]"
                                                    for e in testing.get(m.name, [])), ",".join(card.labels), render.metrics_text(card.metrics)]
            for m in models for card in (m.latest.card,)]
    render.table(rows, ["NAME", "LATEST", "VERSIONS", "STAGES", "LABELS", "METRICS"])


@click.command()
@click.argument("ref", metavar="NAME[@VERSION|@ALIAS|#STAGE]")
@click.option("--readme", is_flag=True, help="Print the model's page, models/NAME/README.md on the main branch.")
@repo_option
@json_option
@click.pass_context
def show(ctx, ref: str, readme: bool, as_json: bool) -> None:
    """Show the card of a version: the latest (NAME, NAME@latest), NAME@VERSION,
    the one an alias points at (NAME@ALIAS), or the one in NAME#STAGE.

    Annotations added later (`gitreg annotate`) follow the card, each with its
    author and time. --readme prints the model's page instead (with --json:
    the card and the page, "readme": {"text": null, ...} when there is none).

    \b
    Examples:
      gitreg show churn
      gitreg show churn@1.2.0
      gitreg show churn@champion
      gitreg show churn#production --json
      gitreg show churn --readme
      gitreg show churn#production --repo https://github.com/acme/models.git
    """
    registry = _registry(ctx)
    snapshot = registry.snapshot(ModelRef.parse(ref).name)
    found = registry.show(ref, snapshot=snapshot)
    page = registry.readme(found.name) if readme else None
    if page is not None and not as_json:
        if page.text is None:
            from gitreg.errors import NotFoundError

            raise NotFoundError(page.missing())
        click.echo(page.text.rstrip("\n"))
        return
    stages, notes = registry.stage_versions(found.name, snapshot=snapshot), registry.annotations(found)
    named = sorted(a.alias for a in registry.aliases(found.name, snapshot=snapshot) if a.version == found.version)
    if as_json:
        extra = {"readme": page.to_dict()} if page is not None else {}
        render.emit_json({**render.version_row(found, snapshot), "stages": stages, "aliases": named,
                          "annotations": [a.to_dict() for a in notes], **extra})
        return
    click.echo(f"# {found.tag}  (commit {render.short(found.commit)})")
    click.echo(f"# stages: {render.stages_text(stages) or 'none'}")
    if named:
        click.echo(f"# aliases: {' '.join(named)}")
    withdrawn = snapshot.deprecated(found)
    if withdrawn:
        click.echo(f"# deprecated: {withdrawn.describe()}")
    click.echo(found.card.to_yaml().rstrip())
    render.annotations(notes)


@click.command()
@click.argument("name")
@all_option
@repo_option
@json_option
@click.pass_context
def history(ctx, name: str, include_deprecated: bool, as_json: bool) -> None:
    """List every version of NAME, newest first, with author and time.

    Deprecated versions are left out unless --all.

    \b
    Examples:
      gitreg history churn
      gitreg history churn --all --json
    """
    registry = _registry(ctx)
    snapshot = registry.snapshot(name)
    versions = registry.history(name, snapshot=snapshot, include_deprecated=include_deprecated)
    render.warn_broken(snapshot.broken)
    if not versions:
        registry.resolve(name)  # says there is no such model, and how to see the ones there are
        click.echo(f"Every version of {name} is deprecated: `gitreg history {name} --all` lists them.", err=True)
    if as_json:
        render.emit_json_rows(render.version_row(v, snapshot) for v in versions)
        return
    rows = [[v.version + _deprecated_mark(snapshot, v), card.created, card.author.get("name", ""),
             render.short(v.commit), render.metrics_text(card.metrics)] for v in versions for card in (v.card,)]
    render.table(rows, ["VERSION", "CREATED", "AUTHOR", "COMMIT", "METRICS"])


def _deprecated_mark(snapshot, version) -> str:
    return " (deprecated)" if snapshot.deprecated(version) else ""


@click.command()
@click.argument("ref", metavar="NAME[@VERSION|@ALIAS|#STAGE]")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Where to write the artifact (a folder receives it under its own name).")
@repo_option
@click.pass_context
def get(ctx, ref: str, output: Path) -> None:
    """Write the artifact of a version, verified against its DVC pointer.

    Bytes come from the local DVC cache, or from the DVC remote when missing.

    \b
    Examples:
      gitreg get churn -o model.joblib
      gitreg get churn@1.2.0 -o artifacts/
      gitreg get churn@champion -o model.joblib
      gitreg get churn#production -o model.joblib
      gitreg get churn#production -o model.joblib --repo git@github.com:acme/models.git
    """
    written = _registry(ctx).get(ref, output)
    click.echo(f"Wrote {written}")


@click.command(name="path")
@click.argument("ref", metavar="NAME[@VERSION|#STAGE]")
@repo_option
@json_option
@click.pass_context
def artifact_path(ctx, ref: str, as_json: bool) -> None:
    """Print a local path to the verified artifact of a version.

    The bytes are fetched once into a read-only, content-addressed cache shared
    by every registry on this machine ($GITREG_CACHE_DIR/artifacts), checked
    against their md5, and reused by later calls; load the file with any library.

    \b
    Examples:
      gitreg path churn
      python -c "import onnxruntime as o; o.InferenceSession('$(gitreg path ranker#production)')"
      gitreg path churn@1.2.0 --json
    """
    local = _registry(ctx).path(ref)
    if as_json:
        render.emit_json({"ref": ref, "path": str(local)})
    else:
        click.echo(str(local))


@click.command(name="env")
@click.argument("ref", metavar="NAME[@VERSION|@ALIAS|#STAGE]")
@click.option("--requirements", is_flag=True, help="Print a pip requirements file (name==version per line).")
@repo_option
@json_option
@click.pass_context
def env(ctx, ref: str, requirements: bool, as_json: bool) -> None:
    """The environment a version was registered in: Python, platform, packages.

    The packages are those its types come from (e.g. scikit-learn for a
    LogisticRegression) with the packages they require, and joblib, numpy
    and scikit-learn when installed. `load` warns, one line each, about
    every difference from the running environment.

    \b
    Examples:
      gitreg env churn#production
      gitreg env churn@1.2.0 --requirements > requirements.txt
      pip install -r <(gitreg env churn#production --requirements)
    """
    from gitreg.services import provenance

    found = _registry(ctx).environment(ref)
    if as_json:
        render.emit_json(found)
    elif requirements:
        click.echo(provenance.requirements(found), nl=False)
    else:
        click.echo(f"python {found.get('python', 'unknown')} on {found.get('platform', 'an unrecorded platform')}")
        render.table([[name, version] for name, version in sorted((found.get("packages") or {}).items())],
                     ["PACKAGE", "VERSION"])


@click.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def demo(ctx: click.Context, directory: Path | None) -> None:
    """Run the guided tour in DIRECTORY (default: a new temporary folder).

    Trains scikit-learn's breast-cancer classifier twice, registers both
    versions, lists, shows and loads them, promotes them through staging to
    production behind a gate (which fails, then passes), rolls production
    back and prints the audit log. Needs scikit-learn.

    \b
    Example:
      gitreg demo /tmp/tour
    """
    from gitreg.cli.demo import run

    run(directory, ctx.find_root().command, echo=click.echo)


COMMANDS = [init, register, register_many, list_models, show, history, env, get, artifact_path, demo]
