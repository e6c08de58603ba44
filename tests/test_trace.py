"""Issue 15 parts 2-4: lineage that is true, ``gitreg trace REF``, ``gitreg audit`` (deterministic reports)."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest

from gitreg import Registry
from gitreg.errors import ExitCode, InvalidInputError, NotFoundError, UnsafeContentError
from tests.conftest import Invoker, git, snapshot

GATED = """\
schema: 1
stages:
  - name: staging
  - name: production
    gates:
      metrics:
        accuracy: ">= 0.9"
"""
BROKEN = int(ExitCode.BROKEN_LINK)


def forge_merge(bare, where, branch: str, how: str) -> None:
    """A forge merging a pull request: a merge commit, or a squash with only the PR title as message."""
    subprocess.run(["git", "clone", "-q", str(bare), str(where)], check=True)
    git(where, "checkout", "-q", "stage/production")
    if how == "merge":
        git(where, "merge", "-q", "--no-ff", "-m", "Merge pull request #7 from acme/promote-m", f"origin/{branch}")
    else:
        git(where, "merge", "-q", "--squash", f"origin/{branch}")
        git(where, "-c", "user.name=Forge Bot", "commit", "-q", "-m", "Promote m v0.3.0 despite the gate (#8)")
    git(where, "push", "-q", "origin", "stage/production")


@pytest.fixture
def scene(tmp_path, new_registry, clock, artifact, prebuilt):
    """m v0.1.0 (data: a file and a folder added with DVC), v0.2.0 (base v0.1.0), v0.3.0 (accuracy 0.5);
    production: v0.1.0 directly, v0.2.0 through a merged PR #7, v0.3.0 forced through a squashed PR #8."""

    def build(folder):
        bare = folder / "forge.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
        registry = new_registry(folder / "alice", remote=folder / "store")
        root = registry.root
        (root / ".gitreg.yaml").write_text(GATED)
        (root / "data" / "images").mkdir(parents=True)
        (root / "data" / "train.csv").write_text("x,y\n1,2\n3,4\n")
        for n in range(3):
            (root / "data" / "images" / f"{n}.txt").write_text(f"image {n}\n" * (n + 1))
        from dvc.repo import Repo

        with Repo(str(root)) as repo:  # what `dvc add data/train.csv data/images` does
            repo.add([str(root / "data" / "train.csv"), str(root / "data" / "images")])
        git(root, "add", "-A")
        git(root, "commit", "-qm", "Gate production, track the data")
        git(root, "remote", "add", "origin", str(bare))
        train, images = str(root / "data" / "train.csv"), str(root / "data" / "images")
        for n, (accuracy, extra) in enumerate([(0.95, {"data": (train, images)}),
                                               (0.97, {"data": (train,), "base": "m@0.1.0"}),
                                               (0.5, {})]):
            artifact.write_bytes(f"m{n}".encode() * 100)
            registry.register("m", artifact, metrics={"accuracy": accuracy}, **extra)
            clock.tick()
        registry.promote("m", "0.1.0", "production")
        registry.push()
        registry.promote("m", "0.2.0", "production", pr=True)
        clock.tick()
        forge_merge(bare, folder / "forge-merge", "promote/production/m-v0.2.0", "merge")
        registry.pull()
        clock.tick()
        registry.promote("m", "0.3.0", "production", pr=True, force=True)
        forge_merge(bare, folder / "forge-squash", "promote/production/m-v0.3.0", "squash")
        registry.pull()

    start = clock.now
    prebuilt.copy(("trace-scene",), build, tmp_path)
    while clock.now < start + 10 * 60:
        clock.tick()
    return Registry(tmp_path / "alice"), tmp_path


def test_trace_through_a_squashed_and_a_merge_committed_pull_request(scene):
    registry, _ = scene
    production = registry.trace("m#production")
    assert (production.tag, production.ok, production.problems) == ("m@v0.3.0", True, [])
    newest = production.steps[-1]
    assert (newest.action, newest.stage, newest.from_version, newest.version) == ("promote", "production", "0.2.0", "0.3.0")
    assert newest.evidence.pull_request == 8 and newest.author.startswith("Forge Bot")
    assert newest.evidence.trailers_from and newest.evidence.proposed_by == "Ada Lovelace <ada@example.com>"
    assert newest.override and newest.forced_failures == ("accuracy >= 0.9: FAIL (actual 0.5, required >= 0.9)",)
    # nothing is signed, and nothing has to be (no `signing:`): the default checker says so without failing
    assert newest.evidence.signature == "unsigned" and production.tag_link.facts["signature"] == "unsigned"
    assert production.stages.keys() == {"production"}

    merged = registry.trace("m@0.2.0")
    into = next(step for step in merged.steps if step.action == "promote" and step.version == "0.2.0")
    assert into.evidence.pull_request == 7 and into.evidence.proposed_by == "Ada Lovelace <ada@example.com>"
    assert into.gates == ("accuracy >= 0.9: pass (actual 0.97, required >= 0.9)",)
    left = next(step for step in merged.steps if step.from_version == "0.2.0")
    assert (left.version, left.evidence.pull_request) == ("0.3.0", 8)  # the event that replaced it
    assert [link.name for link in merged.base] == ["m@v0.1.0"] and merged.ok
    assert merged.steps[0].action == "register" and merged.code.status == "ok"

    first = registry.trace("m@0.1.0")  # a file and a folder: gitreg's hashes are DVC's
    assert [(link.name, link.status) for link in first.data] == [("data/train.csv", "ok"), ("data/images", "ok")]
    assert first.data[1].facts["md5"].endswith(".dir")


def test_trace_cli_renders_every_format_and_exits_zero_when_every_link_holds(scene):
    registry, _ = scene
    run = Invoker(registry.root)
    text = run("trace", "m#production").stdout
    assert "m@v0.3.0" in text and "PR #8" in text and "verdict: every link holds" in text and "signature: unsigned" in text
    markdown = run("trace", "m@0.2.0", "--markdown").stdout
    assert markdown.startswith("# Trace of m@v0.2.0: m@v0.2.0") and "| #7 |" in markdown and "## A/B tests" in markdown
    data = json.loads(run("trace", "m@0.2.0", "--json").stdout)
    assert data["ok"] and data["base"][0]["name"] == "m@v0.1.0" and data["events"][0]["signature"] == "unsigned"
    run("trace", "m@0.2.0", "--json", "--markdown", expect=2)
    run("trace", "ghost#production", expect=int(ExitCode.NOT_FOUND))


def test_stale_data_is_refused_and_dirty_data_recorded_with_the_flag(scene):
    registry, tmp_path = scene
    root, run = registry.root, Invoker(registry.root)
    (root / "data" / "train.csv").write_text("x,y\n1,2\n3,5\n")  # edited after `dvc add`
    (tmp_path / "w.bin").write_bytes(b"w" * 100)
    before = snapshot(root)
    result = run("register", "m", str(tmp_path / "w.bin"), "--data", "data/train.csv", expect=4)
    assert "data data/train.csv in the workspace (md5 " in result.stderr
    assert "run `dvc add data/train.csv`" in result.stderr and "--allow-dirty-data" in result.stderr
    assert snapshot(root) == before
    (root / "data" / "images" / "1.txt").unlink()  # a folder is checked too
    with pytest.raises(InvalidInputError, match="data/images in the workspace"):
        registry.register("m", tmp_path / "w.bin", data=[str(root / "data" / "images")])
    run("register", "m", str(tmp_path / "w.bin"), "--data", "data/train.csv", "--allow-dirty-data")
    entry = registry.show("m@0.4.0").card.lineage["data"][0]
    assert entry["dirty"] is True and entry["md5"] == hashlib.md5(b"x,y\n1,2\n3,5\n").hexdigest()
    assert entry["pointer_md5"] != entry["md5"]
    result = run("trace", "m@0.4.0", expect=BROKEN)
    assert "[dirty] data data/train.csv" in result.stdout and "--allow-dirty-data" in result.stdout
    assert result.stderr.startswith("error: m@v0.4.0: 1 broken link(s): data data/train.csv")


def test_a_card_whose_data_no_longer_matches_its_pointer_is_a_broken_link(scene):
    registry, tmp_path = scene
    (tmp_path / "w.bin").write_bytes(b"forged" * 10)
    forged = {"data": [{"path": "data/train.csv", "md5": "0" * 32, "size": 3},
                       {"path": "../../etc/passwd", "md5": "1" * 32, "size": 1},
                       {"path": "data/ghost.csv", "md5": "2" * 32, "size": 1}, "not a mapping"],
              "code": {"commit": "f" * 40, "dirty": False}, "base": {"name": "m", "version": "9.9.9"}}
    registry.register("m", tmp_path / "w.bin", origin=forged)
    found = registry.trace("m@0.4.0")
    assert [link.status for link in found.data] == ["broken"] * 4
    assert "the DVC pointer at commit" in found.data[0].detail and "the card records 000" in found.data[0].detail
    assert "leaves its repository" in found.data[1].detail and "no DVC pointer tracks" in found.data[2].detail
    assert found.code.status == "broken" and found.base[0].status == "broken"
    result = Invoker(registry.root)("trace", "m@0.4.0", "--json", expect=BROKEN)
    assert json.loads(result.stdout)["ok"] is False


def test_pipeline_outputs_and_another_repositorys_data_and_code(scene):
    registry, tmp_path = scene
    root = registry.root
    pointer = (root / "data" / "train.csv.dvc").read_text()
    md5 = pointer.split("md5: ")[1].split()[0]
    (root / "dvc.lock").write_text(f"schema: '2.0'\nstages:\n  featurize:\n    cmd: python f.py\n    outs:\n"
                                   f"    - path: data/train.csv\n      hash: md5\n      md5: {md5}\n      size: 12\n")
    git(root, "add", "dvc.lock")
    git(root, "commit", "-qm", "Lock the pipeline")
    other = tmp_path / "datarepo"
    git(tmp_path, "init", "-q", "-b", "main", str(other))
    (other / "raw").mkdir()
    (other / "raw" / "events.csv.dvc").write_text(f"outs:\n- md5: {'a' * 32}\n  size: 99\n  hash: md5\n  path: events.csv\n")
    git(other, "add", "-A")
    git(other, "commit", "-qm", "Track events")
    git(other, "tag", "v1")
    (tmp_path / "w.bin").write_bytes(b"p" * 100)
    run = Invoker(root)
    run("register", "m", str(tmp_path / "w.bin"), "--data", "featurize", "--data", f"{other}@v1:raw/events.csv",
        "--code-repo", str(other), "--code-commit", git(other, "rev-parse", "HEAD").strip()[:10])
    lineage = registry.show("m@0.4.0").card.lineage
    assert lineage["data"][0] == {"path": "data/train.csv", "md5": md5, "size": 12, "stage": "featurize"}
    assert lineage["data"][1] == {"path": "raw/events.csv", "md5": "a" * 32, "size": 99, "repo": str(other),
                                  "rev": "v1", "commit": git(other, "rev-parse", "HEAD").strip()}
    assert lineage["code"] == {"repo": str(other), "commit": git(other, "rev-parse", "HEAD").strip(), "dirty": None}
    found = registry.trace("m@0.4.0")
    assert [link.status for link in found.data] == ["ok", "ok"] and found.code.status == "ok" and found.ok
    url = "https://git.example.com/acme/train"
    run("register", "m", str(tmp_path / "w.bin"), "--code-repo", url, "--code-commit", "c" * 40)
    assert registry.trace("m@0.5.0").code.status == "not checked"


@pytest.mark.parametrize("spec, error, match", [
    ("{other}@v1:../../etc/passwd", UnsafeContentError, "leaves its repository"),
    ("{other}@v1:/etc/passwd", UnsafeContentError, "leaves its repository"),
    ("{other}@no-such-tag:raw/x.csv", NotFoundError, "has no revision 'no-such-tag'"),
    ("{other}@v1:raw/untracked.csv", InvalidInputError, "not tracked by DVC in"),
    ("ext::sh -c touch% /tmp/pwned@v1:raw/x.csv", InvalidInputError, "no Git URL or path"),
    ("ext::sh@v1:raw/x.csv", InvalidInputError, "remote helper"),
    ("-uhack@v1:raw/x.csv", InvalidInputError, "leading '-'"),
    ("gopher://host/repo@v1:raw/x.csv", InvalidInputError, "transport 'gopher'"),
    ("{other}@-v1:raw/x.csv", InvalidInputError, "no branch, tag or commit name"),
    ("{other}@a..b:raw/x.csv", InvalidInputError, "no branch, tag or commit name"),
])
def test_hostile_data_and_code_references_are_refused(registry, tmp_path, artifact, spec, error, match):
    other = tmp_path / "datarepo"
    git(tmp_path, "init", "-q", "-b", "main", str(other))
    git(other, "commit", "-q", "--allow-empty", "-m", "empty")
    git(other, "tag", "v1")
    before = snapshot(registry.root)
    with pytest.raises(error, match=match):
        registry.register("m", artifact, data=[spec.format(other=other)])
    assert snapshot(registry.root) == before


def test_bad_code_references_are_refused(registry, artifact):
    for kwargs, error, match in [({"code_commit": "zzz"}, InvalidInputError, "no commit id"),
                                 ({"code_commit": "abcdef12"}, NotFoundError, "no commit of this repository"),
                                 ({"code_repo": "https://x.example/r"}, InvalidInputError, "full commit id"),
                                 ({"code_repo": "/no/such/repo"}, NotFoundError, "does not exist")]:
        with pytest.raises(error, match=match):
            registry.register("m", artifact, **kwargs)
    head = git(registry.root, "rev-parse", "HEAD").strip()
    registry.register("m", artifact, code_commit=head[:8])
    assert registry.show("m").card.lineage["code"] == {"commit": head, "dirty": None}


def test_audit_is_deterministic_here_and_in_a_clone_and_summarises(scene):
    registry, tmp_path = scene
    run = Invoker(registry.root)
    outputs = {fmt: run("audit", "--format", fmt).stdout for fmt in ("markdown", "json", "csv")}
    assert {fmt: run("audit", "--format", fmt).stdout for fmt in outputs} == outputs
    clone = tmp_path / "auditor"
    subprocess.run(["git", "clone", "-q", str(tmp_path / "forge.git"), str(clone)], check=True)
    assert {fmt: Invoker(clone)("audit", "--format", fmt).stdout for fmt in outputs} == outputs
    summary = json.loads(outputs["json"])["summary"]
    assert (summary["promotions"], summary["registrations"], summary["rollbacks"]) == (3, 3, 0)
    assert summary["overrides"] == {"Ada Lovelace <ada@example.com>": 1}
    assert summary["forced_gate_failures"][0]["gate"].startswith("accuracy >= 0.9: FAIL (actual 0.5")
    assert summary["pull_requests"] == [7, 8] and len(summary["unsigned_events"]) == 6  # nothing signed
    assert outputs["csv"].splitlines()[0].startswith("time,action,model,version")
    assert len(outputs["csv"].splitlines()) == 7 and "Forge Bot" in outputs["csv"]
    assert "- overrides: Ada Lovelace <ada@example.com> (1)" in outputs["markdown"]
    window = json.loads(run("audit", "--stage", "production", "--since", "2026-01-01T00:04:00Z",
                            "--until", "2026-01-31", "--format", "json").stdout)
    assert [e["version"] for e in window["events"]] == ["0.1.0", "0.2.0", "0.3.0"][3 - len(window["events"]):]
    assert all(e["stage"] == "production" for e in window["events"]) and window["window"]["until"] == \
        "2026-02-01T00:00:00+00:00"
    run("audit", "--model", "m", "--format", "csv", "-o", str(tmp_path / "m.csv"))
    assert (tmp_path / "m.csv").read_text() == run("audit", "--model", "m", "--format", "csv").stdout


def test_an_injected_signature_checker_reaches_every_tag_and_event(scene):
    registry, _ = scene
    states = {}

    def check(oids):
        states.update({oid: "unsigned" for oid in oids})
        return {oid: "unsigned" for oid in oids}

    found = registry.trace("m#production", check=check)
    assert found.tag_link.facts["signature"] == "unsigned" and found.ok  # nothing requires signing
    assert {step.evidence.signature for step in found.steps} == {"unsigned"}
    required = registry.trace("m#production", check=check, required_for=["production", "version"])
    assert not required.ok and any("where signing is required" in p for p in required.problems)
    bad = registry.trace("m#production", check=lambda oids: {oid: "bad" for oid in oids})
    assert not bad.ok
    report = registry.audit(check=check)
    assert report.summary()["unsigned_events"] == [step.commit for step in report.steps]


@pytest.mark.parametrize("args, code, match", [
    (("--since", "2026-13-01"), 4, r"--since '2026-13-01' is no date: write it as 2026-01-31"),
    (("--until", "yesterday"), 4, r"--until 'yesterday' is no date"),
    (("--since", "2026-02-01", "--until", "2026-01-01"), 4, "is not after --since"),
    (("--stage", "prod"), 4, "unknown stage 'prod'"),
    (("--model", "ghost"), 5, "no model named 'ghost'"),
    (("--model", "../x"), 4, ""),
])
def test_hostile_audit_options_are_refused(registry, args, code, match):
    result = Invoker(registry.root)("audit", *args, expect=code)
    assert match in result.stderr and result.stderr.startswith("error: ")


def test_trace_and_audit_import_neither_dvc_nor_sklearn(scene):
    registry, _ = scene
    script = """
import sys
from gitreg.cli import cli
for args in (["trace", "m@0.1.0", "--json"], ["audit", "--format", "csv"]):
    try:
        cli.main(args, prog_name="gitreg", standalone_mode=False)
    except SystemExit:
        pass
print("IMPORTED", sorted(m for m in ("dvc", "sklearn", "dvc_data") if m in sys.modules))
"""
    import sys

    proc = subprocess.run([sys.executable, "-c", script], cwd=registry.root, capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "IMPORTED []"


def test_remembered_hashes_follow_the_file_and_ignore_garbage(tmp_path):
    from gitreg.io import data_hash

    path = tmp_path / "f.csv"
    path.write_bytes(b"a,b\n1,2\n")
    first = data_hash.file_md5(path)
    assert first == hashlib.md5(b"a,b\n1,2\n").hexdigest() and data_hash.file_md5(path) == first
    stat = path.stat()
    path.write_bytes(b"a,b\n1,3\n")  # same size; its mtime moves on
    import os

    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert data_hash.file_md5(path) == hashlib.md5(b"a,b\n1,3\n").hexdigest()
    key = data_hash._key(path, path.stat())
    key.write_text("not a hash")
    assert data_hash.file_md5(path) == hashlib.md5(b"a,b\n1,3\n").hexdigest()
    assert data_hash.workspace_hash(tmp_path / "absent") is None
