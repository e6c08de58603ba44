"""The grammar of names, version tags, stage branches and model references.

One table, one ``format``/``parse`` pair per kind of ref (tests check the round trip).
Tags follow the GTO / ``dvc artifacts`` grammar: ``NAME@vMAJOR.MINOR.PATCH[-pre][+build]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gitreg.errors import InvalidInputError

NAME_PATTERN = r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,98}[A-Za-z0-9])?"
SEMVER_PATTERN = (
    r"(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)"
    r"(?:-(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*)?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
STAGE_PATTERN = r"[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?"
# An alias: a lower-case identifier of 2 to 64 characters; never like a version ("v2", "v1.2.0" or "1.2.0").
ALIAS_PATTERN = r"(?!v\d)[a-z][a-z0-9_-]{0,62}[a-z0-9]"
LATEST = "latest"

# \Z, not $: "$" also matches before a trailing newline, which would let "name\n" through.
NAME_RE = re.compile(rf"^{NAME_PATTERN}\Z")
SEMVER_RE = re.compile(rf"^{SEMVER_PATTERN}\Z")
STAGE_RE = re.compile(rf"^{STAGE_PATTERN}\Z")
ALIAS_RE = re.compile(rf"^{ALIAS_PATTERN}\Z")
VERSION_TAG_RE = re.compile(rf"^(?P<name>{NAME_PATTERN})@v(?P<version>{SEMVER_PATTERN})\Z")
MODEL_REF_RE = re.compile(  # the optional "v" of NAME@vX.Y.Z is stripped by check_version, once
    r"^(?P<name>[^@#]*)(?:@(?P<version>[^@#]*)|#(?P<stage>[^@#]*))?\Z"
)

# GTO's other tags (gto/tag.py TagTemplates): a stage assignment ``NAME#STAGE#N``, an unassignment
# ``NAME#STAGE!#N`` (N counts a model's assignment tags, across stages), a withdrawn version
# ``NAME@vX.Y.Z!``. Stages here follow gitreg's stage grammar, which GTO's accepts.
# GTO also reads the counter as optional ("simple" tags, NAME#STAGE), so a reader must too.
ASSIGNMENT_TAG_RE = re.compile(
    rf"^(?P<name>{NAME_PATTERN})#(?P<stage>{STAGE_PATTERN})(?P<leaving>!?)(?:#(?P<counter>\d{{1,9}}))?\Z")
DEPRECATION_TAG_RE = re.compile(rf"^(?P<name>{NAME_PATTERN})@v(?P<version>{SEMVER_PATTERN})!\Z")

TAGS_PREFIX = "refs/tags/"
ALIASES_PREFIX = "refs/gitreg/aliases/"  # one ref per alias: refs/gitreg/aliases/NAME/ALIAS
REFERENCE_FORMS = "NAME, NAME@1.2.0, NAME@v1.2.0, NAME@latest, NAME@ALIAS or NAME#STAGE"
MODELS_DIR = "models"


def check_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise InvalidInputError(
            f"invalid model name {name!r}: use letters, digits, '-' and '_', "
            "starting and ending with a letter or digit (at most 100 characters)"
        )
    return name


def check_version(version: str) -> str:
    bare = version[1:] if version.startswith("v") else version
    if not SEMVER_RE.match(bare):
        raise InvalidInputError(
            f"invalid version {version!r}: use semantic versioning MAJOR.MINOR.PATCH, "
            "e.g. 1.2.0 or 1.2.0-rc.1"
        )
    return bare


def check_stage(stage: str) -> str:
    if not STAGE_RE.match(stage or ""):
        raise InvalidInputError(
            f"invalid stage name {stage!r}: use lower-case letters, digits, '-' and '_'"
        )
    return stage


def format_version_tag(name: str, version: str) -> str:
    return f"{name}@v{version}"


def parse_version_tag(tag: str) -> tuple[str, str] | None:
    """``NAME@vX.Y.Z`` -> (name, version); None for any other tag."""
    match = VERSION_TAG_RE.match(tag)
    return (match["name"], match["version"]) if match else None


@dataclass(frozen=True)
class AssignmentTagName:
    """What a GTO stage tag's name says: ``NAME#STAGE#N`` (``leaving``: ``NAME#STAGE!#N``)."""

    name: str
    stage: str
    leaving: bool
    counter: int | None  # None: GTO's "simple" form without one

    def __str__(self) -> str:
        return format_assignment_tag(self.name, self.stage, self.counter, self.leaving)


def format_assignment_tag(name: str, stage: str, counter: int | None, leaving: bool = False) -> str:
    return f"{name}#{stage}{'!' if leaving else ''}" + (f"#{counter}" if counter is not None else "")


def parse_assignment_tag(tag: str) -> AssignmentTagName | None:
    match = ASSIGNMENT_TAG_RE.match(tag)
    if not match:
        return None
    counter = match["counter"]
    return AssignmentTagName(match["name"], match["stage"], bool(match["leaving"]),
                             int(counter) if counter is not None else None)


def is_gto_stage_tag(tag: str) -> bool:
    """Any tag GTO would read as a stage (un)assignment: ``NAME#...`` (judged by ``verify`` and the hook)."""
    return "#" in tag


def format_deprecation_tag(name: str, version: str) -> str:
    return f"{name}@v{version}!"


def parse_deprecation_tag(tag: str) -> tuple[str, str] | None:
    """``NAME@vX.Y.Z!`` -> (name, version); None for any other tag."""
    match = DEPRECATION_TAG_RE.match(tag)
    return (match["name"], match["version"]) if match else None


def model_dir(name: str) -> str:
    return f"{MODELS_DIR}/{name}"


def format_alias_ref(name: str, alias: str) -> str:
    return f"{ALIASES_PREFIX}{name}/{alias}"


def parse_alias_ref(ref: str) -> tuple[str, str] | None:
    """``refs/gitreg/aliases/NAME/ALIAS`` -> (name, alias); None for any other ref (or a bad name in one)."""
    name, sep, alias = ref.removeprefix(ALIASES_PREFIX).partition("/")
    if not ref.startswith(ALIASES_PREFIX) or not sep or not NAME_RE.match(name) or not ALIAS_RE.match(alias):
        return None
    return name, alias


@dataclass(frozen=True)
class ModelRef:
    """What a user names on the command line (and the API takes), in one grammar:
    ``NAME`` and ``NAME@latest`` (the latest version), ``NAME@1.2.0`` or ``NAME@v1.2.0``, ``NAME@ALIAS``
    (the version an alias points at) and ``NAME#STAGE`` (the version in a stage)."""

    name: str
    version: str | None = None
    stage: str | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        match = MODEL_REF_RE.match(text) if isinstance(text, str) else None
        if not match:
            raise InvalidInputError(f"invalid model reference {text!r}: use {REFERENCE_FORMS}")
        after, stage = match["version"], match["stage"]
        name = _checked(check_name, match["name"], text)
        if stage is not None:
            return cls(name, stage=_checked(check_stage, stage, text))
        if after is None or after == LATEST:
            return cls(name)
        if ALIAS_RE.match(after):
            return cls(name, alias=after)
        if not re.match(r"v?\d", after):
            raise InvalidInputError(f"invalid model reference {text!r}: {after!r} is neither a version (1.2.0), "
                                    f"latest nor an alias (a lower-case name such as champion); use {REFERENCE_FORMS}")
        return cls(name, version=_checked(check_version, after, text))

    def __str__(self) -> str:
        if self.version:
            return f"{self.name}@v{self.version}"
        if self.stage:
            return f"{self.name}#{self.stage}"
        if self.alias:
            return f"{self.name}@{self.alias}"
        return self.name


def _checked(check, value: str, text: str) -> str:
    """``check(value)``, its error naming the whole reference and the forms a reference takes."""
    try:
        return check(value)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{exc} (in the model reference {text!r}: use {REFERENCE_FORMS})") from None
