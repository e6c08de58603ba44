"""Running a parsed query over the version index: one predicate per version, then sort and limit.

Reads nothing itself: the versions come from the tag index and, only when the query mentions
``stage``, the stage membership from one call of the resolver.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from gitreg.domain import versioning
from gitreg.domain.query import BoolOp, Condition, Field, Literal, Not, Query, time_interval, version_literal
from gitreg.domain.version import ModelVersion

OPS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
       ">=": operator.ge}
MISSING = object()
Membership = dict[tuple[str, str], frozenset]  # (name, version) -> the stages holding it
AddedLabels = dict[tuple[str, str], tuple]  # (name, version) -> labels annotated after registration
Predicate = Callable[[ModelVersion, frozenset], bool]


def run(query: Query, versions: list[ModelVersion], membership: Membership | None = None,
        order: Field | None = None, descending: bool = False, limit: int | None = None,
        added_labels: AddedLabels | None = None, aliases: Membership | None = None) -> list[ModelVersion]:
    """The versions that match, in index order (name, then semver) or sorted by ``order``. ``labels`` is a
    version's card labels and ``added_labels`` (its annotations'); ``aliases``: ``{(name, version): its
    aliases}`` when the query asks about them."""
    test = predicate(query)
    membership, added = membership or {}, added_labels or {}
    empty: frozenset = frozenset()
    named = aliases or {}
    found = [v for v in versions
             if test(_Row(v, added.get((v.name, v.version), ()), named.get((v.name, v.version), empty)),
                     membership.get((v.name, v.version), empty))]
    if order is not None:
        found = sort(found, order, descending)
    return found[:limit] if limit is not None else found


class _Row:
    """A version as the predicates see it: its card as data (``ModelVersion.card_data``), decoded once, on
    first use, and let go with the row (a query on names and versions decodes no card at all)."""

    __slots__ = ("name", "version", "added", "aliases", "_of", "_card")

    def __init__(self, of: ModelVersion, added: tuple = (), aliases: frozenset = frozenset()):
        self.name, self.version, self._of, self._card = of.name, of.version, of, None
        self.added, self.aliases = added, aliases

    @property
    def card(self) -> dict:
        if self._card is None:
            self._card = self._of.card_data()
        return self._card


def stage_membership(views: dict) -> Membership:
    """``{(name, version): stages}`` from the resolver's views."""
    held: dict[tuple[str, str], set] = {}
    for stage, view in views.items():
        for name, version in view.entries.items():
            held.setdefault((name, version.version), set()).add(stage)
    return {key: frozenset(stages) for key, stages in held.items()}


# ------------------------------------------------------------------------------------ predicates
def predicate(query: Query) -> Predicate:
    return _compile(query.root) if query.root is not None else (lambda version, stages: True)


def _compile(node) -> Predicate:
    if isinstance(node, Not):
        child = _compile(node.child)
        return lambda version, stages: not child(version, stages)
    if isinstance(node, BoolOp):
        children = [_compile(child) for child in node.children]
        if node.op == "and":
            return lambda version, stages: all(child(version, stages) for child in children)
        return lambda version, stages: any(child(version, stages) for child in children)
    return _condition(node)


def _condition(condition: Condition) -> Predicate:
    kind, key = condition.field.kind, condition.field.key
    if kind == "stage":
        return _stage_test(condition)
    if kind == "aliases":
        return _aliases_test(condition)
    get = ACCESSORS[kind](key)
    test = TESTS[kind](condition.op, condition.values, condition.field)
    return lambda version, stages: test(get(version))


def _stage_test(condition: Condition) -> Predicate:
    names = frozenset(value.text for value in condition.values)
    if condition.op == "exists":
        return lambda version, stages: bool(stages)
    if condition.op == "!=":
        return lambda version, stages: not (names & stages)
    return lambda version, stages: bool(names & stages)


def _aliases_test(condition: Condition) -> Predicate:
    names = frozenset(value.text for value in condition.values)
    if condition.op == "exists":
        return lambda version, stages: bool(version.aliases)
    if condition.op == "!=":
        return lambda version, stages: not (names & version.aliases)
    return lambda version, stages: bool(names & version.aliases)


def _metric(key: str):
    return lambda version: version.card["metrics"].get(key, MISSING)


def _param(key: str):
    return lambda version: version.card["params"].get(key, MISSING)


ACCESSORS: dict[str, Callable[[str], Callable[[ModelVersion], Any]]] = {
    "metrics": _metric,
    "params": _param,
    "version": lambda key: lambda version: version.version,
    "created": lambda key: lambda version: datetime.fromisoformat(version.card["created"]),
    "size": lambda key: lambda version: version.card["artifact"]["size"],
    "name": lambda key: lambda version: version.name,
    "description": lambda key: lambda version: version.card["description"],
    "labels": lambda key: lambda version: [*version.card["labels"], *version.added],
    "author": lambda key: lambda version: _author(version.card["author"]),
}


def _author(author: dict) -> tuple[str, str, str]:
    name, email = author.get("name", ""), author.get("email", "")
    return name, email, f"{name} <{email}>"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ------------------------------------------------------------------------------------ value tests
def _dynamic(op: str, values: tuple[Literal, ...], _field: Field) -> Callable[[Any], bool]:
    """metrics.* and params.*: typed by the value found (numbers, text, booleans, lists)."""
    if op == "exists":
        return lambda value: value is not MISSING and value is not None
    if op == "in":
        tests = [_dynamic("==", (literal,), _field) for literal in values]
        return lambda value: any(test(value) for test in tests)
    literal = values[0]
    if op == "contains":
        return lambda value: ((isinstance(value, str) and literal.text in value)
                              or (isinstance(value, list) and any(_same(item, literal) for item in value)))
    if op == "matches":
        return lambda value: isinstance(value, str) and fnmatchcase(value, literal.text)
    if literal.kind == "null":
        absent = op == "=="
        return lambda value: (value is MISSING or value is None) == absent
    if literal.kind == "bool":
        return lambda value: isinstance(value, bool) and OPS[op](value, literal.value)
    compare = OPS[op]
    if literal.kind == "number":
        return lambda value: _is_number(value) and compare(value, literal.value)
    return lambda value: isinstance(value, str) and compare(value, literal.text)


def _same(item: Any, literal: Literal) -> bool:
    if literal.kind == "number":
        return _is_number(item) and item == literal.value
    if literal.kind == "bool":
        return isinstance(item, bool) and item == literal.value
    return isinstance(item, str) and item == literal.text


def _text(op: str, values: tuple[Literal, ...], _field: Field) -> Callable[[str], bool]:
    texts = [literal.text for literal in values]
    if op == "exists":
        return bool
    if op == "in":
        return lambda value: value in texts
    if op == "contains":
        return lambda value: texts[0] in value
    if op == "matches":
        return lambda value: fnmatchcase(value, texts[0])
    compare = OPS[op]
    return lambda value: compare(value, texts[0])


def _author_test(op: str, values: tuple[Literal, ...], _field: Field) -> Callable[[tuple], bool]:
    """Equality accepts the name, the email or ``Name <email>``; ordering compares names."""
    texts = [literal.text for literal in values]
    if op in ("==", "in"):
        return lambda author: any(text in author for text in texts)
    if op == "!=":
        return lambda author: texts[0] not in author
    if op == "contains":
        return lambda author: texts[0] in author[2]
    if op == "matches":
        return lambda author: any(fnmatchcase(part, texts[0]) for part in author)
    if op == "exists":
        return lambda author: bool(author[0] or author[1])
    compare = OPS[op]
    return lambda author: compare(author[0], texts[0])


def _labels(op: str, values: tuple[Literal, ...], _field: Field) -> Callable[[list], bool]:
    if op == "exists":
        return bool
    text = values[0].text
    if op == "contains":
        return lambda labels: text in labels
    return lambda labels: any(fnmatchcase(label, text) for label in labels)


def _version(op: str, values: tuple[Literal, ...], _field: Field) -> Callable[[str], bool]:
    parsed = [version_literal(literal, "") for literal in values]
    if op == "exists":
        return lambda version: True
    if op in ("in", "=="):
        wanted = {bare for bare, _ in parsed}
        return lambda version: version in wanted
    if op == "!=":
        return lambda version: version != parsed[0][0]
    compare, bound = OPS[op], parsed[0][1]
    return lambda version: compare(versioning.precedence(version), bound)


def _created(op: str, values: tuple[Literal, ...], _field: Field) -> Callable[[datetime], bool]:
    """A date or time stands for an interval: ``created == 2026-01-31`` is any time that day (UTC)."""
    if op == "exists":
        return lambda moment: True
    start, end = time_interval(values[0], "")
    return {
        "==": lambda moment: start <= moment < end,
        "!=": lambda moment: not start <= moment < end,
        "<": lambda moment: moment < start,
        "<=": lambda moment: moment < end,
        ">": lambda moment: moment >= end,
        ">=": lambda moment: moment >= start,
    }[op]


def _size(op: str, values: tuple[Literal, ...], _field: Field) -> Callable[[int], bool]:
    numbers = [literal.value for literal in values]
    if op == "exists":
        return lambda size: True
    if op == "in":
        return lambda size: size in numbers
    compare = OPS[op]
    return lambda size: compare(size, numbers[0])


TESTS = {"metrics": _dynamic, "params": _dynamic, "name": _text, "description": _text, "author": _author_test,
         "labels": _labels, "version": _version, "created": _created, "size": _size}


# ---------------------------------------------------------------------------------------- sorting
def sort(versions: Iterable[ModelVersion], order: Field, descending: bool = False) -> list[ModelVersion]:
    """Stable sort by ``order``; versions without the field come last in either direction."""
    get = ACCESSORS[order.kind](order.key)
    present, absent = [], []
    for version in versions:
        key = _sort_key(order.kind, get(_Row(version)))
        (absent if key is None else present).append((key, version))
    present.sort(key=lambda item: item[0], reverse=descending)
    return [version for _, version in present] + [version for _, version in absent]


def _sort_key(kind: str, value: Any):
    if kind in ("metrics", "params"):
        if value is MISSING or value is None:
            return None
        return (0, float(value), "") if _is_number(value) or isinstance(value, bool) else (1, 0.0, str(value))
    if kind == "version":
        return versioning.precedence(value)
    if kind == "author":
        return value[2]
    return value
