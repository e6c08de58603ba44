"""Stage commands: promote, rollback, retire, log, check-promotion, verify."""

from __future__ import annotations

import sys

import click

from gitreg.cli import render
from gitreg.cli.commands import _registry, json_option, push_option, repo_option
from gitreg.cli.sign_option import sign_option
from gitreg.errors import IntegrityError

dry_run_option = click.option("--dry-run", is_flag=True, help="Print the change and make none.")


def _report(result, as_json: bool, dry_run: bool, pr: bool = False) -> None:
    if as_json:
        render.emit_json({"dry_run": dry_run, **result.to_dict()})
        return
    for check in result.plan.checks:
        click.echo(f"  gate {check}")
    if result.plan.change.override:
        click.echo(f"  override: {result.plan.change.override}")
    for note in result.notes:
        click.echo(note)
    if result.notes:
        return
    change = result.plan.change
    was = f"was v{change.from_version}" if change.from_version else "was not in the stage"
    if dry_run and pr:
        click.echo(f"Would create branch {result.plan.promotion_branch} for review into "
                   f"{result.plan.stage.branch} ({change.subject()}; {was}); nothing changed")
    elif dry_run:
        click.echo(f"Would: {change.subject()} ({was}); nothing changed")
    else:
        click.echo(f"{change.subject()} ({was}); {result.plan.stage.branch} at {render.short(result.commit)}")
    if result.tags and not as_json:
        click.echo(f"  GTO tags: {', '.join(sorted(result.tags))}")
    _say_ab_effect(result.plan.body)


def _say_ab_effect(body: str) -> None:
    """A rollback that also ends or resumes an A/B test says so: traffic splits (or stops splitting) with it."""
    from gitreg.domain.experiment import RESUME, STOP, parse_trailers

    found = parse_trailers(body or "")
    if found is not None and found.action in (RESUME, STOP):
        what = "runs again: traffic is split again" if found.action == RESUME else "ended: the control takes all traffic"
        click.echo(f"  A/B test {found.experiment} {what} (`gitreg ab status {found.model}`)")


@click.command()
@click.argument("args", nargs=-1, required=True, metavar="NAME VERSION STAGE | --set REF... STAGE | --match EXPR STAGE")
@click.option("--set", "as_train", is_flag=True,
              help="A release train: every REF (NAME@VERSION) into STAGE in one merge commit, all gates first.")
@click.option("--match", metavar="EXPR", help="A release train of the versions this search selects (one per model).")
@click.option("--require", multiple=True, metavar="'K>=V'", help="An extra metric gate for this promotion (repeatable).")
@click.option("--force", is_flag=True, help="Promote even if gates fail; the override and its author are recorded.")
@click.option("--pr", is_flag=True, help="Only create (and push) the promotion branch, for a pull-request review.")
@dry_run_option
@sign_option
@push_option
@json_option
@click.pass_context
def promote(ctx, args, as_train, match, require, force, pr, dry_run, push, as_json) -> None:
    """Promote version VERSION of NAME to STAGE: a --no-ff merge on the stage branch.

    The stage's gates (.gitreg.yaml) must pass. Your branch, index and
    working tree are never touched. With --set (or --match) several models
    go together as a release train: every model's gates are checked first,
    one failing gate stops the whole train, and `gitreg rollback --train
    STAGE` undoes it as one unit (per-model rollback still works).

    \b
    Examples:
      gitreg promote churn 1.2.0 staging
      gitreg promote churn 1.2.0 production --require 'accuracy>=0.9'
      gitreg promote churn 1.2.0 production --pr
      gitreg promote --set churn@1.4.0 fraud@2.0.1 production --push
      gitreg promote --match 'labels contains "release-7"' staging --dry-run
    """
    if as_train or match is not None:
        _train(ctx, args, match, require, force, pr, dry_run, push, as_json)
        return
    if len(args) != 3:
        raise click.UsageError("promote takes NAME VERSION STAGE (or --set REF... STAGE, --match EXPR STAGE)")
    name, version, stage = args
    result = _registry(ctx).promote(name, version, stage, force=force, require=require, pr=pr,
                                    dry_run=dry_run, push=push)
    _report(result, as_json, dry_run, pr)


def _train(ctx, args, match, require, force, pr, dry_run, push, as_json) -> None:
    if pr:
        raise click.UsageError("a release train is promoted directly: review it as one pull request by hand")
    if match is not None and len(args) != 1:
        raise click.UsageError("--match EXPR takes the STAGE alone, e.g. promote --match 'name == churn' staging")
    if match is None and len(args) < 2:
        raise click.UsageError("--set takes REF... STAGE, e.g. promote --set churn@1.4.0 fraud@2.0.1 production")
    result = _registry(ctx).promote_train(args[:-1], args[-1], match=match, force=force, require=require,
                                          dry_run=dry_run, push=push)
    _report_train(result, as_json, dry_run)


def _report_train(result, as_json: bool, dry_run: bool) -> None:
    if as_json:
        render.emit_json({"dry_run": dry_run, **result.to_dict()})
        return
    for note in result.plan.notes:
        click.echo(f"  {note}: left out of the train")
    for change in result.plan.changes:
        was = f"was v{change.from_version}" if change.from_version else "was not in the stage"
        now = f"v{change.version}" if change.version else "out"
        click.echo(f"  {change.model} {now} ({was})" + (f"; override: {change.override}" if change.override else ""))
    subject = result.plan.subject("Roll back the release train of" if result.plan.changes[0].action == "rollback"
                                  else "Promote a release train to")
    if dry_run:
        click.echo(f"Would: {subject}; nothing changed")
    else:
        click.echo(f"{subject}; {result.plan.stage.branch} at {render.short(result.commit)}"
                   + ("; pushed to origin" if result.pushed else ""))
    if result.tags:
        click.echo(f"  GTO tags: {', '.join(sorted(result.tags))}")


@click.command()
@click.argument("name", required=False)
@click.argument("stage", required=False)
@click.option("--to", "to", metavar="VERSION", help="Go back to this earlier version of the stage in one commit.")
@click.option("--train", "train_stage", metavar="STAGE", help="Undo the newest release train of STAGE as one unit.")
@dry_run_option
@sign_option
@push_option
@json_option
@click.pass_context
def rollback(ctx, name, stage, to, train_stage, dry_run, push, as_json) -> None:
    """Revert the newest promotion of NAME in STAGE that is still in effect.

    Each further rollback steps one version further back; rolling back the
    first promotion removes the model from the stage. A retirement ends the
    promotions before it: bring a retired model back with a new promotion.

    \b
    Examples:
      gitreg rollback churn production
      gitreg rollback churn production --to 1.0.0
      gitreg rollback --train production
    """
    if train_stage:
        if name or stage or to:
            raise click.UsageError("--train STAGE undoes a whole train: give no NAME, STAGE or --to")
        _report_train(_registry(ctx).rollback_train(train_stage, dry_run=dry_run, push=push), as_json, dry_run)
        return
    if not (name and stage):
        raise click.UsageError("rollback takes NAME STAGE (or --train STAGE)")
    _report(_registry(ctx).rollback(name, stage, to=to, dry_run=dry_run, push=push), as_json, dry_run)


@click.command()
@click.argument("name")
@click.argument("stage")
@dry_run_option
@sign_option
@push_option
@json_option
@click.pass_context
def retire(ctx, name, stage, dry_run, push, as_json) -> None:
    """Remove NAME from STAGE, as a recorded stage change.

    \b
    Example:
      gitreg retire churn staging
    """
    _report(_registry(ctx).retire(name, stage, dry_run=dry_run, push=push), as_json, dry_run)


@click.command()
@click.argument("name", required=False)
@click.option("--stage", help="Only changes of this stage.")
@repo_option
@json_option
@click.pass_context
def log(ctx, name, stage, as_json) -> None:
    """The audit trail: every registration, promotion, rollback, retirement, deprecation and alias change
    (alias-set, alias-rm; its alias in the STAGE column as @ALIAS), newest first.

    \b
    Examples:
      gitreg log
      gitreg log churn --stage production --json
    """
    events = _registry(ctx).log(name, stage)
    if as_json:
        render.emit_json_rows(event.to_dict() for event in events)
        return
    rows = [[e.time, e.action, e.model, _arrow(e), e.stage or (f"@{e.alias}" if e.alias else ""),
             e.author.split(" <")[0], render.short(e.commit), _remark(e)] for e in events]
    render.table(rows, ["TIME", "ACTION", "MODEL", "VERSION", "STAGE", "AUTHOR", "COMMIT", ""])


def _remark(event) -> str:
    if event.override:
        return "override"
    return f"reason: {event.note}" if event.note else ""


def _arrow(event) -> str:
    to = f"v{event.version}" if event.version else "—"
    if event.action in ("register", "deprecate"):
        return to
    if getattr(event, "experiment", None) and event.action != "ab-conclude":  # an A/B test: what it compares
        found = event.experiment
        return f"v{found['candidate']} ({found['split']:g}%) vs v{found['control']}"
    return f"{'v' + event.from_version if event.from_version else '—'} → {to}"


@click.command(name="check-promotion")
@click.argument("base")
@click.argument("head")
@click.option("--stage", help="The target stage (default: inferred from BASE, e.g. origin/stage/production).")
@json_option
@click.pass_context
def check_promotion(ctx, base, head, stage, as_json) -> None:
    """CI check for a pull request from HEAD into the stage branch BASE.

    Passes only when every changed model equals a registered version and the
    stage's gates pass. Prints a Markdown summary fit for a PR comment.

    \b
    Example:
      gitreg check-promotion origin/stage/production HEAD
    """
    from gitreg.services import checks

    report = _registry(ctx).check_promotion(base, head, stage)
    if as_json:
        render.emit_json(report.to_dict())
    else:
        click.echo(checks.markdown(report), nl=False)
    if not report.passed:
        sys.exit(int(IntegrityError.exit_code))


@click.command()
@click.option("--artifacts", is_flag=True, help="Also check every version's bytes by md5 in the local DVC cache.")
@click.option("--remote", is_flag=True, help="Also check that the DVC remote holds every version's bytes.")
@click.option("--repair", is_flag=True,
              help="First fix what interrupted commands left that is safe to fix, and say what was done.")
@click.option("--signatures", is_flag=True,
              help="Also check every signature against .gitreg/allowed_signers (see `gitreg signatures`).")
@json_option
@click.pass_context
def verify(ctx, artifacts, remote, repair, signatures, as_json) -> None:
    """Check the whole registry against its invariants and report every breach.

    Each version tag's card must match its tag; each stage's content must
    equal a registered version. --artifacts and --remote check the bytes of
    every version (a folder's manifest and each file). Exits 13 when anything
    is wrong.

    \b
    Examples:
      gitreg verify
      gitreg verify --artifacts --remote
      gitreg verify --repair
      gitreg verify --signatures
      gitreg verify --json
    """
    registry = _registry(ctx)
    repaired = registry.repair().done if repair else registry.recovered  # opening it settled a crash
    problems = registry.verify(artifacts=artifacts, remote=remote, signatures=signatures)
    for line in [] if as_json else repaired:
        click.echo(f"repaired: {line}")
    if as_json:
        render.emit_json({"ok": not problems, "problems": problems, "repaired": repaired})
    elif problems:
        for problem in problems:
            click.echo(f"breach: {problem}")
    else:
        versions = len(registry.versions())
        click.echo(f"Registry OK: {versions} version{'' if versions == 1 else 's'}, stages consistent")
    if problems:
        sys.exit(int(IntegrityError.exit_code))


@click.command(name="sync-tags")
@click.argument("name", required=False)
@click.option("--stage", metavar="STAGE", help="Only this stage.")
@click.option("--bundle", metavar="FILE", help="Also write the tags made to this Git bundle (for a job that pushes them).")
@dry_run_option
@push_option
@json_option
@click.pass_context
def sync_tags(ctx, name, stage, bundle, dry_run, push, as_json) -> None:
    """Make GTO's assignment tags say what the stage branches hold.

    GTO, `dvc artifacts get --stage` and DVC Studio read stages from tags
    (NAME#STAGE#N puts a version in a stage, NAME#STAGE!#N takes it out).
    gitreg's stage changes make them; a forge's merge of a promotion pull
    request does not, and this command makes the missing ones (each tag
    names the stage commit it mirrors, so running it again changes nothing).
    With --push it works on origin's stage branches and publishes the tags.
    --bundle FILE writes the tags made to a Git bundle: the bundled verify
    workflow makes them in a job that can only read, and pushes the bundle
    from a job that runs nothing but git.

    \b
    Examples:
      gitreg sync-tags
      gitreg sync-tags churn --stage production --dry-run
      gitreg sync-tags --push
      gitreg sync-tags --bundle gto-tags.bundle --json
    """
    result = _registry(ctx).sync_tags(name, stage=stage, dry_run=dry_run, push=push, bundle=bundle)
    if as_json:
        render.emit_json({"dry_run": dry_run, **result.to_dict()})
        return
    verb = "Would create" if dry_run else "Created"
    for tag in result.tags:
        click.echo(f"{verb} {tag.tag} -> {render.short(tag.target)}")
    if not result.tags:
        click.echo("GTO's tags already agree with the stage branches: nothing to do")
    if result.pushed:
        click.echo(f"Pushed to origin: {', '.join(result.pushed)}")


STAGE_COMMANDS = [promote, rollback, retire, log, check_promotion, verify, sync_tags]
