"""Reading a remote registry without a working clone: --repo URL and Registry.open(URL)."""

from __future__ import annotations

import json
import subprocess

import pytest

from gitreg import Registry
from gitreg.errors import InvalidInputError
from tests.conftest import Invoker, git


@pytest.fixture
def published(tmp_path, new_registry, clock, make_model):
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    registry = new_registry(tmp_path / "alice", remote=tmp_path / "store")
    git(registry.root, "remote", "add", "origin", str(bare))
    registry.push()
    registry.register("cancer", make_model(), metrics={"accuracy": 0.9}, push=True)
    registry.register("cancer", make_model(c=0.1), push=True)
    registry.promote("cancer", "0.1.0", "production", push=True)
    return registry, str(bare)


def test_cli_reads_a_remote_registry(published, tmp_path):
    registry, url = published
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = Invoker(elsewhere)
    models = json.loads(run("list", "--repo", url, "--json").output)
    assert models[0]["name"] == "cancer" and models[0]["stages"] == {"production": "0.1.0"}
    shown = json.loads(run("show", "cancer#production", "--repo", url, "--json").output)
    assert shown["version"] == "0.1.0"
    assert [h["version"] for h in json.loads(run("history", "cancer", "--repo", url, "--json").output)] == \
        ["0.2.0", "0.1.0"]
    assert json.loads(run("log", "--repo", url, "--json").output)[0]["action"] == "promote"
    run("get", "cancer@0.2.0", "-o", str(tmp_path / "m.joblib"), "--repo", url)
    expected = registry.get("cancer@0.2.0", tmp_path / "local.joblib").read_bytes()
    assert (tmp_path / "m.joblib").read_bytes() == expected


def test_open_loads_by_stage_and_sees_new_changes_on_the_next_call(published, dataset):
    registry, url = published
    x, _ = dataset
    remote = Registry.open(url)
    model = remote.load("cancer", stage="production")
    assert model.predict(x[:2]).shape == (2,)
    registry.promote("cancer", "0.2.0", "production", push=True)
    assert Registry.open(url).stage_versions("cancer") == {"production": "0.2.0"}
    with pytest.raises(InvalidInputError, match="opened read-only"):
        remote.promote("cancer", "0.1.0", "staging")


def test_an_unreachable_url_says_what_to_check(tmp_path, run=None):
    from gitreg.errors import GitError

    with pytest.raises(GitError, match="check the URL and your access"):
        Registry.open(str(tmp_path / "nowhere.git"))


def test_search_compare_and_stats_read_a_remote_registry(published, tmp_path):
    _, url = published
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = Invoker(elsewhere)
    rows = json.loads(run("search", "metrics.accuracy >= 0.9", "--repo", url, "--json").output)
    assert [(r["name"], r["version"]) for r in rows] == [("cancer", "0.1.0")]
    assert "cancer@v0.2.0" in run("compare", "cancer#production", "cancer@0.2.0", "--repo", url).output
    assert json.loads(run("stats", "--repo", url, "--json").output)["versions"] == 2
