"""Stage-change commits: their messages and the ``Gitreg-*`` trailers that make them an audit trail."""

from __future__ import annotations

from dataclasses import dataclass, field

ACTIONS = ("promote", "rollback", "retire")
NONE = "none"


@dataclass(frozen=True)
class StageChange:
    """What one stage commit did: ``version`` is in effect after it (None: the model left the stage)."""

    action: str
    model: str
    stage: str
    version: str | None
    from_version: str | None
    reverts: tuple[str, ...] = ()
    gates: tuple[str, ...] = ()
    override: str | None = None
    clock: int = 0  # nanoseconds since the epoch: orders changes to different stages within one second

    def trailers(self) -> str:
        lines = [
            f"Gitreg-Model: {self.model}",
            f"Gitreg-Version: {self.version or NONE}",
            f"Gitreg-From-Version: {self.from_version or NONE}",
            f"Gitreg-Stage: {self.stage}",
            f"Gitreg-Action: {self.action}",
        ]
        lines += [f"Gitreg-Reverts: {oid}" for oid in self.reverts]
        lines += [f"Gitreg-Gate: {gate}" for gate in self.gates]
        if self.override:
            lines.append(f"Gitreg-Override: {self.override}")
        if self.clock:
            lines.append(f"Gitreg-Clock: {self.clock}")
        return "\n".join(lines)

    def subject(self) -> str:
        if self.action == "promote":
            return f"Promote {self.model} v{self.version} to {self.stage}"
        if self.action == "retire":
            return f"Retire {self.model} from {self.stage}"
        target = f"v{self.version}" if self.version else "nothing"
        return f"Roll back {self.model} in {self.stage} to {target}"

    def message(self, body: str = "") -> str:
        return f"{self.subject()}\n\n{body + chr(10) + chr(10) if body else ''}{self.trailers()}\n"


@dataclass
class _Fields:
    values: dict[str, list[str]] = field(default_factory=dict)

    def one(self, key: str) -> str | None:
        found = self.values.get(key)
        return found[-1] if found else None


def parse(message: str) -> StageChange | None:
    """The stage change a commit message records, or None when it carries no gitreg trailers (the first,
    when a release train records several)."""
    found = parse_all(message)
    return found[0] if found else None


def parse_all(message: str) -> list[StageChange]:
    """Every stage change a commit records: one, or for a release train one group of trailers per model,
    each group starting at its ``Gitreg-Model:`` line."""
    pairs = [(key, value.strip()) for line in message.splitlines()
             for key, sep, value in (line.partition(": "),) if sep and key.startswith("Gitreg-")]
    several = sum(key == "Gitreg-Model" for key, _ in pairs) > 1  # one model: its trailers in any order
    groups: list[_Fields] = []
    for key, value in pairs:
        if not groups or (several and key == "Gitreg-Model"):
            groups.append(_Fields())
        groups[-1].values.setdefault(key[len("Gitreg-"):], []).append(value)
    return [change for fields in groups if (change := _change(fields))]


def train_message(subject: str, changes: list[StageChange], body: str = "") -> str:
    """A commit message recording several stage changes at once (a release train)."""
    blocks = "\n".join(change.trailers() for change in changes)
    return f"{subject}\n\n{body + chr(10) + chr(10) if body else ''}{blocks}\n"


def _change(fields: _Fields) -> StageChange | None:
    action, model, stage = fields.one("Action"), fields.one("Model"), fields.one("Stage")
    if action not in ACTIONS or not model or not stage:
        return None
    return StageChange(
        action=action,
        model=model,
        stage=stage,
        version=_version(fields.one("Version")),
        from_version=_version(fields.one("From-Version")),
        reverts=tuple(fields.values.get("Reverts", [])),
        gates=tuple(fields.values.get("Gate", [])),
        override=fields.one("Override"),
        clock=int(clock) if (clock := fields.one("Clock") or "").isdigit() else 0,
    )


def _version(value: str | None) -> str | None:
    return None if value in (None, "", NONE) else value
