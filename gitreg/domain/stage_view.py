"""What a stage holds: each model's registered version, and content that matches none (a breach)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gitreg.domain.config import Stage
from gitreg.domain.version import ModelVersion


@dataclass(frozen=True)
class Breach:
    """Stage content that matches no registered version."""

    stage: str
    model: str
    reason: str

    def __str__(self) -> str:
        return f"{self.stage}: models/{self.model}/ {self.reason}"


@dataclass
class StageView:
    stage: Stage
    tip: str | None
    local: bool = True  # False: the tip is origin's (this clone has no local branch of the stage)
    entries: dict[str, ModelVersion] = field(default_factory=dict)
    breaches: dict[str, Breach] = field(default_factory=dict)

    def version_of(self, model: str) -> ModelVersion | None:
        return self.entries.get(model)

    @property
    def expected(self) -> str | None:
        """What the local stage branch must still hold when it is moved (None: it must not exist)."""
        return self.tip if self.local else None


def group_by_model(versions: list[ModelVersion]) -> dict[str, dict[str, ModelVersion]]:
    """``{model: {version: ModelVersion}}``."""
    grouped: dict[str, dict[str, ModelVersion]] = {}
    for version in versions:
        grouped.setdefault(version.name, {})[version.version] = version
    return grouped
