"""The one resolver: which registered version of each model is in each stage.

A model's version in a stage is whatever ``models/<name>/`` holds at the tip of the stage branch,
and that subtree must be byte-identical (same tree id) to ``models/<name>/`` at the version's tag.
Resolution reads content only; it never looks at timestamps or at commit messages.
"""

from __future__ import annotations

import re

from gitreg.domain import refs
from gitreg.domain.card import CARD_FILE, Card
from gitreg.domain.config import Config
from gitreg.domain.stage_view import Breach, StageView, group_by_model
from gitreg.domain.version import ModelVersion
from gitreg.errors import CardError
from gitreg.io.git import CatFile, Git


def resolve_stages(
    git: Git, config: Config, versions: list[ModelVersion], model: str | None = None,
    moved: dict[str, str] | None = None,
) -> dict[str, StageView]:
    """Every configured stage's content (only ``model``'s when given), in one cat-file process;
    ``moved`` gives branch tips to use instead of the refs (a push being received)."""
    tips = {**git.branch_tips(), **{branch: (oid, True) for branch, oid in (moved or {}).items()}}
    by_model = group_by_model(versions)
    views = {}
    with git.cat_file() as cat:
        for stage in config.stages:
            tip, local = tips.get(stage.branch, (None, True))
            view = StageView(stage, tip, local)
            if view.tip:
                _fill(cat, view, by_model, model)
            views[stage.name] = view
    return views


def claimed_tags(git: Git, config: Config) -> set[str]:
    """The version tags the stage branches' cards claim (what resolving every stage needs to read), from
    the trees alone: a narrow command reads these tags instead of every tag."""
    tips = git.branch_tips()
    claimed = set()
    with git.cat_file() as cat:
        for stage in config.stages:
            tip = tips.get(stage.branch, (None, True))[0]
            trees = cat.subtrees(f"{tip}:{refs.MODELS_DIR}") if tip else {}
            cat.prefetch(f"{tree}:{CARD_FILE}" for tree in trees.values())
            for name, tree in trees.items():
                version = _claimed_version(cat.blob(f"{tree}:{CARD_FILE}") or b"", name)
                if version and refs.NAME_RE.match(name) and refs.SEMVER_RE.match(version):
                    claimed.add(refs.format_version_tag(name, version))
    return claimed


def _fill(cat: CatFile, view: StageView, by_model, only: str | None) -> None:
    trees = {name: tree for name, tree in cat.subtrees(f"{view.tip}:{refs.MODELS_DIR}").items()
             if not only or name == only}
    prefetch_matches(cat, list(trees.items()), by_model)
    for name, tree in trees.items():
        found = match_tree(cat, name, tree, by_model.get(name, {}))
        if isinstance(found, ModelVersion):
            view.entries[name] = found
        else:
            view.breaches[name] = Breach(view.stage.name, name, found)


def prefetch_matches(cat: CatFile, trees: list[tuple[str, str]], registered: dict[str, dict[str, ModelVersion]]) -> None:
    """Read in two exchanges what :func:`match_tree` will ask of each (model, tree): the cards, then the
    tagged trees of the versions their lines claim."""
    cat.prefetch(f"{tree}:{CARD_FILE}" for _, tree in trees)
    claimed = [(name, registered.get(name, {}).get(_claimed_version(blob, name))) for name, tree in trees
               if (blob := cat.blob(f"{tree}:{CARD_FILE}")) is not None]
    cat.prefetch(f"{version.commit}:{refs.model_dir(name)}" for name, version in claimed if version is not None)


def match_tree(cat: CatFile, name: str, tree: str, registered: dict[str, ModelVersion]):
    """The registered version whose ``models/<name>/`` subtree is ``tree``, or the reason there is none.

    The card's own top-level ``name:``/``version:`` lines name the candidate and tree identity confirms
    it (an identical tree holds an identical card), so the usual case parses no YAML; anything else
    gets the full diagnosis below.
    """
    where = f"{refs.model_dir(name)}/{CARD_FILE}"
    blob = cat.blob(f"{tree}:{CARD_FILE}")
    if blob is None:
        return f"has no {CARD_FILE}"
    claimed = registered.get(_claimed_version(blob, name))
    if claimed is not None and _tree_of(cat, claimed, name) == tree:
        return claimed
    try:
        card = Card.from_yaml(blob, where)
    except CardError as exc:
        return f"holds a broken card ({exc})"
    candidate = registered.get(card.version)
    if candidate is None or card.name != name:
        return f"says {card.name}@v{card.version}, which is not a registered version"
    if _tree_of(cat, candidate, name) != tree:
        return f"differs from {candidate.tag} (edited by hand?)"
    return candidate


_CLAIM_RE = re.compile(rb"^(name|version): *['\"]?([^'\"\s#]+)['\"]? *$", re.MULTILINE)


def _claimed_version(card_yaml: bytes, name: str) -> str | None:
    """The version a card's top-level lines claim, when they also claim ``name``; no YAML parsed."""
    claims = {key.decode(): value.decode() for key, value in _CLAIM_RE.findall(card_yaml)}
    return claims.get("version") if claims.get("name") == name else None


def _tree_of(cat: CatFile, version: ModelVersion, name: str) -> str | None:
    tagged = cat.get(f"{version.commit}:{refs.model_dir(name)}")
    return tagged[0] if tagged else None


def birth_commit(git: Git, commit: str) -> str:
    """Where a new stage branch starts: the commit that initialised the registry (no models yet)."""
    from gitreg.services.skeleton import INIT_MESSAGE

    return git.newest_commit_with_line(INIT_MESSAGE, commit) or git.root_commit(commit)
