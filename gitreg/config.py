"""``.gitreg.yaml``: the ordered stages, their branches and their gates."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from gitreg import yamlio
from gitreg.errors import InvalidInputError
from gitreg.refs import check_stage

CONFIG_FILE = ".gitreg.yaml"
LOWER_WORDS = ("lower", "min", "minimize")
LOWER_NAMES = ("loss", "error", "err", "mae", "mse", "rmse", "mape", "latency")
BRANCH_PREFIX = "stage/"

DEFAULT_CONFIG = """\
# gitreg registry configuration (see the README, "Stages and gates").
# Stages are ordered; each is a branch (default stage/<name>). Gates are opt-in.
schema: 1
stages:
  - name: dev
  - name: staging
    # gates:
    #   requires: dev              # the version must currently be in dev
    #   metrics:
    #     accuracy: ">= 0.85"
  - name: production
    # branch: stage/production     # the default
    # gates:
    #   requires: staging
    #   metrics:
    #     accuracy: ">= 0.90"
    #     loss: "< 0.3"
    #   no_regression: [accuracy]  # not worse than the version it replaces
# Direction of each metric for no_regression and compare (default: lower for names that say
# loss or error, such as val_loss, mae, error_rate; higher for the rest).
# metrics:
#   loss: lower
"""


@dataclass(frozen=True)
class Stage:
    name: str
    branch: str
    gates: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"refs/heads/{self.branch}"


@dataclass(frozen=True)
class Config:
    stages: tuple[Stage, ...]
    metric_directions: dict[str, str] = field(default_factory=dict)

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        known = ", ".join(s.name for s in self.stages)
        raise InvalidInputError(f"unknown stage {name!r}: use one of {known} (or add it to {CONFIG_FILE})")

    @classmethod
    def parse(cls, text: str | bytes | None) -> Config:
        try:
            data = yamlio.load(text or DEFAULT_CONFIG) or {}
            return cls(
                stages=tuple(_stage(item) for item in data.get("stages") or []),
                metric_directions=dict(data.get("metrics") or {}),
            )
        except (yamlio.YAMLError, AttributeError, TypeError, KeyError) as exc:
            raise InvalidInputError(
                f"{CONFIG_FILE} is not valid ({exc}): fix it, or delete it to use the defaults"
            ) from exc


# Where the registry's configuration is read from: the main branch as committed, never the working
# tree, so gates cannot be relaxed by an uncommitted edit, and a checkout of a promotion branch (whose
# tree descends from the registry's first commit) applies the same gates as the main branch.
CONFIG_REVS = ("refs/heads/main", "refs/heads/master", "{origin_head}", "refs/remotes/origin/main",
               "refs/remotes/origin/master", "HEAD")


def load(git) -> Config:
    """The committed configuration of the registry ``git`` reads (defaults when there is none)."""
    origin_head = git.run("symbolic-ref", "-q", "refs/remotes/origin/HEAD", check=False).stdout.strip()
    revs = [rev.format(origin_head=origin_head) for rev in CONFIG_REVS]
    specs = [f"{rev}:{CONFIG_FILE}" for rev in revs if rev]
    blobs = git.read_blobs(specs)
    found = next((blobs[spec] for spec in specs if blobs[spec] is not None), None)
    return Config.parse(found)


def lower_is_better(metric: str, directions: dict[str, Any]) -> bool:
    """A metric's direction: as ``.gitreg.yaml`` says (``metrics: {loss: lower}``); otherwise lower for
    names that say loss or error (``val_loss``, ``logloss``, ``mae``, ``error_rate``), else higher."""
    if metric in directions:
        return str(directions[metric]).lower() in LOWER_WORDS
    words = re.split(r"[^a-z0-9]+", metric.lower())
    return any(word in LOWER_NAMES or word.endswith(("loss", "error")) for word in words)


def _stage(item: Any) -> Stage:
    if isinstance(item, str):
        item = {"name": item}
    name = check_stage(str(item["name"]))
    return Stage(name=name, branch=str(item.get("branch") or f"{BRANCH_PREFIX}{name}"),
                 gates=dict(item.get("gates") or {}))
