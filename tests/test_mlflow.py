"""MLflow, both ways (issue 12, part 1), against real MLflow on a sqlite store: no server, no network."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import Invoker, snapshot

mlflow = pytest.importorskip("mlflow", reason="the test extra installs gitreg-dvc[mlflow]")


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    """A sqlite tracking store whose artifacts live beside it (never in the registry's working tree)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    client.create_experiment("training", artifact_location=(tmp_path / "mlartifacts" / "training").as_uri())
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return uri, client


def test_versions_export_as_runs_and_model_versions_with_stage_aliases_and_again_changes_nothing(
        registry, artifact, clock, tracking, tmp_path):
    uri, client = tracking
    registry.register("churn", artifact, metrics={"accuracy": 0.91, "loss.val": 0.2}, params={"C": 1.0})
    clock.tick()
    artifact.write_bytes(b"weights-v2" * 100)
    registry.register("churn", artifact, metrics={"accuracy": 0.93})
    registry.promote("churn", "0.1.0", "production")
    registry.alias_set("churn", "challenger", "0.2.0")
    run = Invoker(registry.root)
    out = json.loads(run("mlflow", "export", "churn@0.1.0", "churn", "--tracking-uri", uri, "--json").stdout)
    assert [(e["tag"], e["mlflow_version"], e["created"]) for e in out["exported"]] == [
        ("churn@v0.1.0", "1", True), ("churn@v0.2.0", "2", True)]
    assert out["aliases"] == {"churn": {"production": "1", "challenger": "2"}}
    assert str(client.get_model_version_by_alias("churn", "challenger").version) == "2"
    first = client.get_model_version_by_alias("churn", "production")
    logged = client.get_run(first.run_id)
    assert logged.data.metrics == {"accuracy": 0.91, "loss.val": 0.2} and logged.data.params == {"C": "1.0"}
    assert logged.data.tags["gitreg.tag"] == "churn@v0.1.0"
    assert logged.data.tags["gitreg.commit"] == registry.resolve("churn@0.1.0").commit
    downloaded = Path(mlflow.artifacts.download_artifacts(client.get_model_version_download_uri("churn", "1"),
                                                          dst_path=str(tmp_path / "dl")))
    assert (downloaded / "model.bin").read_bytes() == b"weights-v1" * 100

    again = json.loads(run("mlflow", "export", "churn@0.1.0", "churn", "--tracking-uri", uri, "--json").stdout)
    assert [e["created"] for e in again["exported"]] == [False, False]
    assert len(client.search_model_versions("name = 'churn'")) == 2
    assert len(client.search_runs([client.get_experiment_by_name("gitreg").experiment_id])) == 2
    assert registry.verify() == []
    assert snapshot(registry.root)["status"] == ""  # the experiment gitreg made keeps artifacts beside the store
    assert (tmp_path / "mlartifacts").is_dir()


def _mlflow_model(client, tmp_path) -> tuple[str, str]:
    """A trained run as MLflow users have them: metrics, params, a note, an MLflow model folder with a
    signature, registered as churn v1 with the alias champion."""
    experiment = client.get_experiment_by_name("training").experiment_id
    run = client.create_run(experiment, tags={"mlflow.note.content": "Gradient boosting on the 2026 cohort"})
    run_id = run.info.run_id
    client.log_metric(run_id, "auc", 0.88)
    client.log_param(run_id, "depth", "6")
    folder = tmp_path / "mlmodel"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(b"pickled-model" * 50)
    (folder / "MLmodel").write_text("flavors: {}\nsignature:\n  inputs: '[{\"type\": \"double\", \"name\": \"age\"}]'\n"
                                    "  outputs: '[{\"type\": \"long\"}]'\n")
    client.log_artifacts(run_id, str(folder), "model")
    client.set_terminated(run_id)
    client.create_registered_model("churn-mlflow")
    made = client.create_model_version("churn-mlflow", source=f"{run.info.artifact_uri}/model", run_id=run_id)
    client.set_registered_model_alias("churn-mlflow", "champion", made.version)
    return run_id, folder


def test_an_mlflow_model_registers_with_its_run_signature_and_source(registry, tracking, tmp_path):
    uri, client = tracking
    run_id, folder = _mlflow_model(client, tmp_path)
    run = Invoker(registry.root)
    out = run("mlflow", "import", "models:/churn-mlflow@champion", "--as", "churn", "--tracking-uri", uri).stdout
    assert "Registered churn@v0.1.0 from models:/churn-mlflow@champion" in out
    card = registry.show("churn").card
    assert card.metrics == {"auc": 0.88} and card.params == {"depth": "6"}
    assert card.description == "Gradient boosting on the 2026 cohort"
    source = card.lineage["mlflow"]
    assert (source["run_id"], source["registered_model"], source["version"]) == (run_id, "churn-mlflow", "1")
    assert "age" in source["signature"]["inputs"] and source["tracking_uri"] == uri
    registry.get("churn", tmp_path / "out")
    assert (tmp_path / "out" / "model.pkl").read_bytes() == (folder / "model.pkl").read_bytes()

    run("mlflow", "import", f"runs:/{run_id}/model/model.pkl", "--as", "churn-file", "--tracking-uri", uri)
    assert registry.show("churn-file").card.artifact.kind != "folder"
    registry.register("churn", folder / "model.pkl", mlflow_run=run_id, tracking_uri=uri, metrics={"auc": 0.9})
    latest = registry.show("churn").card
    assert latest.metrics == {"auc": 0.9} and latest.lineage["mlflow"]["run_id"] == run_id  # given metrics win
    assert registry.verify() == []


def test_gitreg_to_mlflow_to_another_registry_keeps_the_bytes(registry, artifact, tracking, new_registry, tmp_path):
    uri, _ = tracking
    registry.register("fraud", artifact, metrics={"f1": 0.7})
    Invoker(registry.root)("mlflow", "export", "fraud", "--tracking-uri", uri)
    other = new_registry(tmp_path / "other")
    Invoker(other.root)("mlflow", "import", "models:/fraud/1", "--as", "fraud", "--tracking-uri", uri)
    other.get("fraud", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == artifact.read_bytes()  # a file comes back a file
    assert other.show("fraud").card.artifact.md5 == registry.show("fraud").card.artifact.md5
    assert other.show("fraud").card.metrics == {"f1": 0.7}


@pytest.mark.parametrize("args, code, message", [
    (["mlflow", "import", "models:/nope/7", "--as", "x"], 5, "has no such object"),
    (["mlflow", "import", "runs:/" + "0" * 32 + "/model", "--as", "x"], 5, "has no such object"),
    (["mlflow", "import", "s3://bucket/model", "--as", "x"], 4, "is not an MLflow model URI"),
    (["mlflow", "import", "models:/a/1", "--as", "Bad Name"], 4, "invalid model name"),
    (["mlflow", "export", "nope"], 5, "no model named 'nope'"),
    (["register", "m", "weights.bin", "--mlflow-run", "not-a-run"], 4, "is not an MLflow run id"),
])
def test_bad_mlflow_input_changes_nothing(registry, artifact, tracking, args, code, message):
    uri, _ = tracking
    (registry.root / "weights.bin").write_bytes(b"w" * 10)
    before = snapshot(registry.root)
    assert message in Invoker(registry.root)(*args, "--tracking-uri", uri, expect=code).stderr
    assert snapshot(registry.root) == before


def test_an_unreachable_tracking_server_is_one_clear_error(registry, artifact, monkeypatch):
    registry.register("m", artifact)
    before = snapshot(registry.root)
    result = Invoker(registry.root)("mlflow", "export", "m", "--tracking-uri", "http://127.0.0.1:9", expect=12)
    assert "http://127.0.0.1:9" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert "--tracking-uri URI" in Invoker(registry.root)("mlflow", "export", "m", expect=4).stderr
    assert snapshot(registry.root) == before
    assert not os.path.exists(registry.root / "mlruns")
