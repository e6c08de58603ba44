"""Air-gapped transfer (issue 12, part 3): `gitreg export` writes one file, `gitreg import` in a registry with
no network to the first checks every member, card and byte before it changes anything, then creates the same
tags on the same commits. Real Git bundles, real DVC caches, two registries sharing nothing but the file."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from gitreg import Registry
from tests.conftest import Invoker, git, snapshot


@pytest.fixture
def site(tmp_path, new_registry, artifact, clock):
    """The exporting registry: m v0.1.0 (in production), v0.2.0 (deprecated), v0.3.0; f v0.1.0, a folder."""
    registry = new_registry(tmp_path / "hq", remote=tmp_path / "hq-store")
    for n in range(3):
        artifact.write_bytes(f"m{n}".encode() * 100)
        registry.register("m", artifact)
        clock.tick()
    folder = tmp_path / "bert"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "sub" / "weights.bin").write_bytes(b"\x00\x01" * 500)
    registry.register("f", folder)
    registry.promote("m", "0.1.0", "production")
    registry.deprecate("m@0.2.0", "mislabelled")
    return registry


def offline_clone(site: Registry, where: Path) -> Registry:
    """A clone of the site's first commit (made before any registration): none of its versions, stages or
    bytes, and no DVC remote to ask."""
    subprocess.run(["git", "clone", "-q", "--no-tags", str(site.root), str(where)], check=True)
    git(where, "reset", "-q", "--hard", git(where, "rev-list", "--max-parents=0", "HEAD").split()[0])
    for ref in git(where, "for-each-ref", "--format=%(refname)", "refs/remotes/").split():
        git(where, "update-ref", "-d", ref)
    git(where, "remote", "remove", "origin")
    shutil.rmtree(site.root.parent / "hq-store", ignore_errors=True)
    return Registry(where)


def exported(site: Registry, tmp_path: Path, *refs: str, stages: bool = False) -> Path:
    out = tmp_path / "models.bundle.tar"
    site.export(refs, out, with_stages=stages)
    return out


def test_versions_travel_with_their_ids_bytes_and_deprecations_and_a_second_import_changes_nothing(site, tmp_path):
    bundle = exported(site, tmp_path, "m@0.2.0", "m@0.3.0", "f")
    target = offline_clone(site, tmp_path / "clinic")
    run = Invoker(target.root)
    out = run("import", str(bundle)).stdout
    assert "Imported f@v0.1.0, m@v0.2.0, m@v0.2.0!, m@v0.3.0" in out
    for tag in ("m@v0.2.0", "m@v0.3.0", "f@v0.1.0", "m@v0.2.0!"):  # the same tag objects: the two registries agree
        assert git(target.root, "rev-parse", tag) == git(site.root, "rev-parse", tag)
    assert target.deprecations()[("m", "0.2.0")].reason == "mislabelled"
    assert target.verify(artifacts=True) == []
    target.get("m@0.3.0", tmp_path / "m.bin")  # from the DVC cache alone: the remote is gone
    assert (tmp_path / "m.bin").read_bytes() == b"m2" * 100
    target.get("f", tmp_path / "f-out")
    assert (tmp_path / "f-out" / "sub" / "weights.bin").read_bytes() == b"\x00\x01" * 500
    before = snapshot(target.root)
    again = json.loads(run("import", str(bundle), "--json").stdout)
    assert again["created"] == [] and "refs/tags/m@v0.3.0" in again["present"]
    assert snapshot(target.root) == before


def test_a_new_site_starts_from_a_bundle_with_its_stages_and_gto_agrees(site, tmp_path):
    bundle = exported(site, tmp_path, "m#production", stages=True)
    run = Invoker(tmp_path)
    assert "Started a registry in" in run("import", str(bundle), "--init", str(tmp_path / "site-b")).stdout
    target = Registry(tmp_path / "site-b")
    assert target.stage_versions("m") == {"production": "0.1.0"}
    assert [v.version for v in target.versions("m")] == ["0.1.0"]
    assert (target.root / ".gitreg.yaml").is_file() and not (target.root / "models").exists()
    refused = tmp_path / "site-c"
    bundle.write_bytes(bundle.read_bytes()[: bundle.stat().st_size // 2])
    run("import", str(bundle), "--init", str(refused), expect=13)
    assert not refused.exists()  # nothing left behind
    assert git(target.root, "remote").strip() == ""
    assert target.verify() == []
    from gto.api import show

    assert {row["version"]: [s["stage"] for s in row["stages"]] for row in show(str(target.root), "m", table=False)} \
        == {"v0.1.0": ["production"]}


def _rewrite(bundle: Path, change) -> None:
    """Rewrite the tar with ``change(name, data) -> [(name, data), ...]`` applied to every member."""
    members = []
    with tarfile.open(bundle) as tar:
        for info in tar:
            members += change(info.name, tar.extractfile(info).read())
    with tarfile.open(bundle, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _flip_object_byte(name, data):
    return [(name, bytes([data[0] ^ 1]) + data[1:] if name.startswith("objects/") else data)]


def _consistent_forgery(bundle: Path):
    """Bytes swapped and the manifest's checksums recomputed to match: only the pointer's md5 can tell."""
    import hashlib

    def change(name, data):
        if name.startswith("objects/") and not name.endswith(".dir"):
            data = b"evil" + data[4:]
        return [(name, data)]

    _rewrite(bundle, change)
    with tarfile.open(bundle) as tar:
        contents = {info.name: tar.extractfile(info).read() for info in tar}
    manifest = json.loads(contents["manifest.json"])
    manifest["members"] = {name: hashlib.sha256(contents[name]).hexdigest() for name in manifest["members"]}
    _rewrite(bundle, lambda name, data: [(name, json.dumps(manifest).encode() if name == "manifest.json" else data)])


@pytest.mark.parametrize("damage, message", [
    (lambda b: _rewrite(b, _flip_object_byte), "does not match its checksum"),
    (lambda b: b.write_bytes(b.read_bytes()[: len(b.read_bytes()) // 2]), "damaged or truncated"),
    (_consistent_forgery, "do not match the md5 its DVC pointer records"),
    (lambda b: _rewrite(b, lambda n, d: [(n, d), ("../escape", b"x")] if n == "manifest.json" else [(n, d)]),
     "which no gitreg bundle has"),
    (lambda b: _rewrite(b, lambda n, d: [] if n == "registry.bundle" else [(n, d)]), "missing: registry.bundle"),
    (lambda b: _rewrite(b, lambda n, d: [(n, d), ("objects/" + "0" * 32, b"extra")] if n == "manifest.json"
                        else [(n, d)]), "unlisted: objects/000"),
    (lambda b: b.write_bytes(b"not a tar at all"), "damaged or truncated"),
])
def test_a_damaged_or_tampered_bundle_is_refused_with_nothing_changed(site, tmp_path, damage, message):
    bundle = exported(site, tmp_path, "m@0.3.0", "f")
    damage(bundle)
    target = offline_clone(site, tmp_path / "clinic")
    before = snapshot(target.root)
    result = Invoker(target.root)("import", str(bundle), expect=13)
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert snapshot(target.root) == before


def test_a_symlink_member_is_refused(site, tmp_path):
    bundle = exported(site, tmp_path, "m@0.3.0")
    with tarfile.open(bundle, "a") as tar:
        info = tarfile.TarInfo("objects/" + "1" * 32)
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    target = offline_clone(site, tmp_path / "clinic")
    assert "is not a regular file" in Invoker(target.root)("import", str(bundle), expect=13).stderr


def test_conflicts_are_refused_with_nothing_changed(site, tmp_path, new_registry, artifact, clock):
    bundle = exported(site, tmp_path, "m#production", "m@0.3.0", stages=True)
    stranger = new_registry(tmp_path / "stranger")  # another history altogether
    before = snapshot(stranger.root)
    assert "another history" in Invoker(stranger.root)("import", str(bundle), expect=6).stderr
    assert snapshot(stranger.root) == before

    target = offline_clone(site, tmp_path / "clinic")  # a version of its own under a name the bundle brings
    artifact.write_bytes(b"local" * 100)
    for version in ("0.1.0", "0.3.0"):
        target.register("m", artifact, version=version)
        clock.tick()
    before = snapshot(target.root)
    assert "m@v0.1.0 exists here with other content" in Invoker(target.root)("import", str(bundle), expect=6).stderr
    assert snapshot(target.root) == before


def test_a_stage_never_moves_backwards_and_a_line_is_never_reordered(site, tmp_path, clock):
    old = exported(site, tmp_path, "m#production", stages=True)
    site.promote("m", "0.3.0", "production")
    newer = tmp_path / "newer.tar"
    site.export(["m#production"], newer, with_stages=True)
    target = offline_clone(site, tmp_path / "clinic")
    Invoker(target.root)("import", str(newer))
    before = snapshot(target.root)
    assert "a stage only moves forward" in Invoker(target.root)("import", str(old), expect=6).stderr
    assert snapshot(target.root) == before

    fresh = offline_clone(site, tmp_path / "clinic2")
    Invoker(fresh.root)("import", str(newer))  # v0.1.0 and v0.3.0 arrive
    lone = tmp_path / "lone.tar"
    site.export(["m@0.2.0"], lone)
    assert "is never reordered" in Invoker(fresh.root)("import", str(lone), expect=6).stderr


def test_an_import_killed_before_its_refs_move_leaves_them_and_the_rerun_finishes(site, tmp_path):
    bundle = exported(site, tmp_path, "m@0.3.0")
    target = offline_clone(site, tmp_path / "clinic")
    refs_before = snapshot(target.root)["refs"]
    env = {**os.environ, "GITREG_FAULT": "import:bytes-cached"}
    proc = subprocess.run([sys.executable, "-m", "gitreg", "import", str(bundle)], cwd=target.root, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    assert snapshot(target.root)["refs"] == refs_before
    assert list((target.root / ".git").glob("gitreg-import-*"))  # what the killed import left
    Invoker(target.root)("import", str(bundle))
    assert not list((target.root / ".git").glob("gitreg-import-*"))
    assert target.verify(artifacts=True) == []


def test_import_push_publishes_to_a_hooked_remote(site, tmp_path):
    bundle = exported(site, tmp_path, "m@0.3.0")
    bare = tmp_path / "clinic.git"
    target = offline_clone(site, tmp_path / "clinic")
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    from gitreg.services import hook

    hook.install(bare)
    (target.root / ".dvc" / "config.local").write_text(  # the clinic's own DVC remote, as `dvc remote add -l`
        f"[core]\n    remote = clinic\n['remote \"clinic\"']\n    url = {tmp_path / 'clinic-store'}\n")
    git(target.root, "remote", "add", "origin", str(bare))
    assert json.loads(Invoker(target.root)("import", str(bundle), "--push", "--json").stdout)["pushed"] is True
    assert "refs/tags/m@v0.3.0" in git(bare, "for-each-ref")
    md5 = target.show("m@0.3.0").card.artifact.md5
    assert (tmp_path / "clinic-store" / "files" / "md5" / md5[:2] / md5[2:]).is_file()


@pytest.mark.parametrize("args, code, message", [
    (["export", "-o", "x.tar"], 2, "Missing argument"),
    (["export", "nope", "-o", "x.tar"], 5, "no model named 'nope'"),
    (["export", "m@9.9.9", "-o", "x.tar"], 5, "m has no version 9.9.9"),
    (["export", "m", "-o", "missing-dir/x.tar"], 4, "is not a folder"),
    (["import", "absent.tar"], 4, "is not a file"),
])
def test_bad_transfer_input_changes_nothing(site, args, code, message):
    before = snapshot(site.root)
    result = Invoker(site.root)(*args, expect=code)
    assert message in result.output
    assert snapshot(site.root) == before


def forged(site: Registry, tmp_path: Path, extra_refs: list[str]) -> Path:
    """A bundle made by hand, checksums and all: m@v0.3.0 with its bytes, plus ``extra_refs`` from the site."""
    from gitreg.domain.bundle import BundledVersion, Manifest
    from gitreg.io import archive, artifact_store

    work = tmp_path / "forge"
    work.mkdir()
    good = site.show("m@0.3.0")
    md5 = good.card.artifact.md5
    cached = artifact_store.load().cache_dir(site.root) / md5[:2] / md5[2:]
    git(site.root, "bundle", "create", "-q", str(work / "registry.bundle"), "refs/tags/m@v0.3.0", *extra_refs)
    listing = git(site.root, "bundle", "list-heads", str(work / "registry.bundle"))
    heads = {ref: oid for oid, ref in (line.split() for line in listing.splitlines())}
    members = {"registry.bundle": work / "registry.bundle", f"objects/{md5}": cached}
    roots = tuple(sorted(git(site.root, "rev-list", "--max-parents=0", *heads.values()).split()))
    manifest = Manifest(roots, heads, (BundledVersion("m", "0.3.0", "m@v0.3.0", good.commit, (md5,)),),
                        {name: archive.sha256(path) for name, path in members.items()})
    (work / "manifest.json").write_bytes(manifest.to_json())
    out = tmp_path / "forged.tar"
    archive.write(out, [("manifest.json", work / "manifest.json"), *members.items()])
    return out


@pytest.mark.parametrize("make, ref, message", [
    (["tag", "release-notes", "m@v0.3.0^{commit}"], "refs/tags/release-notes", "which no gitreg export does"),
    (["tag", "-a", "-m", "hand-made", "m@v9.0.0", "m@v0.3.0^{commit}"], "refs/tags/m@v9.0.0", "without its bytes"),
    ([], "refs/tags/m@v0.1.0", "without its bytes"),  # a real version, but not its bytes
    (["tag", "-a", "-m", "wrong commit", "m@v0.3.0!", "m@v0.1.0^{commit}"], "refs/tags/m@v0.3.0!",
     "breaks the registry's rules"),
    (["tag", "m#production#9", "m@v0.3.0^{commit}"], "refs/tags/m#production#9", "breaks the registry's rules"),
])
def test_a_hand_made_bundle_is_judged_as_the_server_judges_a_push(site, tmp_path, make, ref, message):
    if make:
        git(site.root, *make)
    bundle = forged(site, tmp_path, [ref])
    target = offline_clone(site, tmp_path / "clinic")
    before = snapshot(target.root)
    result = Invoker(target.root)("import", str(bundle), expect=13)
    assert message in result.stderr
    assert snapshot(target.root) == before


def test_the_hand_made_bundle_without_extras_imports(site, tmp_path):
    """The control for the test above: what it refuses is the extra ref, not the way the bundle was made."""
    target = offline_clone(site, tmp_path / "clinic")
    Invoker(target.root)("import", str(forged(site, tmp_path, [])))
    assert [v.tag for v in target.versions()] == ["m@v0.3.0"] and target.verify(artifacts=True) == []
