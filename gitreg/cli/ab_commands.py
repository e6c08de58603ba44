"""``gitreg ab``: A/B tests as reviewed Git changes (start, route, report, conclude, status)."""

from __future__ import annotations

import click

from gitreg.cli import ab_render, render
from gitreg.cli.commands import _registry, json_option, push_option
from gitreg.cli.sign_option import sign_option

stage_option = click.option("--stage", default="production", show_default=True, help="The stage under test.")
outcomes_option = click.option("--outcomes", metavar="FILE.csv", type=click.Path(dir_okay=False),
                               help="Outcomes: the key column, the metric column, optionally `variant`.")
dry_run_option = click.option("--dry-run", is_flag=True, help="Print the change and make none.")


@click.group()
def ab() -> None:
    """A/B tests: a candidate on a share of a stage's traffic, decided from outcomes.

    \b
    Examples:
      gitreg ab start churn --stage production --candidate 1.3.0 --split 10 --key-field user_id
      gitreg ab route churn user-42
      gitreg ab report churn --outcomes outcomes.csv --markdown
      gitreg ab conclude churn --promote --outcomes outcomes.csv
      gitreg ab status
    """


def _result(result, as_json: bool) -> None:
    if as_json:
        render.emit_json(result.to_dict())
        return
    plan = result.plan
    for check in plan.checks:
        click.echo(f"  gate {check}")
    for note in result.notes:
        click.echo(note)
    subject = plan.message.splitlines()[0]
    if result.commit is None:
        click.echo(f"Would: {subject}; nothing changed")
    elif not result.branch:
        click.echo(f"{subject}; {plan.stage.branch} at {render.short(result.commit)}")


@ab.command()
@click.argument("name")
@stage_option
@click.option("--candidate", required=True, metavar="VERSION", help="The version to test against the stage's.")
@click.option("--split", required=True, type=float, metavar="PERCENT", help="Percent of keys for the candidate.")
@click.option("--key-field", default="key", show_default=True, help="The outcomes column that holds the key.")
@click.option("--metric", default="conversion", show_default=True, help="The outcome that decides the test.")
@click.option("--direction", type=click.Choice(["higher", "lower"]), help="Which way the metric is better.")
@click.option("--min-samples", type=int, help="Per variant, before any verdict (default 1000).")
@click.option("--id", "experiment_id", help="The experiment id (default NAME-STAGE-TIME); it seeds the routing.")
@click.option("--force", is_flag=True, help="Start even if the candidate fails the gates (recorded).")
@click.option("--pr", is_flag=True, help="Only create (and push) a branch with the start, for review.")
@dry_run_option
@sign_option
@push_option
@json_option
@click.pass_context
def start(ctx, name, stage, candidate, split, key_field, metric, direction, min_samples, experiment_id, force, pr,
          dry_run, push, as_json) -> None:
    """Start an A/B test of NAME: --candidate on --split percent of keys.

    One commit on the stage branch records the experiment (the version in
    the stage is the control); `gitreg log` shows it.

    \b
    Examples:
      gitreg ab start churn --candidate 1.3.0 --split 10 --key-field user_id
      gitreg ab start churn --stage staging --candidate 1.3.0 --split 50 --metric revenue --pr
    """
    result = _registry(ctx).ab_start(name, stage, candidate=candidate, split=split, metric=metric, direction=direction,
                                     key_field=key_field, min_samples=min_samples, force=force, pr=pr,
                                     dry_run=dry_run, push=push, experiment_id=experiment_id)
    _result(result, as_json)


@ab.command()
@click.argument("name")
@click.argument("key")
@stage_option
@json_option
@click.pass_context
def route(ctx, name, key, stage, as_json) -> None:
    """The variant and version KEY is routed to (loads no model).

    \b
    Example:
      gitreg ab route churn user-42
    """
    found = _registry(ctx).router(name, stage).assign(key)
    if as_json:
        render.emit_json({"model": name, "stage": stage, "key": key, **found.to_dict()})
    elif found.experiment is None:
        click.echo(f"no A/B test running: {name}#{stage} v{found.version}")
    else:
        click.echo(f"{found.variant} v{found.version} (experiment {found.experiment}, bucket {found.bucket})")


@ab.command()
@click.argument("name")
@stage_option
@click.option("--outcomes", metavar="FILE.csv", type=click.Path(dir_okay=False), required=True,
              help="Outcomes: the key column, the metric column, optionally `variant`.")
@click.option("--markdown", "as_markdown", is_flag=True, help="Markdown, for a pull-request comment.")
@json_option
@click.pass_context
def report(ctx, name, stage, outcomes, as_markdown, as_json) -> None:
    """Compare the variants on an outcomes file, with a verdict safe to peek at.

    \b
    Examples:
      gitreg ab report churn --outcomes outcomes.csv
      gitreg ab report churn --outcomes outcomes.csv --markdown > comment.md
    """
    found = _registry(ctx).ab_report(name, stage, outcomes=outcomes)
    if as_json:
        render.emit_json(found)
    elif as_markdown:
        click.echo(ab_render.markdown(found), nl=False)
    else:
        click.echo("\n".join(ab_render.lines(found)))


@ab.command()
@click.argument("name")
@stage_option
@click.option("--promote", is_flag=True, help="Promote the candidate (needs the verdict 'candidate wins').")
@click.option("--stop", is_flag=True, help="End the test; the control stays.")
@outcomes_option
@click.option("--force", is_flag=True, help="Promote without a winning verdict or past failing gates (recorded).")
@dry_run_option
@sign_option
@push_option
@json_option
@click.pass_context
def conclude(ctx, name, stage, promote, stop, outcomes, force, dry_run, push, as_json) -> None:
    """End the A/B test of NAME in one commit: --promote the candidate, or --stop.

    The verdict of --outcomes goes in the commit's trailers. `gitreg rollback
    NAME STAGE` undoes a conclusion (the test runs again).

    \b
    Examples:
      gitreg ab conclude churn --promote --outcomes outcomes.csv
      gitreg ab conclude churn --stop
    """
    result = _registry(ctx).ab_conclude(name, stage, promote=promote, stop=stop, outcomes=outcomes, force=force,
                                        dry_run=dry_run, push=push)
    _result(result, as_json)
    if result.plan.report and not as_json:
        click.echo(f"  verdict: {result.plan.report['verdict']}")


@ab.command()
@click.argument("name", required=False)
@click.option("--stage", help="Only this stage's tests.")
@outcomes_option
@json_option
@click.pass_context
def status(ctx, name, stage, outcomes, as_json) -> None:
    """Running and finished A/B tests, with split, age and (with --outcomes) the verdict.

    \b
    Examples:
      gitreg ab status
      gitreg ab status churn --outcomes outcomes.csv --json
    """
    rows = _registry(ctx).ab_status(name, stage=stage, outcomes=outcomes)
    if as_json:
        render.emit_json(rows)
        return
    if not rows:
        click.echo("No A/B tests yet: start one with `gitreg ab start NAME --candidate VERSION --split 10`.")
        return
    render.table([[r["model"], r["stage"], r["state"], f"v{r['control']}", f"v{r['candidate']}", f"{r['split']:g}%",
                   _age(r["age_seconds"]), r.get("verdict") or "", r["id"]] for r in rows],
                 ["NAME", "STAGE", "STATE", "CONTROL", "CANDIDATE", "SPLIT", "AGE", "VERDICT", "ID"])


def _age(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(seconds) >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


AB_COMMANDS = [ab]
