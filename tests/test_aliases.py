"""Aliases (issue 10, part 3): free-form named pointers (champion, challenger, ...) at versions, each change a
recorded commit on refs/gitreg/aliases/NAME/ALIAS, shared with push/pull, guarded by the server's hook."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gitreg import Registry
from gitreg.errors import ConflictError, IntegrityError, InvalidInputError, NotFoundError, PushRejectedError
from tests.conftest import git, hooked_scene, imported_by, snapshot
from tests.test_bad_input import refused
from tests.test_stage_expectations import gitreg, lined_up
from tests.test_tree_truth import clone_of

REF = "refs/gitreg/aliases/m/champion"


@pytest.fixture
def three(registry, artifact, clock):
    """m v0.1.0..v0.3.0 and n v0.1.0, local only."""
    for name, n in (("m", 0), ("m", 1), ("m", 2), ("n", 0)):
        artifact.write_bytes(f"{name}{n}".encode() * 100)
        registry.register(name, artifact)
        clock.tick()
    return registry


@pytest.fixture
def shared(tmp_path, new_registry, clock, artifact, prebuilt):
    """The same versions registered with --push on a hooked bare remote (bytes in its store)."""
    prebuilt.copy(('hooked', 4), hooked_scene(new_registry, artifact, [('m', 0), ('m', 1), ('m', 2), ('n', 0)]), tmp_path)
    return Registry(tmp_path / "alice"), tmp_path / "origin.git"


def current(registry: Registry, name: str | None = None) -> dict[str, str]:
    return {f"{a.model}@{a.alias}": a.version for a in registry.aliases(name)}


# ------------------------------------------------------------------------------------ set, rm, list
def test_set_rm_and_list(three, run, clock):
    change = three.alias_set("m", "champion", "0.1.0")
    assert (change.changed, change.previous, change.version.version) == (True, None, "0.1.0")
    clock.tick()
    assert three.alias_set("m", "champion", "v0.2.0").previous == "0.1.0"
    three.alias_set("m", "challenger", "latest")
    three.alias_set("m", "shadow", "challenger")  # another alias names the same version
    three.alias_set("n", "champion", "0.1.0")
    assert current(three) == {"m@challenger": "0.3.0", "m@champion": "0.2.0", "m@shadow": "0.3.0",
                              "n@champion": "0.1.0"}
    before = git(three.root, "rev-parse", REF)
    assert three.alias_set("m", "champion", "0.2.0").changed is False  # already there: no record
    assert git(three.root, "rev-parse", REF) == before
    removed = three.alias_rm("m", "shadow")
    assert (removed.previous, removed.version) == ("0.3.0", None)
    assert "m@shadow" not in current(three)
    assert git(three.root, "rev-parse", "--verify", "refs/gitreg/aliases/m/shadow")  # the record survives
    listed = json.loads(run("alias", "list", "m", "--json").output)
    assert [(row["alias"], row["version"], row["author"]) for row in listed] == [
        ("challenger", "0.3.0", "Ada Lovelace <ada@example.com>"), ("champion", "0.2.0", "Ada Lovelace <ada@example.com>")]
    assert "champion    v0.2.0" in run("alias", "list").output
    assert "m@champion -> v0.1.0 (was v0.2.0)" in run("alias", "set", "m", "champion", "0.1.0").output
    assert "already points at v0.1.0" in run("alias", "set", "m", "champion", "v0.1.0").output
    assert "Removed m@challenger (was v0.3.0)" in run("alias", "rm", "m", "challenger").output
    assert "m@staging" not in run("alias", "set", "m", "canary", "#staging", expect=5).stderr  # nothing staged
    three.promote("m", "0.2.0", "staging")
    assert json.loads(run("alias", "set", "m", "canary", "#staging", "--json").output)["version"] == "0.2.0"
    assert three.verify() == []


def test_show_names_a_versions_aliases(three, run):
    three.alias_set("m", "champion", "0.1.0")
    three.alias_set("m", "safe", "0.1.0")
    assert "# aliases: champion safe" in run("show", "m@champion").output
    assert json.loads(run("show", "m@0.1.0", "--json").output)["aliases"] == ["champion", "safe"]
    assert json.loads(run("show", "m", "--json").output)["aliases"] == []


def test_an_alias_to_a_deprecated_version_is_refused_and_kept_when_deprecated_later(three, run):
    three.alias_set("m", "champion", "0.2.0")
    three.deprecate("m@0.1.0", "leaks test data")
    refused(run, "alias", "set", "m", "shadow", "0.1.0", code=6, match="m@v0.1.0 is deprecated .*leaks test data")
    three.deprecate("m@0.2.0", "bad calibration")  # the alias stays: it says what consumers had
    assert current(three, "m") == {"m@champion": "0.2.0"}
    assert json.loads(run("alias", "list", "--json").output)[0]["deprecated"] is True
    assert three.alias_rm("m", "champion").changed  # rm is always allowed
    assert three.verify() == []


# ------------------------------------------------------------------------------------ search, log
def test_search_field_aliases(three, run):
    three.alias_set("m", "champion", "0.1.0")
    three.alias_set("m", "challenger", "0.3.0")
    three.alias_set("n", "champion", "0.1.0")
    three.alias_set("m", "old", "0.2.0")
    three.alias_rm("m", "old")

    def found(expression):
        return [f"{v.name}@{v.version}" for v in three.search(expression)]

    assert found("aliases = champion") == found("aliases contains champion") == ["m@0.1.0", "n@0.1.0"]
    assert found("aliases in (champion, challenger) and name == m") == ["m@0.1.0", "m@0.3.0"]
    assert found("aliases exists") == ["m@0.1.0", "m@0.3.0", "n@0.1.0"]
    assert found("not aliases exists") == ["m@0.2.0"]  # a removed alias points nowhere
    assert found("aliases != champion and name == m") == ["m@0.2.0", "m@0.3.0"]
    rows = json.loads(run("search", "aliases == challenger", "--json").output)
    assert [(r["name"], r["version"]) for r in rows] == [("m", "0.3.0")]
    before = snapshot(three.root)
    for args, why in ((("aliases > 3",), "aliases cannot be used with >"),
                      (("aliases == 3",), "aliases takes a name, e.g. aliases == champion"),
                      (("--sort", "aliases"), "cannot sort by aliases")):
        assert why in run("search", *args, expect=4).stderr
    assert snapshot(three.root) == before


def test_log_shows_each_alias_change_with_author_and_time(three, run, clock, monkeypatch):
    three.alias_set("m", "champion", "0.1.0")
    clock.tick()
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Grace Hopper")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "grace@example.com")
    three.alias_set("m", "champion", "0.2.0")
    three.alias_rm("m", "champion")  # the same second: the chain's order is kept
    events = [e for e in three.log("m") if e.action.startswith("alias")]
    assert [(e.action, e.alias, e.from_version, e.version, e.author) for e in events] == [
        ("alias-rm", "champion", "0.2.0", None, "Grace Hopper <grace@example.com>"),
        ("alias-set", "champion", "0.1.0", "0.2.0", "Grace Hopper <grace@example.com>"),
        ("alias-set", "champion", None, "0.1.0", "Ada Lovelace <ada@example.com>")]
    assert events[0].time == events[1].time == "2026-01-01T00:05:00+00:00"
    assert events[2].time == "2026-01-01T00:04:00+00:00"
    assert events[0].commit == git(three.root, "rev-parse", REF).strip()
    rows = json.loads(run("log", "m", "--json").output)
    assert rows[0]["action"] == "alias-rm" and rows[0]["alias"] == "champion" and rows[-1]["action"] == "register"
    text = run("log").output
    assert "alias-set  m      v0.1.0 → v0.2.0  @champion" in text
    assert not [e for e in three.log("m", "production")]  # a stage's log has no alias changes
    assert [e.action for e in three.log("n")] == ["register"]


# ------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("args, code, match", [
    (("alias", "set", "m", "production", "0.1.0"), 4, "production is a stage of this registry"),
    (("alias", "set", "m", "1.2.0", "0.1.0"), 4, "already means a version"),
    (("alias", "set", "m", "v1.2.0", "0.1.0"), 4, "already means a version"),
    (("alias", "set", "m", "latest", "0.1.0"), 4, "already means a version"),
    (("alias", "set", "m", "v2", "0.1.0"), 4, "not like a version"),
    (("alias", "set", "m", "Champion", "0.1.0"), 4, "lower-case"),
    (("alias", "set", "m", "champion", "9.9.9"), 5, "m has no version 9.9.9"),
    (("alias", "set", "m", "champion", "1.2"), 4, "invalid version '1.2'"),
    (("alias", "set", "m", "champion", "shadow"), 5, "m has no alias 'shadow'"),
    (("alias", "set", "m", "champion", "#prod"), 4, "unknown stage 'prod'"),
    (("alias", "set", "ghost", "champion", "0.1.0"), 5, "no model named 'ghost'"),
    (("alias", "set", "../m", "champion", "0.1.0"), 4, "invalid model name"),
    (("alias", "rm", "m", "shadow"), 5, "m has no alias 'shadow'"),
    (("alias", "rm", "m", "gone"), 5, r"m has no alias 'gone' \(it was removed\)"),
    (("alias", "rm", "m", "1.2.0"), 4, "already means a version"),
    (("alias", "list", "ghost"), 5, "no model named 'ghost'"),
    (("alias", "set", "m", "champion", "0.1.0", "--push"), 4, "no Git remote named 'origin'"),
])
def test_bad_input_changes_nothing(three, run, args, code, match):
    three.alias_set("m", "gone", "0.1.0")
    three.alias_rm("m", "gone")
    refused(run, *args, code=code, match=match)


def test_the_api_refuses_the_same(three):
    before = snapshot(three.root)
    with pytest.raises(InvalidInputError, match="is a stage"):
        three.alias_set("m", "staging", "0.1.0")
    with pytest.raises(NotFoundError):
        three.alias_rm("m", "champion")
    with pytest.raises(InvalidInputError, match="not a stage or an alias"):
        three.deprecate("m@champion", "x")
    assert snapshot(three.root) == before


# ------------------------------------------------------------------------------------ sharing
def test_push_publishes_and_a_second_clone_sees_them_after_pull(shared, tmp_path, run):
    alice, bare = shared
    bob = Registry(clone_of(bare, tmp_path / "bob"))
    alice.alias_set("m", "champion", "0.1.0", push=True)
    alice.alias_set("m", "challenger", "0.3.0")  # local only, published by `gitreg push`
    assert git(bare, "for-each-ref", "--format=%(refname)", "refs/gitreg/").split() == [REF]
    assert alice.push().refs == ["m@challenger"]
    assert current(bob) == {}  # a plain clone does not fetch refs/gitreg/
    report = bob.pull()
    assert sorted(report.refs) == ["m@challenger", "m@champion"]
    assert current(bob) == {"m@challenger": "0.3.0", "m@champion": "0.1.0"}
    assert bob.resolve("m@champion").version == "0.1.0"
    bob.alias_set("m", "champion", "0.2.0", push=True)
    bob.alias_rm("m", "challenger", push=True)
    alice.pull()
    assert current(alice) == {"m@champion": "0.2.0"}
    assert [(e.action, e.version) for e in alice.log("m") if e.alias == "champion"] == [
        ("alias-set", "0.2.0"), ("alias-set", "0.1.0")]
    remote = Registry.open(str(bare))  # --repo URL reads them without a clone
    assert remote.resolve("m@champion").version == "0.2.0"
    assert alice.push().refs == []  # nothing left to publish
    assert alice.verify() == [] and bob.verify() == []


def test_a_version_registered_here_goes_with_its_alias(shared, artifact, tmp_path):
    alice, bare = shared
    artifact.write_bytes(b"fresh" * 100)
    alice.register("m", artifact)  # not pushed
    alice.alias_set("m", "canary", "0.4.0", push=True)  # its tag (and bytes) go in the same push
    assert git(bare, "rev-parse", "--verify", "refs/tags/m@v0.4.0")
    assert Registry.open(str(bare)).resolve("m@canary").version == "0.4.0"


def test_two_writers_setting_one_alias_at_once_lose_nothing_silently(shared, tmp_path):
    alice, bare = shared
    alice.alias_set("m", "champion", "0.1.0", push=True)
    gate = tmp_path / "gate"
    gate.mkdir()
    clones = {version: clone_of(bare, tmp_path / f"w{version}") for version in ("0.2.0", "0.3.0")}
    procs = {version: gitreg(clone, "alias", "set", "m", "champion", version, "--push",
                             GITREG_PAUSE=f"alias:pushing@{gate}") for version, clone in clones.items()}
    lined_up(gate, 2)  # both planned on v0.1.0 before either pushed
    results = {version: (proc.wait(), proc.stdout.read(), proc.stderr.read()) for version, proc in procs.items()}
    codes = sorted(code for code, _, _ in results.values())
    assert codes == [0, 6], results
    winner = next(v for v, (code, _, _) in results.items() if code == 0)
    loser = next(v for v in results if v != winner)
    assert (f"m@champion was changed on origin while you changed it: it is now v{winner}"
            in results[loser][2]), results[loser]
    assert f"Run the command again to point it at v{loser} anyway" in results[loser][2]
    remote = Registry.open(str(bare))
    assert remote.resolve("m@champion").version == winner
    loser_clone = Registry(clones[loser])
    assert current(loser_clone)["m@champion"] == winner  # the loser's clone now says what origin says
    again = subprocess.run([sys.executable, "-m", "gitreg", "alias", "set", "m", "champion", loser, "--push"],
                           cwd=clones[loser], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    history = [(e.from_version, e.version) for e in Registry.open(str(bare)).log("m") if e.alias == "champion"]
    assert history == [(winner, loser), ("0.1.0", winner), (None, "0.1.0")]


def test_two_writers_setting_different_aliases_at_once_both_land(shared, tmp_path):
    _, bare = shared
    gate = tmp_path / "gate"
    gate.mkdir()
    procs = [gitreg(clone_of(bare, tmp_path / alias), "alias", "set", "m", alias, "0.2.0", "--push",
                    GITREG_PAUSE=f"alias:pushing@{gate}") for alias in ("shadow", "canary")]
    lined_up(gate, 2)
    assert [proc.wait() for proc in procs] == [0, 0], [proc.stderr.read() for proc in procs]
    assert current(Registry.open(str(bare))) == {"m@canary": "0.2.0", "m@shadow": "0.2.0"}


def test_an_alias_change_and_a_stage_change_at_once_both_land_and_agree(shared, tmp_path):
    """Released together: both writers planned on the same remote state and push in the same instant."""
    _, bare = shared
    gate = tmp_path / "gate"
    gate.mkdir()
    procs = [gitreg(clone_of(bare, tmp_path / "aliaser"), "alias", "set", "m", "champion", "0.2.0", "--push",
                    GITREG_PAUSE=f"alias:pushing@{gate}"),
             gitreg(clone_of(bare, tmp_path / "promoter"), "promote", "m", "0.3.0", "production", "--push",
                    GITREG_PAUSE=f"stage-change:pushing@{gate}")]
    lined_up(gate, 2)
    assert [proc.wait() for proc in procs] == [0, 0], [proc.stderr.read() for proc in procs]
    reader = Registry(clone_of(bare, tmp_path / "reader"))
    reader.pull()
    assert reader.resolve("m@champion").version == "0.2.0" and reader.resolve("m#production").version == "0.3.0"
    assert reader.verify() == []
    actions = {(e.action, e.version) for e in reader.log("m")}
    assert {("alias-set", "0.2.0"), ("promote", "0.3.0")} <= actions


def test_an_interrupted_push_leaves_a_local_change_that_gitreg_push_publishes(shared, tmp_path):
    alice, bare = shared
    killed = gitreg(alice.root, "alias", "set", "m", "champion", "0.2.0", "--push", GITREG_FAULT="alias:pushing")
    assert killed.wait() == -9
    assert current(alice) == {"m@champion": "0.2.0"}
    assert current(Registry.open(str(bare))) == {}
    alice.push()
    assert current(Registry.open(str(bare))) == {"m@champion": "0.2.0"}


# ------------------------------------------------------------------------------------ the hook, verify
def record(root, trailers: str, parent: str | None = None, subject: str = "by hand") -> str:
    tree = git(root, "hash-object", "-t", "tree", "-w", "--stdin").strip()
    args = ["commit-tree", tree, *(["-p", parent] if parent else [])]
    return subprocess.run(["git", *args], cwd=root, input=f"{subject}\n\n{trailers}\n", capture_output=True,
                          text=True, check=True).stdout.strip()


def trailers(alias="champion", version="0.1.0", commit=None, model="m", action="set") -> str:
    lines = [f"Gitreg-Model: {model}", f"Gitreg-Alias: {alias}", f"Gitreg-Action: {action}"]
    if version:
        lines += [f"Gitreg-Version: {version}", f"Gitreg-Version-Commit: {commit}"]
    return "\n".join(lines)


def push_by_hand(root, *refspecs):
    return subprocess.run(["git", "push", "origin", *refspecs], cwd=root, capture_output=True, text=True)


def test_the_hook_refuses_alias_refs_that_break_the_rules(shared):
    alice, bare = shared
    root = alice.root
    v1 = alice.resolve("m@0.1.0").commit
    before = git(bare, "for-each-ref")

    def refused_push(refspec, why, *flags):
        proc = push_by_hand(root, *flags, refspec)
        assert proc.returncode != 0 and why in proc.stderr, proc.stderr
        assert git(bare, "for-each-ref") == before

    refused_push(f"{record(root, trailers(version='9.9.9', commit=v1))}:{REF}", "which m does not have")
    refused_push(f"{record(root, trailers(commit='0' * 40))}:{REF}", "whose tag names")
    refused_push(f"{record(root, trailers(alias='shadow', commit=v1))}:{REF}", "is not a change of m@champion")
    refused_push(f"{record(root, trailers(alias='staging', commit=v1))}:refs/gitreg/aliases/m/staging",
                 "staging is a stage of this registry")
    refused_push(f"{record(root, trailers(alias='1.0.0', commit=v1))}:refs/gitreg/aliases/m/1.0.0",
                 "is not refs/gitreg/aliases/NAME/ALIAS")
    one, two = (record(root, trailers(version=v, commit=alice.resolve(f"m@{v}").commit)) for v in ("0.1.0", "0.2.0"))
    merge = subprocess.run(["git", "commit-tree", git(root, "rev-parse", f"{one}^{{tree}}").strip(), "-p", one,
                            "-p", two], cwd=root, input=f"x\n\n{trailers(commit=v1)}\n", capture_output=True,
                           text=True, check=True).stdout.strip()
    refused_push(f"{merge}:{REF}", "is a merge")
    blob = git(root, "hash-object", "-w", "--stdin").strip()
    refused_push(f"{blob}:{REF}", "names a blob")
    alice.alias_set("m", "champion", "0.1.0", push=True)
    before = git(bare, "for-each-ref")
    refused_push(f":{REF}", "is never deleted")
    refused_push(f"{record(root, trailers(version='0.2.0', commit=alice.resolve('m@0.2.0').commit))}:{REF}",
                 "is never rewritten", "--force")
    alice.deprecate("m@0.3.0", "bad", push=True)
    before = git(bare, "for-each-ref")
    tip = git(root, "rev-parse", REF).strip()
    refused_push(f"{record(root, trailers(version='0.3.0', commit=alice.resolve('m@0.3.0').commit), tip)}:{REF}",
                 "which is deprecated")
    good = record(root, trailers(version="0.2.0", commit=alice.resolve("m@0.2.0").commit), tip)
    assert push_by_hand(root, f"{good}:{REF}").returncode == 0  # a hand-made record that is right lands
    with pytest.raises(PushRejectedError):  # and the API says the same as plain git
        git(root, "update-ref", "refs/gitreg/aliases/m/shadow", record(root, trailers("shadow", "7.7.7", v1)))
        alice.push()


def test_verify_reports_a_broken_alias(three):
    root = three.root
    three.alias_set("m", "champion", "0.1.0")
    assert three.verify() == []
    tip = git(root, "rev-parse", REF).strip()
    git(root, "update-ref", REF, record(root, trailers(version="5.0.0", commit="1" * 40), tip))
    git(root, "update-ref", "refs/gitreg/aliases/m/Bad", tip)
    problems = three.verify()
    assert len(problems) == 2, problems
    assert any("alias ref refs/gitreg/aliases/m/Bad: is not" in p for p in problems)
    assert any(f"alias ref {REF}: commit" in p and "v5.0.0, which m does not have" in p for p in problems)
    with pytest.raises(IntegrityError, match="points at v5.0.0, which m does not have: run `gitreg verify`"):
        three.resolve("m@champion")


def test_alias_reads_keep_dvc_off_their_path(three):
    three.alias_set("m", "champion", "0.1.0")
    commands = [["alias", "list"], ["alias", "list", "m", "--json"], ["show", "m@champion"],
                ["search", "aliases == champion"], ["log", "m"], ["compare", "m@champion", "m@latest"]]
    assert imported_by(three.root, commands) == []


def test_an_unpublished_change_overtaken_on_origin_is_named_not_lost(shared, tmp_path):
    alice, bare = shared
    bob = Registry(clone_of(bare, tmp_path / "bob"))
    carol = Registry(clone_of(bare, tmp_path / "carol"))
    alice.alias_set("m", "champion", "0.1.0", push=True)
    bob.pull()
    carol.pull()
    bob.alias_set("m", "champion", "0.2.0")  # made here, never pushed
    alice.alias_set("m", "champion", "0.3.0", push=True)
    assert carol.push().refs == []  # carol is behind origin: nothing of hers to publish
    before = git(bob.root, "rev-parse", REF)
    with pytest.raises(ConflictError, match=f"drop yours with `git update-ref {REF} refs/gitreg/origin/aliases/m/"):
        bob.pull()
    with pytest.raises(ConflictError, match="never reached origin"):
        bob.alias_set("m", "champion", "0.1.0", push=True)
    assert git(bob.root, "rev-parse", REF) == before  # bob's own record is still there for him to judge
    git(bob.root, "update-ref", REF, "refs/gitreg/origin/aliases/m/champion")
    bob.pull()
    assert current(bob) == {"m@champion": "0.3.0"}
    assert bob.alias_set("m", "champion", "0.2.0", push=True).changed
    assert current(Registry.open(str(bare))) == {"m@champion": "0.2.0"}
