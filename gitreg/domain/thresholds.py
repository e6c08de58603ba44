"""One metric threshold (``accuracy >= 0.9``): its grammar and its check. Shared by the configuration,
which parses every gate when it is read, and by the gates that apply them."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any

from gitreg.errors import InvalidInputError

OPERATORS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
             "==": operator.eq, "!=": operator.ne}
CONDITION_RE = re.compile(r"^\s*(?P<metric>[^<>=!\s]+)?\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<value>\S+)\s*$")


@dataclass(frozen=True)
class GateCheck:
    name: str  # "accuracy >= 0.9", "requires staging", "no regression in accuracy"
    passed: bool
    actual: str
    required: str

    def __str__(self) -> str:
        verdict = "pass" if self.passed else "FAIL"
        return f"{self.name}: {verdict} (actual {self.actual}, required {self.required})"


@dataclass(frozen=True)
class Threshold:
    metric: str
    op: str
    value: float

    @classmethod
    def parse(cls, metric: str | None, condition: str) -> Threshold:
        match = CONDITION_RE.match(f"{metric or ''} {condition}" if metric else condition)
        if not match or not match["metric"]:
            raise InvalidInputError(
                f"invalid gate {condition!r}: write it as METRIC OP VALUE, e.g. 'accuracy>=0.9' (OP: >= <= > < == !=)"
            )
        try:
            value = float(match["value"])
        except ValueError as exc:
            raise InvalidInputError(f"invalid gate {condition!r}: {match['value']!r} is not a number") from exc
        return cls(match["metric"], match["op"], value)

    def check(self, metrics: dict[str, Any]) -> GateCheck:
        actual = metrics.get(self.metric)
        name = f"{self.metric} {self.op} {self.value:g}"
        if not isinstance(actual, (int, float)) or isinstance(actual, bool):
            return GateCheck(name, False, "missing" if actual is None else repr(actual), f"{self.op} {self.value:g}")
        return GateCheck(name, OPERATORS[self.op](actual, self.value), f"{actual:g}", f"{self.op} {self.value:g}")
