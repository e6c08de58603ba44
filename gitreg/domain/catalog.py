"""``list``: each model with its latest version and the version in each stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gitreg.domain.stage_view import StageView
from gitreg.domain.version import ModelVersion


@dataclass(frozen=True)
class ModelSummary:
    name: str
    latest: ModelVersion
    versions: int
    stages: dict[str, str]  # stage -> version in it

    def to_dict(self) -> dict[str, Any]:
        card = self.latest.card
        return {"name": self.name, "latest": self.latest.version, "versions": self.versions,
                "stages": self.stages, "labels": card.labels, "metrics": card.metrics,
                "description": card.description, "created": card.created}


def summaries(versions: list[ModelVersion], views: dict[str, StageView]) -> list[ModelSummary]:
    by_name: dict[str, list[ModelVersion]] = {}
    for version in versions:
        by_name.setdefault(version.name, []).append(version)
    return [ModelSummary(name, found[-1], len(found), stages_of(name, views)) for name, found in sorted(by_name.items())]


def stages_of(name: str, views: dict[str, StageView]) -> dict[str, str]:
    return {stage: view.entries[name].version for stage, view in views.items() if name in view.entries}
