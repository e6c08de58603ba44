"""YAML and JSON reading, and YAML writing (ruamel.yaml, YAML 1.2; round-trip so users' comments and
order survive).

Everything gitreg reads comes from a repository someone else may have written, so it is data with
limits: no anchors or aliases (an alias bomb of a few hundred bytes expands to gigabytes), at most
``MAX_BYTES`` and ``MAX_DEPTH`` levels of nesting. The checks live in the composer, which sees every
node once before anything is built, so they cost nothing measurable.
"""

from __future__ import annotations

import io
import json
import math
import re
from functools import cache, lru_cache
from typing import Any

from gitreg.errors import UnsafeContentError

try:  # orjson: DVC's own JSON library (dvc-data requires it), a C decoder twice as fast as json's
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover - a broken install; the standard decoder gives the same data
    def _orjson_loads(text: str | bytes) -> Any:
        raise ValueError("orjson is not installed")

# ruamel.yaml and PyYAML are imported when YAML is first read or written (50 ms that `load`, `show`,
# `history` and every JSON-only read do without).

__all__ = ["MAX_BYTES", "MAX_DEPTH", "YAMLError", "dump", "dump_plain", "load", "load_checked_json",  # noqa: F822 (YAMLError:
           "load_json", "load_roundtrip"]  # __getattr__)

MAX_BYTES = 1 << 20
MAX_DEPTH = 64


class _Refused(Exception):
    def __init__(self, reason: str, line: int | None = None):
        super().__init__(reason)
        self.reason, self.line = reason, line


def __getattr__(name: str) -> Any:
    if name == "YAMLError":  # evaluated only when an ``except yamlio.YAMLError`` clause meets an exception
        from ruamel.yaml.error import YAMLError

        return YAMLError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@cache
def _limited_composer() -> type:
    """ruamel's composer, refusing anchors and aliases before any node is built from them."""
    from ruamel.yaml.composer import Composer
    from ruamel.yaml.events import AliasEvent

    class LimitedComposer(Composer):
        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.parser.peek_event()
            if isinstance(event, AliasEvent) or getattr(event, "anchor", None) is not None:
                line = event.start_mark.line + 1 if event.start_mark else None
                raise _Refused("YAML anchors and aliases (& and *) are not allowed; write the values out", line)
            return super().compose_node(parent, index)

    return LimitedComposer


def _yaml(typ: str) -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ=typ, pure=True)  # the limits live in the pure composer; a C one would skip them
    yaml.Composer = _limited_composer()
    yaml.max_depth = MAX_DEPTH
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _unsafe(where: str, reason: str, line: int | None = None) -> UnsafeContentError:
    at = f" (line {line})" if line else ""
    return UnsafeContentError(f"{where} is refused{at}: {reason}; fix the file (or restore it from Git) and try again")


def _checked_size(text: str | bytes, where: str) -> None:
    if len(text) > MAX_BYTES:
        raise _unsafe(where, f"it is {len(text):,} bytes, more than the limit of {MAX_BYTES:,}")


def _load(typ: str, text: str | bytes, where: str) -> Any:
    from ruamel.yaml.composer import MaxDepthExceededError

    _checked_size(text, where)
    try:
        return _yaml(typ).load(text)
    except _Refused as exc:
        raise _unsafe(where, exc.reason, exc.line) from None
    except MaxDepthExceededError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise _unsafe(where, f"it nests deeper than {MAX_DEPTH} levels", line) from None


def load(text: str | bytes, where: str = "the YAML document") -> Any:
    """Plain Python data (dicts, lists, scalars); ``where`` names the file in errors.

    Documents that plainly hold no anchor, alias or deep nesting (every card and pointer gitreg
    writes) are parsed by libyaml through PyYAML, 15x faster than ruamel's pure-Python parser, with
    YAML 1.2's scalars and ruamel's refusal of duplicate keys; anything else, and any error, goes
    through ruamel, so results and messages are ruamel's (``tests/test_yaml_equivalence.py``).
    """
    fast = _fast_load(text) if _fast_candidate(text) and _yaml12_loader() else _NO_RESULT
    return fast if fast is not _NO_RESULT else _load("safe", text, where)


_NO_RESULT = object()


def _fast_candidate(text: str | bytes) -> bool:
    if isinstance(text, str):
        text = text.encode()
    if len(text) > MAX_BYTES or b"&" in text or b"*" in text or b"%" in text or b"!" in text:
        return False  # anchors, aliases, directives and tags: ruamel decides (and refuses)
    if text.count(b"[") + text.count(b"{") > MAX_DEPTH:
        return False
    return all(len(line) - len(line.lstrip(b" -?")) <= MAX_DEPTH for line in text.splitlines())


def _fast_load(text: str | bytes) -> Any:
    try:
        loader = _yaml12_loader()(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            if not _plain_tree(node):
                return _NO_RESULT
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except Exception:  # noqa: BLE001 - whatever libyaml dislikes, ruamel explains
        return _NO_RESULT


def _plain_tree(root: Any) -> bool:
    """No node reached twice (an alias), no duplicate mapping key, nesting within MAX_DEPTH."""
    import yaml as _pyyaml

    seen, todo = set(), [(root, 1)]
    while todo:
        node, level = todo.pop()
        if id(node) in seen or level > MAX_DEPTH:
            return False
        seen.add(id(node))
        if isinstance(node, _pyyaml.MappingNode):
            keys = [(key.tag, key.value) for key, _ in node.value if isinstance(key, _pyyaml.ScalarNode)]
            if len(keys) != len(set(keys)) or len(keys) != len(node.value):
                return False
            todo.extend((value, level + 1) for _, value in node.value)
        elif isinstance(node, _pyyaml.SequenceNode):
            todo.extend((item, level + 1) for item in node.value)
    return True


def load_roundtrip(text: str | bytes, where: str = "the YAML document") -> Any:
    """Data that remembers comments and key order, for files users edit by hand."""
    return _load("rt", text, where)


def load_json(text: str | bytes, where: str = "the JSON document") -> Any:
    """JSON with the same limits, and no NaN or Infinity (not JSON, and no metric can be compared with them).

    Invalid JSON raises ``ValueError`` as :func:`json.loads` does. The card index of 10,000 versions goes
    through here: orjson first, and the walk that measures depth only when there are enough brackets.
    """
    _checked_size(text, where)
    try:
        data = _orjson_loads(text)  # 2x the standard decoder; refuses NaN, Infinity and 1e999 itself
    except (ValueError, TypeError):  # or what only the standard decoder reads (integers past 64 bits,
        data = _standard_load(text, where)  # lone surrogates), with the same refusals: one meaning
    if _brackets(text) > MAX_DEPTH and _depth(data) > MAX_DEPTH:
        raise _unsafe(where, f"it nests deeper than {MAX_DEPTH} levels")
    return data


def load_checked_json(text: str | bytes, where: str = "the JSON document") -> Any:
    """JSON that :func:`load_json` accepted before (a version's index line, checked when it was read),
    decoded again without measuring it: the same data, a third faster."""
    try:
        return _orjson_loads(text)
    except (ValueError, TypeError):
        return load_json(text, where)


def _brackets(text: str | bytes) -> int:
    return text.count("[") + text.count("{") if isinstance(text, str) else text.count(b"[") + text.count(b"{")


def _standard_load(text: str | bytes, where: str) -> Any:
    if isinstance(text, bytes):
        text = text.decode()
    try:
        return _DECODER.decode(text)
    except _Refused as exc:
        raise _unsafe(where, exc.reason) from None
    except RecursionError:
        raise _unsafe(where, f"it nests deeper than {MAX_DEPTH} levels") from None


def _refuse_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a number gitreg can store or compare")


def _finite(number: str) -> float:
    value = float(number)
    if not math.isfinite(value):
        raise _Refused(f"{number[:40]} is too large to be a finite number")
    return value


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite)


def _depth(data: Any) -> int:
    """Levels of nesting of lists and mappings (a scalar is 1), without recursion."""
    deepest, todo = 0, [(data, 1)]
    while todo:
        value, level = todo.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        todo.extend((child, level + 1) for child in children)
    return deepest


@cache
def _yaml12_loader() -> type | None:
    """PyYAML's libyaml loader with YAML 1.2's core schema, as ruamel reads it (1.1's yes/no/on/off
    booleans, sexagesimal numbers and leading-zero octals are plain strings or decimals here). None
    when PyYAML was built without libyaml: then ruamel reads everything."""
    import yaml as _pyyaml
    from ruamel.yaml import resolver as ruamel_resolver

    if not getattr(_pyyaml, "__with_libyaml__", False):
        return None

    class Loader(_pyyaml.CSafeLoader):
        yaml_implicit_resolvers: dict = {}

        def construct_yaml_int(self, node: Any) -> int:
            text = self.construct_scalar(node).replace("_", "")
            sign, digits = (-1, text[1:]) if text[:1] == "-" else (1, text.lstrip("+"))
            base = {"0b": 2, "0o": 8, "0x": 16}.get(digits[:2].lower())
            return sign * (int(digits[2:], base) if base else int(digits))

    Loader.add_constructor("tag:yaml.org,2002:int", Loader.construct_yaml_int)
    for versions, tag, regexp, first in ruamel_resolver.implicit_resolvers:
        if (1, 2) in versions:
            Loader.add_implicit_resolver(tag, regexp, first)
    return Loader


# ----------------------------------------------------------------------------- plain writing, fast
# ``verify`` compares each version's card.yaml with its index: rather than parsing 100,000 files (0.3 ms
# each, libyaml included) it writes what ``dump`` would have written for the index's data and compares
# bytes. That is sound if whatever ``dump_plain`` writes reads back as exactly that data (tested with
# generated data in tests/test_yaml_equivalence.py), so it writes only what it is sure of: mappings
# with plain keys, lists of scalars, and scalars whose YAML 1.2 reading is not in doubt; for anything
# else it answers None and the caller parses.
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./@+:, -]*\Z")
_PLAIN_FLOAT = re.compile(r"-?[0-9]+\.[0-9]+\Z")


def dump_plain(data: dict) -> str | None:
    """What :func:`dump` writes for ``data``, without ruamel, or None when ``data`` holds anything but
    plain values (None, floats in exponent form, text with quotes, ``: `` or line breaks, non-ASCII...)."""
    lines: list[str] = []
    return "".join(lines) if type(data) is dict and _plain_mapping(data, "", lines) else None


def _plain_mapping(mapping: dict, pad: str, lines: list[str]) -> bool:
    for key, value in mapping.items():
        if type(key) is not str or _plain_scalar(key) != key:  # a key is written unquoted, or not here
            return False
        kind = type(value)
        if kind is dict and value:
            lines.append(f"{pad}{key}:\n")
            if not _plain_mapping(value, pad + "  ", lines):
                return False
        elif kind is list and value:
            lines.append(f"{pad}{key}:\n")
            for item in value:
                text = _plain_scalar(item)
                if text is None:
                    return False
                lines.append(f"{pad}  - {text}\n")
        else:
            text = "{}" if kind is dict else "[]" if kind is list else _plain_scalar(value)
            if text is None:
                return False
            lines.append(f"{pad}{key}: {text}\n")
    return True


def _plain_scalar(value: Any) -> str | None:
    kind = type(value)
    if kind is str:
        if value == "":
            return "''"
        if (not _PLAIN_TEXT.match(value) or value.endswith((" ", ":")) or ": " in value or "  " in value
                or value.startswith("...")):  # "... " at a line's start ends the document
            return None
        return f"'{value}'" if _resolves(value) else value
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        text = repr(value)
        return text if _PLAIN_FLOAT.match(text) else None
    return None


@lru_cache(maxsize=16384)  # keys and most values recur from card to card
def _resolves(text: str) -> bool:
    """Whether YAML 1.2 reads ``text`` unquoted as something other than a string."""
    return any(regexp.match(text) for regexp in _typed_resolvers(text[0]))


@cache
def _typed_resolvers(first: str) -> tuple:
    resolvers = _yaml12_loader().yaml_implicit_resolvers
    return tuple(regexp for tag, regexp in [*resolvers.get(first, ()), *resolvers.get(None, ())]
                 if tag != "tag:yaml.org,2002:str")


def dump(data: Any) -> str:
    stream = io.StringIO()
    _yaml("rt").dump(data, stream)
    return stream.getvalue()
