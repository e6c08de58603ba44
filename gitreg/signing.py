"""Signing: writes signed with Git's own signing (``sign=``), and the signatures of every event.

A mixin of :class:`gitreg.registry.Registry`. A write method takes ``sign`` (True/False; None: as
``.gitreg.yaml``'s ``signing:`` requires for what it changes) and runs inside :meth:`Signing._signing`,
which checks the key first and makes every commit and tag the services write signed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from gitreg.services.snapshot import Snapshot

if TYPE_CHECKING:
    from gitreg.domain.signing import Signature
    from gitreg.services.signatures import SignatureReport


class Signing:
    sign_default: bool | None = None  # what a write given no ``sign`` does (the CLI's --sign/--no-sign)

    @contextmanager
    def _signing(self, sign: bool | None, *, stages: Iterable[str] = (), versions: bool = False) -> Iterator[bool]:
        """Sign what is written inside (when asked, or required by ``signing:`` for ``stages`` or for version
        records), after checking that Git has a key to sign with: SigningKeyError before any change."""
        from gitreg.services import signatures

        sign = sign if sign is not None else self.sign_default
        wanted = sign if sign is not None else signatures.wants_signature(self.config, None, tuple(stages), versions)
        if not wanted:
            yield False
            return
        signatures.require_key(self.git)
        was, self.git.sign = self.git.sign, True
        try:
            yield True
        finally:
            self.git.sign = was

    def signatures(self) -> SignatureReport:
        """Every version tag, deprecation tag, stage event and alias change with its signature, checked against
        ``.gitreg/allowed_signers`` (and ``.gitreg/gpg-keys.asc``) on the main branch, and what ``signing:``
        requires; ``report.all_problems`` names each event that breaks it (and any bad signature)."""
        from gitreg.services import signatures

        snapshot = Snapshot.read(self.git)
        tips = {name: view.tip for name, view in snapshot.stage_views.items()}
        return signatures.report(self.git, snapshot.config, list(snapshot.versions), list(snapshot.marks), tips)

    def check_signatures(self, oids: Iterable[str]) -> dict[str, Signature]:
        """``{oid: Signature}`` of tag objects and commits, against the signers the main branch allows."""
        from gitreg.services import signatures

        return signatures.check(self.git, oids)
