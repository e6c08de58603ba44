"""A registered version: its name, semver, tag, commit and card; a tag that cannot be read; the
version tag's message (a summary line, then the card as one line of JSON: the index)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gitreg.domain import refs, yamlio
from gitreg.domain.card import Card, is_plain_form
from gitreg.errors import CardError


@dataclass(frozen=True)
class ModelVersion:
    """``card_source`` is the card itself, or its one-line JSON index as the tag message holds it: a read of
    100,000 versions keeps the lines (70 MB) instead of the cards (300 MB) and builds the card of a version
    each time ``card`` is asked for (a few microseconds). A version is its tag and commit: two reads of one
    version are equal whichever form they hold its card in."""

    name: str
    version: str
    tag: str
    commit: str
    card_source: Card | str = field(compare=False, repr=False)
    tag_oid: str = field(default="", compare=False, repr=False)  # the tag object (what annotations are on)

    @property
    def card(self) -> Card:
        source = self.card_source
        if isinstance(source, Card):
            return source
        card = Card.from_json(source, f"the card of {self.tag}")
        if (card.name, card.version) != (self.name, self.version):  # the read checked; a stale cache could lie
            raise CardError(f"{self.tag} holds the card of {card.name}@v{card.version}: run `gitreg verify`")
        return card

    def card_data(self) -> dict:
        """``card.to_dict()``, at a third of the cost when the index line is in the form ``register`` writes
        (then it is that data, decoded): for readers that show or count the fields of every version, as
        ``log``, ``stats`` and ``search --json`` do. The read that made this version checked the card."""
        source = self.card_source
        if isinstance(source, Card):
            return source.to_dict()
        data = yamlio.load_checked_json(source, f"the card of {self.tag}")
        return data if is_plain_form(data) and (data["name"], data["version"]) == (self.name, self.version) \
            else self.card.to_dict()

    def index_data(self) -> dict:
        """The card's data as the index line holds it, decoded and nothing more (no defaults filled in:
        ``card_data`` gives the card's own form): the cheapest look at a field or two of every version."""
        source = self.card_source
        return source.to_dict() if isinstance(source, Card) else yamlio.load_checked_json(source, f"the card of {self.tag}")

    @property
    def ref(self) -> str:
        return f"{refs.TAGS_PREFIX}{self.tag}"

    def to_dict(self) -> dict:
        return {"name": self.name, "version": self.version, "tag": self.tag,
                "commit": self.commit, "card": self.card_data()}


@dataclass(frozen=True)
class BrokenTag:
    tag: str
    reason: str


def tag_message(card: Card) -> str:
    summary = f"Register {card.name} v{card.version}"
    if card.description:
        summary += f": {card.description.splitlines()[0]}"
    return f"{summary}\n\n{card.to_json_line()}\n"
