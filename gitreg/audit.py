"""``log``: every registration, promotion, rollback and retirement, newest first.

Registrations come from the version tags; stage changes from the trailers on each stage branch's
first-parent chain, whose order is exact even when many changes share one second.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from gitreg.config import Config
from gitreg.git import Git
from gitreg.index import ModelVersion
from gitreg.promotion import stage_changes

REGISTER, STAGE_CHANGE = 0, 1


@dataclass(frozen=True)
class Event:
    action: str
    model: str
    version: str | None
    from_version: str | None
    stage: str | None
    author: str
    time: str
    commit: str
    gates: tuple[str, ...] = ()
    override: str | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["gates"] = list(self.gates)
        return data


def events(git: Git, config: Config, versions: list[ModelVersion], model: str | None = None,
           stage: str | None = None) -> list[Event]:
    keyed = []
    if stage is None:
        for position, version in enumerate(versions):
            if model is None or version.name == model:
                keyed.append(((_timestamp(version.card.created), REGISTER, 0, position), _registration(version)))
    tips = git.branch_tips()
    for stage_config in config.stages:
        tip = tips.get(stage_config.branch, (None,))[0]
        if tip is None or (stage is not None and stage_config.name != stage):
            continue
        clock = 0
        for position, (record, change) in enumerate(reversed(stage_changes(git, tip, model))):
            clock = max(clock, change.clock)  # the branch's own order always wins over clocks
            event = Event(change.action, change.model, change.version, change.from_version, change.stage,
                          f"{record.author_name} <{record.author_email}>", _iso(record.timestamp),
                          record.oid, change.gates, change.override)
            keyed.append(((record.timestamp, STAGE_CHANGE, clock, position), event))
    keyed.sort(key=lambda item: item[0], reverse=True)
    return [event for _, event in keyed]


def _registration(version: ModelVersion) -> Event:
    author = version.card.author
    return Event("register", version.name, version.version, None, None,
                 f"{author.get('name', '')} <{author.get('email', '')}>",
                 _iso(_timestamp(version.card.created)), version.commit)


def _timestamp(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp())


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat()
