"""``Registry``: the public Python API. The CLI is a thin shell over these methods.

Each method checks its arguments, reads one :class:`~gitreg.services.snapshot.Snapshot` and calls
one service. Reads make one pass over the version tags (or only the model's) and never import DVC;
writes plan first, with no side effect, then apply in one reversible step.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitreg.domain import catalog, refs
from gitreg.domain.catalog import ModelSummary
from gitreg.domain.config import CONFIG_FILE, Config, Stage
from gitreg.domain.trailers import StageChange
from gitreg.errors import InvalidInputError, NotARegistryError, NotFoundError
from gitreg.experiments import Experiments
from gitreg.interop import Interop
from gitreg.io import journal
from gitreg.io.git import Git
from gitreg.lifecycle import Lifecycle
from gitreg.services import config_source
from gitreg.services.snapshot import Snapshot
from gitreg.signing import Signing
from gitreg.trust import Trust
from gitreg.watching import Watching

# Write services, DVC-facing code and result types are imported where they are used: a read
# command then imports none of them (a third of its start-up time).
if TYPE_CHECKING:
    from gitreg.domain.compare import Comparison
    from gitreg.domain.event import Event
    from gitreg.domain.stage_view import StageView
    from gitreg.domain.stats import Stats
    from gitreg.domain.version import ModelVersion
    from gitreg.services.batch import BatchResult
    from gitreg.services.checks import PromotionReport
    from gitreg.services.gto_tags import TagSync
    from gitreg.services.leftovers import Repair
    from gitreg.services.predictor import Predictor
    from gitreg.services.registration import RegisterPlan, RegisterRequest
    from gitreg.services.stage_plan import StageResult
    from gitreg.services.sync import SyncReport
    from gitreg.services.train import TrainResult


def __getattr__(name: str) -> Any:
    if name == "EnvironmentMismatchWarning":  # the warning load() gives, importable from here as before
        from gitreg.services.retrieve import EnvironmentMismatchWarning

        return EnvironmentMismatchWarning
    raise AttributeError(f"module 'gitreg.registry' has no attribute {name!r}")


__all__ = ["ModelSummary", "Registry"]


class Registry(Lifecycle, Interop, Experiments, Trust, Signing, Watching):
    """A gitreg registry: a Git repository prepared by ``gitreg init``."""

    def __init__(self, path: str | os.PathLike = ".", *, remote_url: str | None = None,
                 trust_pickles: bool | None = None):
        # remote_url: ``path`` is the read-only mirror of that registry (see Registry.open)
        # trust_pickles: False refuses pickle-based artifacts, True loads them without a warning; None
        # does what .gitreg.yaml's `load: {pickle: ...}` says (warn by default)
        self.remote_url = remote_url
        self.trust_pickles = trust_pickles
        self.root = Path(path).resolve() if remote_url else Git.toplevel(path)
        self.git = Git(self.root)
        if not (self.root / CONFIG_FILE).is_file() and not self.git.read_blob("HEAD", CONFIG_FILE):
            fix = "`gitreg init` in a clone of it" if remote_url else f"`gitreg init {self.root}`"
            raise NotARegistryError(f"{remote_url or self.root} is a Git repository but not a gitreg registry: run {fix}")
        self.recovered: tuple[str, ...] = () if remote_url else _recover(self.git)

    @classmethod
    def open(cls, url: str, *, trust_pickles: bool | None = None) -> Registry:
        """A remote registry, read without a working clone (``git`` URL or path of a shared repository).

        Refs are mirrored into a cache directory and reused on the next call; artifact bytes come
        from the registry's DVC remote. The result is read-only.
        """
        from gitreg.io import mirror

        return cls(mirror.sync(url), remote_url=url, trust_pickles=trust_pickles)

    @classmethod
    def init(cls, path: str | os.PathLike = ".", remote: str | os.PathLike | None = None,
             remote_options: dict[str, str] | None = None,
             ci_install: str | None = None) -> tuple[Registry, bool]:
        """Prepare ``path`` as a registry (idempotent); returns the registry and whether anything changed.

        ``remote`` is the default DVC remote (a directory or a URL such as ``s3://bucket/prefix``);
        ``remote_options`` go to it (``endpointurl``, ``region``; credentials only to the
        uncommitted ``.dvc/config.local``). ``ci_install`` is the pip requirement the CI workflows
        install (``ci.install``; default for a new registry: this gitreg, ``gitreg-dvc==<version>``);
        given for an existing registry, it re-pins ``.gitreg.yaml`` and the workflows in one commit.
        """
        from gitreg.services import skeleton

        changed = skeleton.init(Path(path), os.fspath(remote) if remote is not None else None, remote_options,
                                ci_install=ci_install)
        return cls(path), changed

    @property
    def config(self) -> Config:
        """Stages and gates, from the ``.gitreg.yaml`` committed on the main branch."""
        return config_source.load(self.git)

    def snapshot(self, model: str | None = None) -> Snapshot:
        """What a command reads once: configuration, versions (of ``model``, or all), broken tags, stages."""
        return Snapshot.read(self.git, refs.check_name(model) if model else None)

    def _require_writable(self) -> None:
        if self.remote_url:
            raise InvalidInputError(
                f"{self.remote_url} was opened read-only: clone it (`git clone {self.remote_url}`) to change it"
            )

    def _dvc_root(self) -> Path:
        """Where DVC works for this registry: the clone itself, or a scratch project beside a mirror."""
        if not self.remote_url:
            return self.root
        from gitreg.io import artifact_store

        return artifact_store.load().prepare_workspace(self.root.parent / f"{self.root.name}.dvc",
                                                       self.git.read_blob("HEAD", ".dvc/config"))

    # ------------------------------------------------------------------ writes
    def plan_register(self, name: str, model_or_path: Any, *, version: str | None = None, bump: str | None = None,
                      metrics: dict[str, Any] | None = None, params: dict[str, Any] | None = None,
                      labels: Iterable[str] = (), description: str = "", data: Iterable[str] = (),
                      base: str | None = None, line: str | None = None, signature: dict[str, Any] | None = None,
                      format: str | None = None, input_example: Any = None, allow_dirty_data: bool = False,
                      code_repo: str | None = None, code_commit: str | None = None) -> RegisterPlan:
        """What ``register`` with these arguments would do (version, tag, card, parent); changes nothing
        (and unpickles nothing)."""
        from gitreg.services import registration

        snapshot = self._writable_snapshot(refs.check_name(name), push=False)
        request = _request(name, model_or_path, version, bump, metrics, params, labels, description, data, base, line,
                           serialization=snapshot.config.serialization, fmt=format, signature=signature,
                           input_example=input_example,
                           lineage=dict(allow_dirty_data=allow_dirty_data, code_repo=code_repo, code_commit=code_commit))
        return registration.plan(self.git, request, snapshot.history(request.name)[::-1])

    def register(self, name: str, model_or_path: Any, *, version: str | None = None, bump: str | None = None,
                 metrics: dict[str, Any] | None = None, params: dict[str, Any] | None = None,
                 labels: Iterable[str] = (), description: str = "", data: Iterable[str] = (),
                 base: str | None = None, push: bool = False, line: str | None = None,
                 mlflow_run: str | None = None, tracking_uri: str | None = None,
                 origin: dict[str, Any] | None = None, signature: dict[str, Any] | None = None,
                 format: str | None = None, input_example: Any = None, allow_dirty_data: bool = False,
                 code_repo: str | None = None, code_commit: str | None = None,
                 sign: bool | None = None) -> ModelVersion:
        """Register a new version of ``name`` (``plan_register`` shows what it would do).

        ``mlflow_run`` takes metrics, params and description from that MLflow run (at ``tracking_uri`` or
        ``MLFLOW_TRACKING_URI``; those given here win) and records the run in the lineage.

        With ``push`` the artifact goes to the DVC remote, then the commit and tag to ``origin`` in
        one atomic push; when another writer pushed first, the registration is redone on top of
        theirs (with ``bump``, as the next free version). ``line`` (``"2.4"`` or ``"2"``) with ``bump``
        patch (or minor for a major line) bumps the latest version of that maintenance line.

        An object is saved with skops (``serialization: joblib`` in ``.gitreg.yaml`` for joblib); a file's
        format comes from its name (``format=`` to say it). A pickle is never unpickled to read its
        signature: pass ``signature=`` (e.g. ``{"n_features": 30, "classes": [0, 1]}``) instead.
        ``input_example`` (a DataFrame or 2-D array of a few rows) records input columns with dtypes,
        outputs and the first rows in the signature; ``predictor`` then checks inputs against it.
        ``data`` (:mod:`gitreg.services.lineage`): PATHs, dvc.lock STAGEs or ``REPO@REV:PATH``; a workspace input
        that differs from its DVC pointer is refused unless ``allow_dirty_data``. ``code_repo``/``code_commit``:
        where the training code came from (default: this repository's HEAD).
        ``sign`` signs the commit and the version tag (default: as ``signing: {versions: true}`` says).
        """
        with self._signing(sign, versions=True):
            return self._register(name, model_or_path, version, bump, metrics, params, labels, description, data,
                                  base, push, line, mlflow_run, tracking_uri, origin, signature, format, input_example,
                                  dict(allow_dirty_data=allow_dirty_data, code_repo=code_repo, code_commit=code_commit))

    def _register(self, name, model_or_path, version, bump, metrics, params, labels, description, data, base, push,
                  line, mlflow_run, tracking_uri, origin, signature, format, input_example,
                  lineage: dict) -> ModelVersion:
        from gitreg.services import registration, sync

        if mlflow_run:
            from gitreg.integrations import mlflow_bridge

            facts = mlflow_bridge.run_facts(tracking_uri, mlflow_run)
            metrics, params = {**facts.metrics, **(metrics or {})}, {**facts.params, **(params or {})}
            description, origin = description or facts.description, {**facts.origin, **(origin or {})}
        snapshot = self._writable_snapshot(refs.check_name(name), push)
        request = _request(name, model_or_path, version, bump, metrics, params, labels, description, data, base, line,
                           origin=origin, serialization=snapshot.config.serialization, fmt=format,
                           signature=signature, input_example=input_example,
                           lineage=lineage)

        def plan(current: Snapshot) -> RegisterPlan:
            return registration.plan(self.git, request, current.history(request.name)[::-1])

        if push:
            return sync.publish_registration(self.git, lambda: plan(Snapshot.read(self.git, request.name, snapshot.config)),
                                             lambda planned: registration.apply(self.git, planned))
        return registration.apply(self.git, plan(snapshot))

    def register_many(self, manifest: str | os.PathLike, *, push: bool = False, dry_run: bool = False,
                      sign: bool | None = None) -> BatchResult:
        """Register every entry of a YAML manifest (``models:``: name, path, version or bump, metrics, params,
        labels, description, data, base, line), all or nothing: each entry is planned before anything is
        stored, and a failure takes back the versions made before it. With ``push``, one atomic push of
        the branch and every tag, bytes first; when it is refused nothing is kept."""
        from gitreg.services import batch, sync

        requests = batch.read_manifest(Path(manifest))
        self._writable_snapshot(requests[0].name, push)
        if push:
            sync.require_remote(self.git)
            sync.fetch_registry(self.git)
            sync.follow_current_branch(self.git)
        snapshot = Snapshot.read(self.git)
        histories = {r.name: snapshot.history(r.name)[::-1] if r.name in snapshot.by_model else [] for r in requests}
        plans = batch.plan_all(self.git, requests, histories)
        if dry_run:
            from gitreg.domain.version import ModelVersion

            return batch.BatchResult([ModelVersion(p.name, p.version, p.tag, "", p.card) for p in plans], planned=True)
        from gitreg.io import journal

        with journal.exclusive(self.git), self._signing(sign, versions=True):
            return batch.register_all(self.git, requests, histories, push)

    def _writable_snapshot(self, name: str, push: bool) -> Snapshot:
        """A version is registered on a branch of its own history: not on a stage branch, and with --push
        not on a detached HEAD (there would be no branch to publish it with)."""
        self._require_writable()
        snapshot = Snapshot.read(self.git, name)
        head_ref, _ = self.git.head()
        branch = (head_ref or "").removeprefix("refs/heads/")
        if head_ref in {stage.ref for stage in snapshot.config.stages}:
            raise InvalidInputError(f"{branch} is a stage branch, and versions are registered on the main branch: "
                                    "switch to it with `git switch main`, then register")
        if push and head_ref is None:
            raise InvalidInputError("register --push needs a branch checked out (HEAD is detached): "
                                    "switch to your main branch with `git switch main`")
        return snapshot

    def promote(self, name: str, version: str, stage: str, *, force: bool = False, require: Iterable[str] = (),
                pr: bool = False, dry_run: bool = False, push: bool = False, sign: bool | None = None) -> StageResult:
        """Put ``name`` ``version`` in ``stage`` (a --no-ff merge on the stage branch) if its gates pass.

        With ``pr`` only the promotion branch is made (and pushed when there is a Git remote).
        With ``push`` the stage branch is published to ``origin`` (redone on top of any concurrent change).
        """
        from gitreg.services import stage_change

        ref = refs.ModelRef(refs.check_name(name), refs.check_version(version))

        def change(snapshot: Snapshot, target: Stage) -> StageResult:
            return stage_change.promote(self.git, snapshot, snapshot.resolve(ref), target, force=force,
                                        require=tuple(require), pr=pr, dry_run=dry_run)

        intent = StageChange("promote", ref.name, stage, ref.version, None)
        return self._stage_change(change, push and not (dry_run or pr), intent, False if dry_run else sign)

    def promote_train(self, references: Iterable[str | refs.ModelRef] = (), stage: str = "", *,
                      match: str | None = None, force: bool = False, require: Iterable[str] = (),
                      dry_run: bool = False, push: bool = False, sign: bool | None = None) -> TrainResult:
        """A release train: every version ``references`` names (or ``match`` selects, one per model) promoted
        to ``stage`` in one merge commit, after every model's gates pass (all or nothing). With ``push`` it
        is published at once, bytes first, and taken back here when ``origin`` refuses it."""
        from gitreg.domain import gates
        from gitreg.services import train

        target, snapshot = self._train_start(stage, push)
        if match is not None:
            if references:
                raise InvalidInputError("--match selects the train itself: give no NAME@VERSION")
            versions = self.search(match, snapshot=snapshot)
            if not versions:
                raise NotFoundError(f"no version that is not deprecated matches {match!r}: nothing to promote")
        else:
            versions = [snapshot.resolve(self._ref(r)) for r in references]
        if len(versions) < 1:
            raise InvalidInputError("name the train's versions, e.g. --set churn@1.4.0 fraud@2.0.1 production")
        identity = self.git.identity()
        plan = train.plan_promote(self.git, snapshot, versions, target, force=force,
                                  extra=gates.parse_requirements(tuple(require)), identity=identity)
        if dry_run:
            return train.TrainResult(plan, None)
        with self._signing(sign, stages=(target.name,)):
            return train.apply(self.git, plan, identity, snapshot.config, push)

    def rollback_train(self, stage: str, *, dry_run: bool = False, push: bool = False,
                       sign: bool | None = None) -> TrainResult:
        """Undo the newest release train of ``stage``: every model it carried back to what it replaced, in
        one commit (a model of the train changed since is rolled back on its own)."""
        from gitreg.services import train

        target, snapshot = self._train_start(stage, push)
        plan = train.plan_rollback(self.git, snapshot, target)
        if dry_run:
            return train.TrainResult(plan, None)
        with self._signing(sign, stages=(target.name,)):
            return train.apply(self.git, plan, self.git.identity(), snapshot.config, push)

    def _train_start(self, stage: str, push: bool) -> tuple[Stage, Snapshot]:
        from gitreg.services import stage_change, sync

        self._require_writable()
        if push:
            sync.require_remote(self.git)
            sync.fetch_registry(self.git)
            sync.follow_stage_branches(self.git, self.config)
        snapshot = Snapshot.read(self.git)
        target = snapshot.stage(stage)
        stage_change.refuse_checked_out(self.git, target)
        return target, snapshot

    def rollback(self, name: str, stage: str, *, to: str | None = None, dry_run: bool = False,
                 push: bool = False, sign: bool | None = None) -> StageResult:
        """Revert the newest change of ``name`` in ``stage`` still in effect (or back to version ``to``)."""
        from gitreg.services import stage_change

        name, to = refs.check_name(name), refs.check_version(to) if to else None
        return self._stage_change(
            lambda snapshot, target: stage_change.rollback(self.git, snapshot, name, target, to=to, dry_run=dry_run),
            push and not dry_run, StageChange("rollback", name, stage, to, None), False if dry_run else sign)

    def retire(self, name: str, stage: str, *, dry_run: bool = False, push: bool = False,
               sign: bool | None = None) -> StageResult:
        """Remove ``name`` from ``stage``, as a recorded stage change."""
        from gitreg.services import stage_change

        name = refs.check_name(name)
        return self._stage_change(
            lambda snapshot, target: stage_change.retire(self.git, snapshot, name, target, dry_run=dry_run),
            push and not dry_run, StageChange("retire", name, stage, None, None), False if dry_run else sign)

    def _stage_change(self, change: Callable[[Snapshot, Stage], StageResult], push: bool,
                      intent: StageChange, sign: bool | None = None) -> StageResult:
        from gitreg.services import sync

        self._require_writable()
        config = self.config
        target = config.stage(intent.stage)

        def attempt() -> StageResult:
            return change(Snapshot.read(self.git, intent.model, config), target)

        with self._signing(sign, stages=(target.name,)):
            return sync.publish_stage_change(self.git, config, attempt, intent) if push else attempt()

    def push(self, all_artifacts: bool = False) -> SyncReport:
        """Publish to ``origin``: artifacts first (of new and staged versions, or with ``all_artifacts`` of
        every version), then the branch, new version tags and stage branches."""
        from gitreg.services import sync

        self._require_writable()
        return sync.push(self.git, self.config, all_artifacts)

    def pull(self, artifacts: bool = False) -> SyncReport:
        """Fetch the registry's refs from ``origin`` (and with ``artifacts`` every stage's artifacts)."""
        from gitreg.services import sync

        self._require_writable()
        return sync.pull(self.git, self.config, artifacts)

    @staticmethod
    def _ref(ref: str | refs.ModelRef) -> refs.ModelRef:
        return ref if isinstance(ref, refs.ModelRef) else refs.ModelRef.parse(ref)

    def sync_tags(self, name: str | None = None, *, stage: str | None = None, dry_run: bool = False,
                  push: bool = False, bundle: str | os.PathLike | None = None) -> TagSync:
        """Make GTO's assignment tags (``NAME#STAGE#N``, ``NAME#STAGE!#N``) say what the stage branches hold,
        so that GTO, ``dvc artifacts get --stage`` and DVC Studio see the stages (a forge's merge makes no
        tags). Idempotent. With ``push`` it works on origin's branches and publishes the tags; ``bundle``
        writes the tags made to that Git bundle file (nothing when none are made)."""
        from gitreg.services import sync

        self._require_writable()
        if push and bundle:
            raise InvalidInputError("give --push or --bundle, not both: a bundle is for a job that pushes it")
        config = self.config
        if stage:
            config.stage(stage)
        return sync.sync_stage_tags(self.git, config, refs.check_name(name) if name else None, stage,
                                    dry_run=dry_run, push=push, bundle=os.fspath(bundle) if bundle else None)

    def check_promotion(self, base: str, head: str, stage: str | None = None) -> PromotionReport:
        """Would merging ``head`` into the stage branch ``base`` be a valid, gated promotion?"""
        from gitreg.services import checks, signatures

        snapshot = self.snapshot()
        target = snapshot.stage(stage) if stage else checks.infer_stage(snapshot.config, base)
        report = checks.check_promotion(self.git, snapshot.config, list(snapshot.versions), base, head, target,
                                        deprecated=snapshot.deprecations)
        report.problems += signatures.review_problems(self.git, snapshot.config, target, base, head)
        return report

    def verify(self, artifacts: bool = False, remote: bool = False, signatures: bool = False) -> list[str]:
        """Every breach of the registry's invariants (empty when all is well); with ``artifacts`` also
        every version whose bytes are missing or corrupt in the local DVC cache, with ``remote`` in the
        DVC remote, with ``signatures`` every event whose signature ``signing:`` requires and is missing,
        bad or by a key the registry does not allow (see :meth:`signatures`)."""
        from gitreg.services import aliases, annotations, artifact_check, checks, gto_tags, leftovers

        snapshot = Snapshot.read(self.git, recheck=True)
        versions = list(snapshot.versions)
        problems = checks.verify(self.git, snapshot.config, versions, list(snapshot.broken), snapshot.marks)
        problems += gto_tags.problems(self.git, snapshot) + annotations.verify_problems(self.git, versions)
        problems += aliases.verify_problems(self.git, versions, [stage.name for stage in snapshot.config.stages])
        if artifacts or remote:
            problems += artifact_check.check(self._dvc_root(), versions, local=artifacts, remote=remote)
        if not self.remote_url:
            problems += leftovers.problems(self.git)  # what interrupted writes left in this clone
        if signatures:
            problems += self.signatures().all_problems
        return problems

    def repair(self) -> Repair:
        """Fix what interrupted writes left that is safe to fix (see :mod:`gitreg.services.leftovers`)."""
        from gitreg.services import leftovers

        self._require_writable()
        return leftovers.repair(self.git, list(self.recovered))

    # ------------------------------------------------------------------ reads
    # Every read takes ``snapshot=``: several reads from one snapshot see one state of the registry (and
    # its ``broken`` tags), at the cost of one read.
    # ``include_deprecated``: deprecated versions are left out of versions, history, models and search
    # unless asked for (``--all``); ``snapshot.deprecations`` says which they are.
    def versions(self, name: str | None = None, *, snapshot: Snapshot | None = None,
                 include_deprecated: bool = False) -> list[ModelVersion]:
        """Every version (of ``name`` or of all models), ordered by name then semver, oldest first."""
        snapshot = snapshot or self.snapshot(name)
        found = list(snapshot.versions) if not name else snapshot.history(name)[::-1]
        return snapshot.visible(found, include_deprecated)

    def history(self, name: str, *, snapshot: Snapshot | None = None,
                include_deprecated: bool = False) -> list[ModelVersion]:
        """Every version of ``name``, newest first."""
        snapshot = snapshot or self.snapshot(name)
        return snapshot.visible(snapshot.history(refs.check_name(name)), include_deprecated)

    def models(self, *, snapshot: Snapshot | None = None, include_deprecated: bool = False) -> list[ModelSummary]:
        """Every model with its latest version and the version in each stage (a model whose every version
        is deprecated is left out unless ``include_deprecated``)."""
        snapshot = snapshot or self.snapshot()
        return catalog.summaries(snapshot.visible(snapshot.versions, include_deprecated), snapshot.stage_views)

    def resolve(self, ref: str | refs.ModelRef) -> ModelVersion:
        """The version a reference names: ``NAME`` or ``NAME@latest`` (latest), ``NAME@1.2.0`` or ``NAME@v1.2.0``,
        ``NAME@ALIAS``, ``NAME#STAGE`` (the one grammar: :class:`gitreg.domain.refs.ModelRef`)."""
        ref = ref if isinstance(ref, refs.ModelRef) else refs.ModelRef.parse(ref)
        return self.snapshot(ref.name).resolve(ref)

    def stages(self, name: str | None = None) -> dict[str, StageView]:
        """Each configured stage with the registered version of every model in it (only ``name``'s when given)."""
        snapshot = self.snapshot(name)
        return snapshot.model_stages if name else snapshot.stage_views

    def stage_versions(self, name: str, *, snapshot: Snapshot | None = None) -> dict[str, str]:
        """``{stage: version}`` for the stages that hold ``name``."""
        return (snapshot or self.snapshot(name)).stages_of(name)

    def log(self, name: str | None = None, stage: str | None = None) -> list[Event]:
        """Every registration, stage change and deprecation (of ``name``, in ``stage``), newest first."""
        from gitreg.services import audit

        snapshot = self.snapshot()
        if stage:
            snapshot.stage(stage)
        if name and refs.check_name(name) not in snapshot.by_model:
            raise NotFoundError(f"no model named {name!r}: `gitreg list` shows the registered models")
        return audit.events(self.git, snapshot.config, list(snapshot.versions), name, stage,
                            snapshot.deprecations.values())

    def show(self, ref: str | refs.ModelRef, *, snapshot: Snapshot | None = None) -> ModelVersion:
        """The version with its card read from the tagged tree (the source of truth)."""
        from gitreg.services import retrieve

        ref = ref if isinstance(ref, refs.ModelRef) else refs.ModelRef.parse(ref)
        found = snapshot.resolve(ref) if snapshot else self.resolve(ref)
        return retrieve.tagged_card(self.git, found)

    # ------------------------------------------------------------------ bytes
    def load(self, name: str | refs.ModelRef, version: str | None = None, stage: str | None = None, *,
             trusted: Iterable[str] | bool | None = None) -> Any:
        """The object of an artifact, of a reference (``load("churn@1.2.0")``, ``load("churn@champion")``,
        ``load("churn#production")``) or by keyword as before (``load("churn", version="1.2.0")``), in the
        format its card records, after checking its bytes against the pointer: a skops file trusting only
        the types recorded at registration (``trusted=[...]`` adds more), a pickle as ``trust_pickles`` or
        ``.gitreg.yaml`` allow, an ONNX ``InferenceSession``, PyTorch tensors and state dicts (a full
        module only with ``trusted=True``), a dict of safetensors arrays, XGBoost or LightGBM boosters,
        or a folder's path."""
        from gitreg.services import retrieve

        if version or stage:
            if isinstance(name, refs.ModelRef) or "@" in name or "#" in name:
                raise InvalidInputError(f"give a reference ({name}) or a name with version=/stage=, not both")
            ref = refs.ModelRef(refs.check_name(name), refs.check_version(version) if version else None,
                                refs.check_stage(stage) if stage else None)
        else:
            ref = name
        found = self.resolve(ref)
        withdrawn = self.deprecations(found.name).get((found.name, found.version))
        if withdrawn:
            import warnings

            from gitreg.domain.deprecation import DeprecatedVersionWarning

            warnings.warn(f"{found.tag} is deprecated: {withdrawn.describe()}", DeprecatedVersionWarning, stacklevel=2)
        return retrieve.load(self.git, self._dvc_root(), found, self._pickle_policy(),
                             trusted if trusted is True or trusted is None else list(trusted))

    def predictor(self, ref: str | refs.ModelRef, *, trusted: Iterable[str] | bool | None = None) -> Predictor:
        """The model of ``ref``, loaded as :meth:`load` does, wrapped so that ``predict`` (and
        ``predict_proba``) refuse input that does not match the recorded signature (missing or extra
        columns, wrong dtypes) with a :class:`SignatureError`."""
        from gitreg.services import retrieve
        from gitreg.services.predictor import Predictor

        found = self.resolve(ref)
        model = retrieve.load(self.git, self._dvc_root(), found, self._pickle_policy(),
                              trusted if trusted is True or trusted is None else list(trusted))
        return Predictor(model, found)

    def path(self, ref: str | refs.ModelRef) -> Path:
        """A local path to the verified artifact of ``ref`` (a file, or a folder), in a content-addressed
        cache shared by every registry on the machine (``$GITREG_CACHE_DIR/artifacts``): fetched once,
        md5-checked, read-only; load it with any library."""
        from gitreg.services import retrieve

        return retrieve.local_path(self.git, self._dvc_root(), self.resolve(ref))

    def _pickle_policy(self) -> str:
        if self.trust_pickles is not None:
            return "allow" if self.trust_pickles else "refuse"
        return self.config.pickle_policy

    def environment(self, ref: str | refs.ModelRef) -> dict[str, Any]:
        """What ``ref`` was registered in: Python, the platform and the packages (those its types come from,
        with what they require); :func:`gitreg.services.provenance.requirements` writes it for pip."""
        return dict(self.show(ref).card.environment)

    def get(self, ref: str | refs.ModelRef, output: str | os.PathLike) -> Path:
        """Write the artifact of ``ref`` to ``output`` (a file, or a folder for folder artifacts)."""
        from gitreg.services import retrieve

        return retrieve.write_out(self.git, self._dvc_root(), self.resolve(ref), output)

    # ------------------------------------------------------------------ search, compare, stats
    def search(self, expression: str = "", *, sort: str | None = None, descending: bool = False,
               limit: int | None = None, snapshot: Snapshot | None = None,
               include_deprecated: bool = False) -> list[ModelVersion]:
        """Every version whose card matches ``expression`` (the search language: ``gitreg search --help``),
        in name and version order or by ``sort``. Reads the tag index; the stage resolver runs once,
        only when the expression mentions ``stage``."""
        from gitreg.domain import predicate, query

        parsed, order = query.parse(expression), query.parse_sort(sort) if sort else None
        snapshot = snapshot or self.snapshot()
        membership = None
        if parsed.uses_stage:
            query.check_stages(parsed, [stage.name for stage in snapshot.config.stages])
            membership = predicate.stage_membership(snapshot.stage_views)
        named = snapshot.alias_membership if parsed.uses_aliases else None
        versions = snapshot.visible(snapshot.versions, include_deprecated)
        added = None
        if parsed.uses_labels:  # labels annotated after registration count too
            from gitreg.services import annotations

            added = annotations.labels_by_version(self.git, versions)
        return predicate.run(parsed, versions, membership, order, descending, limit, added, aliases=named)

    def compare(self, references: Iterable[str | refs.ModelRef], *, data: str | os.PathLike | None = None,
                target: str | None = None, resamples: int | None = None, seed: int | None = None,
                confidence: float | None = None) -> Comparison:
        """Versions side by side (the first is the baseline); with ``data`` (a CSV file) and ``target``
        each model is loaded (bytes verified) and evaluated on the same rows, with a paired bootstrap."""
        from dataclasses import replace

        from gitreg.domain import compare

        found = [self.resolve(reference) for reference in references]
        if len(found) < 2:
            raise InvalidInputError("compare needs two or more versions, e.g. `gitreg compare churn@1.0.0 churn`")
        report = compare.compare(found, self.config.metric_directions)
        options = {key: value for key, value in (("resamples", resamples), ("seed", seed),
                                                 ("confidence", confidence)) if value is not None}
        if data is None:
            if target or options:
                raise InvalidInputError("--target, --resamples, --seed and --confidence need --data FILE.csv")
            return report
        return replace(report, evaluation=self._evaluate(found, data, target, options))

    def _evaluate(self, found: list[ModelVersion], data, target: str | None, options: dict):
        from gitreg.services import retrieve

        try:
            from gitreg.services import evaluation
        except ImportError as exc:  # numpy: scikit-learn brings it, gitreg itself does not need it
            raise InvalidInputError(f"compare --data needs numpy ({exc}): pip install numpy") from exc
        dataset = evaluation.read_csv(data, target)
        dvc_root = self._dvc_root()
        policy = self._pickle_policy()
        models = [retrieve.load(self.git, dvc_root, version, policy) for version in found]
        return evaluation.evaluate([version.tag for version in found], models, dataset, **options)

    def stats(self, *, snapshot: Snapshot | None = None) -> Stats:
        """Models, versions, versions per stage with each stage's newest change, artifact bytes, and
        registrations per month."""
        from gitreg.domain import stats
        from gitreg.services import audit

        snapshot = snapshot or self.snapshot()
        versions, config = list(snapshot.versions), snapshot.config
        last = {stage.name: next(iter(audit.events(self.git, config, versions, None, stage.name)), None)
                for stage in config.stages}
        return stats.compute(versions, snapshot.stage_views, last, len(snapshot.broken))


def _recover(git: Git) -> tuple[str, ...]:
    """A registration killed half-way is finished or undone before anything else reads the clone."""
    if not journal.has_entries(git):
        return ()
    from gitreg.services import recovery

    return tuple(recovery.recover(git))


def _request(name, model_or_path, version, bump, metrics, params, labels, description, data, base,
             line=None, *, origin=None, serialization="skops", fmt=None, signature=None,
             input_example=None, lineage=None) -> RegisterRequest:
    from gitreg.services import registration
    from gitreg.services.registration import RegisterRequest

    if signature is not None:
        from gitreg.domain.card import check_finite

        if not isinstance(signature, dict):
            raise InvalidInputError("signature= must be a mapping, e.g. {'n_features': 30, 'classes': [0, 1]}")
        try:
            check_finite(signature, "signature")
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from None
    return RegisterRequest(name=refs.check_name(name),
                           source=registration.source_from(model_or_path, serialization, fmt),
                           version=version, bump=bump, metrics=dict(metrics or {}), params=dict(params or {}),
                           labels=tuple(labels), description=description, data=tuple(data), base=base,
                           line=line, origin=dict(origin or {}), signature=dict(signature) if signature else None,
                           input_example=input_example, **(lineage or {}))
