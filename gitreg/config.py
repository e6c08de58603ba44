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
DIRECTIONS = (*LOWER_WORDS, "higher", "max", "maximize")
GATE_KEYS = {"requires", "metrics", "no_regression"}
RESERVED_BRANCHES = ("main", "master", "HEAD")
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
    overrides: tuple[str, ...] = ()  # identities ("Name <email>" or "email") the server lets force gates
    ci_install: str | None = None  # the pip requirement the generated workflows install

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
        except yamlio.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark else ""
            raise _invalid(f"it is not valid YAML ({where}{getattr(exc, 'problem', None) or exc})") from exc
        return _validated(data)


def _invalid(reason: str) -> InvalidInputError:
    return InvalidInputError(f"{CONFIG_FILE} on the main branch is invalid: {reason}; fix it and commit")


def _validated(data: Any) -> Config:
    if not isinstance(data, dict):
        raise _invalid("it must be a mapping with a 'stages' list")
    if data.get("schema", 1) != 1:
        raise _invalid(f"schema {data['schema']!r} is not supported (this gitreg reads schema 1)")
    items = data.get("stages")
    if not isinstance(items, list) or not items:
        raise _invalid("'stages' must be a non-empty list of stages")
    stages = tuple(_stage(item) for item in items)
    for attribute in ("name", "branch"):
        values = [getattr(stage, attribute) for stage in stages]
        duplicates = sorted({value for value in values if values.count(value) > 1})
        if duplicates:
            raise _invalid(f"two stages share the {attribute} {duplicates[0]!r}")
    names = {stage.name for stage in stages}
    for stage in stages:
        unknown = [r for r in _as_list(stage.gates.get("requires")) if r not in names]
        if unknown:
            raise _invalid(f"the gates of {stage.name} require the unknown stage {unknown[0]!r}")
    directions = data.get("metrics") or {}
    if not isinstance(directions, dict) or any(str(v).lower() not in DIRECTIONS for v in directions.values()):
        raise _invalid("'metrics' must map metric names to 'higher' or 'lower'")
    overrides = data.get("overrides") or []
    if not isinstance(overrides, list) or not all(isinstance(o, str) and o.strip() for o in overrides):
        raise _invalid("'overrides' must list identities allowed to force gates, e.g. - Ada <ada@example.com>")
    ci = data.get("ci") or {}
    if not isinstance(ci, dict) or not isinstance(ci.get("install", ""), str):
        raise _invalid("'ci' must be a mapping like {install: \"gitreg==0.1.0\"}")
    return Config(stages=stages, metric_directions=dict(directions),
                  overrides=tuple(o.strip() for o in overrides), ci_install=ci.get("install") or None)


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
    if not isinstance(item, dict) or "name" not in item:
        raise _invalid(f"each stage needs a name, e.g. '- name: staging' (found {item!r})")
    try:
        name = check_stage(str(item["name"]))
    except InvalidInputError as exc:
        raise _invalid(str(exc)) from exc
    branch = str(item.get("branch") or f"{BRANCH_PREFIX}{name}")
    if branch in RESERVED_BRANCHES or branch.startswith("refs/"):
        raise _invalid(f"stage {name} cannot use the branch {branch!r}: give it its own, e.g. stage/{name}")
    gates = item.get("gates") or {}
    if not isinstance(gates, dict) or set(gates) - GATE_KEYS:
        raise _invalid(f"the gates of {name} may only set {', '.join(sorted(GATE_KEYS))}")
    if not isinstance(gates.get("metrics") or {}, dict):
        raise _invalid(f"the metric gates of {name} must map metrics to conditions, e.g. accuracy: '>= 0.9'")
    return Stage(name=name, branch=branch, gates=dict(gates))


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]
