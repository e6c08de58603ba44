"""``alias set/rm --push``: change an alias on origin's state and publish it, or change nothing.

The change is planned on the alias as just fetched from origin and pushed without force (a fast-forward of
the alias's history, with the version's tag and bytes first): when another writer changed the same alias
meanwhile, Git refuses the push, the change is taken back here, and ConflictError names what origin now
says. It is not redone on top: the writer meant to replace what they saw, not what they did not see.
A push refused for any other reason of the remote's (a lost ref lock) is planned and tried again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from gitreg.errors import ConflictError, RemoteMovedError
from gitreg.io import faults
from gitreg.io.git import Git
from gitreg.services import aliases, sync
from gitreg.services.aliases import AliasChange


def publish(git: Git, attempt: Callable[[], AliasChange]) -> AliasChange:
    sync.require_remote(git)
    for tries in range(sync.ATTEMPTS):
        _, diverged = sync.fetch_registry(git)
        change = attempt()
        if change.ref in diverged:
            aliases.take_back(git, change)
            raise aliases.diverged_error(change.ref)
        base = git.ref_oid(aliases.tracking_ref(change.ref))
        if git.ref_oid(change.ref) == base:
            return change  # nothing to change, and nothing unpublished
        try:
            published = [change.version] if change.version else []
            sync.push_artifacts(git, published)
            faults.point("alias:pushing")
            faults.pause("alias:pushing")
            git.push(sync.REMOTE, [f"{change.ref}:{change.ref}", *[f"{v.ref}:{v.ref}" for v in published]])
            return change
        except RemoteMovedError:
            aliases.take_back(git, change)
        except BaseException:
            aliases.take_back(git, change)  # a change that was not published is not kept
            raise
        sync.fetch_registry(git)
        if git.ref_oid(aliases.tracking_ref(change.ref)) != base:
            raise _overtaken(git, change)
        sync._back_off(tries)
    raise ConflictError(f"{sync.REMOTE} kept moving: {sync.ATTEMPTS} attempts to publish were overtaken; try again")


def _overtaken(git: Git, change: AliasChange) -> ConflictError:
    now = aliases.current(git, change.name).get((change.name, change.alias))
    said = f"v{now.version}" if now and now.version else "removed"
    when = datetime.fromtimestamp(now.timestamp, timezone.utc).isoformat() if now else "?"
    wanted = f"point it at v{change.version.version}" if change.version else "remove it"
    return ConflictError(
        f"{change.name}@{change.alias} was changed on {sync.REMOTE} while you changed it: it is now {said} "
        f"({now.author if now else '?'}, {when}); nothing was changed here. Run the command again to {wanted} "
        f"anyway (`gitreg log {change.name}` shows the history)")

