"""What registration records about an artifact without running any of it: its format (from the object,
an explicit ``--format``, or the file's name), the types a skops file holds, and its signature (from
the object, a ``--signature`` file, or a safe reader). A pickle is never unpickled here."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitreg.domain import formats, yamlio
from gitreg.domain.card import check_finite
from gitreg.errors import ArtifactError, InvalidInputError, UntrustedArtifactError
from gitreg.io import skops_file
from gitreg.services import provenance

SIGNATURE_LIMIT = 1_000_000


@dataclass(frozen=True)
class Described:
    format: str
    types: tuple[str, ...]
    signature: dict[str, Any] | None


def describe(obj: Any, path: Path | None, fmt: str, signature: dict[str, Any] | None,
             input_example: Any = None) -> Described:
    """``fmt`` is the format the artifact is (or will be) saved in."""
    types = _types(obj, path, fmt)
    odd = next((name for name in types if not formats.is_type_name(name)), None)
    if odd is not None:
        raise ArtifactError(f"the skops file names {odd[:80]}, which cannot be imported when it is loaded "
                            "(a lambda or a local class): use a function or class defined in a module")
    refused = [name for name in types if formats.is_dangerous(name)]
    if refused:
        raise UntrustedArtifactError(f"the skops file holds {refused[0]}, which no model needs and could run "
                                     "commands when loaded: register a model without it")
    if signature is None:
        signature = _safe_signature(obj, path, fmt, input_example)
    return Described(fmt, types, signature)


def _types(obj: Any, path: Path | None, fmt: str) -> tuple[str, ...]:
    if fmt != "skops":
        return ()
    if path is not None:
        return skops_file.types_of(path)
    with tempfile.TemporaryDirectory(prefix="gitreg-skops-") as scratch:
        return skops_file.dump(obj, Path(scratch) / "model.skops")


def _safe_signature(obj: Any, path: Path | None, fmt: str, example: Any) -> dict[str, Any] | None:
    if obj is not None:
        return provenance.signature(obj, example)
    fields = skops_file.signature_source(path) if fmt == "skops" else None
    if fields is None and example is None:
        return None  # a pickle would have to run to say it; --signature FILE.json says it instead
    return provenance.signature(fields or object(), example)


def read_signature(path: str | Path) -> dict[str, Any]:
    """A signature given as a JSON file, e.g. ``{"n_features": 30, "features": [...], "classes": [0, 1]}``."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read the signature file {path}: give a JSON file") from exc
    if len(text) > SIGNATURE_LIMIT:
        raise InvalidInputError(f"the signature file {path} is over 1 MB: record the inputs and outputs only")
    try:
        data = yamlio.load_json(text, f"signature file {path}")
    except ValueError as exc:
        raise InvalidInputError(f"the signature file {path} is not valid JSON ({exc}): fix it and run again") from exc
    if not isinstance(data, dict) or not data:
        raise InvalidInputError(f"the signature file {path} must hold a mapping, e.g. "
                                '{"n_features": 30, "classes": [0, 1]}')
    try:
        check_finite(data, "signature")
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    return data
