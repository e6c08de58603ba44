"""Weights & Biases (issue 12, part 2), with real wandb in offline mode: the run it writes is read back record
by record, as `wandb sync` would upload it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Invoker, snapshot

pytest.importorskip("wandb", reason="the test extra installs gitreg-dvc[wandb]")


def wandb_records(run_dir: Path):
    """The protobuf records of an offline run's ``.wandb`` file: a 7-byte header (``:W&B``, magic, version),
    then LevelDB's log format (32 KiB blocks; each chunk CRC 4, length 2, type 1: full, first, middle, last)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = next(run_dir.glob("run-*.wandb")).read_bytes()
    assert data[:4] == b":W&B"
    position, pending = 7, b""
    while position + 7 <= len(data):
        if 32768 - position % 32768 < 7:  # a block's tail too short for a header is padding
            position += 32768 - position % 32768
            continue
        length, kind = int.from_bytes(data[position + 4:position + 6], "little"), data[position + 6]
        chunk, position = data[position + 7:position + 7 + length], position + 7 + length
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(pending + chunk)
            pending = b""
            yield record
        elif kind in (2, 3):
            pending += chunk


def test_versions_log_as_offline_model_artifacts_with_card_and_stage_aliases(registry, artifact, clock, tmp_path,
                                                                              monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    registry.register("churn", artifact, metrics={"auc": 0.9}, params={"depth": 6}, labels=["tabular"])
    registry.promote("churn", "0.1.0", "production")
    out = json.loads(Invoker(registry.root)("wandb", "export", "churn#production", "--project", "churn",
                                            "--dir", str(tmp_path / "runs"), "--json").stdout)
    assert out["offline"] and out["artifacts"] == {"churn@v0.1.0": ["gitreg-0.1.0", "production"]}
    artifacts = [r.artifact for r in wandb_records(Path(out["run_dir"])) if r.WhichOneof("record_type") == "artifact"]
    assert len(artifacts) == 1
    logged = artifacts[0]
    assert (logged.name, logged.type) == ("churn", "model")
    assert set(logged.aliases) >= {"gitreg-0.1.0", "production"}
    metadata = json.loads(logged.metadata)["gitreg"]
    assert metadata["tag"] == "churn@v0.1.0" and metadata["card"]["metrics"] == {"auc": 0.9}
    assert [entry.path for entry in logged.manifest.contents] == ["model.bin"]
    assert snapshot(registry.root)["status"] == ""  # the run is not in the working tree


def test_a_downloaded_artifact_registers_with_its_metadata(registry, artifact, tmp_path, run):
    folder = tmp_path / "download"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"onnx-bytes" * 20)
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"val_acc": 0.81, "optimizer": "adam", "description": "from the sweep"}))
    out = run("wandb", "import", str(folder), "--as", "vision", "--metadata", str(meta)).stdout
    assert "Registered vision@v0.1.0" in out
    card = registry.show("vision").card
    assert card.metrics == {"val_acc": 0.81} and card.params == {"optimizer": "adam"}
    assert card.description == "from the sweep" and card.lineage["wandb"]["folder"] == "download"
    registry.get("vision", tmp_path / "back.onnx")  # one file registers as that file
    assert (tmp_path / "back.onnx").read_bytes() == b"onnx-bytes" * 20


def test_gitreg_metadata_round_trips_the_card(registry, artifact, tmp_path, run):
    registry.register("churn", artifact, metrics={"auc": 0.9}, params={"depth": 6}, labels=["tabular"],
                      description="first")
    card = registry.show("churn").card
    folder = tmp_path / "dl"
    folder.mkdir()
    (folder / "model.bin").write_bytes(artifact.read_bytes())
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"gitreg": {"tag": "churn@v0.1.0", "card": card.to_dict()}}))
    run("wandb", "import", str(folder), "--as", "churn-copy", "--metadata", str(meta))
    copy = registry.show("churn-copy").card
    assert (copy.metrics, copy.params, copy.labels, copy.description) == (card.metrics, card.params, card.labels,
                                                                           card.description)
    assert copy.artifact.md5 == card.artifact.md5 and copy.lineage["wandb"]["exported_from"] == "churn@v0.1.0"


@pytest.mark.parametrize("setup, code, message", [
    (lambda t: None, 4, "is not a folder"),
    (lambda t: (t / "dl").mkdir(), 4, "holds no file"),
    (lambda t: ((t / "dl").mkdir(), (t / "dl" / "m").write_bytes(b"x"), (t / "meta.json").write_text("[1]")), 4,
     "not the mapping W&B metadata is"),
    (lambda t: ((t / "dl").mkdir(), (t / "dl" / "m").write_bytes(b"x"), (t / "meta.json").write_text("{nope")), 4,
     "is not JSON"),
])
def test_bad_wandb_input_changes_nothing(registry, tmp_path, run, setup, code, message):
    setup(tmp_path)
    before = snapshot(registry.root)
    args = ["wandb", "import", str(tmp_path / "dl"), "--as", "m"]
    if (tmp_path / "meta.json").exists():
        args += ["--metadata", str(tmp_path / "meta.json")]
    assert message in run(*args, expect=code).stderr
    assert snapshot(registry.root) == before
