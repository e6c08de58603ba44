"""Compare: metrics with deltas, parameters, signatures, environments, and — with --data — each model
evaluated on the same rows with a paired bootstrap that names a winner or says there is none."""

from __future__ import annotations

import csv
import json

import pytest

from gitreg.domain import compare
from gitreg.domain.card import Artifact, Card
from gitreg.domain.version import ModelVersion
from gitreg.errors import InvalidInputError, NotFoundError


@pytest.fixture
def cancer_csv(tmp_path, dataset):
    x, y = dataset
    path = tmp_path / "cancer.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([f"f{i}" for i in range(x.shape[1])] + ["diagnosis"])
        for row, label in zip(x, y):
            writer.writerow([repr(float(v)) for v in row] + [int(label)])
    return path


@pytest.fixture
def two_classifiers(registry, dataset, clock):
    """``cancer@0.1.0``: a decision stump; ``0.2.0``: scaled logistic regression; ``0.3.0``: 0.2.0's object again."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    x, y = dataset
    stump = DecisionTreeClassifier(max_depth=1, random_state=0).fit(x[:200], y[:200])
    linear = make_pipeline(StandardScaler(), LogisticRegression()).fit(x[:200], y[:200])
    registry.register("cancer", stump, metrics={"accuracy": 0.89, "loss": 0.32}, params={"max_depth": 1})
    clock.tick()
    registry.register("cancer", linear, metrics={"accuracy": 0.96, "loss": 0.09}, params={"C": 1.0})
    clock.tick()
    registry.register("cancer", linear, metrics={"accuracy": 0.96, "loss": 0.09}, params={"C": 1.0})
    return registry


def test_metrics_params_signature_side_by_side(registry, make_model, run, clock):
    registry.register("m", make_model(c=1.0), metrics={"accuracy": 0.90, "val_loss": 0.30, "f1": 0.88},
                      params={"C": 1.0, "solver": "lbfgs"})
    clock.tick()
    registry.register("m", make_model(c=0.5), metrics={"accuracy": 0.93, "val_loss": 0.25},
                      params={"C": 0.5, "solver": "lbfgs", "tol": 1e-4})
    clock.tick()
    registry.register("m", make_model(n_features=10), metrics={"accuracy": 0.80, "val_loss": 0.50},
                      params={"C": 1.0, "solver": "lbfgs"})
    report = registry.compare(["m@0.1.0", "m@0.2.0", "m"])
    assert report.labels == ["m@v0.1.0", "m@v0.2.0", "m@v1.0.0"]
    rows = {row.metric: row for row in report.metrics}
    assert rows["accuracy"].values == (0.90, 0.93, 0.80) and rows["accuracy"].better == "higher"
    assert rows["accuracy"].deltas[0] is None
    assert rows["accuracy"].deltas[1:] == (pytest.approx(0.03), pytest.approx(-0.10))
    assert rows["accuracy"].best == 1
    assert rows["val_loss"].better == "lower" and rows["val_loss"].best == 1  # a loss: lower is better
    assert rows["f1"].values == (0.88, None, None) and rows["f1"].deltas == (None, None, None)
    assert [(p.key, p.values) for p in report.params] == [("C", (1.0, 0.5, 1.0)), ("tol", (None, 1e-4, None))]
    assert report.same_params == ("solver",)
    assert [s.compatible for s in report.signatures] == [True, True, False]
    assert report.signatures[2].differences == ("n_features 30 → 10",)
    assert report.environment == ()

    data = json.loads(run("compare", "m@0.1.0", "m@0.2.0", "m", "--json").output)
    assert set(data) == {"baseline", "versions", "metrics", "params", "signature", "environment", "evaluation"}
    assert data["baseline"] == "m@v0.1.0" and data["evaluation"] is None
    assert [v["ref"] for v in data["versions"]] == ["m@v0.1.0", "m@v0.2.0", "m@v1.0.0"]
    assert data["metrics"][0] == {"metric": "accuracy", "better": "higher", "values": [0.9, 0.93, 0.8],
                                  "deltas": [None, pytest.approx(0.03), pytest.approx(-0.1)], "best": "m@v0.2.0"}
    assert data["params"]["identical"] == ["solver"]
    assert data["signature"][2] == {"ref": "m@v1.0.0", "signature": {"n_features": 10, "classes": [0, 1]},
                                    "compatible": False, "differences": ["n_features 30 → 10"]}
    text = run("compare", "m@0.1.0", "m@0.2.0").output
    assert "accuracy" in text and "0.93 (+0.03)" in text and "val_loss (lower is better)" in text
    assert "Signature of m@v0.2.0: compatible with the baseline" in text
    markdown = run("compare", "m@0.1.0", "m@1.0.0", "--markdown").output
    assert markdown.startswith("## Comparing `m@v0.1.0`, `m@v1.0.0`\n")
    assert "| metric | m@v0.1.0 | m@v1.0.0 | Δ m@v1.0.0 | best |" in markdown
    assert "| accuracy | 0.9 | 0.8 | -0.1 | m@v0.1.0 |" in markdown
    assert "INCOMPATIBLE with the baseline: n_features 30 → 10" in markdown


def test_configured_directions_and_environment_differences():
    def card(version: str, metrics: dict, environment: dict) -> ModelVersion:
        built = Card(name="m", version=version, created="2026-01-01T00:00:00+00:00", author={},
                     artifact=Artifact("model.bin", "0" * 32, 1, "file"), metrics=metrics, environment=environment)
        return ModelVersion("m", version, f"m@v{version}", "c" * 40, built)

    old = card("1.0.0", {"latency": 20, "score": 5, "error_rate": 0.1},
               {"python": "3.11.7", "packages": {"numpy": "2.0", "joblib": "1.4"}})
    new = card("1.1.0", {"latency": 30, "score": 4, "error_rate": 0.1},
               {"python": "3.12.1", "packages": {"numpy": "2.0", "torch": "2.3"}})
    report = compare.compare([old, new], {"score": "lower", "latency": "higher"})
    best = {row.metric: (row.better, row.best) for row in report.metrics}
    assert best == {"latency": ("higher", 1), "score": ("lower", 1), "error_rate": ("lower", None)}
    assert [(row.key, row.values) for row in report.environment] == [
        ("python", ("3.11.7", "3.12.1")), ("joblib", ("1.4", None)), ("torch", (None, "2.3"))]
    assert [s.compatible for s in report.signatures] == [None, None]


def test_unknown_and_malformed_refs(registry, artifact, run):
    registry.register("m", artifact)
    assert "m has no version 9.9.9" in run("compare", "m", "m@9.9.9", expect=5).stderr
    assert "no model named 'zz'" in run("compare", "zz", "m", expect=5).stderr
    assert "m is not in production" in run("compare", "m", "m#production", expect=5).stderr
    assert "invalid model reference" in run("compare", "m", "m@1@2", expect=4).stderr
    assert "two or more REFs" in run("compare", "m", expect=2).stderr
    assert "choose one of --json and --markdown" in run("compare", "m", "m", "--json", "--markdown", expect=2).stderr
    assert "need --data FILE.csv" in run("compare", "m", "m", "--target", "y", expect=4).stderr
    with pytest.raises(NotFoundError):
        registry.compare(["m", "m@0.2.0"])
    with pytest.raises(InvalidInputError, match="two or more versions"):
        registry.compare(["m"])


def test_evaluation_names_the_better_classifier(two_classifiers, cancer_csv, run):
    report = two_classifiers.compare(["cancer@0.1.0", "cancer@0.2.0"], data=cancer_csv, target="diagnosis")
    evaluation = report.evaluation
    assert (evaluation.rows, evaluation.task, evaluation.resamples, evaluation.seed) == (569, "classification", 2000, 0)
    metrics = {m.metric: m for m in evaluation.metrics}
    assert set(metrics) == {"accuracy", "f1", "log_loss"}
    accuracy = metrics["accuracy"]
    assert accuracy.values[0] == pytest.approx(0.8928, abs=1e-4) and accuracy.values[1] > 0.95
    for metric in metrics.values():
        assert metric.winner == 1, metric
        (pair,) = metric.pairs
        assert pair.winner == 1 and pair.p_b_better > 0.99
        assert (pair.low > 0) if metric.better == "higher" else (pair.high < 0)
    assert metrics["log_loss"].better == "lower" and metrics["log_loss"].pairs[0].delta < 0

    data = json.loads(run("compare", "cancer@0.1.0", "cancer@0.2.0", "--data", str(cancer_csv),
                          "--target", "diagnosis", "--json").output)["evaluation"]
    assert {k: data[k] for k in ("rows", "task", "resamples", "seed", "confidence")} == {
        "rows": 569, "task": "classification", "resamples": 2000, "seed": 0, "confidence": 0.95}
    first = data["metrics"][0]
    assert first["metric"] == "accuracy" and first["winner"] == "cancer@v0.2.0"
    assert set(first["pairs"][0]) == {"a", "b", "delta", "ci", "p_b_better", "winner"}
    assert first["pairs"][0]["a"] == "cancer@v0.1.0" and first["pairs"][0]["winner"] == "cancer@v0.2.0"
    again = json.loads(run("compare", "cancer@0.1.0", "cancer@0.2.0", "--data", str(cancer_csv),
                           "--target", "diagnosis", "--json").output)["evaluation"]
    assert again == data  # a fixed seed: the same report every run
    text = run("compare", "cancer@0.1.0", "cancer@0.2.0", "--data", str(cancer_csv), "--target", "diagnosis").output
    assert "cancer@v0.2.0 is better (100.0% of resamples)" in text
    assert "569 rows, target 'diagnosis', classification" in text


def test_the_same_model_twice_shows_no_significant_difference(two_classifiers, cancer_csv, run):
    report = two_classifiers.compare(["cancer@0.2.0", "cancer@0.3.0", "cancer@0.1.0"], data=cancer_csv,
                                     target="diagnosis", resamples=500, seed=7)
    assert report.evaluation.resamples == 500 and report.evaluation.seed == 7
    for metric in report.evaluation.metrics:
        same = next(p for p in metric.pairs if (p.a, p.b) == (0, 1))
        assert same.delta == 0 and same.p_b_better == 0.5 and (same.low, same.high) == (0, 0)
        assert same.winner is None
        assert metric.winner is None  # 0.2.0 and 0.3.0 each beat the stump but not each other
    markdown = run("compare", "cancer@0.2.0", "cancer@0.3.0", "--data", str(cancer_csv), "--target",
                   "diagnosis", "--markdown").output
    assert "| accuracy | cancer@v0.3.0 vs cancer@v0.2.0 | +0 | [+0, +0] | 0.500 | no significant difference |" \
        in markdown
    assert "same bytes as baseline" in run("compare", "cancer@0.2.0", "cancer@0.3.0").output


def test_evaluation_of_regressors(registry, tmp_path, clock):
    from sklearn.datasets import load_diabetes
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import Ridge

    x, y = load_diabetes(return_X_y=True)
    path = tmp_path / "diabetes.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["progression"] + [f"x{i}" for i in range(x.shape[1])])  # target first: any position
        writer.writerows([[float(t)] + [float(v) for v in row] for row, t in zip(x, y)])
    registry.register("diabetes", DummyRegressor().fit(x, y))
    clock.tick()
    registry.register("diabetes", Ridge(alpha=0.1).fit(x, y))
    evaluation = registry.compare(["diabetes@0.1.0", "diabetes@0.2.0"], data=path, target="progression").evaluation
    metrics = {m.metric: m for m in evaluation.metrics}
    assert evaluation.task == "regression" and set(metrics) == {"mae", "rmse", "r2"}
    assert metrics["r2"].values[0] == pytest.approx(0, abs=1e-9) and metrics["r2"].values[1] > 0.4
    assert metrics["rmse"].values[0] == pytest.approx(float(y.std()), rel=1e-6)
    assert all(m.winner == 1 for m in metrics.values())
    assert metrics["mae"].better == "lower" and metrics["mae"].pairs[0].delta < 0


def test_evaluation_input_errors(two_classifiers, cancer_csv, tmp_path, run):
    refs = ("compare", "cancer@0.1.0", "cancer@0.2.0", "--data")
    assert "has no column 'label': its columns are f0, f1," in run(*refs, str(cancer_csv), "--target", "label",
                                                                   expect=4).stderr
    assert "--data needs --target COLUMN" in run(*refs, str(cancer_csv), expect=4).stderr
    assert "cannot read" in run(*refs, str(tmp_path / "missing.csv"), "--target", "y", expect=4).stderr
    narrow = tmp_path / "narrow.csv"
    narrow.write_text("a,b,diagnosis\n1,2,0\n3,4,1\n")
    error = run(*refs, str(narrow), "--target", "diagnosis", expect=4).stderr
    assert "cancer@v0.1.0 takes 30 features but" in error and "has 2 columns besides 'diagnosis'" in error
    words = tmp_path / "words.csv"
    words.write_text(",".join(f"f{i}" for i in range(30)) + ",diagnosis\n" + ",".join(["1"] * 29 + ["x", "1"]) + "\n")
    assert "line 2, column 'f29': 'x' is not a number" in run(*refs, str(words), "--target", "diagnosis",
                                                             expect=4).stderr
    labels = tmp_path / "labels.csv"
    labels.write_text(",".join(f"f{i}" for i in range(30)) + ",diagnosis\n" + ",".join(["1"] * 30 + ["yes"]) + "\n")
    assert "no value of 'diagnosis'" in run(*refs, str(labels), "--target", "diagnosis", expect=4).stderr
    assert "--resamples" in run(*refs, str(cancer_csv), "--target", "diagnosis", "--resamples", "10",
                                expect=2).stderr
