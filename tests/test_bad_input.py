"""Bad input to the core registry: every refusal is one line that says what to do, carries its own exit
code (gitreg/errors.py; 2 is Click's usage error) and leaves refs, index and working tree as they were."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.errors import (
    ArtifactError,
    CardError,
    ConflictError,
    IdentityError,
    InvalidInputError,
    NotARegistryError,
    NotFoundError,
)
from tests.conftest import Invoker, git, snapshot

BAD_NAMES = ["../x", "a/b", "-a", "a-", "a b", "a@b", "a#b", "", "a" * 101, "a..b", "a\n", "_a", "a.b"]


def fails(run: Invoker, *args: str, code: int, match: str) -> str:
    """Run a CLI command that must fail with exit ``code`` and one ``error:`` line matching ``match``."""
    result = run(*args, expect=code)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert re.search(match, lines[0]), lines[0]
    assert result.stdout == ""
    return lines[0]


def refused(run: Invoker, *args: str, code: int, match: str, root: Path | None = None) -> str:
    """:func:`fails`, and refs, HEAD, index and working tree are as they were."""
    root = root or run.root
    before = snapshot(root)
    line = fails(run, *args, code=code, match=match)
    assert snapshot(root) == before
    return line


def refused_api(root: Path, error: type, match: str, call, *args, **kwargs):
    before = snapshot(root)
    with pytest.raises(error, match=match) as info:
        call(*args, **kwargs)
    assert "\n" not in str(info.value)
    assert snapshot(root) == before
    return info.value


def tags(root: Path) -> list[str]:
    return git(root, "tag", "--list").split()


@pytest.fixture
def registered(registry, artifact, clock):
    """A registry holding ``m@v1.0.0`` (a file artifact)."""
    registry.register("m", artifact, version="1.0.0")
    clock.tick()
    return registry


# ------------------------------------------------------------------------------------- versions
def test_registering_an_existing_version_is_refused(registered, run, artifact):
    refused(run, "register", "m", str(artifact), "--version", "1.0.0",
            code=6, match=r"version 1\.0\.0 already exists and versions are immutable: register with a higher")
    refused(run, "register", "m", str(artifact), "--version", "v1.0.0", code=6, match="already exists")
    refused_api(registered.root, ConflictError, "versions are immutable",
                registered.register, "m", artifact, version="1.0.0")
    assert tags(registered.root) == ["m@v1.0.0"]


def test_an_explicit_version_not_greater_than_the_latest_is_refused(registered, run, artifact):
    for lower in ("0.9.0", "1.0.0-rc.1", "1.0.0+build.2"):
        refused(run, "register", "m", str(artifact), "--version", lower,
                code=6, match=r"is not greater than the latest version 1\.0\.0: pick a higher --version or use --bump")
    refused_api(registered.root, ConflictError, "not greater", registered.register, "m", artifact, version="0.1.0")


def test_invalid_semver_is_refused(registered, run, artifact):
    before = snapshot(registered.root)
    for version in ["1.0", "1.0.0.0", "01.0.0", "1.0.0-", "latest", "", "vv2.0.0", "2.0.0\n", "1.0.0 "]:
        fails(run, "register", "m", str(artifact), "--version", version,
              code=4, match=r"invalid version .*: use semantic versioning MAJOR\.MINOR\.PATCH")
        with pytest.raises(InvalidInputError, match="use semantic versioning"):
            registered.register("m", artifact, version=version)
    assert snapshot(registered.root) == before


def test_version_and_bump_together_are_refused(registered, run, artifact):
    refused(run, "register", "m", str(artifact), "--version", "2.0.0", "--bump", "patch",
            code=4, match="give either --version or --bump, not both")
    refused_api(registered.root, InvalidInputError, "not both",
                registered.register, "m", artifact, version="2.0.0", bump="patch")


def test_unknown_bump_is_a_usage_error(registered, run, artifact):
    before = snapshot(registered.root)
    result = run("register", "m", str(artifact), "--bump", "huge", expect=2)
    assert "'huge' is not one of" in result.stderr
    assert snapshot(registered.root) == before
    refused_api(registered.root, InvalidInputError, "invalid bump 'huge': use one of major, minor, patch, auto",
                registered.register, "m", artifact, bump="huge")


# ---------------------------------------------------------------------------------------- names
def test_names_outside_the_grammar_are_refused(registry, run, artifact):
    hint = r"invalid model name .*: use letters, digits, '-' and '_', starting and ending with a letter or digit"
    before = snapshot(registry.root)
    for name in BAD_NAMES:
        fails(run, "register", "--", name, str(artifact), code=4, match=hint)
        with pytest.raises(InvalidInputError, match=hint):
            registry.register(name, artifact)
        fails(run, "history", "--", name, code=4, match=hint)
        if "@" not in name and "#" not in name:  # else it reads as NAME@VERSION or NAME#STAGE
            fails(run, "show", "--", name, code=4, match=hint)
            fails(run, "get", "-o", str(artifact.parent / "out"), "--", name, code=4, match=hint)
            with pytest.raises(InvalidInputError, match=hint):
                registry.load(name)
    assert snapshot(registry.root) == before
    assert not (artifact.parent / "x").exists() and not (artifact.parent / "out").exists()


def test_the_longest_valid_name_registers(registry, artifact):
    assert registry.register("a" * 100, artifact).tag == "a" * 100 + "@v0.1.0"


# ------------------------------------------------------------------------------------ artifacts
def test_missing_artifact_path_is_refused(registry, run, tmp_path):
    refused(run, "register", "m", str(tmp_path / "nope.pkl"),
            code=9, match=r"artifact .*nope\.pkl does not exist: give the path of the model file or folder")
    refused_api(registry.root, ArtifactError, "does not exist", registry.register, "m", tmp_path / "nope.pkl")


def test_empty_file_is_refused(registry, run, tmp_path):
    empty = tmp_path / "empty.bin"
    empty.touch()
    refused(run, "register", "m", str(empty), code=9, match=r"empty\.bin is empty: save the model to it first")
    refused_api(registry.root, ArtifactError, "is empty", registry.register, "m", empty)


def test_empty_folder_is_refused(registry, run, tmp_path):
    folder = tmp_path / "weights"
    (folder / "sub" / "deeper").mkdir(parents=True)
    refused(run, "register", "m", str(folder),
            code=9, match=r"artifact folder .*weights holds no files: save the model into it first")
    refused_api(registry.root, ArtifactError, "holds no files", registry.register, "m", folder)


def test_a_dvc_pointer_as_artifact_is_refused(registered, run):
    pointer = registered.root / "models" / "m" / "model.bin.dvc"
    assert pointer.is_file()
    refused(run, "register", "m2", str(pointer),
            code=4, match=r"model\.bin\.dvc is a DVC pointer, not an artifact: give the path of the model itself")
    refused_api(registered.root, InvalidInputError, "is a DVC pointer", registered.register, "m2", pointer)


def test_a_folder_holding_the_registry_is_refused(registry, run, artifact):
    for folder in (".", str(registry.root), str(registry.root.parent)):
        refused(run, "register", "m", folder, code=4, match=r"holds the registry itself: give the path of the model")
    refused_api(registry.root, InvalidInputError, "holds the registry", registry.register, "m", registry.root)


# --------------------------------------------------------------------------------- not a registry
@pytest.fixture
def not_registries(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("hello\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "README").write_text("not a registry\n")
    git(repo, "add", "README")
    git(repo, "commit", "-q", "-m", "first")
    return plain, repo


def _plain_state(path: Path) -> dict:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


COMMANDS = [["register", "m", "ART"], ["list"], ["show", "m"], ["history", "m"], ["get", "m", "-o", "OUT"]]


def test_commands_outside_a_registry_are_refused(not_registries, artifact, tmp_path):
    plain, repo = not_registries
    before_plain, before_repo = _plain_state(plain), snapshot(repo)
    for command in COMMANDS:
        args = [str(artifact) if a == "ART" else str(tmp_path / "out.bin") if a == "OUT" else a for a in command]
        fails(Invoker(plain), *args,
              code=3, match=r"^error: /.*/plain is not inside a Git repository: run `gitreg init /.*/plain` to make it a registry$")
        fails(Invoker(repo), "-C", str(plain), *args, code=3, match=r"plain is not inside a Git repository")
        fails(Invoker(repo), *args,
              code=3, match=r"repo is a Git repository but not a gitreg registry: run `gitreg init .*repo`")
        fails(Invoker(plain), "-C", str(repo), *args, code=3, match="not a gitreg registry")
        fails(Invoker(repo), "-C", str(tmp_path / "missing"), *args,
              code=3, match=r"missing is not a directory: give the path of a gitreg registry$")
    assert _plain_state(plain) == before_plain and snapshot(repo) == before_repo
    assert not (tmp_path / "missing").exists() and not (tmp_path / "out.bin").exists()


def test_api_outside_a_registry(not_registries, tmp_path):
    plain, repo = not_registries
    with pytest.raises(NotARegistryError, match="not inside a Git repository: run `gitreg init"):
        Registry(plain)
    with pytest.raises(NotARegistryError, match="not a gitreg registry: run `gitreg init"):
        Registry(repo)
    with pytest.raises(NotARegistryError, match="is not a directory"):
        Registry(tmp_path / "missing")


# ------------------------------------------------------------------------------------ identity
def forget_identity(tmp_path: Path, monkeypatch) -> None:
    empty = tmp_path / "empty.gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    for var in ("EMAIL", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(var, raising=False)
    # Git would guess an address from the host name where it has a domain: insist on configuration.
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "user.useConfigOnly")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "true")


IDENTITY_HINT = r"Git does not know who you are: run `git config --global user.name"


def test_register_without_identity_is_refused(registered, run, artifact, tmp_path, monkeypatch):
    forget_identity(tmp_path, monkeypatch)
    refused(run, "register", "m", str(artifact), code=7, match=IDENTITY_HINT)
    refused_api(registered.root, IdentityError, IDENTITY_HINT, registered.register, "m", artifact)
    assert tags(registered.root) == ["m@v1.0.0"]


def test_init_without_identity_leaves_nothing_behind(tmp_path, clock, monkeypatch):
    forget_identity(tmp_path, monkeypatch)
    target = tmp_path / "new" / "registry"
    result = Invoker(tmp_path)("init", str(target), expect=7)
    assert re.fullmatch(f"error: {IDENTITY_HINT}.*\n", result.stderr)
    assert not (tmp_path / "new").exists()
    with pytest.raises(IdentityError, match=IDENTITY_HINT):
        Registry.init(target)
    assert not (tmp_path / "new").exists()

    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "data.csv").write_text("a,b\n")
    Invoker(tmp_path)("init", str(existing), expect=7)
    assert [p.name for p in existing.iterdir()] == ["data.csv"]


# ----------------------------------------------------------------------------- broken cards
def _commit_by_hand(root: Path, files: dict[str, str], message: str) -> str:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git(root, "add", *files)
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


def _tag_by_hand(root: Path, tag: str, message: str, rev: str = "HEAD") -> None:
    git(root, "tag", "-a", tag, "-m", message, rev)


def test_a_hand_broken_card_fails_show_but_not_list_or_history(registered, run, clock):
    root = registered.root
    _commit_by_hand(root, {"models/m/card.yaml": "schema: 1\nname: m\nversion: [9.0.0\n"}, "break the card")
    _tag_by_hand(root, "m@v9.0.0", "Made by another tool")
    refused(run, "show", "m@9.0.0", code=8, match=r"m@v9\.0\.0.*card.*not valid YAML.*: ")
    refused(run, "show", "m@v9.0.0", code=8, match=r"m@v9\.0\.0")
    refused_api(root, CardError, r"m@v9\.0\.0", registered.show, "m@9.0.0")

    before = snapshot(root)
    listed = run("list")
    assert re.search(r"^m\s+1\.0\.0\s+1\b", listed.stdout, re.M)
    assert re.fullmatch(r"warning: skipped tag m@v9\.0\.0: .*not valid YAML.*\n", listed.stderr)
    history = run("history", "m", "--json")
    assert [v["version"] for v in json.loads(history.stdout)] == ["1.0.0"]
    assert "warning: skipped tag m@v9.0.0" in history.stderr
    assert json.loads(run("show", "m", "--json").stdout)["version"] == "1.0.0"
    assert snapshot(root) == before


def test_a_card_missing_fields_or_missing_altogether(registered, run, clock):
    root = registered.root
    _commit_by_hand(root, {"models/m/card.yaml": "schema: 1\nname: m\nversion: 8.0.0\ncreated: today\n"}, "x")
    _tag_by_hand(root, "m@v8.0.0", "Another tool")
    refused(run, "show", "m@8.0.0", code=8, match=r"not a valid gitreg card \(missing field 'artifact'\)")
    git(root, "rm", "-q", "models/m/card.yaml")
    git(root, "commit", "-q", "-m", "no card")
    _tag_by_hand(root, "m@v8.1.0", "Another tool")
    refused(run, "show", "m@8.1.0", code=8, match=r"m@v8\.1\.0.*no card\.yaml")
    assert "warning: skipped tag m@v8.1.0" in run("list").stderr


def test_a_tag_whose_index_names_another_version(registered, run, clock):
    root = registered.root
    index_line = git(root, "tag", "-l", "--format=%(contents)", "m@v1.0.0").strip().splitlines()[-1]
    assert index_line.startswith("{")
    _tag_by_hand(root, "m@v5.0.0", f"Register m v5.0.0\n\n{index_line}")
    _tag_by_hand(root, "other@v1.0.0", f"Register other v1.0.0\n\n{index_line}")
    refused(run, "show", "m@5.0.0", code=8, match=r"m@v5\.0\.0.*its card says m@v1\.0\.0")
    refused(run, "show", "other@1.0.0", code=8, match=r"other@v1\.0\.0.*its card says m@v1\.0\.0")
    listed = run("list", "--json")
    assert [m["name"] for m in json.loads(listed.stdout)] == ["m"]
    assert "skipped tag m@v5.0.0: its card says m@v1.0.0" in listed.stderr
    assert "skipped tag other@v1.0.0: its card says m@v1.0.0" in listed.stderr
    refused_api(root, CardError, "its card says", registered.show, "other")


def test_show_refuses_a_tree_card_that_disagrees_with_its_tag(registered, run, clock):
    root = registered.root
    index = json.loads(git(root, "tag", "-l", "--format=%(contents)", "m@v1.0.0").strip().splitlines()[-1])
    index["version"] = "7.0.0"  # the index is right, but the card in the tree still says 1.0.0
    _tag_by_hand(root, "m@v7.0.0", f"Register m v7.0.0\n\n{json.dumps(index)}")
    assert [v.version for v in registered.history("m")] == ["7.0.0", "1.0.0"]
    refused(run, "show", "m@7.0.0", code=8, match=r"card\.yaml at m@v7\.0\.0 says m@v1\.0\.0")


# ------------------------------------------------------------------------- metrics, params, lineage
def test_malformed_pairs_are_refused(registry, run, artifact):
    before = snapshot(registry.root)
    for option, value in [("--metric", "accuracy"), ("--metric", "=0.9"), ("--param", "C"), ("--param", " =1")]:
        what = option.lstrip("-")
        fails(run, "register", "m", str(artifact), option, value,
              code=4, match=rf"invalid {what} '{re.escape(value)}': write it as KEY=VALUE, e\.g\. \w+=0\.\d+")
    assert snapshot(registry.root) == before


METRICS_FILES = [
    ("missing.json", None, r"cannot read metrics file .*missing\.json: No such file"),
    ("bad.json", b"{accuracy: ", r"metrics file .*bad\.json is not valid json \(.*\): fix it"),
    ("list.json", b"[0.9, 0.8]", r"must hold a mapping of metric names to values"),
    ("bad.yaml", b"accuracy: [0.9\n", r"metrics file .*bad\.yaml is not valid yaml \(.*\): fix it"),
    ("scalar.yaml", b"0.93\n", r"must hold a mapping"),
    ("binary.json", b"\xff\xfe\x00\x9c{", r"cannot read metrics file .*binary\.json: it is not UTF-8 text"),
]


def test_invalid_metrics_files_are_refused(registry, run, artifact, tmp_path):
    before = snapshot(registry.root)
    for filename, content, match in METRICS_FILES:
        path = tmp_path / filename
        if content is not None:
            path.write_bytes(content)
        fails(run, "register", "m", str(artifact), "--metrics", str(path), code=4, match=match)
    assert snapshot(registry.root) == before
    # A folder is refused by Click before gitreg runs: its usage error, exit 2.
    result = run("register", "m", str(artifact), "--metrics", str(tmp_path), expect=2)
    assert "is a directory" in result.stderr
    assert snapshot(registry.root) == before


def test_data_not_tracked_by_dvc_is_refused(registry, run, artifact, tmp_path):
    (registry.root / "data").mkdir()
    (registry.root / "data" / "train.csv").write_text("x,y\n1,2\n")
    refused(run, "register", "m", str(artifact), "--data", "data/train.csv",
            code=4, match=r"data/train\.csv is not tracked by DVC: run `dvc add data/train\.csv`")
    refused(run, "register", "m", str(artifact), "--data", "data/nope.csv", code=4, match="not tracked by DVC")
    outside = tmp_path / "outside.csv"
    outside.write_text("x\n")
    refused(run, "register", "m", str(artifact), "--data", str(outside),
            code=4, match=r"data path .*outside\.csv is outside the registry")


def test_base_needs_a_registered_version(registered, run, artifact):
    refused(run, "register", "m2", str(artifact), "--base", "m",
            code=4, match=r"--base needs a version: write it as NAME@VERSION, not 'm'")
    refused(run, "register", "m2", str(artifact), "--base", "m@1.0", code=4, match="invalid version")
    refused(run, "register", "m2", str(artifact), "--base", "ghost@1.0.0",
            code=5, match=r"--base ghost@v1\.0\.0 is not a registered version: `gitreg history ghost` lists")
    refused(run, "register", "m2", str(artifact), "--base", "m@2.0.0", code=5, match="not a registered version")


def test_valid_data_and_base_are_recorded_in_the_lineage(registered, run, artifact):
    root = registered.root
    data = root / "data" / "train.csv"
    data.parent.mkdir()
    data.write_text("x,y\n1,2\n3,4\n")
    from dvc.repo import Repo

    with Repo(str(root)) as repo:  # what `dvc add data/train.csv` does
        repo.add([str(data)])
    import hashlib

    run("register", "tuned", str(artifact), "--data", "data/train.csv", "--data", str(data), "--base", "m@1.0.0")
    lineage = json.loads(run("show", "tuned", "--json").stdout)["card"]["lineage"]
    recorded = {"path": "data/train.csv", "md5": hashlib.md5(data.read_bytes()).hexdigest(),
                "size": data.stat().st_size}
    assert lineage["data"] == [recorded, recorded]
    assert lineage["base"] == {"name": "m", "version": "1.0.0"}
    assert lineage["commit"] == git(root, "rev-parse", "HEAD~1").strip()


# ------------------------------------------------------------------------- unknown models and versions
def test_unknown_model_or_version(registered, run, tmp_path):
    root = registered.root
    refused(run, "show", "ghost", code=5, match=r"no model named 'ghost': `gitreg list` shows the registered models")
    refused(run, "show", "m@9.9.9", code=5, match=r"m has no version 9\.9\.9: `gitreg history m` lists its versions")
    out = tmp_path / "out.bin"
    refused(run, "get", "ghost", "-o", str(out), code=5, match="no model named 'ghost'")
    refused(run, "get", "m@9.9.9", "-o", str(out), code=5, match="has no version 9.9.9")
    assert not out.exists()
    refused_api(root, NotFoundError, "no model named 'ghost'", registered.load, "ghost")
    refused_api(root, NotFoundError, r"has no version 9\.9\.9", registered.load, "m", "9.9.9")
    refused_api(root, InvalidInputError, "invalid version", registered.load, "m", "9.9")
    refused_api(root, ArtifactError, r"m@v1\.0\.0 is a file artifact of no format gitreg loads: use `gitreg get",
                registered.load, "m")

    before = snapshot(root)
    for args in (("history", "ghost"), ("history", "ghost", "--json"), ("log", "ghost")):
        assert "no model named 'ghost'" in run(*args, expect=5).stderr
    assert registered.history("ghost") == []
    assert snapshot(root) == before


def test_get_onto_an_existing_file_is_refused(registered, run, tmp_path):
    out = tmp_path / "out.bin"
    out.write_text("precious\n")
    refused(run, "get", "m", "-o", str(out), code=6, match=r"out\.bin already exists: remove it or choose another -o")
    assert out.read_text() == "precious\n"
    folder = tmp_path / "into"
    folder.mkdir()
    (folder / "model.bin").write_text("precious\n")
    refused(run, "get", "m", "-o", str(folder), code=6, match=r"into/model\.bin already exists")
    assert (folder / "model.bin").read_text() == "precious\n"


def test_get_creates_missing_parent_folders(registered, run, artifact, tmp_path):
    out = tmp_path / "a" / "b" / "model.bin"
    run("get", "m@1.0.0", "-o", str(out))
    assert out.read_bytes() == artifact.read_bytes()


# -------------------------------------------------------------------------------- missing bytes
def _drop_from_cache(registry: Registry, md5: str) -> None:
    (registry.root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]).unlink()


def test_artifact_missing_from_cache_without_remote(registered, run, tmp_path):
    found = registered.show("m")
    _drop_from_cache(registered, found.card.artifact.md5)
    out = tmp_path / "out.bin"
    refused(run, "get", "m", "-o", str(out), code=9,
            match=r"is not in the local DVC cache and no DVC remote is configured: run `gitreg init --remote")
    assert not out.exists()
    refused_api(registered.root, ArtifactError, "no DVC remote is configured", registered.get, "m", out)


@pytest.mark.parametrize("remote_exists", [True, False])
def test_artifact_missing_from_cache_and_remote(tmp_path, new_registry, clock, artifact, make_model, remote_exists):
    remote = tmp_path / "dvc-remote"
    registry = new_registry(tmp_path / "reg", remote=remote)
    if remote_exists:
        remote.mkdir()
    found = registry.register("m", artifact)
    joblib_model = registry.register("j", make_model())
    _drop_from_cache(registry, found.card.artifact.md5)
    _drop_from_cache(registry, joblib_model.card.artifact.md5)
    out = tmp_path / "out.bin"
    hint = r"is in neither the local DVC cache nor the remote: run `dvc push` on the machine that registered it"
    refused(Invoker(registry.root), "get", "m", "-o", str(out), code=9, match=hint)
    assert not out.exists()
    refused_api(registry.root, ArtifactError, hint, registry.load, "j")


def test_the_remote_is_where_init_was_told(tmp_path, clock, artifact, monkeypatch):
    """A relative --remote is relative to where gitreg ran, and DVC finds it from any working directory."""
    Invoker(tmp_path)("init", "reg", "--remote", "store")
    registry = Registry(tmp_path / "reg")
    found = registry.register("m", artifact)
    from gitreg.io import dvc

    monkeypatch.chdir(registry.root / "models")
    dvc.push(registry.root)
    md5 = found.card.artifact.md5
    assert (tmp_path / "store" / "files" / "md5" / md5[:2] / md5[2:]).is_file()
    before = snapshot(registry.root)
    assert Invoker(tmp_path)("init", "reg", "--remote", str(tmp_path / "store")).stdout.startswith("Already")
    assert snapshot(registry.root) == before


def test_register_refuses_to_discard_uncommitted_edits_in_the_model_folder(registry, artifact, run):
    registry.register("m", artifact)
    notes = registry.root / "models" / "m" / "NOTES.md"
    notes.write_text("my notes\n")
    before = snapshot(registry.root)
    error = run("register", "m", str(artifact), expect=6).stderr
    assert "models/m/ has uncommitted changes (models/m/NOTES.md)" in error and "commit, move or delete" in error
    assert snapshot(registry.root) == before
    inside = registry.root / "models" / "m" / "new.bin"
    notes.unlink()
    inside.write_bytes(b"saved straight into the model folder" * 10)
    assert registry.register("m", inside).version == "0.2.0"  # the source itself is no local edit


def test_broken_or_unsafe_configuration_is_one_clear_line(registry, artifact, run):
    registry.register("m", artifact)
    for text, reason in (
        ("stages:\n  - name: dev\n   - x\n", "it is not valid YAML (line 3: expected <block end>"),
        ("stages: []\n", "'stages' must be a non-empty list"),
        ("stages: [dev, dev]\n", "two stages share the name 'dev'"),
        ("stages: [{name: dev, branch: main}]\n", "stage dev cannot use the branch 'main'"),
        ("stages: [{name: prod, gates: {requires: qa}}]\n", "the gates of prod require the unknown stage 'qa'"),
        ("stages: [{name: prod, gates: {thresholds: 1}}]\n", "the gates of prod may only set"),
        ("stages: [dev]\nmetrics: {accuracy: sideways}\n", "'metrics' must map metric names to 'higher' or 'lower'"),
    ):
        (registry.root / ".gitreg.yaml").write_text(text)
        git(registry.root, "commit", "-qam", "edit config")
        error = run("promote", "m", "0.1.0", "dev", expect=4).stderr
        assert error.count("\n") == 1 and reason in error and error.rstrip().endswith("fix it and commit"), error


def test_a_stage_on_the_checked_out_branch_is_refused(registry, artifact, run):
    registry.register("m", artifact)
    (registry.root / ".gitreg.yaml").write_text("stages: [{name: dev, branch: stage/dev}]\n")
    git(registry.root, "commit", "-qam", "config")
    git(registry.root, "checkout", "-q", "-b", "stage/dev")
    before = snapshot(registry.root)
    assert "uses stage/dev, which is checked out here" in run("promote", "m", "0.1.0", "dev", expect=4).stderr
    assert snapshot(registry.root) == before


def test_a_metric_must_be_a_number(registry, artifact, run, tmp_path):
    before = snapshot(registry.root)
    error = run("register", "m", str(artifact), "--metric", "accuracy=high", expect=4).stderr
    assert "metric accuracy must be a number, not 'high': record text with --param accuracy=..." in error
    metrics = tmp_path / "metrics.json"
    metrics.write_text('{"accuracy": 0.9, "notes": "fine"}')
    assert "metric notes must be a number" in run("register", "m", str(artifact), "--metrics", str(metrics),
                                                  expect=4).stderr
    assert snapshot(registry.root) == before
