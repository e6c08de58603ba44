"""YAML reading and writing (ruamel.yaml, round-trip so users' comments and order survive)."""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

__all__ = ["YAMLError", "dump", "load", "load_roundtrip"]


def _yaml(typ: str) -> YAML:
    yaml = YAML(typ=typ)
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def load(text: str | bytes) -> Any:
    """Plain Python data (dicts, lists, scalars)."""
    return _yaml("safe").load(text)


def load_roundtrip(text: str | bytes) -> Any:
    """Data that remembers comments and key order, for files users edit by hand."""
    return _yaml("rt").load(text)


def dump(data: Any) -> str:
    stream = io.StringIO()
    _yaml("rt").dump(data, stream)
    return stream.getvalue()
