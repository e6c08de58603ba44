"""One loader per artifact format. Each imports its library only when called, and a missing library
is a :class:`MissingPackageError` naming the package; the bytes were verified by the caller."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from gitreg.domain import formats
from gitreg.errors import ArtifactError, MissingPackageError, UntrustedArtifactError
from gitreg.io import skops_file


def library(module: str, fmt: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = formats.FORMATS[fmt].package
        raise MissingPackageError(f"loading a {fmt} artifact needs {package}, which is not installed: "
                                  f"pip install {package}") from exc


def load(fmt: str, path: Path, types: tuple[str, ...], trusted: Any, tag: str) -> Any:
    """The object in ``path``; ``types`` are the card's (skops), ``trusted`` the caller's extension:
    a list of skops type names, or True for what only a pickle can hold (a full PyTorch module)."""
    if fmt == "skops":
        return skops_file.load(path, types, [] if trusted is True else list(trusted or ()), tag)
    if fmt in ("joblib", "pickle"):
        return library("joblib", fmt).load(path)
    if fmt == "cloudpickle":
        library("cloudpickle", fmt)  # its pickles name its functions
        import pickle

        with open(path, "rb") as handle:
            return pickle.load(handle)
    if fmt in _LOADERS:
        return _LOADERS[fmt](path, trusted is True, tag)
    raise ArtifactError(f"{tag} is a {fmt} artifact, which gitreg does not load: use `Registry.path(...)` "
                        "or `gitreg get REF -o PATH` and load it with its own library")


def _onnx(path: Path, _trusted: bool, _tag: str) -> Any:
    ort = library("onnxruntime", "onnx")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _torch(path: Path, trusted: bool, tag: str) -> Any:
    torch = library("torch", "torch")
    try:
        return torch.load(path, map_location="cpu", weights_only=not trusted)
    except Exception as exc:
        if trusted or "weights_only" not in str(exc):
            raise
        raise UntrustedArtifactError(
            f"{tag} holds more than tensors and state dicts (e.g. a full module), which only a pickle can load: "
            "pass trusted=True if you trust whoever registered it") from None


def _safetensors(path: Path, _trusted: bool, _tag: str) -> Any:
    numpy_loader = library("safetensors.numpy", "safetensors")
    return numpy_loader.load_file(str(path))


def _xgboost(path: Path, _trusted: bool, _tag: str) -> Any:
    xgb = library("xgboost", "xgboost")
    booster = xgb.Booster()
    booster.load_model(str(path))
    return booster


def _lightgbm(path: Path, _trusted: bool, _tag: str) -> Any:
    return library("lightgbm", "lightgbm").Booster(model_file=str(path))


_LOADERS = {"onnx": _onnx, "torch": _torch, "safetensors": _safetensors, "xgboost": _xgboost,
            "lightgbm": _lightgbm}
