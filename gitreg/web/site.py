"""``gitreg report -o site/``: the pages of ``gitreg ui`` as static HTML files with relative links, for a CI
artifact or GitHub Pages (it opens from ``file://`` too).

Every model page (paginated), every version page, a diff of each version with the one before it, the
whole audit log on one page (filtered in the browser), and the scripts and styles they need.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gitreg.domain import annotation
from gitreg.errors import InvalidInputError
from gitreg.web import pages, render
from gitreg.web.links import StaticLinks

MARKER = ".gitreg-report"  # a folder holding it was written by this command and may be written again
STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class Report:
    output: Path
    pages: int
    models: int
    versions: int

    def to_dict(self) -> dict[str, Any]:
        return {"output": str(self.output), "pages": self.pages, "models": self.models, "versions": self.versions}


def write(registry: Any, output: Path) -> Report:
    """Write the report into ``output`` (a new or empty folder, or an earlier report, which it replaces)."""
    output = Path(output)
    _prepare(output)
    state = pages.State(registry)
    generated = datetime.now(timezone.utc).strftime("generated %Y-%m-%d %H:%M UTC")
    notes = _annotations(registry, state)
    written = 0

    def emit(relative: str, template: str, data: dict[str, Any]) -> None:
        nonlocal written
        target = output / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        links = StaticLinks(relative.count("/"))
        target.write_text(render.page(template, {**data, "generated": generated}, links), encoding="utf-8")
        written += 1

    first = pages.models_page(state, 1)
    for number in range(1, first["pager"].pages + 1):
        emit(StaticLinks.home_file(number), "models.html", first if number == 1 else pages.models_page(state, number))
    for summary in state.models:
        name = summary.name
        model = pages.model_page(state, name)
        for number in range(1, model["pager"].pages + 1):
            emit(StaticLinks.model_file(name, number), "model.html",
                 model if number == 1 else pages.model_page(state, name, number))
        history = state.history(name)
        for version in history:
            emit(StaticLinks.version_file(name, version.version), "version.html",
                 pages.version_page(state, name, version.version, card=version.card,
                                    annotations=notes.get(version.tag_oid, [])))
        for newer, older in zip(history, history[1:]):
            emit(StaticLinks.diff_file(name, older.version, newer.version), "diff.html",
                 pages.diff_page(state, f"{name}@{older.version}", f"{name}@{newer.version}"))
    log = pages.log_page(state, per_page=max(1, len(state.events)))
    emit(StaticLinks.log_file(), "log.html", {**log, "log_url": StaticLinks().log})
    shutil.copytree(STATIC, output / "static", dirs_exist_ok=True)
    (output / ".nojekyll").write_text("")  # GitHub Pages: serve the files as they are
    return Report(output.resolve(), written, len(state.models), len(state.snapshot.versions))


def _prepare(output: Path) -> None:
    if output.exists() and not output.is_dir():
        raise InvalidInputError(f"{output} is a file: give report -o a folder")
    if output.is_dir() and any(output.iterdir()):
        if not (output / MARKER).is_file():
            raise InvalidInputError(f"{output} is not empty and holds no earlier report: give a new or empty folder")
        shutil.rmtree(output)
    output.mkdir(parents=True, exist_ok=True)
    (output / MARKER).write_text("written by `gitreg report`; the folder is replaced when it runs again\n")


def _annotations(registry: Any, state: pages.State) -> dict[str, list]:
    """``{tag object id: annotations}`` of every version: one ``git notes list`` and one batch read."""
    from gitreg.services.annotations import NOTES_REF

    git = registry.git
    listed = [(blob, obj) for blob, obj in git.notes_list(NOTES_REF)]
    if not listed:
        return {}
    known = {v.tag_oid for v in state.snapshot.versions if v.tag_oid}
    wanted = [(blob, obj) for blob, obj in listed if obj in known]
    blobs = git.read_blobs([blob for blob, _ in wanted])
    found = {}
    for blob, obj in wanted:
        try:
            found[obj] = annotation.read(blobs.get(blob) or b"")[0]
        except InvalidInputError:  # an over-limit note is shown as none; `gitreg show` names it
            continue
    return found
