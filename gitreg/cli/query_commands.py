"""Read commands over the whole registry: search, compare, stats."""

from __future__ import annotations

import click

from gitreg.cli import render
from gitreg.cli.commands import _registry, all_option, json_option, repo_option


@click.command()
@click.argument("expression", nargs=-1)
@click.option("--sort", "sort_field", metavar="FIELD", help="Order by this field (default: name, then version).")
@click.option("--desc", is_flag=True, help="Sort in descending order (versions without the field stay last).")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Show at most N versions.")
@all_option
@repo_option
@json_option
@click.pass_context
def search(ctx, expression, sort_field, desc, limit, include_deprecated, as_json) -> None:
    """Find the versions whose card matches EXPRESSION: one row per version.

    \b
    EXPRESSION joins conditions with and, or, not and parentheses:
      FIELD OP VALUE        OP is one of == != < <= > >=  (= means ==)
      FIELD contains VALUE  labels: has that label; text: has that substring
      FIELD matches "GLOB"  e.g. name matches "churn-*"
      FIELD in (V, V, ...)  equals any of the values
      FIELD exists          the version has that field
    FIELD is metrics.NAME, params.NAME, version (semver order), created,
    author (name or email), name, description, labels, stage (the stages
    holding the version now), aliases (the aliases pointing at it now) or
    size (artifact bytes). VALUE is a number,
    "quoted text", a bare word, a version (1.2.0), a date (2026-01,
    2026-01-31, 2026-01-31T12:00; a date is the whole month, day or minute,
    UTC), true, false or null. A condition on a field that a version lacks
    is false. No EXPRESSION matches every version. Deprecated versions are
    left out unless --all.

    \b
    Examples:
      gitreg search 'metrics.accuracy >= 0.9 and labels contains "tabular"'
      gitreg search 'stage == production' --json
      gitreg search 'aliases == champion'
      gitreg search 'name == churn and created >= 2026-01' --sort metrics.f1 --desc --limit 5
      gitreg search 'not (params.solver == lbfgs or author == ada@example.com)'
    """
    text = " ".join(expression)
    registry = _registry(ctx)
    snapshot = registry.snapshot()
    found = registry.search(text, sort=sort_field, descending=desc, limit=limit, snapshot=snapshot,
                            include_deprecated=include_deprecated)
    render.warn_broken(snapshot.broken)
    if as_json:
        render.emit_json_rows(render.version_row(version, snapshot) for version in found)
    else:
        from gitreg.cli import query_render

        query_render.search_table(found, text, sort_field)


@click.command()
@click.argument("references", nargs=-1, required=True, metavar="REF REF [REF...]")
@click.option("--data", type=click.Path(dir_okay=False), metavar="FILE.csv",
              help="Evaluate every model on the rows of this CSV file (header row; numeric features).")
@click.option("--target", metavar="COLUMN", help="The column of FILE.csv that holds the true values.")
@click.option("--resamples", type=click.IntRange(min=100), help="Paired bootstrap resamples (default 2000).")
@click.option("--seed", type=int, help="Seed of the resampling (default 0: the same report every run).")
@click.option("--confidence", type=click.FloatRange(0.5, 1, min_open=True, max_open=True),
              help="Confidence level for naming a winner (default 0.95).")
@click.option("--markdown", is_flag=True, help="Print Markdown, e.g. for a pull-request comment.")
@repo_option
@json_option
@click.pass_context
def compare(ctx, references, data, target, resamples, seed, confidence, markdown, as_json) -> None:
    """Compare versions: metrics with deltas, parameters, signatures, environments.

    Each REF is NAME (latest), NAME@VERSION, NAME@ALIAS or NAME#STAGE; the
    first is the baseline. With --data and --target each model is loaded (its bytes
    verified) and evaluated on the same rows; for every metric a paired
    bootstrap says how often one beats the other and names a winner, or
    says there is no significant difference.

    \b
    Examples:
      gitreg compare churn@1.0.0 churn@1.1.0
      gitreg compare churn#production churn --markdown
      gitreg compare churn@champion churn@challenger
      gitreg compare churn#production churn --data holdout.csv --target churned
    """
    if len(references) < 2:
        raise click.UsageError("compare needs two or more REFs, e.g. churn@1.0.0 churn@1.1.0")
    if markdown and as_json:
        raise click.UsageError("choose one of --json and --markdown")
    report = _registry(ctx).compare(references, data=data, target=target, resamples=resamples, seed=seed,
                                    confidence=confidence)
    if as_json:
        render.emit_json(report.to_dict())
    else:
        from gitreg.cli import query_render

        query_render.compare_text(report, markdown=markdown)


@click.command()
@repo_option
@json_option
@click.pass_context
def stats(ctx, as_json) -> None:
    """The registry in numbers: models, versions, stages, bytes, registrations.

    Counts models and versions, the versions in each stage with the stage's
    last change, the artifact bytes the pointers record (all, and unique),
    and the registrations in each month.

    \b
    Examples:
      gitreg stats
      gitreg stats --json
    """
    registry = _registry(ctx)
    snapshot = registry.snapshot()
    report = registry.stats(snapshot=snapshot)
    render.warn_broken(snapshot.broken)
    if as_json:
        render.emit_json(report.to_dict())
    else:
        from gitreg.cli import query_render

        query_render.stats_text(report)


QUERY_COMMANDS = [search, compare, stats]
