"""Text views of search results, comparisons and stats (the library returns data; these print it)."""

from __future__ import annotations

import click

from gitreg.cli import render
from gitreg.domain.compare import (
    Comparison,
    evaluation_header,
    fmt,
    fmt_delta,
    identical_params,
    signature_text,
    verdict,
)
from gitreg.domain.compare import markdown as as_markdown

BAR_WIDTH = 40


def search_table(found, expression: str, sort_field: str | None) -> None:
    if not found:
        click.echo("No versions match." if expression.strip() else "No versions yet.")
        return
    from gitreg.domain import query

    wanted = query.parse(expression).metrics
    if sort_field and sort_field.startswith("metrics."):
        wanted = list(dict.fromkeys([*wanted, query.parse_sort(sort_field).key]))
    rows = [[v.name, v.version, card.created, card.author.get("name", ""), _metrics(card.metrics, wanted)]
            for v in found for card in (v.card,)]
    render.table(rows, ["NAME", "VERSION", "CREATED", "AUTHOR", "METRICS"])


def _metrics(metrics: dict, wanted: list[str]) -> str:
    """The metrics the query is about first, then the others, as many as the headline shows."""
    ordered = {key: metrics[key] for key in wanted if key in metrics}
    ordered.update(metrics)
    return render.metrics_text(ordered, max(render.HEADLINE_METRICS, len([k for k in wanted if k in metrics])))


def compare_text(report: Comparison, markdown: bool = False) -> None:
    if markdown:
        click.echo(as_markdown(report), nl=False)
        return
    labels = report.labels
    click.echo(f"Comparing {' and '.join(labels) if len(labels) == 2 else ', '.join(labels)} "
               f"(baseline {labels[0]}; Δ is the version minus the baseline)\n")
    render.table([[v.tag, card.created, card.author.get("name", ""), render.short(v.commit),
                   f"{card.artifact.size} B", _same_bytes(report, v)] for v in report.versions for card in (v.card,)],
                 ["VERSION", "CREATED", "AUTHOR", "COMMIT", "SIZE", ""])
    click.echo()
    if report.metrics:
        render.table([[m.metric + (" (lower is better)" if m.better == "lower" else ""), fmt(m.values[0]),
                       *(f"{fmt(v)} ({fmt_delta(d)})" if d is not None else fmt(v)
                         for v, d in zip(m.values[1:], m.deltas[1:])),
                       labels[m.best] if m.best is not None else "—"] for m in report.metrics],
                     ["METRIC", *labels, "BEST"])
    else:
        click.echo("No metrics recorded.")
    click.echo()
    if report.params:
        render.table([[p.key, *(fmt(v) for v in p.values)] for p in report.params], ["PARAM", *labels])
    click.echo(identical_params(report))
    click.echo()
    for label, row in zip(labels[1:], report.signatures[1:]):
        click.echo(f"Signature of {label}: {signature_text(row)}")
    if report.environment:
        click.echo("Environment differs:")
        render.table([[e.key, *(fmt(v) for v in e.values)] for e in report.environment], ["", *labels])
    else:
        click.echo("Environment: same Python and packages")
    if report.evaluation:
        _evaluation_text(report)


def _same_bytes(report: Comparison, version) -> str:
    base = report.versions[0]
    if version is base:
        return ""
    return "same bytes as baseline" if version.card.artifact.md5 == base.card.artifact.md5 else ""


def _evaluation_text(report: Comparison) -> None:
    evaluation, labels = report.evaluation, report.labels
    click.echo(f"\n{evaluation_header(evaluation)}.\n")
    render.table([[m.metric + (" (lower is better)" if m.better == "lower" else ""), *(fmt(v) for v in m.values),
                   labels[m.winner] if m.winner is not None else "no significant difference"]
                  for m in evaluation.metrics], ["METRIC", *labels, "WINNER"])
    click.echo()
    level = f"{evaluation.confidence:.0%} CI"
    render.table([[m.metric, f"{labels[p.b]} vs {labels[p.a]}", fmt_delta(p.delta),
                   f"[{p.low:+.4g}, {p.high:+.4g}]", f"{p.p_b_better:.3f}", verdict(p, labels)]
                  for m in evaluation.metrics for p in m.pairs],
                 ["METRIC", "PAIR", "Δ", level, "P(FIRST IS BETTER)", "VERDICT"])
    for note in evaluation.notes:
        click.echo(f"note: {note}")


def stats_text(report) -> None:
    from gitreg.domain.sizes import human_bytes

    click.echo(f"Models          {report.models}")
    click.echo(f"Versions        {report.versions}")
    click.echo(f"Artifact bytes  {human_bytes(report.artifact_bytes)} ({report.artifact_bytes} B; "
               f"{human_bytes(report.unique_artifact_bytes)} unique)")
    if report.broken_tags:
        click.echo(f"Broken tags     {report.broken_tags} (see `gitreg verify`)")
    click.echo()
    render.table([[s.stage, s.branch, str(s.versions) + (f" ({s.breaches} breach)" if s.breaches else ""),
                   _change(s.last_change)] for s in report.stages], ["STAGE", "BRANCH", "VERSIONS", "LAST CHANGE"])
    if report.per_month:
        click.echo("\nRegistrations per month:")
        top = max(report.per_month.values()) or 1
        for month, count in report.per_month.items():
            click.echo(f"  {month}  {count:>6}  {'#' * max(1 if count else 0, round(BAR_WIDTH * count / top))}")


def _change(event) -> str:
    if event is None:
        return "—"
    what = f"{event.action} {event.model} " + (f"v{event.version}" if event.version else "(left the stage)")
    return f"{what} by {event.author.split(' <')[0]} at {event.time} ({render.short(event.commit)})"
