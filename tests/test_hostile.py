"""Hostile content stays data: YAML and JSON with limits, a strict .gitreg.yaml, hex md5s, paths that
stay in their folder, finite numbers, regular files as artifacts, bounded search expressions and no
credentials in committed URLs. Each refusal is one line with its own exit code and changes nothing."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.domain import yamlio
from gitreg.domain.card import Card
from gitreg.domain.config import Config
from gitreg.domain.pointer import read_pointer
from gitreg.domain.version import tag_message
from gitreg.errors import (
    ArtifactError,
    CardError,
    InvalidInputError,
    UnsafeCardError,
    UnsafeContentError,
)
from tests.conftest import Invoker, git, snapshot
from tests.test_bad_input import fails, refused, refused_api

# 446 bytes that a YAML loader without limits expands to 9**9 strings (40 s and 4 GB before the fix).
ALIAS_BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(f"{b}: &{b} [{','.join(['*' + a] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi"))
    + "stages: [dev]\n"
)
MD5 = "0123456789abcdef0123456789abcdef"


def commit_file(root: Path, rel: str, text: str, message: str = "edit") -> None:
    (root / rel).write_text(text)
    git(root, "add", rel)
    git(root, "commit", "-qm", message)


def forge_version(registry: Registry, version: str, **artifact) -> Card:
    """A version made by hand, as an attacker with push access would: card, pointer and tag message
    agree with each other, and say what ``artifact`` says."""
    root = registry.root
    latest = Registry(root).show("m").card
    card = replace(latest, version=version, artifact=replace(latest.artifact, **artifact))
    model = root / "models" / "m"
    (model / "card.yaml").write_text(card.to_yaml())
    pointer = model / f"{latest.artifact.path}.dvc"
    pointer.write_text(pointer.read_text().replace(latest.artifact.md5, card.artifact.md5))
    git(root, "add", "models/m")
    git(root, "commit", "-qm", f"forged {version}")
    message = root.parent / "tag-message"
    message.write_text(tag_message(card))
    git(root, "tag", "-a", f"m@v{version}", "-F", str(message))
    return card


# ------------------------------------------------------------------------------------ YAML limits
def test_an_alias_bomb_is_refused_at_once():
    assert len(ALIAS_BOMB) < 460
    started = time.perf_counter()
    with pytest.raises(UnsafeContentError, match=r"^\.gitreg\.yaml is refused \(line 1\): YAML anchors and aliases"):
        yamlio.load(ALIAS_BOMB, ".gitreg.yaml")
    with pytest.raises(UnsafeContentError, match="anchors and aliases"):
        yamlio.load_roundtrip(ALIAS_BOMB, "dvc.yaml")
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("text, reason", [
    ("a: &x 1\nb: 2\n", "anchors and aliases"),  # an anchor alone is refused too: nothing to expand later
    ("a: 1\nb: *x\n", "anchors and aliases"),
    ("base: &base {k: 1}\nother:\n  <<: *base\n", "anchors and aliases"),
    ("[" * 65 + "]" * 65, "nests deeper than 64 levels"),
    ("".join("  " * i + f"k{i}:\n" for i in range(70)) + "  " * 70 + "x: 1\n", "nests deeper than 64 levels"),
    ("[" * 5000 + "]" * 5000, "nests deeper than 64 levels"),
    ("k: " + "x" * (1 << 20) + "\n", "more than the limit of 1,048,576"),
])
def test_yaml_over_the_limits_is_refused_naming_the_file(text, reason):
    for load in (yamlio.load, yamlio.load_roundtrip):
        with pytest.raises(UnsafeContentError, match=f"^card.yaml is refused.*{reason}.*try again$"):
            load(text, "card.yaml")


def test_yaml_within_the_limits_reads_as_before_with_yaml_1_2():
    assert yamlio.load("[" * 63 + "1" + "]" * 63, "x") is not None
    assert yamlio.load("a: yes\nb: on\nc: 1.5\nd: 0o10\ne: null\n", "x") == \
        {"a": "yes", "b": "on", "c": 1.5, "d": 8, "e": None}


@pytest.mark.parametrize("text, reason", [
    ('{"accuracy": NaN}', "NaN is not a number"),
    ('{"accuracy": Infinity}', "Infinity is not a number"),
    ('{"a": {"b": -Infinity}}', "-Infinity is not a number"),
    ('{"accuracy": 1e999}', "1e999 is too large to be a finite number"),
    ("[" * 65 + "]" * 65, "nests deeper than 64 levels"),
    ("[" * 100_000 + "]" * 100_000, "nests deeper than 64 levels"),
    ('{"k": "' + "x" * (1 << 20) + '"}', "more than the limit"),
])
def test_json_over_the_limits_is_refused(text, reason):
    with pytest.raises(UnsafeContentError, match=f"^m.json is refused: .*{reason}"):
        yamlio.load_json(text, "m.json")


def test_a_card_with_an_anchor_or_nan_is_a_card_error():
    card = "schema: 1\nname: &n m\n"
    with pytest.raises(UnsafeCardError, match="the card of m@v1.0.0 is refused .*anchors") as info:
        Card.from_yaml(card, "the card of m@v1.0.0")
    assert isinstance(info.value, CardError) and info.value.exit_code == 17  # listings skip that tag only
    with pytest.raises(UnsafeCardError, match="NaN is not a number"):
        Card.from_json('{"schema": 1, "metrics": {"a": NaN}}', "the index of m@v1.0.0")


# ------------------------------------------------------------------------------ through the CLI
@pytest.fixture
def registered(registry, artifact, clock):
    registry.register("m", artifact, version="1.0.0", metrics={"accuracy": 0.5})
    clock.tick()
    return registry


def test_an_alias_bomb_in_the_committed_config_fails_every_command_fast(registered, run):
    commit_file(registered.root, ".gitreg.yaml", ALIAS_BOMB)
    started = time.perf_counter()
    refused(run, "promote", "m", "1.0.0", "dev", code=17,
            match=r"\.gitreg\.yaml on the main branch is refused \(line 1\): YAML anchors and aliases")
    refused(run, "verify", code=17, match="anchors and aliases")
    assert time.perf_counter() - started < 5


def test_hostile_metrics_files_are_refused(registry, run, artifact, tmp_path):
    cases = [
        ("bomb.yaml", ALIAS_BOMB, 17, r"metrics file .*bomb\.yaml is refused \(line 1\): YAML anchors"),
        ("deep.yaml", "[" * 100 + "]" * 100, 17, "nests deeper than 64 levels"),
        ("nan.json", '{"accuracy": NaN}', 17, r"metrics file .*nan\.json is refused: NaN is not a number"),
        ("big.json", '{"accuracy": 1e400}', 17, "too large to be a finite number"),
        ("deep.json", '{"a": ' * 70 + "1" + "}" * 70, 17, "nests deeper than 64 levels"),
        ("huge.json", '{"notes": "' + "x" * (1 << 20) + '"}', 17, "more than the limit of 1,048,576"),
        ("nan.yaml", "accuracy: .nan\n", 4, r"metrics file .*nan\.yaml: metric accuracy is nan: record a finite"),
        ("inf.yaml", "loss: {val: -.inf}\n", 4, r"metric loss\.val is -inf"),
    ]
    for filename, text, code, match in cases:
        (tmp_path / filename).write_text(text)
        refused(run, "register", "m", str(artifact), "--metrics", str(tmp_path / filename), code=code, match=match)


def test_nan_and_infinite_metrics_and_params_are_refused(registry, run, artifact):
    for value in ("nan", "inf", "-inf", "infinity", "1e999"):
        refused(run, "register", "m", str(artifact), "--metric", f"accuracy={value}",
                code=4, match=r"metric accuracy is (nan|inf|-inf): record a finite number")
    refused_api(registry.root, InvalidInputError, "metric accuracy is nan",
                registry.register, "m", artifact, metrics={"accuracy": float("nan")})
    refused_api(registry.root, InvalidInputError, r"param grid\[1\] is inf",
                registry.register, "m", artifact, params={"grid": [1.0, float("inf")]})
    assert git(registry.root, "tag", "--list") == ""


# -------------------------------------------------------------------------------- strict config
@pytest.mark.parametrize("text, reason", [
    ("stage: [dev]\n", "unknown key 'stage' at the top level: did you mean 'stages'?"),
    ("stages: [dev]\noverride: [ada@example.com]\n", "unknown key 'override' at the top level: did you mean 'overrides'?"),
    ("stages: [dev]\nextra: 1\n", "the top level may only set schema, stages, metrics, overrides, ci, serialization, load, signing (found the unknown key 'extra')"),
    ("stages: [{name: production, gate: {requires: dev}}]\n", "unknown key 'gate' in stage production: did you mean 'gates'?"),
    ("stages: [{name: dev, brnch: stage/d}]\n", "unknown key 'brnch' in stage dev: did you mean 'branch'?"),
    ("stages: [{nmae: dev}]\n", "unknown key 'nmae' in a stage: did you mean 'name'?"),
    ("stages: [{name: dev, gates: {metric: {accuracy: '>= 0.9'}}}]\n", "unknown key 'metric' in the gates of dev: did you mean 'metrics'?"),
    ("stages: [{name: dev, gates: {no_regresion: [a]}}]\n", "unknown key 'no_regresion' in the gates of dev: did you mean 'no_regression'?"),
    ("stages: [{name: dev, gates: {require: dev}}]\n", "unknown key 'require' in the gates of dev: did you mean 'requires'?"),
    ("stages: [dev]\nci: {instal: gitreg-registry==0.1.0}\n", "unknown key 'instal' in ci: did you mean 'install'?"),
    ("stages: [{name: dev, gates: {metrics: {accuracy: '>= abc'}}}]\n", "the metric gate accuracy of dev: invalid gate '>= abc': 'abc' is not a number"),
    ("stages: [{name: dev, gates: {metrics: {accuracy: 'about 0.9'}}}]\n", "the metric gate accuracy of dev: invalid gate 'about 0.9'"),
    ("stages: [{name: dev, gates: {metrics: {accuracy: 0.9}}}]\n", "the metric gate 'accuracy' of dev must be a quoted condition"),
    ("stages: [{name: dev, gates: {metrics: {accuracy: '>= nan'}}}]\n", "compares with nan: use a finite number"),
    ("stages: [{name: dev, gates: {metrics: [accuracy]}}]\n", "the metric gates of dev must map metrics to conditions"),
    ("stages: [{name: dev, gates: {requires: [1]}}]\n", "requires must name one or more stages"),
    ("stages: [{name: dev, gates: {no_regression: {a: 1}}}]\n", "no_regression must name one or more metrics"),
    ("stages: [{name: dev, gates: [requires]}]\n", "the gates of dev must be a mapping"),
    ("stages: [dev]\nmetrics: {1: lower}\n", "'metrics' must map metric names to 'higher' or 'lower'"),
    ("stages: [dev]\novverrides: x\n", "unknown key 'ovverrides' at the top level: did you mean 'overrides'?"),
])
def test_the_config_is_validated_strictly_at_every_level(text, reason):
    with pytest.raises(InvalidInputError) as info:
        Config.parse(text)
    message = str(info.value)
    assert message.startswith(".gitreg.yaml on the main branch is invalid: ") and message.endswith("; fix it and commit")
    assert reason in message and "\n" not in message


def test_every_valid_key_is_still_read():
    config = Config.parse(
        "schema: 1\nstages:\n  - dev\n  - name: production\n    branch: stage/prod\n    gates:\n"
        "      requires: [dev]\n      metrics: {accuracy: '>= 0.9', loss: '< 0.3'}\n      no_regression: accuracy\n"
        "metrics: {loss: lower}\noverrides: [Ada <ada@example.com>]\nci: {install: gitreg-registry==0.1.0}\n")
    assert config.stage("production").gates["metrics"] == {"accuracy": ">= 0.9", "loss": "< 0.3"}
    assert (config.overrides, config.ci_install) == (("Ada <ada@example.com>",), "gitreg-registry==0.1.0")


def test_a_typo_never_silently_removes_a_gate(registered, run):
    """Before: `gate:` was ignored and a version with accuracy 0.5 went to production."""
    commit_file(registered.root, ".gitreg.yaml",
                "stages:\n  - name: dev\n  - name: production\n    gate:\n      metrics:\n        accuracy: '>= 0.99'\n")
    refused(run, "promote", "m", "1.0.0", "production", code=4,
            match=r"^error: \.gitreg\.yaml on the main branch is invalid: unknown key 'gate' in stage production: "
                  r"did you mean 'gates'\?; fix it and commit$")
    commit_file(registered.root, ".gitreg.yaml",
                "stages:\n  - name: production\n    gates:\n      metrics:\n        accuracy: '>= abc'\n")
    refused(run, "promote", "m", "1.0.0", "production", code=4, match="'abc' is not a number")
    assert git(registered.root, "branch", "--list", "stage/*") == ""


# ------------------------------------------------------------------------------- cards, pointers
def _card_data(**artifact) -> dict:
    return {"schema": 1, "name": "m", "version": "1.0.0", "created": "2026-01-01T00:00:00+00:00",
            "author": {"name": "Ada"}, "metrics": {"accuracy": 0.9},
            "artifact": {"path": "model.bin", "md5": MD5, "size": 10, "kind": "file", **artifact}}


@pytest.mark.parametrize("change, reason", [
    ({"md5": "cd../../../../victim"}, "artifact.md5 'cd../../../../victim' is not a DVC hash"),
    ({"md5": MD5.upper()}, "is not a DVC hash"),
    ({"md5": MD5 + "0"}, "is not a DVC hash"),
    ({"md5": 12}, "is not a DVC hash"),
    ({"path": "../outside"}, "artifact.path '../outside' is not a file name inside the model folder"),
    ({"path": "/etc/passwd"}, "is not a file name inside"),
    ({"path": "sub/model.bin"}, "is not a file name inside"),
    ({"path": ".."}, "is not a file name inside"),
    ({"path": ""}, "is not a file name inside"),
    ({"size": -1}, "artifact.size -1 is not a non-negative whole number"),
    ({"size": "10"}, "artifact.size '10' is not"),
    ({"size": True}, "artifact.size True is not"),
    ({"nfiles": 1.5}, "artifact.nfiles 1.5 is not"),
])
def test_card_hashes_paths_and_sizes_are_checked(change, reason):
    with pytest.raises(CardError, match=f"the card of m@v1.0.0 is not a valid gitreg card \\(.*{reason}"):
        Card.from_dict(_card_data(**change), "the card of m@v1.0.0")


def test_cards_refuse_unknown_keys_and_non_finite_numbers():
    assert Card.from_dict(_card_data(), "c").artifact.md5 == MD5
    assert Card.from_dict(_card_data(md5=MD5 + ".dir", path="model"), "c").artifact.md5.endswith(".dir")
    for data, reason in (
        ({**_card_data(), "gates": {}}, "unknown field 'gates'"),
        ({**_card_data(), "metrics": {"accuracy": float("nan")}}, "metrics accuracy is nan"),
        ({**_card_data(), "params": {"grid": {"c": [1, float("-inf")]}}}, r"params grid\.c\[1\] is -inf"),
    ):
        with pytest.raises(CardError, match=reason):
            Card.from_dict(data, "c")


@pytest.mark.parametrize("text, error, reason", [
    ("outs:\n- md5: cd../../../../victim\n  size: 3\n  path: model.bin\n", UnsafeContentError,
     "the md5 'cd../../../../victim' of models/m/model.bin.dvc is not a DVC hash"),
    (f"outs:\n- md5: {MD5}/../x\n  path: model.bin\n", UnsafeContentError, "is not a DVC hash"),
    (f"outs:\n- md5: {MD5}\n  size: -3\n  path: model.bin\n", ArtifactError, "is not a valid DVC pointer"),
    (f"outs:\n- md5: &a {MD5}\n  size: *a\n", UnsafeContentError, "anchors and aliases"),
])
def test_pointers_are_checked(text, error, reason):
    with pytest.raises(error, match=reason):
        read_pointer(text, "models/m/model.bin.dvc")


def test_a_hostile_card_md5_is_skipped_and_never_becomes_a_path(tmp_path, new_registry, artifact, clock):
    """Before: `push` copied .dvc/victim (any file of the clone) to the DVC remote's parent folder."""
    bare, store = tmp_path / "origin.git", tmp_path / "store"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    registry = new_registry(tmp_path / "registry", remote=store)
    git(registry.root, "remote", "add", "origin", str(bare))
    registry.register("m", artifact, version="1.0.0", push=True)
    (registry.root / ".dvc" / "victim").write_text("the clone's secret")
    clock.tick()
    forge_version(registry, "1.0.1", md5="cd../../../../victim")
    run = Invoker(registry.root)
    listed = run("list")
    assert "warning: skipped tag m@v1.0.1: the card of m@v1.0.1 is not a valid gitreg card (artifact.md5" \
        in listed.stderr and "1.0.0" in listed.stdout
    pushed = subprocess.run([sys.executable, "-m", "gitreg", "push"], cwd=registry.root, capture_output=True, text=True)
    assert "Traceback" not in pushed.stderr
    assert not (tmp_path / "victim").exists()
    assert not any("secret" in p.read_text(errors="replace") for p in store.rglob("*") if p.is_file())


def test_storage_and_cache_never_build_a_path_from_an_unchecked_md5(registry):
    from gitreg.io import dvc, dvc_layout

    for md5 in ("cd../../../../victim", "../" + MD5, MD5[:31], ""):
        with pytest.raises(UnsafeContentError, match="is not a DVC hash"):
            dvc.object_path(registry.root / ".dvc" / "cache", md5)
        with pytest.raises(UnsafeContentError, match="is not a DVC hash"):
            dvc_layout.push_to_directory_remote(registry.root, [md5])


# ------------------------------------------------------------------------------ folder manifests
@pytest.fixture
def folder_version(registry, tmp_path, clock):
    folder = tmp_path / "weights"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.bin").write_bytes(b"a" * 100)
    (folder / "sub" / "b.bin").write_bytes(b"b" * 100)
    registry.register("m", folder, version="1.0.0")
    clock.tick()
    return registry


def _hostile_manifest(registry: Registry, entries) -> str:
    """A folder manifest in the registry's real DVC cache, as the DVC remote could serve it; its md5."""
    cache = registry.root / ".dvc" / "cache" / "files" / "md5"
    data = json.dumps(entries, sort_keys=True).encode()
    md5 = hashlib.md5(data).hexdigest() + ".dir"
    (cache / md5[:2]).mkdir(exist_ok=True)
    (cache / md5[:2] / md5[2:]).write_bytes(data)
    return md5


@pytest.mark.parametrize("relpath", ["../../escaped.bin", "ABSOLUTE", "sub/../../../escaped.bin", ""])
def test_get_refuses_a_manifest_path_that_leaves_the_folder(folder_version, tmp_path, relpath):
    """Before: `get -o out/` wrote ../../escaped.bin next to out/."""
    registry = folder_version
    relpath = str(tmp_path / "escaped.bin") if relpath == "ABSOLUTE" else relpath
    real = registry.show("m").card.artifact.md5
    file_md5 = json.loads((registry.root / ".dvc/cache/files/md5" / real[:2] / real[2:]).read_text())[0]["md5"]
    md5 = _hostile_manifest(registry, [{"md5": file_md5, "relpath": "ok.bin"}, {"md5": file_md5, "relpath": relpath}])
    forge_version(registry, "1.0.1", md5=md5, nfiles=2)
    out = tmp_path / "out"
    out.mkdir()
    before = snapshot(registry.root)
    fails(Invoker(registry.root), "get", "m@1.0.1", "-o", str(out), code=17,
          match=r"the folder manifest .* names the path .* which leaves the folder: .* nothing was written")
    assert list(out.iterdir()) == [] and not (tmp_path / "escaped.bin").exists()
    assert snapshot(registry.root) == before


def test_a_manifest_entry_with_a_hostile_md5_is_refused(folder_version, tmp_path):
    registry = folder_version
    md5 = _hostile_manifest(registry, [{"md5": "cd../../../../victim", "relpath": "a.bin"}])
    forge_version(registry, "1.0.1", md5=md5)
    out = tmp_path / "out"
    fails(Invoker(registry.root), "get", "m@1.0.1", "-o", str(out), code=17, match="is not a DVC hash")
    md5 = _hostile_manifest(registry, [{"md5": MD5 + ".dir", "relpath": "a.bin"}])
    forge_version(registry, "1.0.2", md5=md5)
    fails(Invoker(registry.root), "get", "m@1.0.2", "-o", str(out), code=17, match="gives a.bin no file md5")
    assert not out.exists()


def test_copy_out_never_follows_a_link_out_of_the_destination(folder_version, tmp_path):
    from gitreg.io import dvc

    registry = folder_version
    found = registry.show("m")
    pointer = read_pointer((registry.root / "models/m/model.dvc").read_text())
    source = dvc.materialize(registry.root, pointer)
    destination, elsewhere = tmp_path / "dest", tmp_path / "elsewhere"
    destination.mkdir()
    elsewhere.mkdir()
    (destination / "sub").symlink_to(elsewhere)
    with pytest.raises(UnsafeContentError, match="would be written outside"):
        dvc.copy_out(source, pointer, destination)
    assert list(elsewhere.iterdir()) == [] and found.version == "1.0.0"


# ------------------------------------------------------------------------------ special artifacts
def test_special_files_are_refused_as_artifacts(registry, run, tmp_path):
    fifo = tmp_path / "model.fifo"
    os.mkfifo(fifo)
    refused(run, "register", "m", str(fifo), code=9, match=r"model\.fifo is not a regular file or folder \(a FIFO")
    refused(run, "register", "m", "/dev/null", code=9, match="/dev/null is not a regular file or folder")
    refused_api(registry.root, ArtifactError, "not a regular file", registry.register, "m", fifo)
    sock_path = Path(f"/tmp/gitreg-{os.getpid()}.sock")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        try:
            refused(run, "register", "m", str(sock_path), code=9, match="is not a regular file or folder")
        finally:
            sock_path.unlink()


def test_a_folder_artifact_may_hold_neither_links_out_nor_special_files(registry, run, tmp_path):
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"a" * 10)
    (tmp_path / "secret.txt").write_text("not part of the model")
    (folder / "leak.txt").symlink_to(tmp_path / "secret.txt")
    refused(run, "register", "m", str(folder), code=9, match=r"leak\.txt in the artifact folder links outside it")
    (folder / "leak.txt").unlink()
    (folder / "up").symlink_to(tmp_path)
    refused(run, "register", "m", str(folder), code=9, match="up in the artifact folder links outside it")
    (folder / "up").unlink()
    os.mkfifo(folder / "pipe")
    refused(run, "register", "m", str(folder), code=9, match="pipe in the artifact folder is not a regular file")
    (folder / "pipe").unlink()
    (folder / "alias.bin").symlink_to(folder / "a.bin")  # a link that stays inside is fine
    run("register", "m", str(folder))


# --------------------------------------------------------------------------------------- dvc.yaml
def test_a_dvc_yaml_whose_artifacts_are_no_mapping_is_a_clear_error(registry, run, artifact):
    for text, code, match in (("artifacts: [1, 2]\n", 4, r"the artifacts section of dvc\.yaml must map model "
                                                         r"names to entries, not '\[1, 2\]'"),
                              ("artifacts: 3\n", 4, "must map model names"),
                              ("x: &a 1\nartifacts: {}\n", 17, r"dvc\.yaml is refused \(line 1\): YAML anchors")):
        commit_file(registry.root, "dvc.yaml", text)
        refused(run, "register", "m", str(artifact), code=code, match=match)


# ------------------------------------------------------------------------------- search expressions
def test_deeply_nested_or_long_search_expressions_are_one_line_errors(registered, run):
    for expression, match in (
        ("(" * 5000 + "name == m" + ")" * 5000, "more than the limit of 10,000: shorten it"),
        ("(" * 4000 + "name == m" + ")" * 4000, "nests parentheses and 'not' deeper than 64 levels"),
        ("not " * 65 + "name == m", "deeper than 64 levels"),
        ("(not " * 40 + "name == m" + ")" * 40, "deeper than 64 levels"),
        ("name == m or " * 1000 + "name == m", "more than the limit of 10,000"),
    ):
        refused(run, "search", expression, code=17, match=match)
    assert "m" in run("search", "(" * 32 + "not " * 32 + "name == x" + ")" * 32).stdout


# ------------------------------------------------------------------------------ credentials in URLs
@pytest.mark.parametrize("args", [
    ("--remote", "s3://AKIAKEY:SECRETVALUE@bucket/registry"),
    ("--remote", "s3://AKIAKEY@bucket/registry"),
    ("--remote", "https://user:SECRETVALUE@dvc.example.com/store"),
    ("--remote", "s3://bucket/registry", "--endpoint-url", "http://user:SECRETVALUE@127.0.0.1:9000"),
])
def test_credentials_inside_urls_are_refused_before_anything_is_written(tmp_path, new_registry, clock, args):
    fresh = tmp_path / "fresh"
    fails(Invoker(tmp_path), "init", str(fresh), *args, code=4,
          match=r"URL holds credentials .*: give the URL without them and pass --access-key-id and "
                r"--secret-access-key \(kept in \.dvc/config\.local, never committed\)")
    assert not fresh.exists()
    existing = new_registry(tmp_path / "existing")
    refused(Invoker(existing.root), "init", ".", *args, code=4, match="URL holds credentials")
    assert "SECRETVALUE" not in (existing.root / ".dvc" / "config").read_text()


def test_credentials_given_as_options_stay_out_of_the_committed_config(tmp_path, clock):
    root = tmp_path / "reg"
    Invoker(tmp_path)("init", str(root), "--remote", "s3://bucket/registry", "--endpoint-url",
                      "http://127.0.0.1:9000", "--access-key-id", "AKIAKEY", "--secret-access-key", "SECRETVALUE")
    assert "SECRETVALUE" not in (root / ".dvc" / "config").read_text()
    assert "SECRETVALUE" not in git(root, "log", "-p", "--all")
    assert "SECRETVALUE" in (root / ".dvc" / "config.local").read_text()
    Invoker(tmp_path)("init", str(tmp_path / "ssh"), "--remote", "ssh://deploy@host/store")  # a user is no secret
