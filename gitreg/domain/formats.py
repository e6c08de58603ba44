"""Artifact formats: what a card's ``artifact.format`` may say, how a file's format is told at
registration, which library loads it, and which formats run code when loaded (pickles)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gitreg.errors import InvalidInputError


@dataclass(frozen=True)
class Format:
    name: str
    package: str | None  # what `pip install` brings the loader; None: gitreg needs nothing
    pickle: bool = False  # loading it can run any code the file holds
    suffixes: tuple[str, ...] = ()


FORMATS = {f.name: f for f in (
    Format("skops", "skops", suffixes=(".skops",)),
    Format("joblib", "joblib", pickle=True, suffixes=(".joblib",)),
    Format("pickle", "joblib", pickle=True, suffixes=(".pkl", ".pickle")),
    Format("cloudpickle", "cloudpickle", pickle=True, suffixes=(".cloudpickle",)),
    Format("onnx", "onnxruntime", suffixes=(".onnx",)),
    Format("torch", "torch", suffixes=(".pt", ".pth")),
    Format("safetensors", "safetensors", suffixes=(".safetensors",)),
    Format("xgboost", "xgboost", suffixes=(".xgb", ".ubj")),
    Format("lightgbm", "lightgbm", suffixes=(".lgb", ".lgbm")),
    Format("directory", None),
    Format("file", None),  # bytes of no format gitreg loads: Registry.path or `gitreg get`
)}
PICKLE_POLICIES = ("allow", "warn", "refuse")
SERIALIZATIONS = ("skops", "joblib")
COMPRESSED = (".gz", ".bz2", ".xz", ".lzma", ".zst", ".z")  # joblib reads these compressed pickles

# Types no model needs and that give a skops file the power of a pickle; refused even when a card
# lists them, so a hand-edited card cannot make ``load`` trust them.
DANGEROUS_MODULES = ("os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "importlib", "pickle",
                     "marshal", "ctypes", "runpy", "code", "codeop", "pty", "webbrowser", "multiprocessing",
                     "builtins.eval", "builtins.exec", "builtins.compile", "builtins.open", "builtins.__import__",
                     "builtins.getattr", "builtins.setattr", "builtins.delattr", "builtins.globals",
                     "builtins.input", "builtins.breakpoint", "joblib", "dill", "cloudpickle", "io")


def check(name: str, where: str = "--format") -> Format:
    if name not in FORMATS:
        raise InvalidInputError(f"{where}: unknown format {name!r}: use one of {', '.join(FORMATS)}")
    return FORMATS[name]


def from_name(filename: str, is_dir: bool, head: bytes = b"") -> str:
    """The format of a file as registration tells it: by its suffix (a compressed pickle by the
    suffix before), then by its first bytes for LightGBM's text models; never by loading it."""
    if is_dir:
        return "directory"
    lowered = filename.lower()
    for compressed in COMPRESSED:
        if lowered.endswith(compressed) and lowered[: -len(compressed)].endswith((".joblib", ".pkl", ".pickle")):
            return "joblib"
    for fmt in FORMATS.values():
        if lowered.endswith(fmt.suffixes or ("\0",)):
            return fmt.name
    if head.startswith(b"tree\nversion="):
        return "lightgbm"
    return "file"


def of_card(artifact_format: str | None, kind: str, path: str) -> str:
    """The format of a registered version; cards written before formats were recorded are joblib
    objects, pickles by their suffix, or folders and files."""
    if artifact_format:
        return artifact_format
    if kind == "joblib":
        return "joblib"
    if kind == "directory":
        return "directory"
    found = from_name(path, False)
    return found if found in ("joblib", "pickle") else "file"


TYPE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


def is_type_name(value: object) -> bool:
    return isinstance(value, str) and TYPE_NAME.fullmatch(value) is not None


def is_dangerous(type_name: str) -> bool:
    return any(type_name == module or type_name.startswith(module + ".") for module in DANGEROUS_MODULES)
