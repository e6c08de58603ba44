"""Text and Markdown views of an A/B test report (``gitreg ab report``)."""

from __future__ import annotations

import math
from typing import Any


def _num(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _interval(pair) -> str:
    return f"[{_num(pair[0])}, {_num(pair[1])}]" if pair else "—"


def lines(report: dict) -> list[str]:
    seq, test, srm = report["sequential"], report["test"], report["srm"]
    out = [f"A/B test {report['experiment']}: {report['model']} in {report['stage']}, metric {report['metric']} "
           f"({report['outcome']}, {report['direction']} is better), split {report['split']:g}%",
           f"verdict: {report['verdict']}"]
    for name in ("control", "candidate"):
        v = report["variants"][name]
        out.append(f"  {name:<9} v{report[name]:<10} n={v['n']:<8} mean={_num(v['mean'])} 95% CI {_interval(v['ci95'])}")
    out.append(f"  difference (candidate - control): {_num(report['difference'])} 95% CI "
               f"{_interval(report['difference_ci95'])} (fixed-horizon)")
    out.append(f"  {test['name']}: statistic {_num(test.get('statistic'))}, p={_num(test.get('p_value'))} "
               "(valid for one look only)")
    out.append(f"  sequential: {seq['method']}: p={_num(seq['p_value'])}, 95% confidence sequence "
               f"{_interval(seq['cs95'])}")
    out.append(f"  P(candidate better): {_num(report['p_candidate_better'], 3)}; detectable effect at 80% power: "
               f"{_num(report['detectable_effect'])}")
    mark = "MISMATCH" if srm["mismatch"] else "ok"
    out.append(f"  sample ratio: chi2={_num(srm['chi2'])} p={_num(srm['p_value'])} ({mark}; "
               f"expected {srm['expected'][0]:.0f}/{srm['expected'][1]:.0f})")
    if report["variant_disagreements"]:
        out.append(f"  warning: {report['variant_disagreements']} rows record a variant other than the key's "
                   "(counted under the key's)")
    return out


def markdown(report: dict) -> str:
    seq, test, srm = report["sequential"], report["test"], report["srm"]
    rows = [f"## A/B test `{report['experiment']}`: **{report['verdict']}**", "",
            f"`{report['model']}` in `{report['stage']}`, metric `{report['metric']}` ({report['outcome']}, "
            f"{report['direction']} is better), {report['split']:g}% of keys to the candidate.", "",
            "| variant | version | n | mean | 95% CI |", "|---|---|---|---|---|"]
    for name in ("control", "candidate"):
        v = report["variants"][name]
        rows.append(f"| {name} | v{report[name]} | {v['n']} | {_num(v['mean'])} | {_interval(v['ci95'])} |")
    rows += ["", f"- difference: {_num(report['difference'])}, 95% CI {_interval(report['difference_ci95'])}",
             f"- {test['name']}: p = {_num(test.get('p_value'))} (one look only)",
             f"- verdict by {seq['method']}: p = {_num(seq['p_value'])}, 95% confidence sequence "
             f"{_interval(seq['cs95'])}",
             f"- P(candidate better) = {_num(report['p_candidate_better'], 3)}",
             f"- sample ratio: χ² = {_num(srm['chi2'])}, p = {_num(srm['p_value'])}"
             + (" — **mismatch**" if srm["mismatch"] else ""),
             f"- rows: {report['rows']}, recorded variant disagreeing: {report['variant_disagreements']}"]
    return "\n".join(rows) + "\n"
