"""``ab report``: an outcomes file read against a running experiment, variant by variant.

The file is CSV with a header: the key column (the experiment's ``key_field``, or ``key``), the
outcome column (the experiment's ``metric``) and optionally ``variant`` (what the service recorded).
Each row's variant is recomputed from its key (:mod:`gitreg.domain.routing`); rows whose recorded
variant disagrees are counted and reported, and counted under the recomputed one.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
from pathlib import Path

from gitreg.domain import abstats, routing
from gitreg.domain.experiment import Experiment
from gitreg.errors import InvalidInputError

MAX_BYTES = 2 * 1024 ** 3
_TRUE, _FALSE = {"true", "yes"}, {"false", "no"}


def report(record: Experiment, outcomes: str | os.PathLike) -> dict:
    path = Path(outcomes)
    if not path.is_file():
        raise InvalidInputError(f"outcomes file {path} does not exist: give a CSV file with columns "
                                f"{record.key_field},{record.metric}")
    if path.stat().st_size > MAX_BYTES:
        raise InvalidInputError(f"outcomes file {path} is over 2 GB: aggregate it first")
    values: dict[str, list[float]] = {routing.CONTROL: [], routing.CANDIDATE: []}
    with path.open("rb") as raw:  # in chunks: the file may be up to 2 GB
        digest = hashlib.file_digest(raw, "sha256").hexdigest()
    disagreeing = _read(path, record, values)
    every = values[routing.CONTROL] + values[routing.CANDIDATE]
    binary = bool(every) and all(v in (0.0, 1.0) for v in every)
    result = abstats.analyse(abstats.Summary.of(values[routing.CONTROL]), abstats.Summary.of(values[routing.CANDIDATE]),
                             binary=binary, split=record.split, min_samples=record.min_samples,
                             direction=record.direction)
    return {"experiment": record.id, "model": record.model, "stage": record.stage, "metric": record.metric,
            "control": record.control, "candidate": record.candidate, "split": record.split,
            "rows": len(every), "variant_disagreements": disagreeing, "outcomes": str(path),
            "outcomes_sha256": digest, **result}


def _read(path: Path, record: Experiment, values: dict[str, list[float]]) -> int:
    """Fill ``values`` with the outcomes, variant by variant; the rows whose recorded variant disagrees."""
    disagreeing = 0
    reader = None
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if not header:
                raise InvalidInputError(f"outcomes file {path} is empty: it needs a header row "
                                        f"{record.key_field},{record.metric}")
            key_at, metric_at, variant_at = _columns(path, [h.strip() for h in header], record)
            threshold = routing.threshold(record.split)
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) <= max(key_at, metric_at):
                    raise InvalidInputError(f"{path}, line {line}: fewer columns than the header")
                variant = (routing.CANDIDATE if routing.bucket(record.id, row[key_at].strip()) < threshold
                           else routing.CONTROL)
                if variant_at is not None and len(row) > variant_at and row[variant_at].strip() \
                        and row[variant_at].strip().lower() != variant:
                    disagreeing += 1
                values[variant].append(_number(row[metric_at], path, line, record.metric))
    except UnicodeDecodeError:
        raise InvalidInputError(f"outcomes file {path} is not UTF-8 text: save it as UTF-8 CSV") from None
    except csv.Error as exc:
        where = f", line {reader.line_num}" if reader is not None else ""
        raise InvalidInputError(f"{path}{where}: not a CSV row ({exc}): fix the file or aggregate it") from None
    return disagreeing


def _columns(path: Path, header: list[str], record: Experiment) -> tuple[int, int, int | None]:
    key = record.key_field if record.key_field in header else ("key" if "key" in header else None)
    if key is None:
        nor = "" if record.key_field == "key" else " (nor 'key')"
        raise InvalidInputError(f"outcomes file {path} has no key column {record.key_field!r}{nor}; its "
                                f"columns are {', '.join(header) or 'none'}: add the key each outcome belongs to")
    if record.metric not in header:
        raise InvalidInputError(f"outcomes file {path} has no column {record.metric!r}, the experiment's metric; its "
                                f"columns are {', '.join(header)}")
    return header.index(key), header.index(record.metric), header.index("variant") if "variant" in header else None


def _number(text: str, path: Path, line: int, metric: str) -> float:
    value = text.strip().lower()
    if value in _TRUE:
        return 1.0
    if value in _FALSE:
        return 0.0
    try:
        number = float(value)
    except ValueError:
        raise InvalidInputError(f"{path}, line {line}: {metric} {text!r} is not a number") from None
    if not math.isfinite(number):
        raise InvalidInputError(f"{path}, line {line}: {metric} {text!r} is not a finite number")
    return number
