"""Deprecation (issue 10, part 2): a version withdrawn without deleting anything, as GTO's annotated tag
NAME@vX.Y.Z!. Real GTO reads it as a deregistration; reads hide it; promote refuses it; load warns; the
server's hook refuses every hand-made or rewritten deprecation."""

from __future__ import annotations

import json
import subprocess
import threading

import pytest

from gitreg import Registry
from gitreg.domain.deprecation import DeprecatedVersionWarning
from gitreg.errors import ConflictError
from tests.conftest import git, snapshot
from tests.test_gto_tags import guarded, rejected  # noqa: F401  (fixture)
from tests.test_tree_truth import clone_of


def gto_versions(root, name: str) -> list[str]:
    """The versions of ``name`` that `gto show NAME` lists: a deregistered (deprecated) one is left out."""
    from gto.api import show

    return sorted(row["version"].lstrip("v") for row in show(str(root), name, table=False))


def test_a_deprecated_version_is_hidden_marked_unpromotable_and_gto_agrees(guarded, tmp_path):  # noqa: F811
    registry, bare = guarded
    registry.promote("m", "0.2.0", "production", push=True)
    run = _cli(registry.root)
    out = run("deprecate", "m@0.2.0", "--reason", "trained on leaked labels", "--push").stdout
    assert "Deprecated m@v0.2.0 (m@v0.2.0!): trained on leaked labels" in out
    assert "still in production" in out  # it stays there until rolled back or retired
    assert registry.stage_versions("m") == {"production": "0.2.0"}
    assert gto_versions(registry.root, "m") == ["0.1.0", "0.3.0"]
    assert [v.version for v in registry.history("m")] == ["0.3.0", "0.1.0"]
    assert [v.version for v in registry.history("m", include_deprecated=True)] == ["0.3.0", "0.2.0", "0.1.0"]
    assert "0.2.0 (deprecated)" in run("history", "m", "--all").stdout
    assert "0.2.0" not in run("history", "m").stdout
    shown = run("show", "m@0.2.0").stdout
    assert "# deprecated: trained on leaked labels (by " in shown
    assert json.loads(run("show", "m@0.2.0", "--json").stdout)["deprecated"]["reason"] == "trained on leaked labels"
    rows = json.loads(run("search", "name == m", "--all", "--json").stdout)
    assert {r["version"]: bool(r["deprecated"]) for r in rows} == {"0.1.0": False, "0.2.0": True, "0.3.0": False}
    assert [r["version"] for r in json.loads(run("search", "name == m", "--json").stdout)] == ["0.1.0", "0.3.0"]
    log = json.loads(run("log", "m", "--json").stdout)
    assert log[0]["action"] == "deprecate" and log[0]["note"] == "trained on leaked labels"

    before = snapshot(registry.root)
    refused = run("promote", "m", "0.2.0", "staging", expect=6).stderr
    assert "m v0.2.0 is deprecated (trained on leaked labels" in refused and "cannot be promoted" in refused
    assert snapshot(registry.root) == before

    reader = Registry(clone_of(bare, tmp_path / "reader"))  # published: a clone sees it, and so does GTO there
    assert reader.deprecations("m")[("m", "0.2.0")].reason == "trained on leaked labels"
    assert gto_versions(reader.root, "m") == ["0.1.0", "0.3.0"]
    assert reader.verify() == []


def test_deprecating_a_whole_model_hides_it_from_list(guarded):  # noqa: F811
    registry, _ = guarded
    run = _cli(registry.root)
    out = run("deprecate", "n", "--all-versions", "--reason", "model retired", "--json").stdout
    assert [d["version"] for d in json.loads(out)["deprecated"]] == ["0.1.0"]
    assert [m.name for m in registry.models()] == ["m"]
    listed = json.loads(run("list", "--all", "--json").stdout)
    assert {m["name"]: m["deprecated"] for m in listed} == {"m": False, "n": True}
    assert "Every version of n is deprecated" in run("history", "n").stderr
    assert registry.resolve("n").version == "0.1.0"  # still resolvable: nothing was deleted
    with pytest.raises(ConflictError, match="every version of n is already deprecated"):
        registry.deprecate("n", "again", all_versions=True)


def test_load_of_a_deprecated_version_warns_and_still_loads(registry, make_model):
    registry.register("cancer", make_model())
    registry.deprecate("cancer@0.1.0", "calibration drifted on site B")
    with pytest.warns(DeprecatedVersionWarning, match="cancer@v0.1.0 is deprecated: calibration drifted"):
        model = registry.load("cancer", "0.1.0")
    assert hasattr(model, "predict")


@pytest.mark.parametrize("args, code, message", [
    (["m@0.1.0", "--reason", "  "], 4, "a deprecation needs a reason"),
    (["m@9.9.9", "--reason", "x"], 5, "m has no version 9.9.9"),
    (["nope@0.1.0", "--reason", "x"], 5, "no model named 'nope'"),
    (["m#production", "--reason", "x"], 4, "deprecate names a version"),
    (["m", "--reason", "x"], 4, "or pass --all-versions"),
    (["m@0.1.0", "--all-versions", "--reason", "x"], 4, "name the model alone"),
    (["m@0.1.0", "--reason", "x" * 2001], 4, "at most 2000"),
    (["m@0.2.0", "--reason", "x"], 6, "m@v0.2.0 is already deprecated: first"),
])
def test_bad_deprecations_change_nothing(registry, artifact, run, args, code, message):
    for n in range(2):
        artifact.write_bytes(f"w{n}".encode() * 100)
        registry.register("m", artifact)
    registry.deprecate("m@0.2.0", "first")
    before = snapshot(registry.root)
    assert message in run("deprecate", *args, expect=code).stderr
    assert snapshot(registry.root) == before


def test_the_hook_refuses_deprecations_made_by_hand_or_rewritten(guarded):  # noqa: F811
    registry, _ = guarded
    root = registry.root
    v1 = git(root, "rev-parse", "m@v0.1.0^{commit}").strip()
    git(root, "tag", "m@v0.1.0!", v1)
    assert "must be an annotated tag" in rejected(root, "refs/tags/m@v0.1.0!")
    assert any("must be an annotated tag" in p for p in registry.verify())
    git(root, "tag", "-d", "m@v0.1.0!")
    git(root, "tag", "-a", "-m", "wrong commit", "m@v0.1.0!", "m@v0.2.0^{commit}")
    assert "not at the commit of m@v0.1.0" in rejected(root, "refs/tags/m@v0.1.0!")
    git(root, "tag", "-d", "m@v0.1.0!")
    git(root, "tag", "-a", "-m", "ghost", "m@v9.9.9!", v1)
    assert "m has no version 9.9.9" in rejected(root, "refs/tags/m@v9.9.9!")
    git(root, "tag", "-d", "m@v9.9.9!")
    registry.deprecate("m@0.1.0", "a real one", push=True)
    assert "never deleted" in rejected(root, ":refs/tags/m@v0.1.0!")
    git(root, "tag", "-f", "-a", "-m", "a softer reason", "m@v0.1.0!", v1)
    assert "never moved" in rejected(root, "--force", "refs/tags/m@v0.1.0!")


def test_a_refused_push_leaves_no_deprecation_behind(guarded, tmp_path):  # noqa: F811
    registry, _ = guarded
    git(registry.root, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    before = snapshot(registry.root)
    with pytest.raises(Exception, match="origin"):
        registry.deprecate("m@0.1.0", "x", push=True)
    assert snapshot(registry.root) == before


def test_two_writers_deprecating_one_version_at_once_keep_one_reason(guarded, tmp_path):  # noqa: F811
    """Same version, same second, different reasons: one deprecation lands, the other writer is told and is
    left with nothing of its own; after a pull both see the reason that landed."""
    _, bare = guarded
    writers = [Registry(clone_of(bare, tmp_path / name)) for name in ("w1", "w2")]
    outcomes: dict[str, str] = {}
    start = threading.Barrier(2)

    def deprecate(writer: Registry, reason: str) -> None:
        start.wait()
        try:
            writer.deprecate("m@0.3.0", reason, push=True)
            outcomes[reason] = "landed"
        except ConflictError as exc:
            outcomes[reason] = str(exc)

    threads = [threading.Thread(target=deprecate, args=(w, r)) for w, r in zip(writers, ("reason A", "reason B"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    landed = [reason for reason, outcome in outcomes.items() if outcome == "landed"]
    assert len(landed) == 1, outcomes
    loser = next(reason for reason in outcomes if reason not in landed)
    assert "already holds a deprecation of m@v0.3.0! made by another writer" in outcomes[loser]
    for writer in writers:
        writer.pull()
        assert writer.deprecations("m")[("m", "0.3.0")].reason == landed[0]
        assert writer.verify() == []


def _cli(root):
    from tests.conftest import Invoker

    return Invoker(root)


def test_gto_reads_the_tag_as_a_deregistration(guarded):  # noqa: F811
    registry, _ = guarded
    registry.deprecate("m@0.1.0", "withdrawn")
    from gto.api import history

    events = [(e["version"], e["event"], e["message"]) for e in history(str(registry.root), "m", table=False)]
    assert ("v0.1.0", "deregistration", "withdrawn") in events, events
    out = subprocess.run(["git", "cat-file", "-t", "m@v0.1.0!"], cwd=registry.root, capture_output=True, text=True)
    assert out.stdout.strip() == "tag"


def test_a_deprecation_made_offline_is_published_by_push(guarded, tmp_path):  # noqa: F811
    """Also what a `deprecate --push` killed before its push leaves: a local tag that `gitreg push` publishes."""
    registry, bare = guarded
    registry.deprecate("m@0.1.0", "found offline")
    assert "refs/tags/m@v0.1.0!" not in git(registry.root, "ls-remote", "origin")
    registry.push()
    reader = Registry(clone_of(bare, tmp_path / "reader"))
    assert reader.deprecations()[("m", "0.1.0")].reason == "found offline"


def test_a_pull_request_promoting_a_version_deprecated_since_fails_its_check_and_the_hook(guarded, tmp_path):  # noqa: F811
    registry, bare = guarded
    registry.promote("m", "0.3.0", "production", pr=True, push=True)
    registry.deprecate("m@0.3.0", "recalled", push=True)
    branch = "promote/production/m-v0.3.0"
    report = registry.check_promotion("origin/stage/production", f"origin/{branch}")
    assert not report.passed and "m v0.3.0 is deprecated (recalled" in json.dumps(report.to_dict())
    clone = clone_of(bare, tmp_path / "merger")
    git(clone, "checkout", "-q", "-b", "stage/production", "origin/stage/production")
    git(clone, "merge", "-q", "--no-ff", "-m", "Merge pull request #9", f"origin/{branch}")
    assert "deprecated" in rejected(clone, "stage/production")


def test_match_deprecates_what_the_search_selects_after_a_dry_run_and_asks_beyond_ten(registry, artifact, run, clock):
    for n in range(12):
        artifact.write_bytes(f"w{n}".encode() * 100)
        registry.register("m", artifact, labels=["site-a"] if n < 11 else [])
        clock.tick()
    before = snapshot(registry.root)
    planned = json.loads(run("deprecate", "--match", 'labels contains "site-a"', "--reason", "site closed",
                             "--dry-run", "--json").stdout)
    assert len(planned["deprecated"]) == 11 and planned["dry_run"]
    assert "11 versions match" in run("deprecate", "--match", 'labels contains "site-a"', "--reason", "x",
                                      expect=4).stderr
    assert snapshot(registry.root) == before
    run("deprecate", "--match", 'labels contains "site-a"', "--reason", "site closed", "--yes")
    assert [v.version for v in registry.history("m")] == ["0.12.0"]
    assert "matches" in run("deprecate", "--match", 'labels contains "site-a"', "--reason", "x", expect=5).stderr
    assert "give no NAME@VERSION" in run("deprecate", "m@0.12.0", "--match", "name == m", "--reason", "x",
                                         expect=4).stderr
