"""The registry's versions, read from version tags in one pass.

Each version tag's message ends with its card as one line of JSON, so listing or searching every
version parses no YAML and reads no tree. Tags without that index (made by other tools) fall back to
the ``card.yaml`` in their tree, all read by one ``cat-file --batch``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from contextlib import contextmanager

from gitreg.domain import refs, versioning
from gitreg.domain.card import CARD_FILE, Card
from gitreg.domain.version import BrokenTag, ModelVersion
from gitreg.errors import CardError
from gitreg.io import checked_tags
from gitreg.io.git import Git, TagRecord


def read_versions(git: Git, name: str | None = None, recheck: bool = False,
                  marks: list[TagRecord] | None = None) -> tuple[list[ModelVersion], list[BrokenTag]]:
    """Every registered version (of ``name``, or all), oldest to newest by semver. ``recheck``: build every
    card, trusting no earlier read (``verify`` and the server's hook). ``marks`` receives the annotated
    deprecation tags (``NAME@vX.Y.Z!``) met in the same pass."""
    pattern = f"{refs.TAGS_PREFIX}{name}@v*" if name else refs.TAGS_PREFIX
    remember = not recheck and name is None  # one model's cards are checked faster than the file is read
    with _bulk():
        return versions_from(git, git.version_tags(pattern), remember=remember, marks=marks)


def read_tags(git: Git, tags: list[str]) -> tuple[list[ModelVersion], list[BrokenTag]]:
    """The versions of these exact tags (those that exist), without listing every tag."""
    return versions_from(git, git.tags_named(tags)) if tags else ([], [])


@contextmanager
def _bulk():
    """Pause the cyclic garbage collector while thousands of long-lived cards are built: it would
    otherwise rescan them again and again (a third of the time of a 10,000-version read)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def versions_from(git: Git, records: Iterable[TagRecord], remember: bool = False,
                  marks: list[TagRecord] | None = None) -> tuple[list[ModelVersion], list[BrokenTag]]:
    """The versions that tag records describe (also tags not yet in refs, as in a pre-receive hook).

    Each version keeps its card as the index line; the card is built here only for tags not checked
    before, so that a broken one is reported now. ``remember``: the records are every tag, and the tags
    checked by an earlier read of this clone (:mod:`gitreg.io.checked_tags`) are trusted, and the file
    is rewritten to hold exactly the valid ones among them."""
    known = checked_tags.load(git) if remember else frozenset()
    versions, broken, unindexed, seen = [], [], [], []
    for record in records:
        parsed = refs.parse_version_tag(record.name)
        if not parsed:
            if marks is not None and record.name.endswith("!"):
                marks.append(record)  # judged against the versions by services.deprecation
            continue
        if record.target_type != "commit":
            broken.append(BrokenTag(record.name, f"it points at a {record.target_type or 'missing object'}, "
                                                 "not at the commit that registered it"))
            continue
        index_line = _index_line(record.message)
        if index_line is None:
            unindexed.append(record)
            continue
        key = checked_tags.key(record.tag_oid, record.name)
        if key not in known and not _valid(record, parsed, lambda where: Card.from_json(index_line, where), broken):
            continue
        seen.append(key)
        versions.append(ModelVersion(*parsed, record.name, record.commit, index_line, record.tag_oid))
    _read_from_trees(git, unindexed, versions, broken)
    versions.sort(key=lambda v: (v.name, versioning.precedence(v.version), v.version))  # semver order, cheaply
    if remember and known != (kept := frozenset(seen)):
        checked_tags.save(git, kept)
    return versions, broken


def _index_line(message: str) -> str | None:
    """The message's last line, when it holds JSON (lines end at newlines only: U+2028 in a description
    is JSON text, not a line end)."""
    last = message.rstrip().rpartition("\n")[2].strip()
    return last if last.startswith("{") else None


def _read_from_trees(git, records: list[TagRecord], versions, broken) -> None:
    specs = {r.name: f"{r.commit}:{refs.model_dir(refs.parse_version_tag(r.name)[0])}/{CARD_FILE}"
             for r in records}
    blobs = git.read_blobs(list(specs.values()))
    for record in records:
        blob = blobs[specs[record.name]]
        parsed = refs.parse_version_tag(record.name)
        if blob is None:
            broken.append(BrokenTag(record.name, f"no {CARD_FILE} under models/{parsed[0]}/ at the tagged commit"))
            continue
        card = _valid(record, parsed, lambda where: Card.from_yaml(blob, where), broken)
        if card is not None:
            versions.append(ModelVersion(*parsed, record.name, record.commit, card, record.tag_oid))


def _valid(record: TagRecord, parsed: tuple[str, str], read_card, broken: list[BrokenTag]) -> Card | None:
    """The card of a version tag, or None with the reason in ``broken``."""
    try:
        card = read_card(f"the card of {record.name}")
    except CardError as exc:
        broken.append(BrokenTag(record.name, str(exc)))
        return None
    if (card.name, card.version) != parsed:
        broken.append(BrokenTag(record.name, f"its card says {card.name}@v{card.version}"))
        return None
    return card
