"""Promotion gates: metric thresholds, required stages and no-regression checks."""

from __future__ import annotations

from typing import Any

from gitreg.domain.card import Card
from gitreg.domain.config import Config, Stage, lower_is_better
from gitreg.domain.thresholds import GateCheck, Threshold


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
