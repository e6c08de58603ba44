"""Each page's data, built from one read of the registry through the public read API (no HTML here).

A :class:`State` is what one state of the registry's refs gives every page: the snapshot, the models and
the audit log, each read once when first needed. The server keeps one State while the refs stay the
same, so a page at 10,000 versions costs a dictionary lookup and a template, not a read of every tag.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any

from gitreg.domain import refs
from gitreg.domain.version import ModelVersion
from gitreg.errors import InvalidInputError, NotFoundError

MODELS_PER_PAGE = 50
VERSIONS_PER_PAGE = 50
EVENTS_PER_PAGE = 100
CHART_POINTS = 500  # the newest versions a trend chart draws
TABLE_METRICS = 8  # metric columns in a model's versions table
HEADLINE_METRICS = 3
DIFF_CHOICES = 1000  # the newest versions a model page offers to diff (any other can be typed)


@dataclass(frozen=True)
class Pager:
    page: int
    pages: int
    total: int

    @classmethod
    def of(cls, items: list, page: int, per_page: int) -> tuple[Pager, list]:
        pages = max(1, math.ceil(len(items) / per_page))
        if page < 1 or page > pages:
            raise NotFoundError(f"there is no page {page} (pages 1 to {pages})")
        return cls(page, pages, len(items)), items[(page - 1) * per_page: page * per_page]


@dataclass
class State:
    """One state of the registry: ``registry`` (a :class:`gitreg.Registry`) read once, pages built on it."""

    registry: Any
    fingerprint: str = ""
    _cache: dict = field(default_factory=dict)

    @cached_property
    def snapshot(self):
        return self.registry.snapshot()

    @cached_property
    def models(self) -> list:
        return self.registry.models(snapshot=self.snapshot, include_deprecated=True)

    @cached_property
    def events(self) -> list:
        return self.registry.log()

    @cached_property
    def aliases(self) -> dict[str, dict[str, str]]:
        """``{model: {alias: version}}``."""
        found: dict[str, dict[str, str]] = {}
        for record in self.registry.aliases(snapshot=self.snapshot):
            found.setdefault(record.model, {})[record.alias] = record.version
        return found

    @cached_property
    def stage_names(self) -> list[str]:
        return [stage.name for stage in self.snapshot.config.stages]

    def history(self, name: str) -> list[ModelVersion]:
        """Every version of ``name`` (deprecated ones too), newest first."""
        name = _name(name)
        versions = self.registry.history(name, snapshot=self.snapshot, include_deprecated=True)
        if not versions:
            raise NotFoundError(f"no model named {name!r}: the models page lists the registered models")
        return versions


def _name(name: str) -> str:
    try:
        return refs.check_name(name)
    except InvalidInputError as exc:
        raise NotFoundError(str(exc)) from None


def headline(metrics: dict[str, Any], limit: int = HEADLINE_METRICS) -> list[tuple[str, Any]]:
    return list(metrics.items())[:limit]


def number(value: Any) -> float | None:
    """A metric as a finite number for a chart or a delta; None for text, booleans, NaN and infinities."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


# ------------------------------------------------------------------------------------ models
def models_page(state: State, page: int = 1) -> dict[str, Any]:
    pager, shown = Pager.of(state.models, page, MODELS_PER_PAGE)
    rows = []
    for summary in shown:
        card = summary.latest.card
        rows.append({"name": summary.name, "latest": summary.latest.version, "versions": summary.versions,
                     "stages": summary.stages, "aliases": state.aliases.get(summary.name, {}),
                     "labels": card.labels, "metrics": headline(card.metrics), "description": card.description,
                     "deprecated": state.snapshot.deprecated(summary.latest)})
    return {"title": "Models", "rows": rows, "pager": pager, "stages": state.stage_names,
            "versions_total": len(state.snapshot.versions), "broken": list(state.snapshot.broken)}


# ------------------------------------------------------------------------------------ a model
def model_page(state: State, name: str, page: int = 1) -> dict[str, Any]:
    history = state.history(name)
    name = history[0].name
    pager, shown = Pager.of(history, page, VERSIONS_PER_PAGE)
    metric_names = _metric_names(history)
    older = {v.version: o.version for v, o in zip(history, history[1:])}
    snapshot = state.snapshot
    in_stage = state.registry.stage_versions(name, snapshot=snapshot)
    rows = [{"version": v.version, "created": card.created, "author": card.author.get("name", ""),
             "commit": v.commit, "metrics": [card.metrics.get(m) for m in metric_names],
             "labels": card.labels, "previous": older.get(v.version), "deprecated": snapshot.deprecated(v),
             "stages": [s for s, held in in_stage.items() if held == v.version]}
            for v in shown for card in (v.card,)]
    page_readme = state.registry.readme(name)
    return {"title": name, "name": name, "rows": rows, "pager": pager, "metric_names": metric_names,
            "stages": in_stage, "stage_names": state.stage_names,
            "aliases": state.aliases.get(name, {}), "latest": history[0], "description": history[0].card.description,
            "trend": trend_data(history) if len(history) > 1 else [], "timeline": timeline(state, name),
            "readme": page_readme.text, "readme_path": page_readme.path,
            "versions": [v.version for v in history[:DIFF_CHOICES]], "charts": True,
            "broken": [b for b in snapshot.broken if b.tag.startswith(f"{name}@")]}


def _metric_names(history: list[ModelVersion]) -> list[str]:
    names: dict[str, None] = {}
    for version in history[:VERSIONS_PER_PAGE * 4]:
        for key in version.card.metrics:
            names.setdefault(key, None)
    return list(names)[:TABLE_METRICS]


def trend_data(history: list[ModelVersion]) -> list[dict[str, Any]]:
    """One point per (version, numeric metric), oldest first, for the newest ``CHART_POINTS`` versions."""
    points = []
    for order, version in enumerate(reversed(history[:CHART_POINTS])):
        for metric, value in version.card.metrics.items():
            y = number(value)
            if y is not None:
                points.append({"version": version.version, "order": order, "metric": metric, "value": y})
    return points


def timeline(state: State, name: str) -> dict[str, Any]:
    """Which version was in which stage when: one segment per stage event, to the next event of that stage."""
    changes = [e for e in reversed(state.events)  # an A/B event moves nothing its promote/rollback twin does not
               if e.model == name and e.stage and not e.action.startswith("ab-")]
    segments, open_by_stage = [], {}
    for event in changes:
        before = open_by_stage.pop(event.stage, None)
        if before is not None:
            before["end"] = event.time
        if event.version:
            segment = {"stage": event.stage, "version": event.version, "start": event.time, "end": None,
                       "action": event.action}
            segments.append(segment)
            open_by_stage[event.stage] = segment
    if segments:  # a stage still holding its version: drawn to a little after the newest change
        first, last = (datetime.fromisoformat(changes[i].time) for i in (0, -1))
        end = (last + max((last - first) / 10, timedelta(seconds=1))).isoformat()
        for segment in segments:
            segment["current"] = segment["end"] is None
            segment["end"] = segment["end"] or end
    return {"segments": segments, "events": changes[::-1]}


# ------------------------------------------------------------------------------------ a version
def version_page(state: State, name: str, version: str, card=None, annotations=None) -> dict[str, Any]:
    """``card`` and ``annotations`` default to the tagged tree's card (``show``) and the version's notes."""
    name = _name(name)
    try:
        ref = refs.ModelRef(name, refs.check_version(version))
    except InvalidInputError as exc:
        raise NotFoundError(str(exc)) from None
    found = state.snapshot.resolve(ref)
    if card is None:
        card = state.registry.show(ref, snapshot=state.snapshot).card
    if annotations is None:
        annotations = state.registry.annotations(found)
    history = state.history(name)
    position = next(i for i, v in enumerate(history) if v.version == found.version)
    base = card.lineage.get("base") if isinstance(card.lineage.get("base"), dict) else None
    return {"title": found.tag, "name": name, "version": found, "card": card, "annotations": annotations,
            "deprecated": state.snapshot.deprecated(found),
            "stages": [s for s, v in state.registry.stage_versions(name, snapshot=state.snapshot).items()
                       if v == found.version],
            "aliases": sorted(a for a, v in state.aliases.get(name, {}).items() if v == found.version),
            "previous": history[position + 1].version if position + 1 < len(history) else None,
            "next": history[position - 1].version if position > 0 else None,
            "base": base, "base_known": bool(base) and _exists(state, base),
            "data": [d for d in card.lineage.get("data") or [] if isinstance(d, dict)],
            "lineage_other": {k: v for k, v in card.lineage.items() if k not in {"base", "data"}},
            "card_yaml": _yaml(card.to_dict())}


def _yaml(data: dict) -> str:
    """The card as YAML for reading (libyaml's emitter: a static report writes thousands of them)."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True, default_flow_style=False)


def _exists(state: State, base: dict) -> bool:
    versions = state.snapshot.by_model.get(str(base.get("name")), {})
    return str(base.get("version")) in versions


# ------------------------------------------------------------------------------------ a diff
def diff_page(state: State, a: str, b: str) -> dict[str, Any]:
    """Two versions side by side (``a`` the baseline), from the tag index: what ``compare`` shows without data."""
    from gitreg.domain import compare

    if not a or not b:
        raise InvalidInputError("a diff needs two versions, e.g. /diff?a=churn@1.0.0&b=churn@1.1.0")
    try:
        first, second = (state.snapshot.resolve(refs.ModelRef.parse(text)) for text in (a, b))
    except InvalidInputError as exc:
        raise NotFoundError(str(exc)) from None
    report = compare.compare([first, second], state.snapshot.config.metric_directions)
    left, right = _flat(first.card.to_dict()), _flat(second.card.to_dict())
    keys = list(dict.fromkeys([*left, *right]))
    card_rows = [{"key": k, "a": left.get(k), "b": right.get(k), "same": left.get(k) == right.get(k)} for k in keys]
    return {"title": f"{first.tag} vs {second.tag}", "a": first, "b": second, "report": report,
            "card_rows": card_rows, "differences": sum(not row["same"] for row in card_rows)}


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict) and data:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): data}


# ------------------------------------------------------------------------------------ the audit log
FILTERS = ("model", "stage", "action", "author", "since", "until")


def log_page(state: State, filters: dict[str, str] | None = None, page: int = 1,
             per_page: int = EVENTS_PER_PAGE) -> dict[str, Any]:
    """The audit log, newest first; ``filters`` (each optional): model, stage, action (exact), author
    (a part of ``Name <email>``, any case), since and until (``YYYY-MM-DD``, inclusive, UTC)."""
    wanted = {key: (filters or {}).get(key, "").strip() for key in FILTERS}
    for key in ("since", "until"):
        if wanted[key]:
            try:
                date.fromisoformat(wanted[key])
            except ValueError:
                raise InvalidInputError(f"{key} must be a date, YYYY-MM-DD (got {wanted[key]!r})") from None
    events = [e for e in state.events if _matches(e, wanted)]
    pager, shown = Pager.of(events, page, per_page)
    return {"title": "Audit log", "events": shown, "pager": pager, "filters": wanted,
            "models": [m.name for m in state.models], "stage_names": state.stage_names,
            "actions": sorted({e.action for e in state.events}),
            "authors": sorted({e.author for e in state.events if e.author})}


def _matches(event, wanted: dict[str, str]) -> bool:
    day = event.time[:10]
    return ((not wanted["model"] or event.model == wanted["model"])
            and (not wanted["stage"] or event.stage == wanted["stage"])
            and (not wanted["action"] or event.action == wanted["action"])
            and (not wanted["author"] or wanted["author"].lower() in (event.author or "").lower())
            and (not wanted["since"] or day >= wanted["since"])
            and (not wanted["until"] or day <= wanted["until"]))
