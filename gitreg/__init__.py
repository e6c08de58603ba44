"""gitreg: a Git-native model registry on DVC.

>>> from gitreg import Registry
>>> registry = Registry(".")
>>> version = registry.register("churn", model, metrics={"accuracy": 0.91})
>>> registry.promote("churn", version.version, "staging")

The public API is what this module exports: :class:`Registry`, the errors (every one a
:class:`GitregError` with an :class:`ExitCode`), and the values its methods return.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitreg.errors import (
    AddressInUseError,
    ArtifactError,
    BrokenLinkError,
    CardError,
    ConflictError,
    ExitCode,
    GateError,
    GitError,
    GitregError,
    IdentityError,
    IntegrityError,
    InvalidInputError,
    MissingPackageError,
    NotARegistryError,
    NotFoundError,
    PushRejectedError,
    RemoteMovedError,
    SignatureError,
    SigningKeyError,
    StageMovedError,
    StorageError,
    TransferError,
    UnsafeCardError,
    UnsafeContentError,
    UntrustedArtifactError,
)

if TYPE_CHECKING:
    from gitreg.domain.aliases import AliasRecord
    from gitreg.domain.card import Card
    from gitreg.domain.catalog import ModelSummary
    from gitreg.domain.compare import Comparison
    from gitreg.domain.deprecation import DeprecatedVersionWarning, Deprecation
    from gitreg.domain.event import Event
    from gitreg.domain.stage_view import StageView
    from gitreg.domain.stats import Stats
    from gitreg.domain.trace import Audit, Trace
    from gitreg.domain.version import ModelVersion
    from gitreg.registry import Registry
    from gitreg.services.aliases import AliasChange
    from gitreg.services.bundle import ExportResult, ImportResult
    from gitreg.services.checks import PromotionReport
    from gitreg.services.deprecation import DeprecateResult
    from gitreg.services.gto_tags import TagSync
    from gitreg.services.leftovers import Repair
    from gitreg.services.predictor import Predictor
    from gitreg.services.registration import RegisterPlan
    from gitreg.services.retrieve import EnvironmentMismatchWarning, PickleWarning
    from gitreg.services.signatures import SignatureReport
    from gitreg.services.snapshot import Snapshot
    from gitreg.services.stage_plan import StagePlan, StageResult
    from gitreg.services.sync import SyncReport

# Imported on first use, so that `gitreg --help` and the CLI's start-up stay fast.
_LAZY = {
    "Registry": "gitreg.registry", "Card": "gitreg.domain.card", "ModelSummary": "gitreg.domain.catalog",
    "Comparison": "gitreg.domain.compare", "Deprecation": "gitreg.domain.deprecation",
    "DeprecatedVersionWarning": "gitreg.domain.deprecation", "Event": "gitreg.domain.event", "StageView": "gitreg.domain.stage_view",
    "Stats": "gitreg.domain.stats", "ModelVersion": "gitreg.domain.version",
    "PromotionReport": "gitreg.services.checks", "Repair": "gitreg.services.leftovers",
    "RegisterPlan": "gitreg.services.registration", "EnvironmentMismatchWarning": "gitreg.services.retrieve",
    "PickleWarning": "gitreg.services.retrieve", "Predictor": "gitreg.services.predictor",
    "Snapshot": "gitreg.services.snapshot", "StagePlan": "gitreg.services.stage_plan",
    "StageResult": "gitreg.services.stage_plan", "SyncReport": "gitreg.services.sync",
    "ExportResult": "gitreg.services.bundle", "ImportResult": "gitreg.services.bundle",
    "DeprecateResult": "gitreg.services.deprecation", "TagSync": "gitreg.services.gto_tags",
    "AliasRecord": "gitreg.domain.aliases", "AliasChange": "gitreg.services.aliases",
    "Trace": "gitreg.domain.trace", "Audit": "gitreg.domain.trace",
    "SignatureReport": "gitreg.services.signatures",
}

__all__ = [  # noqa: RUF022 (grouped: the facade, the values it returns, the errors)
    "Registry",
    "Card", "ModelSummary", "Comparison", "Event", "StageView", "Stats", "ModelVersion", "PromotionReport",
    "Repair", "RegisterPlan", "EnvironmentMismatchWarning", "Snapshot", "StagePlan", "StageResult",
    "SyncReport", "Deprecation", "DeprecatedVersionWarning", "DeprecateResult", "TagSync", "ExportResult",
    "ImportResult", "AliasRecord", "AliasChange", "Trace", "Audit",
    "AddressInUseError",
    "ArtifactError", "CardError", "ConflictError", "ExitCode", "GateError", "GitError", "GitregError",
    "IdentityError", "IntegrityError", "InvalidInputError", "NotARegistryError", "NotFoundError",
    "PushRejectedError", "RemoteMovedError", "StageMovedError", "StorageError", "TransferError",
    "UnsafeCardError", "UnsafeContentError",
    "PickleWarning", "MissingPackageError", "UntrustedArtifactError", "SignatureError", "Predictor",
    "BrokenLinkError",
    "SigningKeyError", "SignatureReport",
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gitreg' has no attribute {name!r}")
