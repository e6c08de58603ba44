"""``log``: every registration, promotion, rollback, retirement, deprecation and alias change, newest first.

Registrations come from the version tags; stage changes from the trees of each stage branch's
first-parent chain (:mod:`gitreg.services.history`), whose order is exact even when many changes share one
second; trailers add gates and overrides where present.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from gitreg.domain.config import Config
from gitreg.domain.deprecation import Deprecation
from gitreg.domain.event import Event
from gitreg.domain.stage_view import group_by_model
from gitreg.domain.values import assemble
from gitreg.domain.version import ModelVersion
from gitreg.io.git import Git
from gitreg.services import aliases, experiment_checks, history

REGISTER, STAGE_CHANGE, DEPRECATE = 0, 1, 2
_UTC_SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\Z")  # what _iso writes


def events(git: Git, config: Config, versions: list[ModelVersion], model: str | None = None,
           stage: str | None = None, deprecations: Iterable[Deprecation] = ()) -> list[Event]:
    if stage is not None:
        keyed = _stage_changes(git, config, versions, model, stage) + experiment_checks.events(git, config, model, stage)
    else:  # the stage histories wait on Git (a thread) while the registrations are decoded (this one)
        with ThreadPoolExecutor(1) as pool:
            changes = pool.submit(_stage_changes, git, config, versions, model, None)
            keyed = (_registrations(versions, model) + _deprecations(deprecations, model) + aliases.events(git, model)
                     + experiment_checks.events(git, config, model, None) + changes.result())
    keyed.sort(key=lambda item: item[0], reverse=True)
    return [event for _, event in keyed]


def _registrations(versions: list[ModelVersion], model: str | None) -> list[tuple[tuple, Event]]:
    keyed = []
    for position, version in enumerate(versions):
        if model is None or version.name == model:
            card = version.index_data()
            created = card["created"]
            stamp = _timestamp(created)
            when = created if _UTC_SECONDS.match(created) else _iso(stamp)  # already as the log writes it
            keyed.append(((stamp, REGISTER, 0, position), _registration(version, card.get("author") or {}, when)))
    return keyed


def _deprecations(deprecations: Iterable[Deprecation], model: str | None) -> list[tuple[tuple, Event]]:
    keyed = []
    for position, found in enumerate(deprecations):
        if model is None or found.name == model:
            stamp = _timestamp(found.time.replace("Z", "+00:00")) if found.time else 0
            keyed.append(((stamp, DEPRECATE, 0, position), Event(
                "deprecate", found.name, found.version, None, None, found.author, _iso(stamp), found.commit,
                note=found.reason)))
    return keyed


def _stage_changes(git: Git, config: Config, versions: list[ModelVersion], model: str | None,
                   stage: str | None) -> list[tuple[tuple, Event]]:
    keyed = []
    tips = git.branch_tips()
    registered = group_by_model(versions)
    for stage_config in config.stages:
        tip = tips.get(stage_config.branch, (None,))[0]
        if tip is None or (stage is not None and stage_config.name != stage):
            continue
        found, _ = history.stage_events(git, tip, stage_config.name, registered, model)
        clock = 0
        for position, stage_event in enumerate(found):
            clock = max(clock, stage_event.trailers.clock if stage_event.trailers else 0)
            keyed.append(((stage_event.step.record.timestamp, STAGE_CHANGE, clock, position), _event(stage_event)))
    return keyed


def _event(found: history.StageEvent) -> Event:
    """A stage event as the log shows it; versions come from the trees, the rest from trailers if any."""
    record, trailers = found.step.record, found.trailers
    version = found.version.version if found.version else (trailers.version if trailers and found.breach else None)
    return Event(found.action, found.model, version,
                 found.from_version.version if found.from_version else None, found.stage,
                 f"{record.author_name} <{record.author_email}>", _iso(record.timestamp), record.oid,
                 found.gates, found.override)


def _registration(version: ModelVersion, author: dict, when: str) -> Event:
    return assemble(Event, action="register", model=version.name, version=version.version, from_version=None,
                    stage=None, author=f"{author.get('name', '')} <{author.get('email', '')}>", time=when,
                    commit=version.commit, gates=(), override=None, alias=None)


def _timestamp(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp())


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat()
