"""What the server, ``verify`` and ``log`` read of A/B tests on stage branches.

The rules, judged on every first-parent commit of a stage branch (the hook, ``check-promotion``):
an ``experiments/<name>.yaml`` present after the commit reads as a record of that model and stage, and
``models/<name>/`` then holds its control version; a record that appears names a registered candidate
other than the control, not deprecated, that passes the stage's gates (a recorded ``--force`` counts only
from identities under ``overrides:``); a running record is never edited; a commit that ends a test and
changes the model installs the candidate. One file per model makes one running test per model and stage.
"""

from __future__ import annotations

from datetime import datetime, timezone

from gitreg.domain import experiment as rules
from gitreg.domain import gates, refs, three_way
from gitreg.domain.config import Config, Stage
from gitreg.domain.event import Event
from gitreg.domain.version import ModelVersion
from gitreg.errors import UnsafeContentError
from gitreg.io.git import CatFile, CommitRecord, Git
from gitreg.services.history import clock_of
from gitreg.services.resolve import match_tree

AB_EVENT = 1  # audit.STAGE_CHANGE: ordered with the stage events by the commit's Gitreg-Clock
AFTER_STAGE_EVENT = 1 << 62  # then after the stage event of the same commit (a conclusion that promotes shows both)


def step_files(git: Git, cat: CatFile, record: CommitRecord | None, base: str | None,
               head: str) -> tuple[dict[str, str], dict[str, str]]:
    """``experiments/`` files ({file: blob}) before and after a stage step (``record`` None: the merge a
    pull request from ``head`` into ``base`` would make)."""
    def files(rev: str | None) -> dict[str, str]:
        return cat.files(f"{rev}:{rules.EXPERIMENTS_DIR}") if rev else {}

    if record is not None:
        return files(record.parents[0] if record.parents else None), files(record.oid)
    fork = git.merge_base(base, head) if base else None
    before, forked, proposed = files(base), files(fork), files(head)
    after = three_way.merged(before, forked, proposed)
    return before, after


def judge_step(cat: CatFile, step, files: tuple[dict[str, str], dict[str, str]], config: Config, stage: Stage,
               registered: dict[str, dict[str, ModelVersion]], in_stage, deprecated, author: str | None) -> list[str]:
    before, after = files
    where = f"commit {step.oid[:8]}" if step.oid else "the pull request"
    problems = []
    for file in sorted(set(before) | set(after)):
        name = file[: -len(".yaml")] if file.endswith(".yaml") else None
        path = f"{rules.EXPERIMENTS_DIR}/{file}"
        if name is None or not refs.NAME_RE.match(name):
            if before.get(file) != after.get(file):
                problems.append(f"{where}: {path} is not an experiment record (experiments/<model>.yaml)")
            continue
        problems += [f"{where}: {path}: {p}" for p in
                     _judge_model(cat, step, name, before.get(file), after.get(file), config, stage,
                                  registered.get(name, {}), in_stage(name), deprecated, author)]
    return problems


def _judge_model(cat, step, name, old, new, config, stage, versions, in_stage, deprecated, author) -> list[str]:
    tree = step.after.get(name)
    held = match_tree(cat, name, tree, versions) if tree else None
    held = held if isinstance(held, ModelVersion) else None
    if new is None:
        if old is not None and step.before.get(name) != tree:
            ended = _read(cat, old)
            if isinstance(ended, rules.Experiment) and (held is None or held.version != ended.candidate):
                return [f"a commit that ends an A/B test and changes models/{name}/ must install its candidate "
                        f"v{ended.candidate}"]
        return []
    record = _read(cat, new)
    if isinstance(record, str):
        return [record]
    problems = []
    if record.model != name or record.stage != stage.name:
        problems.append(f"says {record.model} in {record.stage}; this file is {name}'s record in {stage.name}")
    if held is None or held.version != record.control:
        problems.append(f"while an A/B test runs, models/{name}/ holds its control v{record.control} (it holds "
                        f"{held.tag if held else 'no registered version'}): conclude the test before changing the model")
    if old == new:
        return problems
    if old is not None:
        return problems + ["a running A/B test's record is never edited (routing would change): conclude it "
                           "and start another"]
    candidate = versions.get(record.candidate)
    if candidate is None:
        return problems + [f"its candidate v{record.candidate} is not a registered version of {name}"]
    if record.candidate == record.control:
        problems.append("its candidate is its control")
    withdrawn = deprecated.get((name, record.candidate))
    if withdrawn:
        problems.append(f"its candidate {candidate.tag} is deprecated")
    checks = gates.evaluate(candidate.card, stage, config, in_stage, held.card if held else None)
    failing = [c for c in checks if not c.passed]
    if failing:
        allowed = bool(record.override) and _may_override(author or "", config.overrides)
        if not allowed:
            problems.append(f"its candidate {candidate.tag} fails the gates of {stage.name}: "
                            + "; ".join(str(c) for c in failing)
                            + (" (--force by an identity not listed under overrides: in .gitreg.yaml)"
                               if record.override else ""))
    return problems


def _read(cat: CatFile, blob_oid: str) -> rules.Experiment | str:
    try:
        return rules.Experiment.from_yaml(cat.blob(blob_oid) or b"", "the record")
    except UnsafeContentError as exc:
        return f"does not read as an experiment record ({exc})"


def _may_override(author: str, allowed: tuple[str, ...]) -> bool:
    email = author.rpartition("<")[2].rstrip(">").strip().lower()
    return bool(author) and any(entry.lower() == author.lower() or ("<" not in entry and entry.lower() == email)
                                for entry in allowed)


def author_of(cat: CatFile, record: CommitRecord) -> str:
    """Who made an experiment commit: its author, or for a forge's merge without our trailers the second parent's."""
    if rules.parse_trailers(record.message) or len(record.parents) < 2:
        return f"{record.author_name} <{record.author_email}>"
    found = cat.get(record.parents[1])
    for line in (found[2].decode(errors="replace").splitlines() if found else []):
        if line.startswith("author "):
            return line[len("author "):].rpartition(">")[0] + ">"
        if not line:
            break
    return f"{record.author_name} <{record.author_email}>"


def verify_problems(git: Git, views, registered: dict[str, dict[str, ModelVersion]]) -> list[str]:
    """The running records at each stage tip: readable, of that model and stage, over their control."""
    problems = []
    with git.cat_file() as cat:
        for view in views.values():
            if not view.tip:
                continue
            for file, oid in sorted(cat.files(f"{view.tip}:{rules.EXPERIMENTS_DIR}").items()):
                where = f"{view.stage.branch}: {rules.EXPERIMENTS_DIR}/{file}"
                name = file.removesuffix(".yaml")
                record = _read(cat, oid)
                if isinstance(record, str):
                    problems.append(f"{where} {record}")
                    continue
                if (record.model, record.stage) != (name, view.stage.name):
                    problems.append(f"{where} says {record.model} in {record.stage}")
                held = view.version_of(name)
                if held is None or held.version != record.control:
                    problems.append(f"{where}: its control v{record.control} is not what the stage holds "
                                    f"({held.tag if held else 'nothing'})")
                if record.candidate not in registered.get(name, {}):
                    problems.append(f"{where}: its candidate v{record.candidate} is not a registered version")
    return problems


# ------------------------------------------------------------------------------------ the log
def events(git: Git, config: Config, model: str | None, stage: str | None) -> list[tuple[tuple, Event]]:
    """ab-start, ab-stop, ab-conclude, ab-resume: every change of an experiment record on a stage branch."""
    keyed = []
    tips = git.branch_tips()
    for stage_config in config.stages:
        tip = tips.get(stage_config.branch, (None,))[0]
        if tip is None or (stage is not None and stage_config.name != stage):
            continue
        path = rules.path_of(model) if model else rules.EXPERIMENTS_DIR
        records = git.first_parent_log(tip, path)[::-1]
        if not records:
            continue
        with git.cat_file() as cat:
            clock = 0
            for position, record in enumerate(records):
                found = _events_of(cat, record, stage_config.name, model)
                if found:  # the clock of the commit (a merge's second parent's), as the stage events read it
                    clock = max(clock, clock_of(cat, record))
                for event in found:
                    keyed.append(((record.timestamp, AB_EVENT, clock, AFTER_STAGE_EVENT + position), event))
    return keyed


def _events_of(cat: CatFile, record: CommitRecord, stage: str, model: str | None) -> list[Event]:
    parent = record.parents[0] if record.parents else None
    before = cat.files(f"{parent}:{rules.EXPERIMENTS_DIR}") if parent else {}
    after = cat.files(f"{record.oid}:{rules.EXPERIMENTS_DIR}")
    trailers = rules.parse_trailers(record.message)
    if trailers is None and len(record.parents) > 1:
        found = cat.get(record.parents[1])
        trailers = rules.parse_trailers(found[2].decode(errors="replace")) if found else None
    found_events = []
    for file in sorted(set(before) | set(after)):
        name = rules.model_of_path(f"{rules.EXPERIMENTS_DIR}/{file}")
        if before.get(file) == after.get(file) or name is None or (model and name != model):
            continue
        parsed = _read(cat, after.get(file) or before[file])
        if isinstance(parsed, str):
            continue
        if file not in before:
            action = "ab-resume" if trailers and trailers.action == rules.RESUME else "ab-start"
        elif file not in after:
            models_before = cat.subtrees(f"{parent}:{refs.MODELS_DIR}") if parent else {}
            changed = models_before.get(name) != cat.subtrees(f"{record.oid}:{refs.MODELS_DIR}").get(name)
            action = "ab-conclude" if changed else "ab-stop"
        else:
            action = "ab-edit"
        fields = trailers.fields if trailers and trailers.model == name else {}
        detail = {**parsed.to_dict(), "verdict": fields.get("Verdict"), "method": fields.get("Method"),
                  "p_value": fields.get("P-Value"), "samples": fields.get("Samples")}
        version = parsed.candidate if action == "ab-conclude" else parsed.control
        found_events.append(Event(action, name, version, parsed.control, stage,
                                  f"{record.author_name} <{record.author_email}>",
                                  datetime.fromtimestamp(record.timestamp, timezone.utc).isoformat(), record.oid,
                                  parsed.gates if action in ("ab-start", "ab-resume") else (),
                                  parsed.override if action in ("ab-start", "ab-resume") else None,
                                  experiment=detail))
    return found_events
