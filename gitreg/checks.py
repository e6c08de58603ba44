"""``check-promotion`` (CI on pull requests into a stage) and ``verify`` (the whole registry)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gitreg import dvcyaml, gates, refs, yamlio
from gitreg.card import CARD_FILE, Card
from gitreg.config import Config, Stage
from gitreg.errors import CardError, InvalidInputError, NotFoundError
from gitreg.git import CatFile, Git
from gitreg.index import BrokenTag, ModelVersion
from gitreg.stages import group_by_model, match_model, resolve_stages


@dataclass
class ModelCheck:
    model: str
    from_version: str | None
    to_version: str | None
    problems: list[str] = field(default_factory=list)
    checks: list[gates.GateCheck] = field(default_factory=list)
    deltas: dict[str, tuple] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.problems and all(check.passed for check in self.checks)


@dataclass
class PromotionReport:
    stage: str
    base: str
    head: str
    models: list[ModelCheck]

    @property
    def passed(self) -> bool:
        return all(model.passed for model in self.models)

    def to_dict(self) -> dict:
        return {"stage": self.stage, "base": self.base, "head": self.head, "passed": self.passed,
                "models": [{"model": m.model, "from_version": m.from_version, "to_version": m.to_version,
                            "passed": m.passed, "problems": m.problems,
                            "gates": [vars(c) for c in m.checks],
                            "deltas": {k: list(v) for k, v in m.deltas.items()}} for m in self.models]}


def infer_stage(config: Config, base: str) -> Stage:
    """The stage whose branch ``base`` names (``stage/prod``, ``origin/stage/prod``, ``refs/…``)."""
    for stage in config.stages:
        if base == stage.branch or base.endswith(f"/{stage.branch}"):
            return stage
    raise InvalidInputError(f"{base} is not a stage branch: name the target with --stage STAGE")


def check_promotion(git: Git, config: Config, versions: list[ModelVersion], base: str, head: str,
                    stage: Stage, ungated: frozenset[str] = frozenset()) -> PromotionReport:
    """Every model that differs between ``base`` and ``head`` must equal a registered version, and
    pass the stage's gates unless it is in ``ungated`` (rollbacks and retirements)."""
    base_commit, head_commit = _commit(git, base), _commit(git, head)
    registered = group_by_model(versions)
    views = resolve_stages(git, config, versions)
    report = PromotionReport(stage.name, base_commit, head_commit, [])
    with git.cat_file() as cat:
        before = cat.subtrees(f"{base_commit}:{refs.MODELS_DIR}")
        after = cat.subtrees(f"{head_commit}:{refs.MODELS_DIR}")
        for name in sorted(set(before) | set(after)):
            if before.get(name) == after.get(name):
                continue
            old = match_model(cat, base_commit, name, before[name], registered.get(name, {})) if name in before else None
            new = match_model(cat, head_commit, name, after[name], registered.get(name, {})) if name in after else None
            report.models.append(_check_model(cat, config, stage, views, head_commit, name, old, new,
                                              gated=name not in ungated))
    return report


def _check_model(cat: CatFile, config, stage, views, head, name, old, new, gated: bool = True) -> ModelCheck:
    old_version = old if isinstance(old, ModelVersion) else None
    result = ModelCheck(name, old_version.version if old_version else None,
                        new.version if isinstance(new, ModelVersion) else None)
    if isinstance(new, str):
        result.problems.append(f"models/{name}/ {new}")
        return result
    if new is None:
        return result  # a retirement: no gates
    entry = (yamlio.load(cat.blob(f"{head}:{dvcyaml.DVC_YAML}") or b"") or {}).get("artifacts", {}).get(name)
    if entry != dvcyaml.entry(new.card):
        result.problems.append(f"the dvc.yaml entry of {name} does not match {new.tag}")
    in_stage = {s: (v.version_of(name).version if v.version_of(name) else None) for s, v in views.items()}
    if gated:
        result.checks = gates.evaluate(new.card, stage, config, in_stage, old_version.card if old_version else None)
    if old_version:
        result.deltas = _deltas(old_version.card, new.card)
    return result


def _deltas(old: Card, new: Card) -> dict[str, tuple]:
    deltas = {}
    for metric in sorted(set(old.metrics) | set(new.metrics)):
        a, b = old.metrics.get(metric), new.metrics.get(metric)
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
        deltas[metric] = (a, b, b - a if numeric else None)
    return deltas


def markdown(report: PromotionReport) -> str:
    verdict = "passed" if report.passed else "FAILED"
    lines = [f"## gitreg promotion check into `{report.stage}`: {verdict}", ""]
    if not report.models:
        lines.append("No model changes.")
    for model in report.models:
        mark = "✅" if model.passed else "❌"
        was = f"v{model.from_version}" if model.from_version else "—"
        change = f"{was} → v{model.to_version}" if model.to_version else "retired"
        lines += [f"### {mark} `{model.model}`: {change}", ""]
        lines += [f"- ❌ {problem}" for problem in model.problems]
        if model.deltas:
            lines += ["", "| metric | before | after | delta |", "|---|---|---|---|"]
            lines += [f"| {k} | {_cell(a)} | {_cell(b)} | {_cell(d, signed=True)} |" for k, (a, b, d) in model.deltas.items()]
        if model.checks:
            lines += ["", "| gate | actual | required | result |", "|---|---|---|---|"]
            lines += [f"| {c.name} | {c.actual} | {c.required} | {'pass' if c.passed else '**FAIL**'} |"
                      for c in model.checks]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _cell(value, signed: bool = False) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:+.4g}" if signed else f"{value:.4g}"
    return f"{value:+}" if signed and isinstance(value, int) else str(value)


def verify(git: Git, config: Config, versions: list[ModelVersion], broken: list[BrokenTag]) -> list[str]:
    """Every breach of the registry's invariants; empty when all is well."""
    problems = [f"tag {b.tag}: {b.reason}" for b in broken]
    with git.cat_file() as cat:
        for version in versions:
            problems += verify_version(cat, version)
    for view in resolve_stages(git, config, versions).values():
        problems += [str(breach) for breach in view.breaches.values()]
    return problems


def verify_version(cat: CatFile, version: ModelVersion) -> list[str]:
    where = f"models/{version.name}/{CARD_FILE} at {version.tag}"
    blob = cat.blob(f"{version.commit}:{refs.model_dir(version.name)}/{CARD_FILE}")
    if blob is None:
        return [f"tag {version.tag}: no {CARD_FILE} in its tree"]
    try:
        card = Card.from_yaml(blob, where)
    except CardError as exc:
        return [f"tag {version.tag}: {exc}"]
    problems = []
    if card.to_dict() != version.card.to_dict():
        problems.append(f"tag {version.tag}: its message index and {where} disagree")
    pointer = f"{version.commit}:{refs.model_dir(version.name)}/{card.artifact.path}.dvc"
    if cat.blob(pointer) is None:
        problems.append(f"tag {version.tag}: no DVC pointer {card.artifact.path}.dvc in its tree")
    return problems


def _commit(git: Git, rev: str) -> str:
    found = git.rev_parse(rev)
    if not found:
        raise NotFoundError(f"{rev} is not a commit here: fetch it first (`git fetch origin {rev}`)")
    return found
