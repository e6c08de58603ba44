"""A/B tests: start one on a stage, route keys, report on outcomes, conclude it (promote or stop).

A mixin of :class:`gitreg.registry.Registry`. The running test is ``experiments/<name>.yaml`` on the
stage branch, started and concluded by recorded commits (see :mod:`gitreg.services.experiments`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gitreg.domain import refs
from gitreg.errors import InvalidInputError, NotFoundError
from gitreg.services.snapshot import Snapshot

if TYPE_CHECKING:
    from gitreg.domain.experiment import Experiment
    from gitreg.services.ab_router import Router
    from gitreg.services.experiments import AbResult


class Experiments:
    def ab_start(self, name: str, stage: str = "production", *, candidate: str, split: float,
                 metric: str = "conversion", direction: str | None = None, key_field: str = "key",
                 min_samples: int | None = None, force: bool = False, require: Iterable[str] = (),
                 pr: bool = False, dry_run: bool = False, push: bool = False,
                 experiment_id: str | None = None, sign: bool | None = None) -> AbResult:
        """Start an A/B test of ``name`` in ``stage``: ``candidate`` gets ``split`` percent of keys, the version
        in the stage now is the control. One commit on the stage branch (``pr``: on a branch for review)
        recording id, control, candidate, split, start time, author, the decision ``metric`` and its
        ``direction`` (default: as ``.gitreg.yaml``'s ``metrics:`` says, else higher is better). The candidate
        must pass the stage's gates (``force`` is recorded). A second test of the same model and stage is
        refused while one runs. ``sign`` signs the commit (default: as ``signing: {required_for: [...]}`` says
        for ``stage``)."""
        from gitreg.domain import experiment as rules
        from gitreg.domain.config import lower_is_better
        from gitreg.services import experiments, stage_change

        self._require_writable()
        name, candidate = refs.check_name(name), refs.check_version(candidate)
        split = rules.check_split(split)
        rules.check_field(metric, "--metric")
        rules.check_field(key_field, "--key-field")
        min_samples = rules.check_min_samples(rules.DEFAULT_MIN_SAMPLES if min_samples is None else min_samples)
        if experiment_id is not None:
            rules.check_id(experiment_id)
        if direction is not None and direction not in rules.DIRECTIONS:
            raise InvalidInputError(f"--direction {direction!r} must be higher or lower")
        config = self.config
        target = config.stage(stage)
        direction = direction or ("lower" if lower_is_better(metric, config.metric_directions) else "higher")
        stage_change.refuse_checked_out(self.git, target)
        identity = self.git.identity()
        require = tuple(require)

        def build(snapshot: Snapshot):
            return experiments.plan_start(self.git, snapshot, target, name, candidate, split=split, metric=metric,
                                          direction=direction, key_field=key_field, min_samples=min_samples,
                                          force=force, require=require, identity=identity,
                                          experiment_id=experiment_id)

        def read() -> Snapshot:
            return Snapshot.read(self.git, name, config)

        with self._signing(False if dry_run else sign, stages=(target.name,)):
            if pr and not dry_run:
                snapshot = read()
                plan = build(snapshot)
                variants = [snapshot.version(name, v) for v in (plan.record.control, plan.record.candidate)]
                return experiments.open_review(self.git, plan, identity, variants)
            return self._ab_write(target, lambda: experiments.run(self.git, read, build, identity, dry_run),
                                  push and not dry_run, config)

    def ab_conclude(self, name: str, stage: str = "production", *, promote: bool = False, stop: bool = False,
                    outcomes: str | os.PathLike | None = None, force: bool = False, dry_run: bool = False,
                    push: bool = False, sign: bool | None = None) -> AbResult:
        """End the A/B test of ``name`` in ``stage`` in one commit: ``promote`` the candidate (through the gates;
        the report of ``outcomes`` must say ``candidate wins`` without a sample-ratio mismatch, unless
        ``force``, which is recorded) or ``stop`` it (the control stays). The verdict goes in the trailers.
        ``rollback`` undoes it exactly (the test runs again; after a promotion the control is back). ``sign``
        as for ``ab_start``."""
        from gitreg.services import ab_report, experiments, stage_change

        self._require_writable()
        if promote == stop:
            raise InvalidInputError("conclude with --promote (the candidate replaces the control) or --stop "
                                    "(the control stays)")
        name = refs.check_name(name)
        config = self.config
        target = config.stage(stage)
        stage_change.refuse_checked_out(self.git, target)
        identity = self.git.identity()
        report = (lambda record: ab_report.report(record, outcomes)) if outcomes is not None else None

        def build(snapshot: Snapshot):
            return experiments.plan_conclude(self.git, snapshot, target, name, promote=promote, report=report,
                                             force=force, identity=identity)

        def attempt() -> AbResult:
            return experiments.run(self.git, lambda: Snapshot.read(self.git, name, config), build, identity, dry_run)

        with self._signing(False if dry_run else sign, stages=(target.name,)):
            return self._ab_write(target, attempt, push and not dry_run, config)

    def _ab_write(self, target, attempt, push: bool, config):
        from gitreg.services import experiments

        return experiments.publish(self.git, config, target, attempt) if push else attempt()

    def ab_report(self, name: str, stage: str = "production", *, outcomes: str | os.PathLike) -> dict[str, Any]:
        """The running test's report on ``outcomes`` (CSV: the key column, the metric, optionally
        ``variant``): per variant count, mean and 95% interval, the test, the difference, P(candidate
        better), the sample-ratio check and the verdict, decided with an always-valid (mSPRT) p-value."""
        from gitreg.services import ab_report

        return ab_report.report(self._running(name, stage), outcomes)

    def _running(self, name: str, stage: str) -> Experiment:
        from gitreg.services import experiments

        name = refs.check_name(name)
        snapshot = self.snapshot(name)
        view = snapshot.stage_views[snapshot.stage(stage).name]
        found = experiments.running(self.git, view.tip, name, view.stage.name)
        if found is None:
            raise NotFoundError(f"no A/B test of {name} is running in {view.stage.name}: `gitreg ab status` "
                                "lists them")
        return found

    def experiments(self, name: str | None = None, *, snapshot: Snapshot | None = None) -> list[Experiment]:
        """The running A/B tests (of ``name``, or every model's), by stage then model."""
        from gitreg.services import ab_records

        snapshot = snapshot or self.snapshot(name)
        return [e for e in ab_records.all_running(self.git, snapshot.stage_views) if not name or e.model == name]

    def ab_status(self, name: str | None = None, *, stage: str | None = None,
                  outcomes: str | os.PathLike | None = None) -> list[dict[str, Any]]:
        """Running and finished A/B tests (of ``name``; in ``stage``), newest first, with split and age; with
        ``outcomes`` (and ``name``) each running test of that model gets its current verdict."""
        from gitreg.services import ab_report, experiment_checks

        if outcomes is not None and not name:
            raise InvalidInputError("--outcomes reports on one model's test: give its NAME")
        name = refs.check_name(name) if name else None
        snapshot = self.snapshot(name)
        if stage:
            snapshot.stage(stage)
        now = time.time()
        rows = []
        for record in self.experiments(name, snapshot=snapshot):
            if stage and record.stage != stage:
                continue
            row = {**record.to_dict(), "state": "running", "ended": None, "verdict": None,
                   "age_seconds": int(now - datetime.fromisoformat(record.started).timestamp())}
            if outcomes is not None:
                row["verdict"] = ab_report.report(record, outcomes)["verdict"]
            rows.append(row)
        ended = [event for _, event in sorted(experiment_checks.events(self.git, snapshot.config, name, stage),
                                              key=lambda item: item[0], reverse=True)
                 if event.action in ("ab-stop", "ab-conclude")]
        for event in ended:
            record = dict(event.experiment or {})
            started = datetime.fromisoformat(record["started"]).timestamp()
            rows.append({**record, "state": "promoted" if event.action == "ab-conclude" else "stopped",
                         "ended": event.time, "ended_by": event.author, "commit": event.commit,
                         "age_seconds": int(datetime.fromisoformat(event.time).timestamp() - started)})
        return rows

    def router(self, name: str, stage: str = "production", *, trusted: Iterable[str] | bool | None = None) -> Router:
        """Sticky routing for a service: ``router.route(key)`` gives the variant, version and loaded model for
        ``key`` (the documented hash of the experiment id and the key); each variant's model is loaded once,
        bytes verified (a file of no format gitreg loads: its verified path). Without a running test every key
        gets the stage's version."""
        from gitreg.services import experiments, retrieve
        from gitreg.services.ab_router import Router

        name = refs.check_name(name)
        snapshot = self.snapshot(name)
        view = snapshot.stage_views[snapshot.stage(stage).name]
        control = view.version_of(name)
        if control is None:
            raise NotFoundError(f"{name} is not in {view.stage.name}: nothing to route to")
        record = experiments.running(self.git, view.tip, name, view.stage.name)
        versions = {"control": control}
        if record is not None:
            experiments.check_integrity(record, view)
            versions["candidate"] = snapshot.version(name, record.candidate)
        dvc_root, policy = self._dvc_root(), self._pickle_policy()
        trust = trusted if trusted is True or trusted is None else list(trusted)

        def load(version):  # a file of no format gitreg loads: its verified local path, as Registry.path gives
            if version.card.artifact.loader == "file":
                return retrieve.local_path(self.git, dvc_root, version)
            return retrieve.load(self.git, dvc_root, version, policy, trust)

        return Router(view.stage.name, record, versions, load)
