"""What a card records beyond the artifact: metrics, params, environment, signature, data lineage."""

from __future__ import annotations

import math
import platform
import re
import sys
from pathlib import Path
from typing import Any

from gitreg.domain import signature as signatures
from gitreg.domain import yamlio
from gitreg.errors import InvalidInputError

TRACKED_PACKAGES = ("joblib", "scikit-learn", "numpy")
MODULE_OF = {"joblib": "joblib", "scikit-learn": "sklearn", "numpy": "numpy"}


def parse_pairs(pairs: list[str] | tuple[str, ...], what: str) -> dict[str, Any]:
    """``["lr=0.1", "kernel=rbf"]`` -> ``{"lr": 0.1, "kernel": "rbf"}`` (numbers and booleans typed)."""
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            example = "accuracy=0.93" if what == "metric" else "learning_rate=0.01"
            raise InvalidInputError(f"invalid {what} {pair!r}: write it as KEY=VALUE, e.g. {example}")
        result[key.strip()] = parse_scalar(value.strip())
    return result


def parse_scalar(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none", ""):
        return None
    return text


def read_metrics_file(path: str | Path) -> dict[str, Any]:
    """Metrics from a JSON (or YAML) file: a flat mapping, nested mappings flattened with dots."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidInputError(f"cannot read metrics file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"cannot read metrics file {path}: it is not UTF-8 text; give a JSON or YAML file"
        ) from exc
    try:
        data = yamlio.load_json(text, f"metrics file {path}") if path.suffix == ".json" else \
            yamlio.load(text, f"metrics file {path}")
    except (ValueError, yamlio.YAMLError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInputError(
            f"metrics file {path} is not valid {path.suffix[1:] or 'YAML'} ({first_line}): fix it and run again"
        ) from exc
    if not isinstance(data, dict):
        raise InvalidInputError(f"metrics file {path} must hold a mapping of metric names to values")
    flat = _flatten(data)
    odd = next((key for key, value in flat.items() if isinstance(value, float) and not math.isfinite(value)), None)
    if odd is not None:
        raise InvalidInputError(f"metrics file {path}: metric {odd} is {flat[odd]}: record a finite number")
    return flat


def _flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def environment(imported_only: bool = False, needs: tuple[str, ...] = ()) -> dict[str, Any]:
    """Python's version, the platform, and the tracked packages' versions (``imported_only``: those this
    process has imported, read from the modules themselves; importing ``importlib.metadata`` alone costs
    30 ms of a ``load``). ``needs``: the modules a model's types come from (``sklearn.linear_model``, ...):
    the installed distributions that provide them and those they require are recorded too."""
    packages = {}
    for package in TRACKED_PACKAGES:
        module = sys.modules.get(MODULE_OF[package])
        version = getattr(module, "__version__", None) if module is not None else None
        if version is None and not imported_only:
            version = _installed_version(package)
        if version is not None:
            packages[package] = version
    found = {"python": platform.python_version(), "packages": packages}
    if not imported_only:
        found["platform"] = current_platform()
        packages.update(_needed(needs))
        found["packages"] = dict(sorted(packages.items()))
    return found


def current_platform() -> str:
    return f"{platform.system()}-{platform.machine()}"


def _needed(modules: tuple[str, ...]) -> dict[str, str]:
    """``{distribution: version}`` of the distributions providing ``modules`` and their direct requirements."""
    if not modules:
        return {}
    from importlib import metadata

    providers = metadata.packages_distributions()
    wanted = {dist for module in modules for dist in providers.get(module.split(".")[0], [])}
    wanted |= {req for dist in list(wanted) for req in _requirements(metadata, dist)}
    versions = {dist: _installed_version(dist) for dist in wanted}
    return {_canonical(dist): version for dist, version in versions.items() if version}


def _requirements(metadata, dist: str) -> list[str]:
    """The names a distribution requires unconditionally (extras and markers for other platforms left out)."""
    try:
        lines = metadata.requires(dist) or []
    except metadata.PackageNotFoundError:
        return []
    names = []
    for line in lines:
        spec, _, marker = line.partition(";")
        if "extra" in marker:
            continue
        name = re.split(r"[\s<>=!~\[(]", spec.strip(), maxsplit=1)[0]
        if name:
            names.append(name)
    return names


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed_version(package: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def requirements(environment: dict[str, Any]) -> str:
    """A version's packages as a pip requirements file (``gitreg env REF --requirements``)."""
    header = [f"# python {environment.get('python', 'unknown')}",
              *([f"# platform {environment['platform']}"] if environment.get("platform") else [])]
    pins = [f"{name}=={version}" for name, version in sorted((environment.get("packages") or {}).items())]
    return "\n".join(header + pins) + "\n"


def environment_differences(recorded: dict[str, Any], imported_only: bool = False) -> list[str]:
    """Human-readable differences between a card's environment and the running one (``imported_only``:
    only packages this process has imported count, e.g. those unpickling an object needed)."""
    current = environment(imported_only)
    diffs = []
    if recorded.get("python") and recorded["python"] != current["python"]:
        diffs.append(f"python {recorded['python']} -> {current['python']}")
    if recorded.get("platform") and recorded["platform"] != current_platform():
        diffs.append(f"platform {recorded['platform']} -> {current_platform()}")
    now = current["packages"]
    for package, version in (recorded.get("packages") or {}).items():
        if imported_only and package not in now:
            continue
        if now.get(package) != version:
            diffs.append(f"{package} {version} -> {now.get(package, 'not installed')}")
    return diffs


def signature(model: Any, input_example: Any = None) -> dict[str, Any] | None:
    """Input features (with dtypes and a few example rows when ``input_example`` is given) and outputs
    of a scikit-learn-like object, or None."""
    sig = _fitted(model)
    if input_example is None:  # features and classes say what is known without calling the model
        return sig or None
    sig["inputs"], sig["example"] = signatures.describe_input(input_example, sig.get("features"))
    sig.setdefault("n_features", len(sig["inputs"]))
    sig["outputs"] = _outputs(model, input_example, sig.get("classes"))
    return sig


def _outputs(model: Any, example: Any, classes: list | None) -> dict[str, Any]:
    """What ``predict`` (and ``predict_proba``) return: classes for a classifier, the dtype of a
    regressor's values (known only by calling it on the example, an object the caller handed us)."""
    outputs: dict[str, Any] = {}
    if classes is not None:
        outputs["predict"] = {"classes": classes}
    if example is not None and callable(getattr(model, "predict", None)):
        try:
            predicted = model.predict(example[:1] if not hasattr(example, "head") else example.head(1))
            outputs.setdefault("predict", {})["dtype"] = str(predicted.dtype)
        except Exception as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise InvalidInputError(f"the model cannot predict its input_example ({reason}): "
                                    "give rows it was trained on") from exc
    if classes is not None and callable(getattr(model, "predict_proba", None)):
        outputs["predict_proba"] = {"shape": [None, len(classes)]}
    return outputs


def _fitted(model: Any) -> dict[str, Any]:
    sig = {}
    if hasattr(model, "n_features_in_"):
        sig["n_features"] = int(model.n_features_in_)
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        sig["features"] = [str(name) for name in names]
    classes = getattr(model, "classes_", None)
    if classes is not None:
        sig["classes"] = [_plain(value) for value in classes]
    return sig


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
