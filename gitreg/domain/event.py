"""One entry of the audit log: a registration, a stage change, a deprecation or an alias change."""

from __future__ import annotations

from dataclasses import asdict, dataclass


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
    note: str | None = None  # a deprecation's reason
    alias: str | None = None  # the alias an alias-set / alias-rm event changed
    experiment: dict | None = None  # an A/B test event's record (ab-start, ab-stop, ab-conclude, ab-resume)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["gates"] = list(self.gates)
        return data
