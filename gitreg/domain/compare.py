"""``compare``: versions side by side — metrics with deltas, parameters, signatures, environments —
and, when they were evaluated on the same rows, which is better and how sure we are.

Pure: works on cards (and on an :class:`Evaluation` computed by :mod:`gitreg.services.evaluation`).
The first version is the baseline that deltas and signature compatibility refer to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gitreg.domain import signature, versioning
from gitreg.domain.config import lower_is_better
from gitreg.domain.version import ModelVersion


@dataclass(frozen=True)
class MetricRow:
    metric: str
    better: str  # "higher" or "lower"
    values: tuple[Any, ...]  # per version; None when a version lacks it
    deltas: tuple[float | None, ...]  # against the baseline; None when not both numbers
    best: int | None  # the best version's position; None on a tie or when not comparable


@dataclass(frozen=True)
class DiffRow:
    key: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class SignatureRow:
    signature: dict[str, Any] | None
    compatible: bool | None  # with the baseline; None when either signature is unknown
    differences: tuple[str, ...]


@dataclass(frozen=True)
class PairResult:
    a: int
    b: int
    delta: float  # value of b minus value of a, on all rows
    low: float  # the confidence interval of the delta (paired bootstrap, percentile)
    high: float
    p_b_better: float  # share of resamples in which b is better (ties count half)
    winner: int | None  # None: no significant difference


@dataclass(frozen=True)
class EvaluatedMetric:
    metric: str
    better: str
    values: tuple[float, ...]
    pairs: tuple[PairResult, ...]
    winner: int | None  # the version that significantly beats every other, if any


@dataclass(frozen=True)
class Evaluation:
    data: str
    target: str
    rows: int
    task: str  # "classification" or "regression"
    resamples: int
    seed: int
    confidence: float
    metrics: tuple[EvaluatedMetric, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Comparison:
    versions: tuple[ModelVersion, ...]
    metrics: tuple[MetricRow, ...]
    params: tuple[DiffRow, ...]  # only those that differ
    same_params: tuple[str, ...]
    signatures: tuple[SignatureRow, ...]
    environment: tuple[DiffRow, ...]  # only what differs
    evaluation: Evaluation | None = None

    @property
    def labels(self) -> list[str]:
        return [version.tag for version in self.versions]

    def to_dict(self) -> dict[str, Any]:
        labels = self.labels
        name = lambda index: None if index is None else labels[index]  # noqa: E731
        return {
            "baseline": labels[0],
            "versions": [{"ref": v.tag, "name": v.name, "version": v.version, "commit": v.commit,
                          "created": v.card.created, "author": v.card.author,
                          "artifact": {"md5": v.card.artifact.md5, "size": v.card.artifact.size}}
                         for v in self.versions],
            "metrics": [{"metric": m.metric, "better": m.better, "values": list(m.values),
                         "deltas": list(m.deltas), "best": name(m.best)} for m in self.metrics],
            "params": {"differences": [{"param": p.key, "values": list(p.values)} for p in self.params],
                       "identical": list(self.same_params)},
            "signature": [{"ref": label, "signature": s.signature, "compatible": s.compatible,
                           "differences": list(s.differences)} for label, s in zip(labels, self.signatures)],
            "environment": [{"name": e.key, "values": list(e.values)} for e in self.environment],
            "evaluation": _evaluation_dict(self.evaluation, name) if self.evaluation else None,
        }


def _evaluation_dict(evaluation: Evaluation, name) -> dict[str, Any]:
    return {
        "data": evaluation.data, "target": evaluation.target, "rows": evaluation.rows, "task": evaluation.task,
        "resamples": evaluation.resamples, "seed": evaluation.seed, "confidence": evaluation.confidence,
        "notes": list(evaluation.notes),
        "metrics": [{"metric": m.metric, "better": m.better, "values": list(m.values), "winner": name(m.winner),
                     "pairs": [{"a": name(p.a), "b": name(p.b), "delta": p.delta, "ci": [p.low, p.high],
                                "p_b_better": p.p_b_better, "winner": name(p.winner)} for p in m.pairs]}
                    for m in evaluation.metrics],
    }


# -------------------------------------------------------------------------------------- building
def compare(versions: list[ModelVersion], directions: dict[str, Any]) -> Comparison:
    cards = [version.card for version in versions]
    params, same = _param_rows([card.params for card in cards])
    return Comparison(
        versions=tuple(versions),
        metrics=tuple(_metric_row(metric, [c.metrics.get(metric) for c in cards], directions)
                      for metric in _union(card.metrics for card in cards)),
        params=params,
        same_params=same,
        signatures=tuple(_signature_row(cards[0].signature, card.signature) for card in cards),
        environment=_environment_rows([card.environment for card in cards]),
    )


def _union(mappings) -> list[str]:
    return list(dict.fromkeys(key for mapping in mappings for key in mapping))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _metric_row(metric: str, values: list[Any], directions: dict[str, Any]) -> MetricRow:
    lower = lower_is_better(metric, directions)
    base = values[0]
    deltas = tuple(value - base if _number(value) and _number(base) and i else None
                   for i, value in enumerate(values))
    numeric = [(value, i) for i, value in enumerate(values) if _number(value)]
    best = None
    if len(numeric) >= 2 and len({value for value, _ in numeric}) > 1:
        top = (min if lower else max)(value for value, _ in numeric)
        winners = [i for value, i in numeric if value == top]
        best = winners[0] if len(winners) == 1 else None
    return MetricRow(metric, "lower" if lower else "higher", tuple(values), deltas, best)


def _param_rows(params: list[dict[str, Any]]) -> tuple[tuple[DiffRow, ...], tuple[str, ...]]:
    rows, same = [], []
    for key in _union(params):
        values = tuple(p.get(key) for p in params)
        present = all(key in p for p in params)
        if present and all(_same(value, values[0]) for value in values):
            same.append(key)
        else:
            rows.append(DiffRow(key, values))
    return tuple(rows), tuple(same)


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b or (_number(a) and _number(b) and a == b)


def _signature_row(base: dict[str, Any] | None, signature: dict[str, Any] | None) -> SignatureRow:
    if not base or not signature:
        return SignatureRow(signature, None, ())
    compatible = not versioning.signature_incompatible(base, signature)
    return SignatureRow(signature, compatible, tuple(signature_differences(base, signature)))


def signature_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What a caller of ``old`` would notice when calling ``new``."""
    found = []
    if old.get("n_features") is not None and new.get("n_features") is not None \
            and old["n_features"] != new["n_features"]:
        found.append(f"n_features {old['n_features']} → {new['n_features']}")
    before, after = old.get("features"), new.get("features")
    if before is not None and after is not None and before != after:
        removed = [f for f in before if f not in after]
        added = [f for f in after if f not in before]
        parts = [f"{what} {', '.join(names)}" for what, names in (("removed", removed), ("added", added)) if names]
        found.append(f"features: {'; '.join(parts) or 'same names, another order'}")
    if old.get("classes") is not None and new.get("classes") is not None and old["classes"] != new["classes"]:
        found.append(f"classes {old['classes']} → {new['classes']}")
    return found + signature.differences(old, new)


def _environment_rows(environments: list[dict[str, Any]]) -> tuple[DiffRow, ...]:
    flat = [{"python": env.get("python"), **(env.get("packages") or {})} for env in environments]
    rows = []
    for key in _union(flat):
        values = tuple(env.get(key) for env in flat)
        if len(set(values)) > 1:
            rows.append(DiffRow(key, values))
    return tuple(rows)


# -------------------------------------------------------------------------------------- rendering
def fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def fmt_delta(value: float | None) -> str:
    return "" if value is None else f"{value:+.4g}"


def verdict(pair: PairResult, labels: list[str]) -> str:
    if pair.winner is None:
        return "no significant difference"
    sure = pair.p_b_better if pair.winner == pair.b else 1 - pair.p_b_better
    return f"{labels[pair.winner]} is better ({sure:.1%} of resamples)"


def markdown(comparison: Comparison) -> str:
    """The comparison as Markdown, fit for a pull-request comment."""
    labels = comparison.labels
    lines = [f"## Comparing {', '.join(f'`{label}`' for label in labels)}", "",
             f"Baseline: `{labels[0]}`; Δ is each version minus the baseline.", ""]
    lines += _md_table(["metric", *labels, *(f"Δ {label}" for label in labels[1:]), "best"],
                       [[m.metric + (" (lower is better)" if m.better == "lower" else ""),
                         *(fmt(v) for v in m.values), *(fmt_delta(d) for d in m.deltas[1:]),
                         labels[m.best] if m.best is not None else "—"] for m in comparison.metrics])
    lines += ["", "### Parameters", ""]
    if comparison.params:
        lines += _md_table(["param", *labels], [[p.key, *(fmt(v) for v in p.values)] for p in comparison.params])
    lines += ["", identical_params(comparison) + ".", ""]
    lines += ["### Signature", ""] + [f"- `{label}`: {signature_text(row)}"
                                      for label, row in zip(labels[1:], comparison.signatures[1:])]
    lines += ["", "### Environment", ""]
    lines += (_md_table(["", *labels], [[e.key, *(fmt(v) for v in e.values)] for e in comparison.environment])
              if comparison.environment else ["Same Python and packages."])
    if comparison.evaluation:
        lines += ["", *evaluation_markdown(comparison.evaluation, labels)]
    return "\n".join(lines) + "\n"


def identical_params(comparison: Comparison) -> str:
    same = comparison.same_params
    return f"Identical parameters ({len(same)}): {', '.join(same)}" if same else "Identical parameters: none"


def signature_text(row: SignatureRow) -> str:
    if row.compatible is None:
        return "unknown (no signature recorded)"
    if row.compatible:
        return "compatible with the baseline" + (f" ({'; '.join(row.differences)})" if row.differences else "")
    return "INCOMPATIBLE with the baseline: " + "; ".join(row.differences)


def evaluation_header(evaluation: Evaluation) -> str:
    return (f"Evaluated on {evaluation.data} ({evaluation.rows} rows, target {evaluation.target!r}, "
            f"{evaluation.task}); {evaluation.resamples} paired bootstrap resamples, seed {evaluation.seed}; "
            f"a winner is named when the {evaluation.confidence:.0%} interval of the difference excludes 0")


def evaluation_markdown(evaluation: Evaluation, labels: list[str]) -> list[str]:
    level = f"{evaluation.confidence:.0%} CI"
    lines = ["### Evaluation", "", evaluation_header(evaluation) + ".", ""]
    lines += _md_table(["metric", *labels, "winner"],
                       [[m.metric, *(fmt(v) for v in m.values),
                         labels[m.winner] if m.winner is not None else "no significant difference"]
                        for m in evaluation.metrics])
    lines += [""]
    lines += _md_table(["metric", "pair", "Δ", level, "P(first is better)", "verdict"],
                       [[m.metric, f"{labels[p.b]} vs {labels[p.a]}", fmt_delta(p.delta),
                         f"[{p.low:+.4g}, {p.high:+.4g}]", f"{p.p_b_better:.3f}", verdict(p, labels)]
                        for m in evaluation.metrics for p in m.pairs])
    lines += [f"- {note}" for note in evaluation.notes]
    return lines


def _md_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    escape = lambda cell: str(cell).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(escape(cell) for cell in row) + " |" for row in rows]
