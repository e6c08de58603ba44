"""Signed versions and stage changes: Git's own SSH signing, the allowed signers committed on main,
``verify --signatures`` and the server's hook (signed accepted, unsigned and unknown keys refused, a
tampered signed tag detected). Keys are made with ``ssh-keygen`` in the scene's folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitreg import Registry
from gitreg.domain import signing
from gitreg.domain.config import Config
from gitreg.errors import InvalidInputError, PushRejectedError, SigningKeyError
from gitreg.services import signatures
from tests.conftest import Invoker, git, imported_by, snapshot

CONFIG = """\
schema: 1
stages:
  - name: staging
  - name: production
signing:
  required_for: [production]
  versions: true
"""


def _key(folder: Path, name: str) -> Path:
    key = folder / "keys" / name
    key.parent.mkdir(exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@example.com", "-f", str(key)],
                   check=True)
    return key


def _allowed_line(key: Path, principal: str) -> str:
    kind, blob = key.with_suffix(".pub").read_text().split()[:2]
    return f"{principal} {kind} {blob}\n"


@pytest.fixture
def scene(tmp_path, new_registry, artifact, prebuilt):
    """alice signs with a key listed in .gitreg/allowed_signers on main (which requires signed versions and
    signed production changes); mallory's key is not listed. A hooked bare remote; m@v0.1.0 and m@v0.2.0
    registered (signed by default) and pushed."""

    def build(folder: Path) -> None:
        bare = folder / "origin.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
        from gitreg.services import hook

        hook.install(bare)
        alice, _ = _key(folder, "alice"), _key(folder, "mallory")
        registry = new_registry(folder / "alice", remote=folder / "store")
        root = registry.root
        (root / ".gitreg.yaml").write_text(CONFIG)
        (root / ".gitreg").mkdir()
        (root / ".gitreg" / "allowed_signers").write_text(_allowed_line(alice, "alice@example.com"))
        git(root, "add", ".gitreg.yaml", ".gitreg/allowed_signers")
        git(root, "commit", "-qm", "Require signatures")
        git(root, "config", "gpg.format", "ssh")
        git(root, "config", "user.signingkey", str(alice.with_suffix(".pub")))
        git(root, "remote", "add", "origin", str(bare))
        registry.push()
        for n in (1, 2):
            artifact.write_bytes(f"m{n}".encode() * 100)
            registry.register("m", artifact, push=True)

    prebuilt.copy(("test_signing",), build, tmp_path)
    return Registry(tmp_path / "alice"), tmp_path / "origin.git", tmp_path / "keys"


def _verify_with_git(root: Path, keys: Path, *args: str) -> int:
    """Git alone, no gitreg: ``git -c gpg.ssh.allowedSignersFile=... verify-tag/verify-commit``."""
    allowed = keys / "allowed"
    allowed.write_text(_allowed_line(keys / "alice", "alice@example.com"))
    return subprocess.run(["git", "-c", f"gpg.ssh.allowedSignersFile={allowed}", *args], cwd=root,
                          capture_output=True).returncode


def test_signed_versions_and_promotions_pass_the_hook_and_verify(scene):
    registry, bare, keys = scene
    registry.promote("m", "0.1.0", "production", push=True)  # signed by default: production requires it
    registry.promote("m", "0.2.0", "staging", push=True, sign=True)
    registry.alias_set("m", "champion", "0.1.0", sign=True)
    registry.rollback("m", "production", push=True)
    registry.deprecate("m@0.2.0", "leaked labels", push=True)  # signed by default (versions: true)
    assert registry.deprecations("m")[("m", "0.2.0")].reason == "leaked labels"  # the signature is not the text
    assert registry.show("m@0.2.0").card.version == "0.2.0"
    assert _verify_with_git(bare, keys, "verify-tag", "m@v0.1.0") == 0
    assert _verify_with_git(bare, keys, "verify-commit", "stage/production") == 0
    assert _verify_with_git(bare, keys, "verify-commit", "stage/staging") == 0
    assert registry.verify(signatures=True) == []
    report = registry.signatures()
    states = {(e.kind, e.subject.split(" (")[0]): e.signature.state for e in report.events}
    assert states[("version", "m@v0.2.0")] == states[("deprecation", "m@v0.2.0!")] == "good"
    assert states[("alias", "m@champion")] == "good"
    assert {e.signature.signer for e in report.events if e.kind == "stage"} == {"alice@example.com"}
    assert all(e.required for e in report.events if e.kind == "stage" and e.subject.startswith("production"))
    commands = [["signatures"], ["signatures", "--json"], ["verify", "--signatures"]]
    assert imported_by(registry.root, commands) == []  # a read: no DVC


def test_unsigned_or_unknown_key_changes_are_refused_by_the_hook(scene, artifact):
    registry, bare, keys = scene
    root = registry.root
    with pytest.raises(PushRejectedError, match="unsigned; .gitreg.yaml requires signed changes to production"):
        registry.promote("m", "0.1.0", "production", push=True, sign=False)
    registry.promote("m", "0.1.0", "staging", push=True, sign=False)  # staging requires nothing
    artifact.write_bytes(b"unsigned" * 100)
    with pytest.raises(PushRejectedError, match=r"m@v0.3.0: unsigned; .gitreg.yaml requires signed versions"):
        registry.register("m", artifact, push=True, sign=False)
    git(root, "config", "user.signingkey", str(keys / "mallory.pub"))
    with pytest.raises(PushRejectedError, match="which .gitreg/allowed_signers does not list"):
        registry.promote("m", "0.2.0", "production", push=True)
    with pytest.raises(PushRejectedError, match="m@v0.1.0!: signed with the ssh key SHA256:"):
        registry.deprecate("m@0.1.0", "leaked labels", push=True)
    assert "stage/production" not in git(bare, "branch")


def test_a_tampered_signed_tag_is_detected_by_verify_and_the_hook(scene, artifact):
    registry, bare, keys = scene
    root = registry.root
    artifact.write_bytes(b"third" * 100)
    made = registry.register("m", artifact)  # signed, not pushed
    content = git(root, "cat-file", "tag", "m@v0.3.0")
    assert "-----BEGIN SSH SIGNATURE-----" in content
    forged = content.replace("Register m v0.3.0", "Register m v0.3.0, approved by the board", 1)
    oid = subprocess.run(["git", "mktag"], cwd=root, input=forged, capture_output=True, text=True,
                         check=True).stdout.strip()
    git(root, "update-ref", "refs/tags/m@v0.3.0", oid, made.tag_oid or git(root, "rev-parse", "m@v0.3.0").strip())
    found = signatures.check(registry.git, [oid])[oid]
    assert found.state == "bad" and found.format == "ssh"
    assert _verify_with_git(root, keys, "verify-tag", "m@v0.3.0") != 0  # Git alone says so too
    problems = registry.verify(signatures=True)
    assert any(p.startswith("m@v0.3.0: its ssh signature") and "does not verify" in p for p in problems), problems
    result = Invoker(root)("verify", "--signatures", expect=13)
    assert "breach: m@v0.3.0: its ssh signature" in result.output
    push = subprocess.run(["git", "push", "origin", "main", "refs/tags/m@v0.3.0"], cwd=root, capture_output=True,
                          text=True)
    assert push.returncode != 0 and "m@v0.3.0: its ssh signature" in push.stderr
    result = Invoker(root)("signatures", "--json", expect=13)
    assert '"state": "bad"' in result.output


def test_a_missing_key_is_refused_before_any_change(scene):
    registry, _, _ = scene
    root = registry.root
    git(root, "config", "--unset", "user.signingkey")
    before = snapshot(root)
    with pytest.raises(SigningKeyError, match="git config --global user.signingkey"):
        registry.promote("m", "0.1.0", "production")
    result = Invoker(root)("alias", "set", "m", "champion", "0.1.0", "--sign", expect=7)
    assert "error: cannot sign: gpg.format is ssh but Git has no key to sign with" in result.output
    Invoker(root)("promote", "m", "0.1.0", "staging")  # nothing requires a signature there
    Invoker(root)("promote", "m", "0.1.0", "production", "--no-sign")  # asked not to: the hook would judge
    assert snapshot(root)["files"] == before["files"]
    git(root, "config", "user.signingkey", str(root.parent / "keys" / "nope.pub"))
    with pytest.raises(SigningKeyError, match="which is not a file"):
        registry.deprecate("m@0.1.0", "reason")


def test_a_forge_merge_counts_the_signed_promotion_commit_a_squash_does_not(scene):
    registry, bare, _ = scene
    root = registry.root
    result = registry.promote("m", "0.1.0", "production", pr=True)  # the promotion commit, signed, pushed
    tip = git(root, "rev-parse", "origin/stage/production").strip()
    promotion = result.commit
    assert registry.check_promotion("origin/stage/production", promotion).passed  # CI on the pull request
    unsigned = registry.promote("m", "0.2.0", "production", pr=True, sign=False).commit
    report = registry.check_promotion("origin/stage/production", unsigned)
    assert any(f"commit {unsigned[:8]}: m: unsigned" in problem for problem in report.problems)
    tree = git(root, "rev-parse", f"{promotion}^{{tree}}").strip()
    squash = git(root, "commit-tree", tree, "-p", tip, "-m", "Promote m (#12)").strip()  # unsigned, no trailers
    proc = subprocess.run(["git", "push", "origin", f"{squash}:refs/heads/stage/production"], cwd=root,
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "merge with a merge commit" in proc.stderr
    other = _tree_with(root, tree, "models/m", git(root, "rev-parse", "m@v0.2.0:models/m").strip())
    smuggled = git(root, "commit-tree", other, "-p", tip, "-p", promotion, "-m", "Merge pull request #12").strip()
    proc = subprocess.run(["git", "push", "origin", f"{smuggled}:refs/heads/stage/production"], cwd=root,
                          capture_output=True, text=True)  # a signed promotion of 0.1.0 cannot vouch for 0.2.0
    assert proc.returncode != 0 and f"commit {smuggled[:8]}: m: unsigned" in proc.stderr
    merge = git(root, "commit-tree", tree, "-p", tip, "-p", promotion, "-m", "Merge pull request #12").strip()
    git(root, "push", "-q", "origin", f"{merge}:refs/heads/stage/production")  # unsigned merge, signed promotion
    assert git(bare, "rev-parse", "stage/production").strip() == merge
    registry.pull()
    traced = registry.trace("m#production")  # the trust chain counts the promotion commit the merge took in
    assert traced.ok and traced.tag_link.facts["signature"] == "good"
    assert [(s.action, s.evidence.pull_request, s.evidence.signature) for s in traced.steps if s.stage] == [
        ("promote", 12, "good")]
    registry.promote("m", "0.2.0", "production", sign=False)  # made here, past no hook
    result = Invoker(root)("trace", "m#production", expect=20)
    assert "signature unsigned where signing is required" in result.stdout


def _tree_with(root: Path, tree: str, prefix: str, subtree: str) -> str:
    index = root / ".git" / "scratch-index"
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    for args in (["read-tree", tree], ["rm", "-q", "-f", "--cached", "-r", prefix], ["read-tree", f"--prefix={prefix}/", subtree]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)
    made = subprocess.run(["git", "write-tree"], cwd=root, env=env, check=True, capture_output=True, text=True)
    index.unlink()
    return made.stdout.strip()


def test_the_policy_and_the_allowed_signers_are_validated():
    stages = "schema: 1\nstages: [staging, production]\n"
    assert Config.parse(stages + CONFIG.split("production\n", 1)[1]).signing == signing.SigningPolicy(
        ("production",), True)
    for bad, says in [("signing: {required_for: [prod]}", "unknown stage 'prod'"),
                      ("signing: {version: true}", "unknown key 'version'"),
                      ("signing: {versions: 'yes'}", "true or false"), ("signing: [production]", "mapping")]:
        with pytest.raises(InvalidInputError, match=says):
            Config.parse(stages + bad)
    text = ('alice@example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFev+DgDaurR8fy58ujFLro7iQjmw243wVkRVQP53HgJ\n'
            '# a comment\n\nbob@example.com command="rm -rf /" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFev+DgDaurR8fy58'
            'ujFLro7iQjmw243wVkRVQP53HgJ\nnokey@example.com\n')
    problems = signing.allowed_signers_problems(text)
    assert len(problems) == 2 and "line 4: the option" in problems[0] and "line 5" in problems[1]
    assert "bob" not in signatures._usable_lines(text) and "alice" in signatures._usable_lines(text)


@settings(max_examples=200, deadline=None)
@given(st.text(), st.integers(-1, 3), st.sampled_from([None, "ssh", "openpgp", "x509"]))
def test_reading_what_verification_says_never_fails(text, code, fmt):
    assert signing.from_raw(fmt, code, text).state in signing.STATES
    assert isinstance(signing.allowed_signers_problems(text), list)
    assert signing.from_status(text[:1], text, text).state in signing.STATES


def test_gpg_signatures_count_with_the_keys_committed_in_the_registry(scene, artifact, monkeypatch):
    import shutil
    import tempfile

    if not shutil.which("gpg"):
        pytest.skip("gpg is not installed")
    registry, _, _ = scene
    root = registry.root
    home = tempfile.mkdtemp(prefix="gr-t-")  # short: gpg-agent's socket lives there
    monkeypatch.setenv("GNUPGHOME", home)
    try:
        subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Bob <bob@example.com>", "ed25519",
                        "sign", "never"], check=True, capture_output=True)
        git(root, "config", "gpg.format", "openpgp")
        git(root, "config", "user.signingkey", "bob@example.com")
        artifact.write_bytes(b"gpg" * 100)
        made = registry.register("m", artifact)
        commit = made.commit
        tag = git(root, "rev-parse", made.tag).strip()
        found = registry.check_signatures([tag, commit])
        assert [found[tag].state, found[commit].state] == ["unknown-key", "unknown-key"]
        armored = subprocess.run(["gpg", "--armor", "--export", "bob@example.com"], check=True,
                                 capture_output=True).stdout
        (root / ".gitreg" / "gpg-keys.asc").write_bytes(armored)
        git(root, "add", ".gitreg/gpg-keys.asc")
        git(root, "commit", "-qm", "Bob may sign")
        found = registry.check_signatures([tag, commit])
        assert [found[tag].state, found[commit].state] == ["good", "good"]
        assert found[tag].format == "openpgp" and "bob@example.com" in found[tag].signer
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def test_a_signing_failure_or_a_kill_leaves_nothing_half_done(scene, artifact):
    registry, _, keys = scene
    root = registry.root
    broken = keys / "broken"
    broken.write_text("not a key\n")
    broken.with_suffix(".pub").write_text("ssh-ed25519 AAAAnotakey broken\n")
    git(root, "config", "user.signingkey", str(broken.with_suffix(".pub")))  # present, so the check passes
    artifact.write_bytes(b"fails" * 100)
    before = snapshot(root)
    with pytest.raises(SigningKeyError, match="Git could not sign"):
        registry.register("m", artifact)
    with pytest.raises(SigningKeyError, match="Git could not sign"):
        registry.promote("m", "0.1.0", "production")
    assert snapshot(root) == before
    git(root, "config", "user.signingkey", str(keys / "alice.pub"))
    env = {**os.environ, "GITREG_FAULT": "register:tagged"}  # killed right after the signed tag was made
    proc = subprocess.run([sys.executable, "-m", "gitreg", "register", "m", str(artifact)], cwd=root, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == -9
    reopened = Registry(root)
    assert reopened.recovered == ("finished the interrupted registration of m@v0.3.0",)
    tag = git(root, "rev-parse", "m@v0.3.0").strip()
    assert reopened.check_signatures([tag])[tag].state == "good"


def test_an_ab_test_on_a_stage_that_must_be_signed_is_signed_too(scene):
    """Starting an A/B test routes traffic to the candidate: on a stage `signing:` lists, its commit (which
    changes only experiments/<name>.yaml) needs a good signature as a promotion does."""
    registry, bare, _ = scene
    registry.promote("m", "0.1.0", "production", push=True)
    with pytest.raises(PushRejectedError, match="unsigned; .gitreg.yaml requires signed changes to production"):
        registry.ab_start("m", "production", candidate="0.2.0", split=10, sign=False, push=True)
    assert registry.experiments("m") == []  # the refused start is taken back
    registry.ab_start("m", "production", candidate="0.2.0", split=10, sign=False)  # here, past no hook
    assert any("unsigned" in problem for problem in registry.verify(signatures=True))
    registry.ab_conclude("m", "production", stop=True)  # signed by default: production requires it
    registry.rollback("m", "production")  # the stop's exact inverse resumes the unsigned start's test
    registry.ab_conclude("m", "production", stop=True, sign=True)
    assert registry.verify(signatures=True) != []  # the unsigned start stays in the history
