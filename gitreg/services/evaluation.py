"""Evaluate models on the same rows of a CSV file, and a paired bootstrap of every metric.

Every metric is a function of per-row sums (correct predictions, true and false positives, errors),
so one resample is a vector of row multiplicities and every model's metric on it is one matrix
product. The same resamples (fixed seed) are used for every model: the comparison is paired.
Imports numpy; the registry imports this module only for ``compare --data``.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gitreg.domain.compare import EvaluatedMetric, Evaluation, PairResult
from gitreg.errors import InvalidInputError

RESAMPLES = 2000
SEED = 0
CONFIDENCE = 0.95
CHUNK_CELLS = 4_000_000  # resample rows × data rows held in memory at once
EPSILON = 1e-15


@dataclass(frozen=True)
class Dataset:
    path: str
    target: str
    columns: list[str]  # the feature columns, in file order
    features: np.ndarray  # rows × columns, float (NaN for empty cells)
    targets: list[str]

    @property
    def rows(self) -> int:
        return len(self.targets)


def read_csv(path: str | Path, target: str | None) -> Dataset:
    """Numeric feature columns and the target column of a CSV file with a header row."""
    if not target:
        raise InvalidInputError("--data needs --target COLUMN: the column that holds the true values")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInputError(f"{path} is not a readable CSV file ({exc})") from exc
    header, body = (rows[0], [row for row in rows[1:] if row]) if rows else ([], [])
    if target not in header:
        raise InvalidInputError(f"{path} has no column {target!r}: its columns are {', '.join(header) or 'none'}")
    if not body:
        raise InvalidInputError(f"{path} has a header but no rows to evaluate on")
    position = header.index(target)
    columns = [name for i, name in enumerate(header) if i != position]
    features = np.empty((len(body), len(columns)))
    targets = []
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise InvalidInputError(f"{path} line {number} has {len(row)} cells but the header has {len(header)}")
        if not row[position].strip():
            raise InvalidInputError(f"{path} line {number} has no {target!r} value")
        targets.append(row[position].strip())
        cells = row[:position] + row[position + 1:]
        for j, cell in enumerate(cells):
            features[number - 2, j] = _number(cell, path, number, columns[j])
    return Dataset(str(path), target, columns, features, targets)


def _number(cell: str, path, line: int, column: str) -> float:
    if not cell.strip():
        return float("nan")
    try:
        return float(cell)
    except ValueError:
        raise InvalidInputError(
            f"{path} line {line}, column {column!r}: {cell!r} is not a number; compare --data evaluates "
            "numeric features only (encode categories as numbers first)") from None


# ------------------------------------------------------------------------------------- metrics
@dataclass(frozen=True)
class Metric:
    """``value(sums, n)``: the metric from per-row components summed over a (re)sample of n rows."""

    name: str
    better: str
    components: np.ndarray  # k × rows
    value: Callable[[np.ndarray, int], np.ndarray]  # (k × resamples, n) -> resamples


def evaluate(labels: list[str], models: list[Any], dataset: Dataset, *, resamples: int = RESAMPLES,
             seed: int = SEED, confidence: float = CONFIDENCE) -> Evaluation:
    """Every model on every row, then for each metric and each pair the paired-bootstrap verdict."""
    if resamples < 100:
        raise InvalidInputError(f"--resamples must be at least 100, not {resamples}")
    if not 0.5 < confidence < 1:
        raise InvalidInputError(f"--confidence must be between 0.5 and 1 (e.g. 0.95), not {confidence}")
    task = _task(labels, models)
    scorer = _classification if task == "classification" else _regression
    per_model = [scorer(label, model, _features(label, model, dataset), dataset)
                 for label, model in zip(labels, models)]
    common = [name for name in per_model[0] if all(name in scores for scores in per_model)]
    notes = tuple(f"{name} skipped: not every model supports it (predict_proba)"
                  for name in dict.fromkeys(n for scores in per_model for n in scores) if name not in common)
    if "f1" in common:
        notes += (f"f1 counts class {models[0].classes_[1]} as positive",)
    draws = _bootstrap([[scores[name] for name in common] for scores in per_model], dataset.rows, resamples, seed)
    metrics = []
    for k, name in enumerate(common):
        metric = per_model[0][name]
        points = tuple(float(scores[name].value(scores[name].components.sum(axis=1)[:, None], dataset.rows)[0])
                       for scores in per_model)
        pairs = tuple(_pair(a, b, points, draws[a][k], draws[b][k], metric.better, confidence)
                      for a in range(len(models)) for b in range(a + 1, len(models)))
        metrics.append(EvaluatedMetric(name, metric.better, points, pairs, _overall(pairs, len(models))))
    return Evaluation(dataset.path, dataset.target, dataset.rows, task, resamples, seed, confidence,
                      tuple(metrics), notes)


def _task(labels: list[str], models: list[Any]) -> str:
    for label, model in zip(labels, models):
        if not hasattr(model, "predict"):
            raise InvalidInputError(f"{label} has no predict method: compare --data evaluates predictors only")
    kinds = {hasattr(model, "classes_") for model in models}
    if len(kinds) > 1:
        raise InvalidInputError("compare --data needs models of one kind: these mix classifiers and regressors")
    return "classification" if kinds == {True} else "regression"


def _features(label: str, model: Any, dataset: Dataset) -> np.ndarray:
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        missing = [str(name) for name in names if str(name) not in dataset.columns]
        if missing:
            raise InvalidInputError(f"{dataset.path} lacks the column(s) {', '.join(missing)} that {label} takes")
        return dataset.features[:, [dataset.columns.index(str(name)) for name in names]]
    expected = getattr(model, "n_features_in_", None)
    if expected is not None and expected != len(dataset.columns):
        raise InvalidInputError(
            f"{label} takes {expected} features but {dataset.path} has {len(dataset.columns)} columns besides "
            f"{dataset.target!r}: give a file whose other columns are exactly the model's inputs, in order")
    return dataset.features


def _predict(model: Any, method: str, x: np.ndarray):
    with warnings.catch_warnings():  # fitted on a DataFrame, given an array of the same columns
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        return getattr(model, method)(x)


def _key(value: Any) -> Any:
    """A class label or target cell in a comparable form (``"1"``, ``1`` and ``1.0`` are one class)."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, float, np.number)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _classification(label: str, model: Any, x: np.ndarray, dataset: Dataset) -> dict[str, Metric]:
    classes = [_key(c) for c in model.classes_]
    truth = np.array([_key(t) for t in dataset.targets], dtype=object)
    if not set(truth) & set(classes):
        raise InvalidInputError(f"no value of {dataset.target!r} in {dataset.path} is a class of {label} "
                                f"({', '.join(map(str, model.classes_))}): is --target the right column?")
    predicted = np.array([_key(p) for p in _predict(model, "predict", x)], dtype=object)
    correct = (predicted == truth).astype(float)
    metrics = {"accuracy": Metric("accuracy", "higher", correct[None, :], lambda s, n: s[0] / n)}
    if len(classes) == 2:
        positive = classes[1]
        tp = ((predicted == positive) & (truth == positive)).astype(float)
        fp = ((predicted == positive) & (truth != positive)).astype(float)
        fn = ((predicted != positive) & (truth == positive)).astype(float)
        metrics["f1"] = Metric("f1", "higher", np.vstack([tp, fp, fn]), _f1)
    else:
        present = list(dict.fromkeys([*truth, *predicted]))
        parts = [((predicted == c) & (truth == c), (predicted == c) & (truth != c), (predicted != c) & (truth == c))
                 for c in present]
        metrics["f1_macro"] = Metric("f1_macro", "higher",
                                     np.vstack([np.vstack(p).astype(float) for p in parts]), _macro_f1)
    if hasattr(model, "predict_proba"):
        proba = np.asarray(_predict(model, "predict_proba", x), dtype=float)
        column = {c: i for i, c in enumerate(classes)}
        p_true = np.array([proba[row, column[t]] if t in column else 0.0 for row, t in enumerate(truth)])
        loss = -np.log(np.clip(p_true, EPSILON, 1.0))
        metrics["log_loss"] = Metric("log_loss", "lower", loss[None, :], lambda s, n: s[0] / n)
    return metrics


def _f1(sums: np.ndarray, n: int) -> np.ndarray:
    tp, fp, fn = sums
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)


def _macro_f1(sums: np.ndarray, n: int) -> np.ndarray:
    tp, fp, fn = sums[0::3], sums[1::3], sums[2::3]
    denominator = 2 * tp + fp + fn
    scores = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    counted = (denominator > 0).sum(axis=0)
    return np.divide(scores.sum(axis=0), counted, out=np.zeros(scores.shape[1]), where=counted > 0)


def _regression(label: str, model: Any, x: np.ndarray, dataset: Dataset) -> dict[str, Metric]:
    try:
        truth = np.array([float(t) for t in dataset.targets])
    except ValueError:
        raise InvalidInputError(f"{dataset.target!r} in {dataset.path} holds non-numbers, but {label} is a "
                                "regressor: is --target the right column?") from None
    error = np.asarray(_predict(model, "predict", x), dtype=float).reshape(-1) - truth
    return {
        "mae": Metric("mae", "lower", np.abs(error)[None, :], lambda s, n: s[0] / n),
        "rmse": Metric("rmse", "lower", (error ** 2)[None, :], lambda s, n: np.sqrt(s[0] / n)),
        "r2": Metric("r2", "higher", np.vstack([error ** 2, truth, truth ** 2]), _r2),
    }


def _r2(sums: np.ndarray, n: int) -> np.ndarray:
    squared_error, total, total_squares = sums
    spread = total_squares - total ** 2 / n
    return 1 - np.divide(squared_error, spread, out=np.ones_like(spread), where=spread > 0)


# ----------------------------------------------------------------------------------- bootstrap
def _bootstrap(per_model: list[list[Metric]], rows: int, resamples: int, seed: int) -> list[list[np.ndarray]]:
    """``[model][metric] -> values on each resample``; every model sees the same resamples."""
    rng = np.random.default_rng(seed)
    out = [[np.empty(resamples) for _ in metrics] for metrics in per_model]
    chunk = max(1, CHUNK_CELLS // rows)
    uniform = np.full(rows, 1.0 / rows)
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        weights = rng.multinomial(rows, uniform, size=size).astype(float).T  # rows × size
        for model, metrics in enumerate(per_model):
            for k, metric in enumerate(metrics):
                out[model][k][start:start + size] = metric.value(metric.components @ weights, rows)
    return out


def _pair(a: int, b: int, points: tuple[float, ...], draws_a: np.ndarray, draws_b: np.ndarray, better: str,
          confidence: float) -> PairResult:
    difference = draws_b - draws_a
    gain = difference if better == "higher" else -difference
    p_b_better = float(np.mean(gain > 0) + 0.5 * np.mean(gain == 0))
    tail = (1 - confidence) / 2
    low, high = (float(v) for v in np.quantile(difference, [tail, 1 - tail]))
    winner = None
    if p_b_better >= 1 - tail and (low > 0 or high < 0):
        winner = b
    elif p_b_better <= tail and (low > 0 or high < 0):
        winner = a
    return PairResult(a, b, points[b] - points[a], low, high, p_b_better, winner)


def _overall(pairs: tuple[PairResult, ...], count: int) -> int | None:
    """The version that wins each of its pairs, if there is one."""
    for candidate in range(count):
        mine = [p for p in pairs if candidate in (p.a, p.b)]
        if mine and all(p.winner == candidate for p in mine):
            return candidate
    return None
