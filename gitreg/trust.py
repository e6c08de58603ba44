"""The trust chain: ``trace`` one version, ``audit`` a window of events.

A mixin of :class:`gitreg.registry.Registry`. Signature states come from one callable,
``check(oids) -> {oid: "good" | "unsigned" | "bad" | "unknown-key"}``: by default
:func:`gitreg.services.signatures.check` against the signers the main branch allows; what must be signed is
``.gitreg.yaml``'s ``signing:`` (its stages, and ``"version"`` for version tags when ``versions: true``).
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
    signature_check: SignatureCheck | None = None  # another checker than Git's against main's allowed signers
    signatures_required_for: tuple[str, ...] | None = None  # None: as `signing:` in .gitreg.yaml says

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
        return trace.trace(self.git, snapshot, found, str(ref), self._signature_checker(check),
                           self._required_signatures(snapshot, required_for))

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
        return compliance.report(self.git, snapshot, span, self._signature_checker(check))

    def _signature_checker(self, check: SignatureCheck | None) -> SignatureCheck:
        chosen = check or self.signature_check
        if chosen is not None:
            return chosen
        from gitreg.services import signatures

        return lambda oids: {oid: found.state for oid, found in signatures.check(self.git, oids).items()}

    def _required_signatures(self, snapshot: Snapshot, required_for: Iterable[str] | None) -> tuple[str, ...]:
        if required_for is not None:
            return tuple(required_for)
        if self.signatures_required_for is not None:
            return self.signatures_required_for
        policy = snapshot.config.signing
        if policy is None:
            return ()
        return policy.required_for + (("version",) if policy.versions else ())
