"""Release trains (issue 12, part 4): several models promoted in one merge commit after every gate passed,
all or nothing, rolled back as one unit, per-model rollback still working; GTO, log and the hook agree."""

from __future__ import annotations

import json

import pytest

from gitreg import Registry
from gitreg.services import hook
from tests.conftest import Invoker, snapshot
from tests.test_gto_tags import gto_stages, rejected
from tests.test_stage_expectations import gitreg, lined_up
from tests.test_tree_truth import clone_of, forge  # noqa: F401  (fixture)


@pytest.fixture
def gated(forge):  # noqa: F811
    """The forge scene (m 0.95, 0.97, 0.5; n 0.99; m v0.1.0 in production; production gates accuracy >= 0.9)
    with the server's hook on its bare remote."""
    registry, bare = forge
    hook.install(bare)
    return registry, bare


def test_a_train_lands_in_one_merge_commit_and_every_reader_agrees(gated, tmp_path):
    registry, bare = gated
    run = Invoker(registry.root)
    out = json.loads(run("promote", "--set", "m@0.2.0", "n@0.1.0", "production", "--push", "--json").stdout)
    assert [(c["model"], c["version"], c["from_version"]) for c in out["changes"]] == [
        ("m", "0.2.0", "0.1.0"), ("n", "0.1.0", None)]
    assert out["pushed"] and sorted(out["gto_tags"]) == ["m#production!#2", "m#production#3", "n#production#1"]
    reader = Registry(clone_of(bare, tmp_path / "reader"))
    assert reader.stage_versions("m") == {"production": "0.2.0"} and reader.stage_versions("n") == {"production": "0.1.0"}
    events = [(e.action, e.model, e.version, e.commit) for e in reader.log(stage="production")[:2]]
    assert {(a, m, v) for a, m, v, _ in events} == {("promote", "m", "0.2.0"), ("promote", "n", "0.1.0")}
    assert len({commit for *_, commit in events}) == 1  # one commit for the whole train
    assert all(e.gates for e in reader.log(stage="production")[:2])  # each model's gates recorded
    assert gto_stages(reader.root) == {"m": {"production": "0.2.0"}, "n": {"production": "0.1.0"}}
    assert reader.verify() == []


def test_one_failing_gate_stops_the_whole_train_and_force_records_each_override(gated):
    registry, _ = gated
    run = Invoker(registry.root)
    before = snapshot(registry.root)
    refused = run("promote", "--set", "m@0.3.0", "n@0.1.0", "production", expect=10).stderr
    assert "the train did not pass the gates of production, so nothing was promoted: m@v0.3.0:" in refused
    assert snapshot(registry.root) == before
    run("promote", "--set", "m@0.3.0", "n@0.1.0", "production", "--force")
    latest = {e.model: e for e in registry.log(stage="production")[:2]}
    assert latest["m"].override and not latest["n"].override


def test_the_hook_judges_each_model_of_a_pushed_train(gated):
    registry, _ = gated
    Invoker(registry.root)("promote", "--set", "m@0.3.0", "n@0.1.0", "production", "--force")
    assert "accuracy" in rejected(registry.root, "stage/production")  # forced here, not in overrides:


def test_a_train_rolls_back_as_one_unit_and_per_model_rollback_still_works(gated, tmp_path):
    registry, bare = gated
    run = Invoker(registry.root)
    run("promote", "--set", "m@0.2.0", "n@0.1.0", "production", "--push")
    planned = json.loads(run("rollback", "--train", "production", "--dry-run", "--json").stdout)
    assert [(c["model"], c["version"]) for c in planned["changes"]] == [("m", "0.1.0"), ("n", None)]
    run("rollback", "--train", "production", "--push")
    reader = Registry(clone_of(bare, tmp_path / "reader"))
    assert reader.stage_versions("m") == {"production": "0.1.0"} and reader.stage_versions("n") == {}
    assert {(e.action, e.model) for e in reader.log(stage="production")[:2]} == {("rollback", "m"), ("rollback", "n")}
    assert gto_stages(reader.root) == {"m": {"production": "0.1.0"}} and reader.verify() == []

    run("promote", "--set", "m@0.2.0", "n@0.1.0", "production")
    registry.rollback("n", "production")  # one model of the train on its own
    assert registry.stage_versions("m") == {"production": "0.2.0"} and registry.stage_versions("n") == {}
    assert "n changed in production after the train" in run("rollback", "--train", "production", expect=6).stderr


def test_match_selects_the_train_one_version_per_model(gated):
    registry, _ = gated
    run = Invoker(registry.root)
    out = json.loads(run("promote", "--match", "name == n or (name == m and version == 0.2.0)", "production",
                         "--dry-run", "--json").stdout)
    assert [(c["model"], c["version"]) for c in out["changes"]] == [("m", "0.2.0"), ("n", "0.1.0")]
    before = snapshot(registry.root)
    assert "one version per model; m appears more than once" in run("promote", "--match", "name == m", "production",
                                                                      expect=4).stderr
    assert snapshot(registry.root) == before


def test_a_train_raced_on_origin_is_taken_back_here(gated, tmp_path):
    registry, bare = gated
    gate = tmp_path / "gate"
    gate.mkdir()
    train = gitreg(registry.root, "promote", "--set", "m@0.2.0", "n@0.1.0", "production", "--push",
                   GITREG_PAUSE=f"train:pushing@{gate}")
    lined_up(gate, 1)
    (gate / "go").unlink()
    other = Registry(clone_of(bare, tmp_path / "other"))
    other.promote("m", "0.2.0", "staging", push=True)
    other.retire("m", "production", push=True)  # origin's production moved while the train waited
    before_refs = {r for r in snapshot(registry.root)["refs"].splitlines() if "production" in r}
    (gate / "go").touch()
    assert train.wait() == 6 and "moved while the train was pushed, so it was taken back" in train.stderr.read()
    after_refs = {r for r in snapshot(registry.root)["refs"].splitlines() if "production" in r}
    assert not any("#production#" in r and r not in before_refs for r in after_refs)


@pytest.mark.parametrize("args, code, message", [
    (["promote", "--set", "m@0.2.0", "production", "--pr"], 2, "promoted directly"),
    (["promote", "--set", "m@9.9.9", "production"], 5, "m has no version 9.9.9"),
    (["promote", "--set", "m@0.2.0", "nowhere"], 4, "unknown stage 'nowhere'"),
    (["promote", "--set", "m@0.1.0", "production"], 6, "already in production"),
    (["promote", "--match", "name == zz", "production"], 5, "matches"),
    (["rollback", "--train", "production"], 5, "no release train"),
    (["rollback", "m", "--train", "production"], 2, "give no NAME"),
    (["promote", "m", "production"], 2, "promote takes NAME VERSION STAGE"),
])
def test_bad_train_input_changes_nothing(gated, args, code, message):
    registry, _ = gated
    before = snapshot(registry.root)
    result = Invoker(registry.root)(*args, expect=code)
    assert message in result.output
    assert snapshot(registry.root) == before


def test_trailers_of_a_train_parse_per_model_and_one_model_in_any_order():
    from gitreg.domain.trailers import StageChange, parse, parse_all, train_message

    changes = [StageChange("promote", "m", "production", "0.2.0", "0.1.0", gates=("accuracy >= 0.9: 0.97",)),
               StageChange("promote", "n", "production", "0.1.0", None, override="forced by A <a@x>")]
    parsed = parse_all(train_message("Promote a release train", changes))
    assert [(c.model, c.version, c.gates, c.override) for c in parsed] == [
        ("m", "0.2.0", ("accuracy >= 0.9: 0.97",), None), ("n", "0.1.0", (), "forced by A <a@x>")]
    shuffled = "x\n\nGitreg-Action: promote\nGitreg-Stage: s\nGitreg-Model: m\nGitreg-Version: 1.0.0\n"
    assert parse(shuffled).model == "m" and parse(shuffled).version == "1.0.0"
