"""A model's page: ``models/<name>/README.md`` as committed on the main branch, edited like any file.

Read from the branch the configuration comes from (never the working tree, as for ``.gitreg.yaml``),
so every clone and CI job shows the page the team reviewed and merged.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitreg.domain import refs
from gitreg.errors import UnsafeContentError
from gitreg.io.git import Git
from gitreg.services import config_source

README = "README.md"
MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class ModelPage:
    name: str
    path: str  # models/<name>/README.md
    branch: str | None  # where it was read from (None: no main branch)
    text: str | None  # None: there is no such file on that branch

    def to_dict(self) -> dict:
        return {"path": self.path, "branch": self.branch, "text": self.text}

    def missing(self) -> str:
        """What to do when there is no page, naming the path to create."""
        where = self.branch or "the main branch"
        return (f"{self.name} has no page: create {self.path}, commit it on {where} (and push), "
                f"then `gitreg show {self.name} --readme` prints it")


def read(git: Git, name: str) -> ModelPage:
    path = f"{refs.model_dir(name)}/{README}"
    rev = config_source.main_rev(git)
    blob = git.read_blob(rev, path) if rev else None
    if blob is not None and len(blob) > MAX_BYTES:
        raise UnsafeContentError(f"{path} on {rev} is {len(blob):,} bytes, more than {MAX_BYTES:,}: shorten it")
    branch = rev.removeprefix("refs/heads/").removeprefix("refs/remotes/") if rev else None
    return ModelPage(name, path, branch, blob.decode(errors="replace") if blob is not None else None)
