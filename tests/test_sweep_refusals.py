"""Issue 8 sweep: what gitreg must refuse before it writes or publishes anything.

Each test replays a finding of the adversarial sweep with real Git, DVC and bare remotes: an
untagged registration commit published by `gitreg push` (F6), the registry's own folders taken as a
model (F-recursion), secrets in a URL's query string committed by `init` (F-cred), and a folder
manifest that escapes its folder passing the hook and `verify` (F-manifest).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest

from gitreg import Registry
from tests.conftest import Invoker, git, snapshot
from tests.test_bad_input import refused
from tests.test_bytes_before_refs import bare_repo, objects_in
from tests.test_bytes_before_refs import shared as _directory_remote_fixture
from tests.test_hostile import forge_version
from tests.test_s3 import s3_endpoint  # noqa: F401  (the moto server fixture)

shared = _directory_remote_fixture  # the same registry with a directory DVC remote and a bare origin


def _file(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


# ------------------------------------------------------------------------------------------ F6
def test_push_refuses_an_untagged_registration_commit(shared, tmp_path, clock):
    """Before: `gitreg push` published main with 'Register m v0.2.0' on it and no tag (exit 0)."""
    registry, store, bare = shared
    run = Invoker(registry.root)
    run("register", "m", _file(tmp_path, "a.bin", b"a" * 64), "--push")
    clock.tick()
    run("register", "m", _file(tmp_path, "b.bin", b"b" * 64))
    commit = git(registry.root, "rev-parse", "HEAD").strip()
    git(registry.root, "tag", "-d", "m@v0.2.0")  # as an older gitreg or a hand-made commit leaves it
    server, stored = git(bare, "for-each-ref"), objects_in(store)

    line = refused(run, "push", code=13, match=rf"main carries registration commit {commit[:8]} "
                   r"\('Register m v0.2\.0'\) that no version tag points at.*nothing was pushed: "
                   r"run `gitreg verify --repair`")
    assert "Traceback" not in line
    assert git(bare, "for-each-ref") == server and objects_in(store) == stored  # no ref and no byte went out

    run("verify", "--repair", expect=0)
    assert git(registry.root, "rev-parse", "HEAD").strip() != commit
    assert run("push").output == "Everything up to date with origin\n"


def test_push_publishes_a_tagged_registration_made_without_push(shared, tmp_path):
    """The refusal is about untagged commits only: a finished, unpublished version still goes out."""
    registry, _, bare = shared
    run = Invoker(registry.root)
    run("register", "m", _file(tmp_path, "a.bin", b"a" * 64))
    assert run("push").output.startswith("Pushed to origin: 1 artifact")
    assert "refs/tags/m@v0.1.0" in git(bare, "for-each-ref")


# -------------------------------------------------------------------------------- F-recursion
@pytest.mark.parametrize("source", ["models", "models/..//models", ".git", ".git/objects", ".dvc/cache"])
def test_register_refuses_the_registrys_own_folders(registry, tmp_path, source):
    """Before: `register m models` died with a RecursionError traceback; `register m .git` stored
    the Git directory as a version."""
    run = Invoker(registry.root)
    run("register", "m", _file(tmp_path, "a.bin", b"a" * 64))
    refused(run, "register", "m", source, code=4,
            match=r"(holds the registry's models/ folder|lies inside the registry's \.(git|dvc) folder)")
    refused(run, "register", "other", source, code=4, match="registry's")
    assert git(registry.root, "tag").split() == ["m@v0.1.0"]


def test_a_folder_inside_a_models_own_folder_still_registers(registry, tmp_path):
    run = Invoker(registry.root)
    run("register", "m", _file(tmp_path, "a.bin", b"a" * 64))
    inside = registry.root / "models" / "m" / "new"
    inside.mkdir()
    (inside / "w.bin").write_bytes(b"w" * 64)
    assert "m@v0.2.0" in run("register", "m", str(inside)).output


# ------------------------------------------------------------------------------------- F-cred
@pytest.mark.parametrize("args", [
    ["--remote", "s3://b/p", "--endpoint-url", "http://host:9000/?X-Amz-Security-Token=abc"],
    ["--remote", "https://host/dvc?token=SECRET"],
    ["--remote", "s3://bucket/p?access_key_id=AK&secret_access_key=SK"],
    ["--remote", "azure://c/p?sv=2021&SIG=abc"],
    ["--remote", "https://host/dvc?user=me&PassWord=x"],
    ["--remote", "s3://b/p", "--endpoint-url", "http://host:9000/?x-amz-credential=AK%2F2026"],
], ids=["x-amz-token", "token", "key-secret", "sig", "password", "x-amz-credential"])
def test_init_refuses_credentials_in_a_url_query(tmp_path, args):
    """Before: `init` committed the URL, secret and all, to .dvc/config."""
    root = tmp_path / "r"
    root.mkdir()
    git(root, "init", "-q")
    option = args[-2]
    refused(Invoker(root), "init", ".", *args, code=4,
            match=rf"the {option} URL holds credentials \(its query parameter '[^']+'\), which would be committed "
                  r"to \.dvc/config")
    assert not (root / ".dvc").exists()


def test_init_keeps_a_url_whose_query_holds_no_secret(tmp_path):
    root = tmp_path / "r"
    Invoker(tmp_path)("init", str(root), "--remote", "s3://b/p", "--endpoint-url", "http://host:9000/?region=eu")
    assert "endpointurl = http://host:9000/?region=eu" in git(root, "show", "HEAD:.dvc/config")


# --------------------------------------------------------------------------------- F-manifest
def _planted_manifest(registry: Registry, store: Path, entries: list[dict]) -> str:
    """A folder manifest in the local cache and the DVC remote, hashing right: its md5."""
    data = json.dumps(entries).encode()
    md5 = hashlib.md5(data).hexdigest() + ".dir"
    for objects in (registry.root / ".dvc" / "cache" / "files" / "md5", store / "files" / "md5"):
        (objects / md5[:2]).mkdir(parents=True, exist_ok=True)
        (objects / md5[:2] / md5[2:]).write_bytes(data)
    return md5


@pytest.mark.parametrize("entry, problem", [
    ({"relpath": "../../evil.txt"}, r"names the path '\.\./\.\./evil\.txt', which leaves the folder"),
    ({"relpath": "/etc/evil.txt"}, r"names the path '/etc/evil\.txt', which leaves the folder"),
], ids=["dotdot", "absolute"])
def test_hook_and_verify_refuse_a_manifest_that_escapes_its_folder(shared, tmp_path, clock, entry, problem):
    """Before: the hook with --artifacts accepted the tag (the store held the .dir and it hashed
    right) and `verify --artifacts --remote` said 'Registry OK'; only `get` refused it."""
    registry, store, bare = shared
    run = Invoker(registry.root)
    run("hook", "install", str(bare), "--artifacts", str(store), cwd=tmp_path)
    folder = tmp_path / "mdl"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("one\n")
    (folder / "sub" / "b.txt").write_text("two\n")
    run("register", "m", str(folder), "--push")
    clock.tick()
    md5 = _planted_manifest(registry, store, [{"md5": hashlib.md5(b"one\n").hexdigest(), **entry}])
    forge_version(registry, "0.2.0", md5=md5, nfiles=1)

    proc = subprocess.run(["git", "push", "origin", "refs/tags/m@v0.2.0"], cwd=registry.root,
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    rejections = [line for line in proc.stderr.splitlines() if "gitreg: rejected: m@v0.2.0:" in line]
    assert rejections and all(re.search(problem, line) for line in rejections), proc.stderr
    assert "m@v0.2.0" not in git(bare, "tag")

    result = run("verify", "--artifacts", "--remote", expect=13)
    tampered = [line for line in result.output.splitlines() if "m@v0.2.0" in line]
    assert len(tampered) == 2, result.output  # once for the local cache, once for the DVC remote
    assert all(re.search(problem, line) and "tampered" in line for line in tampered)
    assert not any("m@v0.1.0" in line for line in result.output.splitlines() if "breach" in line)
    before = snapshot(registry.root)
    run("get", "m@0.2.0", "-o", str(tmp_path / "out"), expect=17)  # as before: get refuses it too
    assert snapshot(registry.root) == before and not (tmp_path / "evil.txt").exists()


def test_hook_and_verify_read_an_s3_manifest_as_get_does(s3_endpoint, tmp_path, clock, monkeypatch):  # noqa: F811
    """The same manifest in an S3 bucket (read from the bucket itself): before, the hook accepted
    the tag and `verify --remote` said 'Registry OK'."""
    import boto3

    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_ENDPOINT_URL", s3_endpoint)):
        monkeypatch.setenv(key, value)
    boto3.client("s3").create_bucket(Bucket="sweep")
    bare, root = bare_repo(tmp_path / "origin.git"), tmp_path / "alice"
    Invoker(tmp_path)("init", str(root), "--remote", "s3://sweep/registry", "--endpoint-url", s3_endpoint)
    Invoker(tmp_path)("hook", "install", str(bare), "--artifacts", "s3://sweep/registry")
    git(root, "remote", "add", "origin", str(bare))
    run = Invoker(root)
    run("register", "m", _file(tmp_path, "a.bin", b"a" * 64), "--push")
    clock.tick()
    data = json.dumps([{"md5": hashlib.md5(b"one\n").hexdigest(), "relpath": "../../evil.txt"}]).encode()
    md5 = hashlib.md5(data).hexdigest() + ".dir"
    for obj, body in ((md5, data), (hashlib.md5(b"one\n").hexdigest(), b"one\n")):  # the store holds all it lists
        boto3.client("s3").put_object(Bucket="sweep", Key=f"registry/files/md5/{obj[:2]}/{obj[2:]}", Body=body)
    forge_version(Registry(root), "0.2.0", md5=md5, nfiles=1, kind="directory")

    proc = subprocess.run(["git", "push", "origin", "refs/tags/m@v0.2.0"], cwd=root, capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert re.search(r"gitreg: rejected: m@v0\.2\.0: the folder manifest \S+ in the remote names the path "
                     r"'\.\./\.\./evil\.txt', which leaves the folder", proc.stderr), proc.stderr
    result = run("verify", "--remote", expect=13)
    tampered = [line for line in result.output.splitlines() if "m@v0.2.0" in line]
    assert len(tampered) == 1 and "leaves the folder: the version was tampered with" in tampered[0], result.output
