"""The search language: a small filter over version cards, parsed once into a predicate.

Hand-written tokenizer and recursive-descent parser; every error names the column and shows a caret.

    expression := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | "(" expression ")" | condition
    condition  := FIELD OP VALUE | FIELD "contains" VALUE | FIELD "matches" TEXT
                | FIELD "in" "(" VALUE ("," VALUE)* ")" | FIELD "exists"
    FIELD      := metrics.KEY | params.KEY | version | created | author | name | description
                | labels | stage | aliases | size
    OP         := == (or =) | != | < | <= | > | >=
    VALUE      := NUMBER | "TEXT" | 'TEXT' | WORD | VERSION (1.2.0) | DATE (2026-01, 2026-01-31,
                  2026-01-31T12:00[:00][+01:00]) | true | false | null

A condition on a field that a version does not have is false, whatever the operator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from gitreg.domain import versioning
from gitreg.domain.refs import SEMVER_RE
from gitreg.errors import InvalidInputError, UnsafeContentError

COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
KEYWORDS = ("and", "or", "not", "contains", "matches", "in", "exists", "true", "false", "null")
SIMPLE_FIELDS = ("version", "created", "author", "name", "description", "labels", "stage", "size", "aliases")
FIELDS_HELP = ("metrics.NAME, params.NAME, version, created, author, name, description, labels, stage, "
               "aliases or size")
HELP_HINT = "see `gitreg search --help` for the language"
MAX_LENGTH = 10_000  # characters of one expression
MAX_DEPTH = 64  # nested parentheses and nots: the parser recurses, and Python's stack is not endless

_QUOTED = r'"(?:[^"\\]|\\.)*"|' r"'(?:[^'\\]|\\.)*'"
_END = r"(?![\w.])"
_DATE = r"\d{4}-\d{2}(?:-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?)?"  # month, day, time
TOKEN_RE = re.compile(
    r"(?P<space>\s+)"
    rf"|(?P<date>{_DATE}){_END}"
    rf"|(?P<version>v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?){_END}"
    rf"|(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?){_END}"
    rf"|(?P<string>{_QUOTED})"
    r"|(?P<op>==|!=|<=|>=|=|<|>)"
    r"|(?P<paren>[(),])"
    rf"|(?P<word>[A-Za-z_][\w\-/@+]*(?:\.(?:[\w\-/@+]+|{_QUOTED}))*)"
)
_BAD_RE = re.compile(r"""["']|[^\s()<>=!,]+|\S""")
_SEGMENT_RE = re.compile(rf"[\w\-/@+]+|{_QUOTED}")


class QueryError(InvalidInputError):
    """A malformed search expression; the message shows the expression with a caret at ``position``."""

    def __init__(self, expression: str, position: int, problem: str, what: str = "search expression"):
        self.expression, self.position, self.problem = expression, position, problem
        shown = expression.replace("\n", " ").replace("\t", " ")
        super().__init__(f"invalid {what} at column {position + 1}: {problem}; {HELP_HINT}\n"
                         f"  {shown}\n  {' ' * position}^")


# ------------------------------------------------------------------------------------------ tokens
@dataclass(frozen=True)
class Token:
    kind: str  # date, version, number, string, op, paren, word, keyword, end
    text: str
    pos: int

    def describe(self) -> str:
        return "the end of the expression" if self.kind == "end" else repr(self.text)


def tokenize(text: str, what: str = "search expression") -> list[Token]:
    tokens, pos = [], 0
    while pos < len(text):
        match = TOKEN_RE.match(text, pos)
        if not match:
            bad = _BAD_RE.match(text, pos).group()
            if bad in ('"', "'"):
                raise QueryError(text, pos, f"the string starting here has no closing {bad}", what)
            if bad == "!":
                raise QueryError(text, pos, "'!' is not an operator: write != or not", what)
            raise QueryError(text, pos, f"cannot read {bad!r} here", what)
        kind = match.lastgroup
        if kind != "space":
            if kind == "word" and match.group().lower() in KEYWORDS:
                kind = "keyword"
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


# ------------------------------------------------------------------------------------------ fields
@dataclass(frozen=True)
class Field:
    kind: str  # metrics, params, or one of SIMPLE_FIELDS
    key: str = ""  # the metric or parameter name
    pos: int = 0

    def __str__(self) -> str:
        return f"{self.kind}.{self.key}" if self.key else self.kind


def parse_field(token: Token, expression: str, what: str = "search expression") -> Field:
    if token.kind != "word":
        raise QueryError(expression, token.pos, f"expected a field ({FIELDS_HELP}), found {token.describe()}", what)
    head, dot, rest = token.text.partition(".")
    if head in ("metrics", "params") and rest:
        segments = _SEGMENT_RE.findall(rest)
        key = ".".join(_unquote(s) if s[0] in "\"'" else s for s in segments)
        return Field(head, key, token.pos)
    if head in ("metrics", "params"):
        thing, example = ("metric", "accuracy") if head == "metrics" else ("parameter", "C")
        raise QueryError(expression, token.pos, f"name the {thing}: write {head}.NAME, e.g. {head}.{example}", what)
    if not dot and head in SIMPLE_FIELDS:
        return Field(head, "", token.pos)
    raise QueryError(expression, token.pos, f"unknown field {token.text!r}: use {FIELDS_HELP}", what)


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


# ------------------------------------------------------------------------------------------ values
@dataclass(frozen=True)
class Literal:
    kind: str  # number, text, bool, null
    value: Any
    pos: int
    raw: str  # as written, without quotes: what a text field compares with

    @property
    def text(self) -> str:
        return self.value if self.kind == "text" else self.raw


def _literal(token: Token, expression: str, what: str) -> Literal:
    if token.kind == "number":
        value = float(token.text)
        integral = value.is_integer() and re.fullmatch(r"[-+]?\d+", token.text)
        return Literal("number", int(value) if integral else value, token.pos, token.text)
    if token.kind == "string":
        return Literal("text", _unquote(token.text), token.pos, _unquote(token.text))
    if token.kind in ("date", "version", "word"):
        return Literal("text", token.text, token.pos, token.text)
    if token.kind == "keyword" and token.text.lower() in ("true", "false"):
        return Literal("bool", token.text.lower() == "true", token.pos, token.text)
    if token.kind == "keyword" and token.text.lower() == "null":
        return Literal("null", None, token.pos, token.text)
    raise QueryError(expression, token.pos, f"expected a value (a number, a \"string\", a version or a date), "
                                            f"found {token.describe()}", what)


# ------------------------------------------------------------------------------------------ nodes
@dataclass(frozen=True)
class Condition:
    field: Field
    op: str  # a comparison, contains, matches, in, exists
    values: tuple[Literal, ...]
    pos: int


@dataclass(frozen=True)
class Not:
    child: Any


@dataclass(frozen=True)
class BoolOp:
    op: str  # and, or
    children: tuple


@dataclass
class Query:
    text: str
    root: Any  # None: the empty expression, which every version matches
    conditions: list[Condition] = field(default_factory=list)

    @property
    def uses_stage(self) -> bool:
        return any(c.field.kind == "stage" for c in self.conditions)

    @property
    def uses_labels(self) -> bool:
        """Labels include those added after registration (annotations), read only for such a query."""
        return any(c.field.kind == "labels" for c in self.conditions)

    def uses_aliases(self) -> bool:
        return any(c.field.kind == "aliases" for c in self.conditions)

    @property
    def metrics(self) -> list[str]:
        """Metric names the expression mentions, in order."""
        return list(dict.fromkeys(c.field.key for c in self.conditions if c.field.kind == "metrics"))


class _Parser:
    def __init__(self, text: str):
        if len(text) > MAX_LENGTH:
            raise UnsafeContentError(f"the search expression is {len(text):,} characters long, more than the "
                                     f"limit of {MAX_LENGTH:,}: shorten it")
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0
        self.conditions: list[Condition] = []

    @property
    def token(self) -> Token:
        return self.tokens[self.i]

    def keyword(self, *words: str) -> bool:
        return self.token.kind == "keyword" and self.token.text.lower() in words

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def fail(self, problem: str, token: Token | None = None):
        raise QueryError(self.text, (token or self.token).pos, problem)

    def parse(self) -> Query:
        if self.token.kind == "end":
            return Query(self.text, None)
        root = self.parse_or()
        if self.token.kind != "end":
            self.fail(f"expected 'and', 'or' or the end of the expression, found {self.token.describe()}")
        return Query(self.text, root, self.conditions)

    def parse_or(self):
        children = [self.parse_and()]
        while self.keyword("or"):
            self.take()
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else BoolOp("or", tuple(children))

    def parse_and(self):
        children = [self.parse_not()]
        while self.keyword("and"):
            self.take()
            children.append(self.parse_not())
        return children[0] if len(children) == 1 else BoolOp("and", tuple(children))

    def parse_not(self):
        if self.keyword("not") or self.token.text == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise UnsafeContentError(f"the search expression nests parentheses and 'not' deeper than {MAX_DEPTH} "
                                         f"levels (at column {self.token.pos + 1}): flatten it")
            try:
                return self.parse_nested()
            finally:
                self.depth -= 1
        if self.token.kind == "end":
            self.fail("the expression ends too early: expected a condition such as metrics.accuracy >= 0.9")
        return self.parse_condition()

    def parse_nested(self):
        if self.keyword("not"):
            self.take()
            return Not(self.parse_not())
        opening = self.take()
        inner = self.parse_or()
        if self.token.text != ")":
            self.fail(f"expected ')' to close the '(' at column {opening.pos + 1}, found {self.token.describe()}")
        self.take()
        return inner

    def parse_condition(self) -> Condition:
        subject = parse_field(self.take(), self.text)
        op_token = self.token
        if op_token.kind == "op":
            self.take()
            op = "==" if op_token.text == "=" else op_token.text
            values = (_literal(self.take(), self.text, "search expression"),)
        elif self.keyword("contains", "matches"):
            op = self.take().text.lower()
            values = (_literal(self.take(), self.text, "search expression"),)
        elif self.keyword("exists"):
            op, values = self.take().text.lower(), ()
        elif self.keyword("in"):
            op, values = self.take().text.lower(), self.parse_list()
        else:
            self.fail(f"expected an operator (== != < <= > >=, contains, matches, in or exists) after "
                      f"{str(subject)!r}, found {op_token.describe()}")
        condition = _checked(Condition(subject, op, values, op_token.pos), self.text)
        self.conditions.append(condition)
        return condition

    def parse_list(self) -> tuple[Literal, ...]:
        if self.token.text != "(":
            self.fail(f"expected '(' after in, as in: stage in (staging, production); found {self.token.describe()}")
        self.take()
        values = [_literal(self.take(), self.text, "search expression")]
        while self.token.text == ",":
            self.take()
            values.append(_literal(self.take(), self.text, "search expression"))
        if self.token.text != ")":
            self.fail(f"expected ',' or ')' in the list, found {self.token.describe()}")
        self.take()
        return tuple(values)


def parse(text: str) -> Query:
    """The query ``text`` says; :class:`QueryError` (exit 4) pointing at the first mistake."""
    return _Parser(text or "").parse()


# ------------------------------------------------------------------------------- static checks
ALLOWED = {
    "metrics": set(COMPARISONS) | {"contains", "matches", "in", "exists"},
    "params": set(COMPARISONS) | {"contains", "matches", "in", "exists"},
    "version": set(COMPARISONS) | {"in", "exists"},
    "created": set(COMPARISONS) | {"exists"},
    "size": set(COMPARISONS) | {"in", "exists"},
    "author": set(COMPARISONS) | {"contains", "matches", "in", "exists"},
    "name": set(COMPARISONS) | {"contains", "matches", "in", "exists"},
    "description": set(COMPARISONS) | {"contains", "matches", "in", "exists"},
    "labels": {"contains", "matches", "exists"},
    "stage": {"==", "!=", "in", "exists"},
    "aliases": {"==", "!=", "in", "contains", "exists"},  # == / contains: one of its aliases is that one
}


def _checked(condition: Condition, text: str) -> Condition:
    """Refuse, at parse time, what can never make sense (``labels > 3``, ``version < "abc"``)."""
    kind, op = condition.field.kind, condition.op
    if op not in ALLOWED[kind]:
        usable = " ".join(o for o in (*COMPARISONS, "contains", "matches", "in", "exists") if o in ALLOWED[kind])
        raise QueryError(text, condition.pos, f"{condition.field} cannot be used with {op}; use: {usable}")
    for value in condition.values:
        if value.kind in ("bool", "null") and (op not in ("==", "!=", "in") or kind not in ("metrics", "params")):
            raise QueryError(text, value.pos, f"{value.raw} only compares "
                                              "with == or != on metrics.* and params.*")
        if op == "matches" and value.kind != "text":
            raise QueryError(text, value.pos, "matches takes a glob pattern in quotes, e.g. \"churn-*\"")
        if kind == "version":
            version_literal(value, text)
        elif kind == "created":
            time_interval(value, text)
        elif kind == "size" and value.kind != "number":
            raise QueryError(text, value.pos, "size is a number of bytes, e.g. size > 1000000")
        elif kind in ("stage", "labels", "aliases") and value.kind != "text":
            example = {"stage": "stage == production", "labels": 'labels contains "nlp"'}.get(kind, "aliases == champion")
            raise QueryError(text, value.pos, f"{kind} takes a name, e.g. {example}")
    return condition


def version_literal(value: Literal, text: str) -> tuple:
    bare = value.text
    bare = bare[1:] if bare.startswith("v") else bare
    if value.kind not in ("text", "number") or not SEMVER_RE.match(bare):
        raise QueryError(text, value.pos, f"{bare!r} is not a version: write MAJOR.MINOR.PATCH, e.g. 1.2.0")
    return bare, versioning.precedence(bare)


def time_interval(value: Literal, text: str) -> tuple[datetime, datetime]:
    """The interval a date or time stands for: a month, a day, a minute, a second, or an instant."""
    raw = re.sub(r"^(\d{4}-\d{2}-\d{2}) (?=\d)", r"\1T", value.text)
    try:
        if re.fullmatch(r"\d{4}-\d{2}", raw):
            start = datetime.strptime(raw, "%Y-%m").replace(tzinfo=timezone.utc)
            return start, (start + timedelta(days=32)).replace(day=1)
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
    except ValueError:
        raise QueryError(text, value.pos, f"{raw!r} is not a date: write 2026-01-31, 2026-01 or "
                                          "2026-01-31T12:00:00+00:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    time_part = raw.partition("T")[2].split("+")[0].split("-")[0].rstrip("Z")
    if not time_part:
        step = timedelta(days=1)
    elif time_part.count(":") == 1:
        step = timedelta(minutes=1)
    elif "." not in time_part:
        step = timedelta(seconds=1)
    else:
        step = timedelta(microseconds=1)
    return moment, moment + step


UNSORTABLE = ("labels", "stage", "aliases")


def parse_sort(text: str) -> Field:
    """The field of ``--sort``: any field but labels and stage."""
    tokens = tokenize(text, "sort field")
    subject = parse_field(tokens[0], text, "sort field")
    if tokens[1].kind != "end":
        raise QueryError(text, tokens[1].pos, "--sort takes one field, e.g. metrics.accuracy", "sort field")
    if subject.kind in UNSORTABLE:
        raise QueryError(text, 0, f"cannot sort by {subject.kind}: sort by a metric, a parameter, version, "
                                  "created, author, name, description or size", "sort field")
    return subject


def check_stages(query: Query, stages: list[str]) -> None:
    """Every stage the query names must be configured."""
    for condition in query.conditions:
        if condition.field.kind != "stage":
            continue
        for value in condition.values:
            if value.value not in stages:
                raise QueryError(query.text, value.pos,
                                 f"unknown stage {value.value!r}: use one of {', '.join(stages)}")
