"""Where the registry's configuration is read from, and the main branch it is committed on."""

from __future__ import annotations

from gitreg.domain.config import CONFIG_FILE, Config

# Where the registry's configuration is read from: the main branch as committed, never the working
# tree, so gates cannot be relaxed by an uncommitted edit, and a checkout of a promotion branch (whose
# tree descends from the registry's first commit) applies the same gates as the main branch.
CONFIG_REVS = ("refs/heads/main", "refs/heads/master", "{origin_head}", "refs/remotes/origin/main",
               "refs/remotes/origin/master", "HEAD")


def load(git) -> Config:
    """The committed configuration of the registry ``git`` reads (defaults when there is none)."""
    specs = [f"{rev}:{CONFIG_FILE}" for rev in _candidate_revs(git)]
    blobs = git.read_blobs(specs)
    found = next((blobs[spec] for spec in specs if blobs[spec] is not None), None)
    return Config.parse(found)


def main_rev(git) -> str | None:
    """The main branch the configuration comes from (its first candidate that exists)."""
    return next((rev for rev in _candidate_revs(git) if git.rev_parse(rev)), None)


def _candidate_revs(git) -> list[str]:
    origin_head = git.symbolic_ref("refs/remotes/origin/HEAD") or ""
    return [rev for rev in (r.format(origin_head=origin_head) for r in CONFIG_REVS) if rev]
