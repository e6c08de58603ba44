"""The trust chain: ``trace`` one version, ``audit`` a window of events.

A mixin of :class:`gitreg.registry.Registry`. Signature states come from one injected callable,
``check(oids) -> {oid: "good" | "unsigned" | "bad" | "unknown-key"}`` (the signature checker of
:mod:`gitreg.services.signatures`); without one every ``signature`` field is None ("not checked").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from gitreg.domain import refs
from gitreg.services.snapshot import Snapshot

if TYPE_CHECKING:
    from gitreg.domain.trace import Audit, Trace

SignatureCheck = Callable[[list[str]], Mapping[str, str]]


class Trust:
    signature_check: SignatureCheck | None = None  # the default checker (wired where signing lives)
    signatures_required_for: tuple[str, ...] = ()  # stages (and "version" for tags) that must be signed

    def trace(self, ref: str | refs.ModelRef, *, check: SignatureCheck | None = None,
              required_for: Iterable[str] | None = None) -> Trace:
        """Everything that made ``ref`` (``churn#production``, ``churn@1.2.0``, ``churn@champion``) what it is,
        each link checked from Git alone: the tag, the code commit, every data input against the DVC pointer at
        its commit, the base chain, environment, metrics, every event with its evidence (gates, overrides, the
        forge pull request, who proposed it, signatures), A/B tests, annotations, deprecation.
        ``Trace.ok`` is False when any link is broken or dirty, or a required signature is not good."""
        from gitreg.services import trace

        ref = ref if isinstance(ref, refs.ModelRef) else refs.ModelRef.parse(ref)
        snapshot = Snapshot.read(self.git)
        found = snapshot.resolve(ref)
        return trace.trace(self.git, snapshot, found, str(ref), check or self.signature_check,
                           self.signatures_required_for if required_for is None else tuple(required_for))

    def audit(self, *, since: str | None = None, until: str | None = None, stage: str | None = None,
              model: str | None = None, check: SignatureCheck | None = None) -> Audit:
        """Every event from ``since`` (inclusive) to ``until`` (a date: that whole day; a time: exclusive), of
        ``stage`` and ``model``, oldest first, with its evidence; ``Audit.summary()`` counts promotions,
        rollbacks, overrides by whom, forced gate failures and unsigned events. Deterministic."""
        from gitreg.errors import NotFoundError
        from gitreg.services import compliance

        span = compliance.window(since, until, stage, refs.check_name(model) if model else None)
        snapshot = Snapshot.read(self.git)
        if stage:
            snapshot.stage(stage)
        if span.model and span.model not in snapshot.by_model:
            raise NotFoundError(f"no model named {model!r}: `gitreg list` shows the registered models")
        return compliance.report(self.git, snapshot, span, check or self.signature_check)
