"""``trace`` and ``audit``: the trust chain of a production model, and compliance reports."""

from __future__ import annotations

from pathlib import Path

import click

from gitreg.cli import trust_render
from gitreg.cli.commands import _registry
from gitreg.errors import BrokenLinkError, InvalidInputError


@click.command()
@click.argument("ref", metavar="REF")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--markdown", is_flag=True, help="Print a Markdown report (for a ticket or an auditor).")
@click.pass_context
def trace(ctx, ref: str, as_json: bool, markdown: bool) -> None:
    """Trace REF back to everything that made it, each link checked from Git alone.

    The version tag, the code commit (and whether its tree was dirty), every
    data input against the DVC pointer at its commit, the base model chain,
    environment, metrics, and every event that brought it where it is: who,
    when, from which version, gates with actual values, overrides, the pull
    request a forge merge names, signatures. Exits 20 when a link is broken.

    \b
    Examples:
      gitreg trace churn#production
      gitreg trace churn@1.2.0 --markdown > trace.md
      gitreg trace churn@champion --json
    """
    if as_json and markdown:
        raise click.UsageError("give --json or --markdown, not both")
    found = _registry(ctx).trace(ref)
    text = trust_render.to_json(found.to_dict()) if as_json else \
        trust_render.trace_markdown(found) if markdown else trust_render.trace_text(found)
    click.echo(text, nl=False)
    if not found.ok:
        raise BrokenLinkError(f"{found.tag}: {len(found.problems)} broken link(s): {found.problems[0]}")


@click.command()
@click.option("--since", metavar="DATE", help="From this date or time (inclusive), e.g. 2026-01-01.")
@click.option("--until", metavar="DATE", help="Up to this date (that whole day) or time (exclusive).")
@click.option("--stage", metavar="STAGE", help="Only this stage's changes.")
@click.option("--model", metavar="NAME", help="Only this model's events.")
@click.option("--format", "fmt", type=click.Choice(["markdown", "json", "csv"]), default="markdown", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the report to FILE.")
@click.pass_context
def audit(ctx, since, until, stage, model, fmt: str, output: Path | None) -> None:
    """A compliance report: every event in the window with its evidence, and a summary.

    Promotions, rollbacks, overrides used and by whom, gate failures that were
    forced, unsigned events. Deterministic: two runs over the same history (here
    or in a clone) give the same bytes.

    \b
    Examples:
      gitreg audit --since 2026-01-01 --until 2026-03-31
      gitreg audit --stage production --format csv -o q1.csv
      gitreg audit --model churn --format json
    """
    report = _registry(ctx).audit(since=since, until=until, stage=stage, model=model)
    render = {"markdown": trust_render.audit_markdown, "json": trust_render.audit_json, "csv": trust_render.audit_csv}
    text = render[fmt](report)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot write the report to {output} ({exc.strerror}): give -o a file in a "
                                "folder that exists and has room") from None
    click.echo(f"Wrote {len(report.steps)} event(s) to {output}", err=True)


TRUST_COMMANDS = [trace, audit]
