"""An S3 DVC remote, against moto's real HTTP server on 127.0.0.1: real dvc-s3, no patched clients."""

from __future__ import annotations

import subprocess

import pytest

from gitreg import Registry
from tests.conftest import Invoker, git

BUCKET = "models"


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    import boto3

    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(key, value)
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    if BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=BUCKET)
    return s3_endpoint, client


def test_s3_round_trip_with_credentials_kept_out_of_git(s3, tmp_path, clock, make_model, dataset, monkeypatch):
    endpoint, client = s3
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    root = tmp_path / "alice"
    Invoker(tmp_path)("init", str(root), "--remote", f"s3://{BUCKET}/registry", "--endpoint-url", endpoint,
                      "--access-key-id", "testing", "--secret-access-key", "testing")
    committed = git(root, "show", "HEAD:.dvc/config")
    assert f"url = s3://{BUCKET}/registry" in committed and f"endpointurl = {endpoint}" in committed
    assert "testing" not in committed
    assert "secret_access_key = testing" in (root / ".dvc" / "config.local").read_text()
    assert git(root, "status", "--porcelain", "--ignored", ".dvc/config.local").startswith("!!")

    alice = Registry(root)
    git(root, "remote", "add", "origin", str(bare))
    alice.push()
    model = make_model()
    found = alice.register("cancer", model, metrics={"accuracy": 0.9}, push=True)
    alice.promote("cancer", "0.1.0", "production", push=True)
    md5 = found.card.artifact.md5
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix="registry/")["Contents"]]
    assert f"registry/files/md5/{md5[:2]}/{md5[2:]}" in keys

    subprocess.run(["git", "clone", "-q", str(bare), str(tmp_path / "bob")], check=True)
    bob = Registry(tmp_path / "bob")  # no config.local: credentials come from the environment
    x, _ = dataset
    assert (bob.load("cancer", stage="production").predict(x[:5]) == model.predict(x[:5])).all()
    remote = Registry.open(str(bare))
    assert (remote.load("cancer", stage="production").predict(x[:5]) == model.predict(x[:5])).all()
