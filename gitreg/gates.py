"""Promotion gates: metric thresholds, required stages and no-regression checks."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any

from gitreg.card import Card
from gitreg.config import Config, Stage, lower_is_better
from gitreg.errors import InvalidInputError

OPERATORS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
             "==": operator.eq, "!=": operator.ne}
CONDITION_RE = re.compile(r"^\s*(?P<metric>[^<>=!\s]+)?\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<value>\S+)\s*$")


@dataclass(frozen=True)
class GateCheck:
    name: str  # "accuracy >= 0.9", "requires staging", "no regression in accuracy"
    passed: bool
    actual: str
    required: str

    def __str__(self) -> str:
        verdict = "pass" if self.passed else "FAIL"
        return f"{self.name}: {verdict} (actual {self.actual}, required {self.required})"


@dataclass(frozen=True)
class Threshold:
    metric: str
    op: str
    value: float

    @classmethod
    def parse(cls, metric: str | None, condition: str) -> Threshold:
        match = CONDITION_RE.match(f"{metric or ''} {condition}" if metric else condition)
        if not match or not match["metric"]:
            raise InvalidInputError(
                f"invalid gate {condition!r}: write it as METRIC OP VALUE, e.g. 'accuracy>=0.9' (OP: >= <= > < == !=)"
            )
        try:
            value = float(match["value"])
        except ValueError as exc:
            raise InvalidInputError(f"invalid gate {condition!r}: {match['value']!r} is not a number") from exc
        return cls(match["metric"], match["op"], value)

    def check(self, metrics: dict[str, Any]) -> GateCheck:
        actual = metrics.get(self.metric)
        name = f"{self.metric} {self.op} {self.value:g}"
        if not isinstance(actual, (int, float)) or isinstance(actual, bool):
            return GateCheck(name, False, "missing" if actual is None else repr(actual), f"{self.op} {self.value:g}")
        return GateCheck(name, OPERATORS[self.op](actual, self.value), f"{actual:g}", f"{self.op} {self.value:g}")


def parse_requirements(conditions: list[str] | tuple[str, ...]) -> list[Threshold]:
    return [Threshold.parse(None, condition) for condition in conditions]


def evaluate(
    card: Card,
    stage: Stage,
    config: Config,
    in_stage: dict[str, str | None],
    replaced: Card | None,
    extra: list[Threshold] = (),
) -> list[GateCheck]:
    """Every check the stage asks of ``card``; ``in_stage`` maps each stage to this model's version there."""
    gates = stage.gates
    checks = [_requires(card, name, config, in_stage) for name in _as_list(gates.get("requires"))]
    thresholds = [Threshold.parse(metric, str(cond)) for metric, cond in (gates.get("metrics") or {}).items()]
    checks += [threshold.check(card.metrics) for threshold in [*thresholds, *extra]]
    checks += [_no_regression(card, replaced, metric, config) for metric in _as_list(gates.get("no_regression"))]
    return checks


def _requires(card: Card, required: str, config: Config, in_stage: dict[str, str | None]) -> GateCheck:
    config.stage(required)  # an unknown stage in .gitreg.yaml is an error, not a silent pass
    there = in_stage.get(required)
    return GateCheck(f"requires {required}", there == card.version,
                     f"{required} has {'v' + there if there else 'no version'}", f"v{card.version} in {required}")


def _no_regression(card: Card, replaced: Card | None, metric: str, config: Config) -> GateCheck:
    name = f"no regression in {metric}"
    new = card.metrics.get(metric)
    if replaced is None:
        return GateCheck(name, True, _fmt(new), "nothing to compare with")
    old = replaced.metrics.get(metric)
    lower = lower_is_better(metric, config.metric_directions)
    if not isinstance(new, (int, float)) or not isinstance(old, (int, float)):
        return GateCheck(name, False, _fmt(new), f"comparable with v{replaced.version}'s {_fmt(old)}")
    passed = new <= old if lower else new >= old
    bound = "<=" if lower else ">="
    return GateCheck(name, passed, _fmt(new), f"{bound} {_fmt(old)} (v{replaced.version})")


def _fmt(value: Any) -> str:
    return "missing" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]
