"""The ``artifacts:`` section of ``dvc.yaml``: one entry per model, derived from its card."""

from __future__ import annotations

from typing import Any

from gitreg.domain import refs, yamlio
from gitreg.domain.card import Card
from gitreg.errors import InvalidInputError

DVC_YAML = "dvc.yaml"


def entry(card: Card) -> dict[str, Any]:
    """What ``dvc artifacts`` and DVC Studio read about a model."""
    data: dict[str, Any] = {"path": f"{refs.model_dir(card.name)}/{card.artifact.path}", "type": "model"}
    if card.description:
        data["desc"] = card.description
    if card.labels:
        data["labels"] = list(card.labels)
    return data


def with_entry(text: str | bytes | None, name: str, new: dict[str, Any] | None) -> str:
    """``dvc.yaml`` text with ``name``'s artifact entry replaced (or removed when ``new`` is None).

    Everything else (pipeline stages, comments, order) is kept; artifacts stay sorted by name so
    that two models' entries never depend on the order they were registered in.
    """
    try:
        data = yamlio.load_roundtrip(text or "", DVC_YAML) or {}
    except yamlio.YAMLError as exc:
        raise InvalidInputError(f"{DVC_YAML} is not valid YAML ({exc}): fix it by hand first") from exc
    if not isinstance(data, dict):
        raise InvalidInputError(f"{DVC_YAML} must be a mapping: fix it by hand first")
    artifacts = data.get("artifacts") or {}
    if not isinstance(artifacts, dict):
        raise InvalidInputError(f"the artifacts section of {DVC_YAML} must map model names to entries, not "
                                f"{str(artifacts)[:40]!r}: fix it by hand first")
    artifacts = dict(artifacts)
    if new is None:
        artifacts.pop(name, None)
    else:
        artifacts[name] = new
    data["artifacts"] = {key: artifacts[key] for key in sorted(artifacts)}
    return yamlio.dump(data)
