"""A registered version: its name, semver, tag, commit and card; a tag that cannot be read; the
version tag's message (a summary line, then the card as one line of JSON: the index)."""

from __future__ import annotations

from dataclasses import dataclass

from gitreg.domain import refs
from gitreg.domain.card import Card


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: str
    tag: str
    commit: str
    card: Card

    @property
    def ref(self) -> str:
        return f"{refs.TAGS_PREFIX}{self.tag}"

    def to_dict(self) -> dict:
        return {"name": self.name, "version": self.version, "tag": self.tag,
                "commit": self.commit, "card": self.card.to_dict()}


@dataclass(frozen=True)
class BrokenTag:
    tag: str
    reason: str


def tag_message(card: Card) -> str:
    summary = f"Register {card.name} v{card.version}"
    if card.description:
        summary += f": {card.description.splitlines()[0]}"
    return f"{summary}\n\n{card.to_json_line()}\n"
