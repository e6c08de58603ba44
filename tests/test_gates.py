"""Gates: thresholds, required stages, no-regression, per-command requirements and overrides."""

from __future__ import annotations

import pytest

from gitreg.errors import GateError, InvalidInputError
from tests.conftest import git, snapshot

GATES = """\
schema: 1
stages:
  - name: dev
  - name: staging
    gates:
      requires: dev
  - name: production
    gates:
      requires: staging
      metrics:
        accuracy: ">= 0.85"
        loss: "< 0.3"
      no_regression: [accuracy, loss]
metrics:
  loss: lower
"""


def commit_config(registry, text: str) -> None:
    (registry.root / ".gitreg.yaml").write_text(text)
    git(registry.root, "commit", "-qam", "Configure gates")


@pytest.fixture
def gated(registry, artifact, clock):
    commit_config(registry, GATES)
    for accuracy, loss in ((0.9, 0.2), (0.8, 0.1), (0.95, 0.25)):
        artifact.write_bytes(f"{accuracy}".encode() * 100)
        registry.register("m", artifact, metrics={"accuracy": accuracy, "loss": loss})
        clock.tick()
    return registry


def test_a_failing_gate_names_every_failing_check_and_changes_nothing(gated, run):
    before = snapshot(gated.root)
    error = run("promote", "m", "0.2.0", "production", expect=10).stderr
    assert "m@v0.2.0 did not pass the gates of production" in error
    assert "requires staging: FAIL (actual staging has no version, required v0.2.0 in staging)" in error
    assert "accuracy >= 0.85: FAIL (actual 0.8, required >= 0.85)" in error
    assert "loss < 0.3" not in error, "passing checks are not listed as failures"
    assert "--force" in error
    assert snapshot(gated.root) == before


def test_required_stages_chain_and_no_regression_with_directions(gated):
    gated.promote("m", "0.1.0", "dev")
    gated.promote("m", "0.1.0", "staging")
    result = gated.promote("m", "0.1.0", "production")
    assert all(check.passed for check in result.plan.checks)
    gated.promote("m", "0.3.0", "dev")
    gated.promote("m", "0.3.0", "staging")
    with pytest.raises(GateError) as caught:
        gated.promote("m", "0.3.0", "production")
    message = str(caught.value)
    assert "no regression in loss: FAIL (actual 0.25, required <= 0.2 (v0.1.0))" in message
    assert "no regression in accuracy" not in message


def test_skipping_a_required_stage_is_refused(gated):
    with pytest.raises(GateError, match="requires dev: FAIL"):
        gated.promote("m", "0.1.0", "staging")


def test_force_overrides_and_records_who(gated, run):
    run("promote", "m", "0.2.0", "production", "--force")
    message = git(gated.root, "log", "-1", "--format=%B", "stage/production")
    assert "Gitreg-Override: forced by Ada Lovelace <ada@example.com>" in message
    assert "Gitreg-Gate: accuracy >= 0.85: FAIL (actual 0.8, required >= 0.85)" in message
    event = gated.log("m", "production")[0]
    assert event.override == "forced by Ada Lovelace <ada@example.com>"
    assert any("FAIL" in gate for gate in event.gates)


def test_require_adds_gates_for_one_command(registry, artifact, run):
    registry.register("m", artifact, metrics={"accuracy": 0.7})
    error = run("promote", "m", "0.1.0", "dev", "--require", "accuracy>=0.75", "--require", "f1 > 0.5",
                expect=10).stderr
    assert "accuracy >= 0.75: FAIL (actual 0.7" in error
    assert "f1 > 0.5: FAIL (actual missing" in error
    run("promote", "m", "0.1.0", "dev", "--require", "accuracy>=0.6")


def test_malformed_requirement_and_unknown_required_stage(registry, artifact, run):
    registry.register("m", artifact, metrics={"accuracy": 0.7})
    assert "invalid gate 'accuracy=>0.6'" in run("promote", "m", "0.1.0", "dev", "--require", "accuracy=>0.6",
                                                  expect=4).stderr
    commit_config(registry, "stages:\n  - name: dev\n    gates:\n      requires: qa\n")
    with pytest.raises(InvalidInputError, match="the gates of dev require the unknown stage 'qa'; fix it and commit"):
        registry.promote("m", "0.1.0", "dev")


def test_no_regression_infers_that_a_loss_should_go_down(registry, artifact, clock):
    commit_config(registry, "stages:\n  - name: production\n    gates:\n      no_regression: [val_loss]\n")
    for loss in (0.2, 0.3):
        artifact.write_bytes(f"{loss}".encode() * 100)
        registry.register("m", artifact, metrics={"val_loss": loss})
        clock.tick()
    registry.promote("m", "0.1.0", "production")
    with pytest.raises(GateError, match=r"no regression in val_loss: FAIL \(actual 0.3, required <= 0.2"):
        registry.promote("m", "0.2.0", "production")


def test_gates_come_from_the_committed_config_not_an_uncommitted_edit(gated):
    (gated.root / ".gitreg.yaml").write_text(GATES.replace(">= 0.85", ">= 0.1").replace("requires: staging", ""))
    with pytest.raises(GateError, match="accuracy >= 0.85: FAIL"):
        gated.promote("m", "0.2.0", "production")


def test_gates_apply_from_the_main_branch_when_another_branch_is_checked_out(gated):
    git(gated.root, "checkout", "-q", "--detach", "HEAD~4")  # before the gates were committed
    with pytest.raises(GateError, match="requires staging: FAIL"):
        gated.promote("m", "0.2.0", "production")
