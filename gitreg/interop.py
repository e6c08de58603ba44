"""Moving versions between gitreg and elsewhere: air-gapped bundles, MLflow, Weights & Biases.

A mixin of :class:`gitreg.registry.Registry` (the facade is one class; its methods live by topic).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Self

from gitreg.domain import refs
from gitreg.errors import InvalidInputError
from gitreg.io.git import Git

if TYPE_CHECKING:
    from gitreg.domain.version import ModelVersion
    from gitreg.integrations.mlflow_bridge import ExportReport as MlflowExport
    from gitreg.integrations.wandb_bridge import WandbExport
    from gitreg.services.bundle import ExportResult, ImportResult


class Interop:
    def export(self, references: Iterable[str | refs.ModelRef], output: str | os.PathLike, *,
               with_stages: bool = False) -> ExportResult:
        """Write the versions ``references`` name to one file ``output`` for a registry with no network to
        this one: a Git bundle of their tags (and deprecations; with ``with_stages`` the stage branches and
        every version they hold), their artifact bytes, and a manifest with the sha256 of every member."""
        from gitreg.services import bundle

        snapshot = self.snapshot()
        versions = list({found.tag: found for found in (snapshot.resolve(self._ref(r)) for r in references)}.values())
        if not versions:
            raise InvalidInputError("name the versions to export, e.g. `gitreg export churn@1.2.0 -o churn.tar`")
        return bundle.export(self.git, self._dvc_root(), snapshot, versions, Path(output), with_stages)

    def import_bundle(self, source: str | os.PathLike, *, push: bool = False) -> ImportResult:
        """Bring in what ``gitreg export`` wrote: every checksum, card and byte is checked first; then the
        bytes go into the DVC cache and the same tags (same ids) and stage branches are created in one
        transaction. Importing twice changes nothing. With ``push``, then publish to ``origin``."""
        from dataclasses import replace

        from gitreg.services import bundle

        self._require_writable()
        result = bundle.import_bundle(self.git, self._dvc_root(), self.config, Path(source))
        if push:
            self.push()
            result = replace(result, pushed=True)
        return result

    @classmethod
    def import_new(cls, source: str | os.PathLike, directory: str | os.PathLike) -> tuple[Self, ImportResult]:
        """A new registry at ``directory`` started from a bundle's history (the first transfer to a site),
        with the bundle imported into it. Nothing is left at ``directory`` when the bundle is refused."""
        import shutil

        from gitreg.services import bundle

        directory = Path(directory)
        existed = directory.exists()
        bundle.start_from(Git, Path(source), directory)
        try:
            registry = cls(directory)
            return registry, registry.import_bundle(source)
        except BaseException:
            shutil.rmtree(directory) if not existed else None
            raise

    def mlflow_export(self, references: Iterable[str | refs.ModelRef], *, tracking_uri: str | None = None,
                      registered_model: str | None = None, experiment: str = "gitreg") -> MlflowExport:
        """Each version as an MLflow run (metrics, params, gitreg's tag, commit and md5 as tags, the artifact
        logged) and a registered model version; the stages holding them become aliases. Versions exported
        before are recognised by their tags and left as they are."""
        import tempfile

        from gitreg.integrations import mlflow_bridge
        from gitreg.services import retrieve

        snapshot = self.snapshot()
        versions = list({v.tag: v for v in (snapshot.resolve(self._ref(r)) for r in references)}.values())
        stages = self._pointers(snapshot, versions)
        with tempfile.TemporaryDirectory(prefix="gitreg-mlflow-") as work:
            paths = [retrieve.write_out(self.git, self._dvc_root(), retrieve.tagged_card(self.git, v),
                                        Path(work) / v.tag.replace("@", "-")) for v in versions]
            return mlflow_bridge.export(tracking_uri, list(zip(versions, paths)), stages, registered_model, experiment)

    def mlflow_import(self, uri: str, name: str, *, tracking_uri: str | None = None, version: str | None = None,
                      bump: str | None = None, labels: Iterable[str] = (), push: bool = False) -> ModelVersion:
        """Register what an MLflow URI names (``models:/NAME/VERSION``, ``models:/NAME@ALIAS``,
        ``runs:/RUN_ID/PATH``) as a version of ``name``, with the run's metrics, params, description and
        the model's signature, and the MLflow source in the lineage."""
        import shutil

        from gitreg.integrations import mlflow_bridge

        refs.check_name(name)
        self._require_writable()
        fetched = mlflow_bridge.download(tracking_uri, uri)
        try:
            return self.register(name, fetched.path, version=version, bump=bump, metrics=fetched.facts.metrics,
                                 params=fetched.facts.params, labels=labels, description=fetched.facts.description,
                                 origin=fetched.facts.origin, push=push)
        finally:
            shutil.rmtree(fetched.folder, ignore_errors=True)

    def wandb_export(self, references: Iterable[str | refs.ModelRef], project: str, *, entity: str | None = None,
                     directory: str | os.PathLike | None = None, online: bool = False) -> WandbExport:
        """Each version as a W&B model artifact (the card as metadata; ``gitreg-X.Y.Z`` and the stages holding
        it as aliases) in one run, offline unless ``online`` (``wandb sync RUN_DIR`` uploads it later)."""
        import tempfile

        from gitreg.integrations import wandb_bridge
        from gitreg.services import retrieve

        snapshot = self.snapshot()
        versions = [retrieve.tagged_card(self.git, v)
                    for v in {v.tag: v for v in (snapshot.resolve(self._ref(r)) for r in references)}.values()]
        stages = self._pointers(snapshot, versions)
        with tempfile.TemporaryDirectory(prefix="gitreg-wandb-") as work:
            paths = [retrieve.write_out(self.git, self._dvc_root(), v, Path(work) / v.tag / v.card.artifact.path)
                     for v in versions]
            return wandb_bridge.export(list(zip(versions, paths)), stages, project, entity,
                                       Path(directory or os.environ.get("WANDB_DIR")
                                            or Path(self.git.git_dir()) / "gitreg" / "wandb"), online)

    def wandb_import(self, folder: str | os.PathLike, name: str, *, metadata: str | os.PathLike | None = None,
                     version: str | None = None, bump: str | None = None, push: bool = False) -> ModelVersion:
        """Register a downloaded W&B artifact folder as a version of ``name``, with metrics, params, labels
        and description from its metadata (``metadata``: ``artifact.metadata`` saved as JSON)."""
        from gitreg.integrations import wandb_bridge

        facts = wandb_bridge.read_download(Path(folder), Path(metadata) if metadata else None)
        return self.register(name, facts.path, version=version, bump=bump, metrics=facts.metrics, params=facts.params,
                             labels=facts.labels, description=facts.description, origin=facts.origin, push=push)

    def _pointers(self, snapshot, versions: list[ModelVersion]) -> dict[str, dict[str, str]]:
        """``{model: {stage or alias: version}}``: what other tools see as aliases (an alias is never named
        like a stage, so neither hides the other)."""
        return {v.name: {**snapshot.stages_of(v.name), **{a.alias: a.version for a in self.aliases(v.name, snapshot=snapshot)}}
                for v in versions}
