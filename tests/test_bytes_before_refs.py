"""Bytes before refs, checked: a failed or partial transfer stops every command before a ref moves or is
pushed (TransferError, exit 15); verify --artifacts/--remote find missing and corrupt bytes; the server
hook with --artifacts refuses version tags whose bytes the store does not hold."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys

import pytest

from gitreg.errors import TransferError
from tests.conftest import Invoker, git, snapshot
from tests.test_s3 import s3_endpoint  # noqa: F401  (the moto server fixture)

EXIT_TRANSFER = TransferError.exit_code


def tags_on(bare) -> str:
    return git(bare, "ls-remote", "--tags", str(bare))


def bare_repo(path):
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    return path


def objects_in(store) -> list[str]:
    return sorted(p.relative_to(store).as_posix() for p in store.rglob("*") if p.is_file())


@pytest.fixture
def no_bucket(s3_endpoint, monkeypatch, tmp_path, clock):  # noqa: F811
    """A registry whose S3 remote names a bucket that does not exist, and an empty bare origin."""
    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(key, value)
    bucket = f"missing-{os.getpid()}-{tmp_path.name[-12:].lower().replace('_', '-')}"
    root, bare = tmp_path / "alice", bare_repo(tmp_path / "origin.git")
    Invoker(tmp_path)("init", str(root), "--remote", f"s3://{bucket}/registry", "--endpoint-url", s3_endpoint)
    git(root, "remote", "add", "origin", str(bare))
    artifact = tmp_path / "weights.bin"
    artifact.write_bytes(b"weights" * 200)
    return root, bare, artifact, bucket, s3_endpoint


def test_register_push_to_a_missing_bucket_fails_with_nothing_pushed_and_nothing_kept(no_bucket):
    root, bare, artifact, _, _ = no_bucket
    before = snapshot(root)
    result = Invoker(root)("register", "m", str(artifact), "--push", expect=EXIT_TRANSFER)
    assert "error: the DVC remote does not hold the bytes of m@v0.1.0" in result.output
    assert "bucket does not exist" in result.output and "Registered" not in result.output
    assert "ERROR:" not in result.output  # DVC's own log line is not printed on top of ours
    assert git(bare, "for-each-ref") == ""  # no tag, no branch reached origin
    assert snapshot(root) == before  # the registration was taken back


def test_push_to_a_missing_bucket_pushes_no_ref_then_uploads_once_the_bucket_exists(no_bucket):
    import boto3

    root, bare, artifact, bucket, endpoint = no_bucket
    run = Invoker(root)
    run("register", "m", str(artifact))
    before = snapshot(root)
    result = run("push", expect=EXIT_TRANSFER)
    assert "m@v0.1.0" in result.output and "no ref was pushed" in result.output
    assert "0 artifacts" not in result.output
    assert git(bare, "for-each-ref") == "" and snapshot(root) == before
    assert "m@v0.1.0" in run("promote", "m", "0.1.0", "staging", "--push", expect=EXIT_TRANSFER).output
    assert git(bare, "for-each-ref") == "" and snapshot(root) == before  # the stage change was taken back
    assert "m@v0.1.0" in run("verify", "--remote", expect=13).output

    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=bucket)
    assert run("push").output.startswith("Pushed to origin: 1 artifact")
    assert "m@v0.1.0" in tags_on(bare)
    run("verify", "--artifacts", "--remote")

    # The remote loses the object: a staged version's bytes are asked of the remote itself and
    # uploaded again before the stage branch is pushed.
    key = next(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"])
    client.delete_object(Bucket=bucket, Key=key)
    run("promote", "m", "0.1.0", "staging")
    assert run("push").output.startswith("Pushed to origin: 1 artifact")
    assert [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]] == [key]


@contextlib.contextmanager
def read_only(path):
    """A directory nobody can write into, root included (chattr +i where we run as root)."""
    dirs = [path, *(p for p in path.rglob("*") if p.is_dir())]
    immutable = os.geteuid() == 0
    if immutable and not shutil.which("chattr"):
        pytest.skip("running as root without chattr: a read-only directory cannot be made")
    for d in dirs:
        d.chmod(0o555)
    if immutable:
        subprocess.run(["chattr", "+i", *map(str, dirs)], check=True)
    try:
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", *map(str, dirs)], check=True)
        for d in dirs:
            d.chmod(0o755)


@pytest.fixture
def shared(tmp_path, new_registry, clock, artifact):
    """A registry with a plain directory DVC remote (the fast path), pushed to an empty bare origin."""
    store, bare = tmp_path / "store", bare_repo(tmp_path / "origin.git")
    store.mkdir()
    registry = new_registry(tmp_path / "alice", remote=store)
    git(registry.root, "remote", "add", "origin", str(bare))
    registry.push()
    return registry, store, bare


def test_a_read_only_directory_remote_stops_the_push_before_any_ref(shared, artifact):
    registry, store, bare = shared
    run = Invoker(registry.root)
    run("register", "m", str(artifact))
    (store / "files" / "md5").mkdir(parents=True)
    before, stored = snapshot(registry.root), objects_in(store)
    with read_only(store / "files" / "md5"):
        result = run("push", expect=EXIT_TRANSFER)
        assert "m@v0.1.0" in result.output and "no ref was pushed" in result.output
        other = artifact.with_name("other.bin")
        other.write_bytes(b"other" * 300)
        run("register", "m", str(other), "--push", expect=EXIT_TRANSFER)
    assert "m@v" not in tags_on(bare) and objects_in(store) == stored  # no tag, no partial object
    assert snapshot(registry.root) == before
    assert run("push").output.startswith("Pushed to origin: 1 artifact")
    assert "m@v0.1.0" in tags_on(bare)


def test_a_truncated_object_in_a_directory_remote_is_replaced_not_trusted(shared, artifact):
    registry, store, bare = shared
    found = registry.register("m", artifact)
    md5 = found.card.artifact.md5
    target = store / "files" / "md5" / md5[:2] / md5[2:]
    target.parent.mkdir(parents=True)
    target.write_bytes(artifact.read_bytes()[:10])  # what a copy cut short under the final name looks like
    assert "is corrupt in the DVC remote" in Invoker(registry.root)("verify", "--remote", expect=13).output
    assert registry.push().artifacts == 1
    assert target.read_bytes() == artifact.read_bytes()
    assert registry.verify(remote=True) == []


def test_a_folder_to_a_read_only_directory_remote_fails_through_dvc_too(shared, tmp_path):
    registry, store, bare = shared
    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text('{"layers": 2}')
    (folder / "weights.bin").write_bytes(b"\x01" * 500)
    registry.register("bert", folder)
    (store / "files" / "md5").mkdir(parents=True)
    with read_only(store / "files" / "md5"):
        result = Invoker(registry.root)("push", expect=EXIT_TRANSFER)
    assert "bert@v0.1.0" in result.output and "ERROR:" not in result.output
    assert "bert@v" not in tags_on(bare)
    assert registry.push().artifacts == 3  # the manifest and both files
    assert registry.verify(artifacts=True, remote=True) == []


def test_verify_artifacts_finds_a_deleted_and_a_corrupted_cache_object(registry, artifact, tmp_path, clock):
    run = Invoker(registry.root)
    first = registry.register("m", artifact)
    clock.tick()
    artifact.write_bytes(b"second" * 100)
    registry.register("m", artifact)
    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text('{"layers": 2}')
    registry.register("bert", folder)
    run("verify", "--artifacts")

    cache = registry.root / ".dvc" / "cache" / "files" / "md5"
    md5 = first.card.artifact.md5
    (cache / md5[:2] / md5[2:]).unlink()
    config_md5 = hashlib.md5(b'{"layers": 2}').hexdigest()
    corrupt = cache / config_md5[:2] / config_md5[2:]
    corrupt.chmod(0o644)
    corrupt.write_text('{"layers": 3}')
    tampered = hashlib.md5(b'{"layers": 3}').hexdigest()

    result = run("verify", "--artifacts", expect=13)
    lines = result.output.splitlines()
    assert lines == [
        f"breach: bert@v0.1.0: file 'config.json' ({config_md5}) is corrupt in the local DVC cache (its bytes "
        f"hash to {tampered}): delete {corrupt} and upload or fetch it again",
        f"breach: m@v0.1.0: artifact {md5} is missing from the local DVC cache",
    ]
    assert run("verify").output.startswith("Registry OK")  # without --artifacts no byte is read


def test_verify_remote_finds_a_version_pushed_with_plain_git(shared, artifact):
    registry, store, bare = shared
    run = Invoker(registry.root)
    registry.register("m", artifact)
    git(registry.root, "push", "-q", "origin", "main", "--tags")
    result = run("verify", "--remote", expect=13)
    assert "breach: m@v0.1.0: artifact" in result.output and "missing from the DVC remote" in result.output
    assert run("push").output == "Everything up to date with origin\n"  # the tag is there already
    assert run("push", "--artifacts").output.startswith("Pushed to origin: 1 artifact")
    run("verify", "--remote", "--artifacts")


def test_hook_with_artifacts_refuses_tags_whose_bytes_are_not_in_the_store(shared, artifact, tmp_path):
    registry, store, bare = shared
    run = Invoker(registry.root)
    hooks = bare / "hooks" / "pre-receive"
    config = git(bare, "config", "--list", "--local")
    Invoker(tmp_path)("hook", "install", str(bare), "--artifacts", str(tmp_path / "nowhere"), expect=4)
    assert not hooks.exists() and git(bare, "config", "--list", "--local") == config  # bad input changed nothing
    run("hook", "install", str(bare), "--artifacts", str(store))
    assert git(bare, "config", "gitreg.artifacts").strip() == str(store)

    registry.register("m", artifact)
    proc = subprocess.run(["git", "push", "origin", "main", "--tags"], cwd=registry.root, capture_output=True,
                          text=True)
    assert proc.returncode != 0
    assert "gitreg: rejected: m@v0.1.0: artifact" in proc.stderr and "`gitreg push`" in proc.stderr
    assert "m@v0.1.0" not in tags_on(bare)

    md5 = registry.versions()[0].card.artifact.md5
    target = store / "files" / "md5" / md5[:2] / md5[2:]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"x" * artifact.stat().st_size)  # right name and size, wrong bytes
    proc = subprocess.run(["git", "push", "origin", "main", "--tags"], cwd=registry.root, capture_output=True,
                          text=True)
    assert proc.returncode != 0 and "is corrupt in the artifact store" in proc.stderr
    target.unlink()

    assert run("push").output.startswith("Pushed to origin: 1 artifact")  # bytes first, then the tag: accepted
    assert "m@v0.1.0" in tags_on(bare)


def test_hook_with_an_s3_store_asks_the_bucket_with_the_servers_credentials(s3_endpoint, tmp_path, clock,  # noqa: F811
                                                                             artifact, monkeypatch):
    import boto3

    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_ENDPOINT_URL", s3_endpoint)):
        monkeypatch.setenv(key, value)  # the hook runs in the server's environment: here, this one
    boto3.client("s3").create_bucket(Bucket="hooked")
    bare = bare_repo(tmp_path / "origin.git")
    root = tmp_path / "alice"
    run = Invoker(tmp_path)
    run("init", str(root), "--remote", "s3://hooked/registry", "--endpoint-url", s3_endpoint)
    run("hook", "install", str(bare), "--artifacts", "s3://KEY:SECRET@hooked/registry", expect=4)
    run("hook", "install", str(bare), "--artifacts", "s3://hooked/registry")
    git(root, "remote", "add", "origin", str(bare))
    Invoker(root)("register", "m", str(artifact))
    proc = subprocess.run(["git", "push", "origin", "main", "--tags"], cwd=root, capture_output=True, text=True)
    assert proc.returncode != 0 and "missing from the artifact store s3://hooked/registry" in proc.stderr
    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text('{"layers": 2}')
    Invoker(root)("register", "bert", str(folder))
    assert Invoker(root)("push").output.startswith("Pushed to origin: 3 artifacts")  # m, bert's manifest and file
    assert "m@v0.1.0" in tags_on(bare) and "bert@v0.1.0" in tags_on(bare)

    # A folder's file lost from the bucket: found through the manifest read from the bucket itself.
    file_md5 = hashlib.md5(b'{"layers": 2}').hexdigest()
    boto3.client("s3").delete_object(Bucket="hooked", Key=f"registry/files/md5/{file_md5[:2]}/{file_md5[2:]}")
    shutil.rmtree(root / ".dvc" / "cache")  # nothing local to lean on
    result = Invoker(root)("verify", "--remote", expect=13)
    assert result.output.splitlines() == [f"breach: bert@v0.1.0: file {file_md5} is missing from the DVC remote: "
                                          "upload it with `gitreg push --artifacts` from a clone whose cache holds it"]


def test_without_a_dvc_remote_no_version_is_published(registry, artifact, tmp_path, run):
    """Bytes before refs also when there is nowhere to put them: a tag others cannot load is not pushed."""
    import subprocess

    from tests.conftest import git, snapshot

    bare = tmp_path / "nowhere.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    git(registry.root, "remote", "add", "origin", str(bare))
    registry.register("m", artifact)
    before = snapshot(registry.root)
    result = run("push", expect=15)
    assert "no DVC remote" in result.output and "gitreg init --remote" in result.output
    assert git(bare, "tag") == "" and snapshot(registry.root) == before


@pytest.mark.parametrize("through", ["directory fast path", "DVC"])
def test_a_cache_object_changed_in_place_is_never_uploaded(shared, artifact, through):
    """With cache.type hardlink the workspace file is the cache object: a retrain writing the same path
    as root changes both. What is uploaded must be what the hash names."""
    registry, store, bare = shared
    run = Invoker(registry.root)
    subprocess.run([sys.executable, "-m", "dvc", "config", "--local", "cache.type", "hardlink"], cwd=registry.root,
                   check=True)
    if through == "DVC":  # an option the fast path does not understand sends the upload through DVC
        subprocess.run([sys.executable, "-m", "dvc", "remote", "modify", "storage", "jobs", "2"], cwd=registry.root,
                       check=True)
        git(registry.root, "commit", "-qam", "two upload jobs")
    run("register", "m", str(artifact))
    workspace = registry.root / "models" / "m" / "model.bin"
    workspace.chmod(0o644)
    workspace.write_bytes(b"garbage")
    result = run("push", expect=EXIT_TRANSFER)
    assert "does not match its hash" in result.output and "m@v0.1.0" in result.output
    assert "m@v" not in tags_on(bare) and objects_in(store) == []


def test_register_refuses_a_stage_branch_and_push_refuses_a_detached_head(shared, artifact):
    registry, _, bare = shared
    run = Invoker(registry.root)
    run("register", "m", str(artifact), "--push")
    run("promote", "m", "0.1.0", "dev")
    git(registry.root, "checkout", "-q", "stage/dev")
    before = snapshot(registry.root)
    assert "stage/dev is a stage branch" in run("register", "m", str(artifact), expect=4).output
    git(registry.root, "checkout", "-q", "--detach", "main")
    before = snapshot(registry.root)
    assert "HEAD is detached" in run("register", "m", str(artifact), "--push", expect=4).output
    assert snapshot(registry.root) == before and "m@v0.2.0" not in tags_on(bare)
