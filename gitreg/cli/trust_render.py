"""Rendering of ``trace`` and ``audit``: text, Markdown, JSON and CSV, byte-for-byte stable for one history
(sorted keys, floats as Python's shortest repr, no time of rendering)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

NOT_CHECKED = "not checked"
CSV_FIELDS = ("time", "action", "model", "version", "from_version", "stage", "author", "proposed_by",
              "pull_request", "commit", "gates", "override", "forced_gate_failures", "signature", "subject")


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def _cell(value: Any) -> str:
    return _value(value).replace("|", "\\|").replace("\n", " ")


def _signature(value: str | None) -> str:
    return value or NOT_CHECKED


# ------------------------------------------------------------------------------------------ trace
def trace_markdown(trace) -> str:
    t = trace
    lines = [f"# Trace of {t.reference}: {t.tag}", "",
             f"Verdict: **{'every link holds' if t.ok else f'{len(t.problems)} broken link(s)'}**", ""]
    lines += [f"- {problem}" for problem in t.problems] + ([""] if t.problems else [])
    lines += ["## Version", "", "| field | value |", "|---|---|",
              f"| tag | `{t.tag}` (signature: {_signature(t.tag_link.facts.get('signature'))}) |",
              f"| commit | `{t.commit}` |", f"| registered | {t.created} by {_cell(t.author)} |",
              f"| stages now | {_cell(', '.join(sorted(t.stages)) or 'none')} |",
              f"| aliases | {_cell(', '.join(t.aliases) or 'none')} |",
              f"| deprecated | {_cell(t.deprecation['reason'] + ' (' + t.deprecation['author'] + ')') if t.deprecation else 'no'} |",
              ""]
    lines += ["## Links", "", "| link | name | status | detail |", "|---|---|---|---|"]
    lines += [f"| {link.kind} | {_cell(link.name)} | {link.status} | {_cell(link.detail)} |" for link in t.links]
    lines += ["", "## Environment", ""]
    lines += [f"- python {_cell(t.environment.get('python'))}, platform {_cell(t.environment.get('platform'))}"]
    lines += [f"- {name} {_cell(version)}" for name, version in sorted((t.environment.get("packages") or {}).items())]
    lines += ["", "## Metrics", ""] + ([f"- {key}: {_value(value)}" for key, value in sorted(t.metrics.items())]
                                      or ["- none recorded"])
    lines += ["", "## Events", "", "| time | action | stage | version | from | by | proposed by | PR | gates | override | signature | commit |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [_event_row(step) for step in t.steps]
    ab = [step for step in t.steps if step.action.startswith("ab")]
    lines += ["", "## A/B tests", ""] + ([f"- {_cell(_ab_line(step))}" for step in ab] or ["- none"])
    lines += ["", "## Annotations", ""] + ([f"- {a['time']} {_cell(a['author'])}: {_cell(a)}" for a in t.annotations]
                                          or ["- none"])
    return "\n".join(lines) + "\n"


def _ab_line(step) -> str:
    """One A/B event: what was compared, on what split and metric, and the verdict a conclusion recorded."""
    test = step.extra.get("experiment") or {}
    line = (f"{step.time} {step.action} {test.get('id', '?')}: candidate v{test.get('candidate', '?')} vs control "
            f"v{test.get('control', '?')}, {_value(test.get('split'))}% on {test.get('metric', '?')} "
            f"by {step.author}")
    if test.get("verdict"):
        line += f"; verdict {test['verdict']} (p={test.get('p_value')}, {test.get('samples')}; {test.get('method')})"
    return line


def _event_row(step) -> str:
    e = step.evidence
    gates = "<br>".join(_cell(gate) for gate in step.gates) or "-"
    pr = f"#{e.pull_request}" if e.pull_request is not None else "-"
    return (f"| {step.time} | {step.action} | {_cell(step.stage)} | {_cell(step.version)} | {_cell(step.from_version)} "
            f"| {_cell(step.author)} | {_cell(e.proposed_by)} | {pr} | {gates} | {_cell(step.override)} "
            f"| {_signature(e.signature)} | `{step.commit[:12]}` |")


def trace_text(trace) -> str:
    t = trace
    out = [f"{t.tag}  ({t.reference})  signature: {_signature(t.tag_link.facts.get('signature'))}",
           f"  registered {t.created} by {t.author}, commit {t.commit[:12]}",
           f"  in stages: {', '.join(sorted(t.stages)) or 'none'}; aliases: {', '.join(t.aliases) or 'none'}"]
    if t.deprecation:
        out.append(f"  DEPRECATED: {t.deprecation['reason']} (by {t.deprecation['author']})")
    out.append("links:")
    out += [f"  [{link.status}] {link.kind} {link.name}{': ' + link.detail if link.detail else ''}" for link in t.links]
    if not t.data:
        out.append("  (no data inputs recorded: register with --data PATH|STAGE|REPO@REV:PATH)")
    env = t.environment
    out.append(f"environment: python {env.get('python', '?')} on {env.get('platform', '?')}, "
               + ", ".join(f"{k} {v}" for k, v in sorted((env.get("packages") or {}).items())))
    out.append("metrics: " + (", ".join(f"{k}={_value(v)}" for k, v in sorted(t.metrics.items())) or "none"))
    out.append("events:")
    for step in t.steps:
        e = step.evidence
        where = f" {step.stage}" if step.stage else ""
        moved = f" {step.from_version or '-'} -> {step.version or '-'}" if step.stage else ""
        extra = "".join([f" PR #{e.pull_request}" if e.pull_request is not None else "",
                         f" proposed by {e.proposed_by}" if e.proposed_by else "",
                         f" override: {step.override}" if step.override else ""])
        out.append(f"  {step.time} {step.action}{where}{moved} by {step.author}{extra} "
                   f"[{step.commit[:12]}, signature: {_signature(e.signature)}]")
        out += [f"      gate {gate}" for gate in step.gates]
    ab = [step for step in t.steps if step.action.startswith("ab")]
    out += ["A/B tests:"] + [f"  {_ab_line(step)}" for step in ab] if ab else []
    out += [f"annotation {a['time']} {a['author']}: {a.get('note') or ''} {' '.join(a.get('labels') or [])}".rstrip()
            for a in t.annotations]
    out.append("verdict: every link holds" if t.ok else f"verdict: {len(t.problems)} broken link(s)")
    out += [f"  - {problem}" for problem in t.problems]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------ audit
def audit_json(report) -> str:
    return to_json(report.to_dict())


def audit_csv(report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for step in report.steps:
        row = step.to_dict()
        row["gates"] = "; ".join(step.gates)
        row["forced_gate_failures"] = "; ".join(step.forced_failures)
        writer.writerow([_value(row.get(field)) if row.get(field) not in ("", None) else "" for field in CSV_FIELDS])
    return buffer.getvalue()


def audit_markdown(report) -> str:
    w, s = report.window, report.summary()
    scope = ", ".join(f"{key} {value}" for key, value in (("since", w.since), ("until", w.until), ("stage", w.stage),
                                                          ("model", w.model)) if value) or "all history"
    lines = [f"# gitreg audit: {scope}", "", "## Summary", "",
             f"- events: {s['events']} ({', '.join(f'{k} {v}' for k, v in s['by_action'].items()) or 'none'})",
             f"- promotions: {s['promotions']}, rollbacks: {s['rollbacks']}, retirements: {s['retirements']}, "
             f"registrations: {s['registrations']}",
             "- overrides: " + (", ".join(f"{_cell(who)} ({n})" for who, n in s["overrides"].items()) or "none"),
             f"- gate failures forced: {len(s['forced_gate_failures'])}",
             *[f"  - `{f['commit'][:12]}` {f['model']} v{f['version']} to {f['stage']}: {_cell(f['gate'])} "
               f"({_cell(f['override'])})" for f in s["forced_gate_failures"]],
             "- unsigned events: " + (NOT_CHECKED if s["unsigned_events"] is None else
                                      (", ".join(f"`{c[:12]}`" for c in s["unsigned_events"]) or "none")),
             "- pull requests: " + (", ".join(f"#{n}" for n in s["pull_requests"]) or "none"),
             "", "## Events", "",
             "| time | action | model | stage | version | from | by | proposed by | PR | gates | override | signature | commit |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for step in report.steps:
        row = _event_row(step).split(" | ")
        row.insert(2, _cell(step.model))  # after time and action
        lines.append(" | ".join(row))
    return "\n".join(lines) + "\n"
