"""A model's signature as data: input columns with dtypes, outputs, a small input example; what
``--bump auto`` calls a breaking change; and the check a predictor makes of its input.

Inputs are read by duck typing (``columns``/``dtypes`` of a DataFrame, ``shape``/``dtype`` of an
array), so this module imports neither pandas nor numpy.
"""

from __future__ import annotations

import math
from typing import Any

from gitreg.errors import InvalidInputError, SignatureError

EXAMPLE_ROWS = 5
# what a recorded dtype kind accepts without a silent change of meaning (numpy's kind letters)
ACCEPTS = {"f": "fiub", "i": "iub", "u": "ub", "b": "b", "O": "OUS", "U": "OUS", "S": "OUS", "M": "M", "m": "m"}


def dtype_kind(dtype: str) -> str:
    """numpy's kind letter of a recorded dtype name (``float64`` -> ``f``, ``object`` -> ``O``)."""
    for prefix, kind in (("float", "f"), ("int", "i"), ("uint", "u"), ("bool", "b"), ("object", "O"),
                         ("str", "U"), ("<U", "U"), ("bytes", "S"), ("datetime", "M"), ("timedelta", "m"),
                         ("category", "O"), ("string", "U")):
        if dtype.startswith(prefix):
            return "u" if dtype.startswith("uint") else kind
    return "O"


def describe_input(example: Any, names: list[str] | None = None) -> tuple[list[dict], dict]:
    """Input columns (name, dtype) and the first rows of ``example`` (a DataFrame or a 2-D array)."""
    columns = getattr(example, "columns", None)
    if columns is not None:
        inputs = [{"name": str(name), "dtype": str(dtype)} for name, dtype in zip(columns, example.dtypes)]
        rows = example.head(EXAMPLE_ROWS).to_numpy().tolist()
        return inputs, {"columns": [c["name"] for c in inputs], "rows": _plain_rows(rows)}
    shape = getattr(example, "shape", None)
    if shape is None or len(shape) != 2:
        raise InvalidInputError("input_example must be a pandas DataFrame or a 2-D numpy array of a few rows")
    labels = names if names and len(names) == shape[1] else [None] * shape[1]
    inputs = [{"name": label, "dtype": str(example.dtype)} for label in labels]
    return inputs, {"columns": labels if names else None, "rows": _plain_rows(example[:EXAMPLE_ROWS].tolist())}


def _plain_rows(rows: list[list]) -> list[list]:
    """JSON-safe rows: NaN and infinities (no JSON) become null, other values plain text or numbers."""
    def plain(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        return str(value)

    return [[plain(value) for value in row] for row in rows]


def check_input(signature: dict[str, Any] | None, data: Any, tag: str) -> None:
    """Refuse input a caller of this version would get a silent wrong prediction from."""
    inputs = (signature or {}).get("inputs")
    if not inputs:
        return
    columns = getattr(data, "columns", None)
    names = [column["name"] for column in inputs]
    if columns is not None and all(name is not None for name in names):
        given = [str(c) for c in columns]
        missing, extra = [n for n in names if n not in given], [c for c in given if c not in names]
        if missing or extra:
            parts = [f"{what} {', '.join(cols[:5])}" for what, cols in (("missing", missing), ("extra", extra)) if cols]
            raise SignatureError(f"input does not match the signature of {tag}: {'; '.join(parts)} columns")
        dtypes = dict(zip(given, (str(d) for d in data.dtypes)))
        _check_dtypes([(n, c.get("dtype"), dtypes[n]) for n, c in zip(names, inputs)], tag)
        return
    shape = getattr(data, "shape", None)
    if shape is None or len(shape) != 2:
        raise SignatureError(f"{tag} takes a table of {len(inputs)} columns (a DataFrame or a 2-D array)")
    if shape[1] != len(inputs):
        raise SignatureError(f"input does not match the signature of {tag}: {shape[1]} columns, "
                             f"expected {len(inputs)}")
    dtype = str(getattr(data, "dtype", "object"))
    _check_dtypes([(n if n is not None else str(i), c.get("dtype"), dtype)
                   for i, (n, c) in enumerate(zip(names, inputs))], tag)


def _check_dtypes(columns: list[tuple[str, str | None, str]], tag: str) -> None:
    wrong = [(name, want, got) for name, want, got in columns
             if want and dtype_kind(got) not in ACCEPTS.get(dtype_kind(want), dtype_kind(want))]
    if wrong:
        shown = ", ".join(f"{name} is {got}, expected {want}" for name, want, got in wrong[:5])
        raise SignatureError(f"input does not match the signature of {tag}: {shown}")


def incompatible(old: dict[str, Any] | None, new: dict[str, Any] | None) -> bool:
    """True when a caller of the old model could not call the new one the same way: changed inputs or
    classes, a changed or removed output. An added output is compatible (a minor bump)."""
    if not old or not new:
        return False
    for key in ("n_features", "features", "classes"):
        if old.get(key) is not None and new.get(key) is not None and old[key] != new[key]:
            return True
    if old.get("inputs") and new.get("inputs") and _inputs_differ(old["inputs"], new["inputs"]):
        return True
    before, after = old.get("outputs"), new.get("outputs")
    if isinstance(before, dict) and isinstance(after, dict):
        return any(name not in after or after[name] != spec for name, spec in before.items())
    return False


def _inputs_differ(old: list[dict], new: list[dict]) -> bool:
    """Names, order or count changed, or a dtype where both versions recorded one."""
    if len(old) != len(new):
        return True
    return any(a.get("name") != b.get("name") or (a.get("dtype") and b.get("dtype") and a["dtype"] != b["dtype"])
               for a, b in zip(old, new))


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Input dtypes and outputs that differ (names and counts are told by the callers' own rules)."""
    found = []
    before = {c.get("name"): c.get("dtype") for c in old.get("inputs") or []}
    after = {c.get("name"): c.get("dtype") for c in new.get("inputs") or []}
    changed = [f"{n} {before[n]} → {after[n]}" for n in before if n in after and before[n] != after[n]]
    if changed:
        found.append(f"input dtypes: {', '.join(changed[:5])}")
    outs_before, outs_after = old.get("outputs") or {}, new.get("outputs") or {}
    if isinstance(outs_before, dict) and isinstance(outs_after, dict):
        added = [n for n in outs_after if n not in outs_before]
        removed = [n for n in outs_before if n not in outs_after]
        changed = [n for n in outs_before if n in outs_after and outs_before[n] != outs_after[n]]
        for what, names in (("added", added), ("removed", removed), ("changed", changed)):
            if names:
                found.append(f"outputs {what}: {', '.join(names)}")
    return found
