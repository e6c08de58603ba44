"""``Registry.router``: sticky assignment of keys to an experiment's variants, with each variant's model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gitreg.domain import routing
from gitreg.domain.experiment import Experiment
from gitreg.domain.version import ModelVersion


@dataclass(frozen=True)
class Assignment:
    variant: str  # "control" or "candidate" ("control" too when no experiment runs)
    version: str
    model: Any  # the loaded model (None from Router.assign, which loads nothing)
    experiment: str | None = None  # the experiment id (None: no experiment runs, the stage's version)
    bucket: int | None = None

    def to_dict(self) -> dict:
        return {"variant": self.variant, "version": self.version, "experiment": self.experiment,
                "bucket": self.bucket}


class Router:
    """``route(key)``: the variant, version and model for ``key``; each variant's model is loaded once
    (bytes verified) on first use."""

    def __init__(self, stage: str, experiment: Experiment | None, versions: dict[str, ModelVersion],
                 load: Callable[[ModelVersion], Any]):
        self.stage, self.experiment, self.versions, self._load = stage, experiment, versions, load
        self._models: dict[str, Any] = {}

    def assign(self, key: Any) -> Assignment:
        key = str(key)
        if self.experiment is None:
            return Assignment(routing.CONTROL, self.versions[routing.CONTROL].version, None)
        bucket = routing.bucket(self.experiment.id, key)
        variant = routing.CANDIDATE if bucket < routing.threshold(self.experiment.split) else routing.CONTROL
        return Assignment(variant, self.versions[variant].version, None, self.experiment.id, bucket)

    def route(self, key: Any) -> Assignment:
        found = self.assign(key)
        if found.variant not in self._models:
            self._models[found.variant] = self._load(self.versions[found.variant])
        return Assignment(found.variant, found.version, self._models[found.variant], found.experiment, found.bucket)
