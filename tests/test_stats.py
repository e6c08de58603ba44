"""Stats: models, versions, versions per stage with the last change, artifact bytes from the pointers,
registrations per month; and read commands that keep DVC and scikit-learn off their start-up path."""

from __future__ import annotations

import json

from gitreg.domain import stats
from gitreg.domain.pointer import read_pointer
from tests.conftest import git, imported_by

DAY = 86_400


def test_stats_of_a_registry_with_stage_history(registry, artifact, clock, run):
    artifact.write_bytes(b"a" * 1000)
    registry.register("a", artifact)
    registry.register("b", artifact)  # the same bytes: counted once in unique bytes
    clock.tick(62 * DAY)  # 2026-03-04: February had no registration
    artifact.write_bytes(b"a2" * 1500)
    registry.register("a", artifact)
    clock.tick()
    registry.promote("a", "0.1.0", "staging")
    registry.promote("a", "0.2.0", "staging")
    registry.promote("b", "0.1.0", "production")
    clock.tick()
    registry.rollback("a", "staging")

    report = registry.stats()
    assert (report.models, report.versions, report.broken_tags) == (2, 3, 0)
    pointers = [read_pointer(git(registry.root, "show", f"{tag}:models/{tag.split('@')[0]}/model.bin.dvc"))
                for tag in ("a@v0.1.0", "a@v0.2.0", "b@v0.1.0")]
    assert report.artifact_bytes == sum(p.size for p in pointers) == 1000 + 3000 + 1000
    assert report.unique_artifact_bytes == 4000
    assert report.per_month == {"2026-01": 2, "2026-02": 0, "2026-03": 1}
    by_stage = {s.stage: s for s in report.stages}
    assert [(s.stage, s.versions) for s in report.stages] == [("dev", 0), ("staging", 1), ("production", 1)]
    assert by_stage["dev"].last_change is None
    last = by_stage["staging"].last_change
    assert (last.action, last.model, last.version, last.from_version) == ("rollback", "a", "0.1.0", "0.2.0")
    assert by_stage["production"].last_change.action == "promote"

    data = json.loads(run("stats", "--json").output)
    assert set(data) == {"models", "versions", "broken_tags", "artifact_bytes", "unique_artifact_bytes", "stages",
                         "registrations_per_month"}
    assert data["stages"]["staging"]["last_change"]["action"] == "rollback"
    assert set(data["stages"]["staging"]) == {"stage", "branch", "versions", "breaches", "last_change"}
    assert data["stages"]["staging"]["branch"] == "stage/staging"
    assert data["registrations_per_month"] == {"2026-01": 2, "2026-02": 0, "2026-03": 1}
    text = run("stats").output
    assert "Models          2\nVersions        3\nArtifact bytes  5.0 kB (5000 B; 4.0 kB unique)" in text
    assert "rollback a v0.1.0 by Ada Lovelace" in text
    assert "  2026-02       0  \n" in text and "  2026-01       2  " + "#" * 40 in text


def test_stats_of_an_empty_registry(registry, run):
    report = registry.stats()
    assert (report.models, report.versions, report.artifact_bytes, report.per_month) == (0, 0, 0, {})
    assert all(s.versions == 0 and s.last_change is None for s in report.stages)
    assert json.loads(run("stats", "--json").output)["stages"]["production"]["last_change"] is None


def test_months_run_across_the_year_in_utc():
    created = ["2025-11-30T23:30:00-02:00", "2026-01-01T00:30:00+01:00", "2026-01-31T10:00:00+00:00"]
    assert stats.per_month(created) == {"2025-12": 2, "2026-01": 1}
    assert stats.human_bytes(999) == "999 B" and stats.human_bytes(7_856_000) == "7.9 MB"


def test_read_commands_keep_dvc_and_sklearn_off_their_path(registry, artifact, clock):
    registry.register("a", artifact, metrics={"accuracy": 0.9})
    clock.tick()
    registry.register("a", artifact, metrics={"accuracy": 0.95})
    registry.promote("a", "0.1.0", "production")
    commands = [["search", "metrics.accuracy > 0.5 and stage == production", "--sort", "created"],
                ["compare", "a@0.1.0", "a#production", "a", "--markdown"], ["stats"], ["list"],
                ["show", "a#production"], ["history", "a"], ["log"], ["verify"], ["report", "-o", "site"]]
    assert imported_by(registry.root, commands) == []


def test_the_everyday_reads_import_no_write_service(registry, artifact, clock):
    """list, show, history, search and log stay light: nothing that registers, publishes or plans a change."""
    registry.register("a", artifact, metrics={"accuracy": 0.9})
    registry.promote("a", "0.1.0", "production")
    commands = [["list"], ["show", "a#production"], ["history", "a"], ["search", "stage == production"], ["log"]]
    writes = [f"gitreg.services.{name}" for name in ("registration", "sync", "stage_plan", "stage_change",
                                                      "experiments", "recovery")]
    assert imported_by(registry.root, commands, writes) == []
