"""Following a registry: ``Registry.events()`` and ``Registry.watcher()``.

A mixin of :class:`gitreg.registry.Registry`. A clone with an ``origin`` watches origin itself, through
the read-only mirror :meth:`Registry.open` keeps (fetched each round; the clone's branches and working
tree are never touched); a clone without one watches itself; a registry opened with ``Registry.open``
watches its URL.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from gitreg.errors import InvalidInputError

if TYPE_CHECKING:
    from gitreg.services.watch import Watcher


class Watching:
    def events(self) -> list[dict]:
        """Every event of this registry as it is now, oldest first, each a dict with an ``id``: the log's
        (register, promote, rollback, retire, deprecate, alias-set/rm and any other kind it carries) and
        every annotation (``action: annotate`` with labels, note and link)."""
        from gitreg.services import watch

        log = [event.to_dict() for event in self.log()]
        return watch.ordered(log, watch.annotation_events(self.git, self.snapshot().versions))

    def watched_url(self) -> str | None:
        """What ``watch`` follows: the URL this registry was opened from, else the clone's ``origin``
        (a relative path made absolute), else None (the clone itself)."""
        if self.remote_url:
            return self.remote_url
        url = self.git.config_get("remote.origin.url")
        if url and "://" not in url and ":" not in url.split("/")[0] and not os.path.isabs(url):
            url = str((self.root / url).resolve())
        return url or None

    def watcher(self, *, state: str | os.PathLike | None = None, command: str | None = None,
                webhook: str | None = None, secret: bytes | None = None, attempts: int = 5,
                from_now: bool = False) -> Watcher:
        """A :class:`~gitreg.services.watch.Watcher` of this registry: each ``round()`` fetches, then hands
        every event not yet delivered (oldest first) to the caller, ``command`` (the event's JSON on
        stdin, in a shell) and ``webhook`` (a POST signed with ``secret``: header ``X-Gitreg-Signature:
        sha256=<hex HMAC-SHA256 of the body>``, retried ``attempts`` times with back-off). ``state``
        (default: ``.git/gitreg/watch-<key>.state`` of a clone, the cache for ``Registry.open``) holds the
        ids delivered; ``from_now`` with a new state takes what exists as already seen."""
        from gitreg.domain import watch as rules
        from gitreg.services import watch

        hook = None
        if webhook is not None:
            hook = watch.Webhook(rules.check_url(webhook), secret, _check_attempts(attempts))
        url = self.watched_url()
        path = Path(state) if state else self._state_path(url)
        return watch.Watcher(self._event_source(url), watch.State(path, url or str(self.root)), command=command,
                             webhook=hook, from_now=from_now)

    def _event_source(self, url: str | None):
        if url is None:
            return self.events
        from gitreg.io import mirror

        def read() -> list[dict]:
            return type(self)(mirror.sync(url), remote_url=url).events()

        return read

    def _state_path(self, url: str | None) -> Path:
        key = hashlib.sha256((url or str(self.root)).encode()).hexdigest()[:16]
        if self.remote_url:
            from gitreg.io import mirror

            return mirror.cache_root() / "watch" / f"{key}.state"
        return Path(self.git.git_dir()) / "gitreg" / f"watch-{key}.state"


def _check_attempts(attempts: int) -> int:
    if not 1 <= attempts <= 20:
        raise InvalidInputError(f"--attempts {attempts}: give 1 to 20 webhook attempts per event")
    return attempts
