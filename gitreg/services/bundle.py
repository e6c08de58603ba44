"""``export`` and ``import``: versions carried to a registry with no network between the two.

Export writes one tar (:mod:`gitreg.domain.bundle`): a complete Git bundle of the versions' tags (their
deprecations, and with ``with_stages`` the stage branches, the versions they hold and GTO's stage tags),
the artifact bytes and a manifest with the sha256 of every member.

Import checks everything before it changes anything: the tar's members and checksums, the Git bundle, that
the two registries share one history, every version's card and its bytes against the md5 its commit's DVC
pointer records, that no tag exists here with other content and no line is reordered, and that each stage
branch only moves forward. Then bytes go into the DVC cache and every ref moves in one transaction; a
second import of the same bundle changes nothing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from gitreg.domain import bundle, refs, versioning
from gitreg.domain.bundle import BundledVersion, BundleError, Manifest
from gitreg.domain.config import Config
from gitreg.domain.pointer import Pointer
from gitreg.domain.stage_view import group_by_model
from gitreg.domain.version import ModelVersion
from gitreg.errors import ConflictError, InvalidInputError
from gitreg.io import archive, artifact_store, dvc_layout, faults
from gitreg.io.git import Git, TreeEdit
from gitreg.services import history, index, retrieve
from gitreg.services.snapshot import Snapshot


@dataclass(frozen=True)
class ExportResult:
    path: Path
    versions: list[str]  # tags
    refs: list[str]
    size: int

    def to_dict(self) -> dict:
        return {"path": str(self.path), "versions": self.versions, "refs": self.refs, "bytes": self.size}


@dataclass(frozen=True)
class ImportResult:
    created: list[str] = field(default_factory=list)  # refs created or moved
    present: list[str] = field(default_factory=list)  # refs already here, identical
    objects: int = 0  # artifact files added to the DVC cache
    pushed: bool = False

    def to_dict(self) -> dict:
        return {"created": self.created, "present": self.present, "objects": self.objects, "pushed": self.pushed}


# ------------------------------------------------------------------------------------ export
def export(git: Git, dvc_root: Path, snapshot: Snapshot, versions: list[ModelVersion], output: Path,
           with_stages: bool) -> ExportResult:
    if output.exists() or output.is_symlink():
        raise ConflictError(f"{output} already exists: remove it or choose another -o path")
    if not output.parent.is_dir():
        raise InvalidInputError(f"{output.parent} is not a folder: create it or choose another -o path")
    if with_stages:
        versions = _with_stage_versions(git, snapshot, versions)
    bundled_refs = _refs_to_export(git, snapshot, versions, with_stages)
    branch, _ = git.head()
    if branch:  # the history a registry started from the bundle (`import --init`) checks out
        bundled_refs[branch] = git.ref_oid(branch)
    store = artifact_store.load()
    members, bundled = {}, []
    for version in versions:
        pointer = retrieve.pointer(git, version)
        path = store.materialize(dvc_root, pointer)  # fetched from the DVC remote when the cache lacks it
        objects = _objects(path, pointer)
        members.update({bundle.object_member(md5): file for md5, file in objects.items()})
        bundled.append(BundledVersion(version.name, version.version, version.tag, version.commit, tuple(objects)))
    with tempfile.TemporaryDirectory(prefix="gitreg-export-", dir=output.parent) as work:
        git_bundle = Path(work) / bundle.GIT_BUNDLE
        git.write_bundle(str(git_bundle), sorted(bundled_refs), [])
        members[bundle.GIT_BUNDLE] = git_bundle
        manifest = Manifest(tuple(sorted(git.root_commits(sorted(bundled_refs.values())))), bundled_refs,
                            tuple(bundled), {name: archive.sha256(path) for name, path in sorted(members.items())},
                            branch)
        (Path(work) / bundle.MANIFEST).write_bytes(manifest.to_json())
        archive.write(output, [(bundle.MANIFEST, Path(work) / bundle.MANIFEST), *sorted(members.items())])
    return ExportResult(output, [v.tag for v in bundled], sorted(bundled_refs), output.stat().st_size)


def _refs_to_export(git: Git, snapshot: Snapshot, versions: list[ModelVersion], with_stages: bool) -> dict[str, str]:
    """The refs of ``versions`` (with ``with_stages`` already holding every version the stages installed)."""
    wanted = {v.tag for v in versions}
    names = {v.name for v in versions}
    deprecated = {d.tag for key, d in snapshot.deprecations.items() if refs.format_version_tag(*key) in wanted}
    values = git.ref_values()
    chosen = {f"{refs.TAGS_PREFIX}{tag}" for tag in wanted | deprecated}
    if with_stages:
        chosen |= {f"refs/heads/{stage.branch}" for stage in snapshot.config.stages}
        chosen |= {ref for ref in values if ref.startswith(refs.TAGS_PREFIX)
                   and (parsed := refs.parse_assignment_tag(ref.removeprefix(refs.TAGS_PREFIX)))
                   and parsed.name in names}
    return {ref: values[ref] for ref in chosen if ref in values}


def _with_stage_versions(git: Git, snapshot: Snapshot, versions: list[ModelVersion]) -> list[ModelVersion]:
    """``versions`` and every version a stage branch's history installed: the branches travel whole, and
    the importing side judges each of their commits as the server would."""
    found = {v.tag: v for v in versions}
    registered = group_by_model(list(snapshot.versions))
    for stage in snapshot.config.stages:
        tip = snapshot.stage_views[stage.name].tip
        for event in history.stage_events(git, tip, stage.name, registered)[0] if tip else ():
            for held in (event.version, event.from_version):
                if held is not None:
                    found.setdefault(held.tag, held)
    return sorted(found.values(), key=lambda v: (v.name, versioning.precedence(v.version)))


def _objects(path: Path, pointer: Pointer) -> dict[str, Path]:
    """``{md5: file}`` of an artifact in the cache: the file, or a folder's manifest and each of its files."""
    if not pointer.is_dir:
        return {pointer.md5: path}
    cache = path.parent.parent
    found = {pointer.md5: path}
    for entry in dvc_layout.manifest(path):
        found[entry["md5"]] = dvc_layout.object_path(cache, entry["md5"])
    return found


# ------------------------------------------------------------------------------------ import
def import_bundle(git: Git, dvc_root: Path, config: Config, source: Path) -> ImportResult:
    if not source.is_file():
        raise InvalidInputError(f"{source} is not a file: give the path of a bundle written by `gitreg export`")
    _drop_stale_work(Path(git.git_dir()))
    with tempfile.TemporaryDirectory(prefix=f"{WORK_PREFIX}{os.getpid()}-", dir=git.git_dir()) as work:
        folder = Path(work)
        manifest = _checked_members(source, folder)
        heads = git.unbundle(str(folder / bundle.GIT_BUNDLE))  # objects only: no ref moves yet
        if heads != manifest.refs:
            raise BundleError("the bundle's Git refs are not those its manifest names: it was tampered with; "
                              "ask for a new export")
        _same_history(git, manifest)
        versions = _bundled_versions(git, manifest)
        moves, present = _ref_moves(git, config, manifest, versions)
        _judge_as_the_server_would(git, moves)
        objects = _checked_bytes(git, folder, manifest, versions)
        added = _into_cache(dvc_root, objects)
        faults.point("import:bytes-cached")
        if moves:
            git.update_refs(moves)
    return ImportResult(sorted(moves), sorted(present), added)


WORK_PREFIX = "gitreg-import-"  # + pid: a folder whose importer died (kill -9) is removed by the next import


def _drop_stale_work(git_dir: Path) -> None:
    for folder in git_dir.glob(f"{WORK_PREFIX}*"):
        pid = folder.name.removeprefix(WORK_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_from(git_of: type[Git], source: Path, directory: Path) -> Path:
    """A new registry at ``directory`` from the bundle's history (``import --init``); the caller then imports
    the bundle into it. Its branch is one commit on the exporter's first commit holding the exporter's
    configuration and no model folders: the exporter's registration commits of versions the bundle does not
    carry stay out (``verify`` would name each as a registration nobody finished), and the shared first
    commit lets later bundles from the same registry in. Leaves nothing behind when the bundle is refused."""
    if not source.is_file():
        raise InvalidInputError(f"{source} is not a file: give the path of a bundle written by `gitreg export`")
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ConflictError(f"{directory} exists and is not empty: choose a new folder for the registry")
    with tempfile.TemporaryDirectory(prefix="gitreg-import-") as work:
        manifest = _checked_members(source, Path(work))
        if manifest.branch is None:
            raise BundleError("the bundle carries no branch to start a registry from: import it into a clone")
        branch = manifest.branch.removeprefix("refs/heads/")
        clone = git_of(Path(work)).clone_bundle(str(Path(work) / bundle.GIT_BUNDLE), directory, branch)
    tip = manifest.refs[manifest.branch]
    settings = clone.tree_of(clone.commit(tip, TreeEdit(remove=[refs.MODELS_DIR]), "settings", clone.identity()))
    start = clone.commit_tree(settings, [min(clone.root_commits([tip]))],
                              f"Start this registry from a gitreg bundle\n\nExported from {branch} at {tip}\n",
                              clone.identity())
    clone.update_ref(manifest.branch, start, tip, "gitreg: import --init")
    clone.check_out_head()
    return directory


def _checked_members(source: Path, folder: Path) -> Manifest:
    digests = archive.extract(source, folder)
    if bundle.MANIFEST not in digests:
        raise BundleError(f"{source} has no {bundle.MANIFEST}: it is not a bundle written by `gitreg export`")
    manifest = bundle.parse_manifest((folder / bundle.MANIFEST).read_bytes())
    digests.pop(bundle.MANIFEST)
    if set(digests) != set(manifest.members):
        missing, extra = set(manifest.members) - set(digests), set(digests) - set(manifest.members)
        raise BundleError(f"the bundle's members are not those its manifest lists (missing: "
                          f"{', '.join(sorted(missing)) or 'none'}; unlisted: {', '.join(sorted(extra)) or 'none'}): "
                          "it is damaged or was tampered with; ask for a new export")
    for name, digest in sorted(digests.items()):
        if digest != manifest.members[name]:
            raise BundleError(f"the bundle's {name} does not match its checksum (sha256 {digest[:12]}… != "
                              f"{manifest.members[name][:12]}…): it is damaged; copy it again")
    return manifest


def _same_history(git: Git, manifest: Manifest) -> None:
    ours = git.root_commits(["--all"])
    theirs = git.root_commits(sorted(set(manifest.refs.values())))
    if theirs != set(manifest.roots):
        raise BundleError("the bundle's history does not start where its manifest says: it was tampered with")
    if ours and not ours & theirs:
        raise ConflictError(
            "the bundle comes from a registry with another history (no common first commit): import it into a "
            "clone of that registry, or start one from the bundle with `gitreg import FILE --init DIR`")


def _bundled_versions(git: Git, manifest: Manifest) -> list[ModelVersion]:
    tags = {v.tag: v for v in manifest.versions}
    records = []
    for tag, bundled in tags.items():
        oid = manifest.refs.get(f"{refs.TAGS_PREFIX}{tag}")
        record = git.tag_object(tag, oid) if oid else None
        if record is None or record.commit != bundled.commit:
            raise BundleError(f"the bundle's manifest names {tag} on {bundled.commit[:8]}, its Git bundle does not: "
                              "it was tampered with; ask for a new export")
        records.append(record)
    versions, broken = index.versions_from(git, records)
    if broken:
        raise BundleError(f"the bundle's {broken[0].tag} is not a usable version ({broken[0].reason}): "
                          "ask for a new export")
    return versions


def _ref_moves(git: Git, config: Config, manifest: Manifest, versions: list[ModelVersion]):
    """``({ref: (new, old)}, [refs already here])``; refuses a tag here with other content, a reordered line
    and a stage branch that would not move forward."""
    here = git.ref_values()
    moves, present = {}, []
    strays = sorted(ref for ref in manifest.refs if not _carried(ref, config, manifest))
    if strays:
        raise BundleError(f"the bundle carries {', '.join(strays)}, which no gitreg export does: it was tampered "
                          "with; ask for a new export")
    listed = {f"{refs.TAGS_PREFIX}{v.tag}" for v in manifest.versions}
    bare = sorted(ref for ref in manifest.refs
                  if refs.parse_version_tag(ref.removeprefix(refs.TAGS_PREFIX) if ref.startswith(refs.TAGS_PREFIX) else "")
                  and ref not in listed)
    if bare:
        raise BundleError(f"the bundle carries {', '.join(bare)} without its bytes (the manifest does not list it): "
                          "a version never arrives without them; ask for a new export")
    for ref, oid in sorted(manifest.refs.items()):
        if here.get(ref) == oid:
            present.append(ref)
        elif ref.startswith(refs.TAGS_PREFIX):
            if ref in here:
                raise ConflictError(f"{ref.removeprefix(refs.TAGS_PREFIX)} exists here with other content: a "
                                    "tag never changes, so this bundle cannot be imported; nothing was changed")
            moves[ref] = (oid, None)
        elif ref.removeprefix("refs/heads/") in {s.branch for s in config.stages} and ref != manifest.branch:
            old = here.get(ref)
            if old and not git.is_ancestor(old, oid):
                raise ConflictError(f"{ref.removeprefix('refs/heads/')} here has changes the bundle's lacks: a stage "
                                    "only moves forward; import without --with-stages, or settle the stage first")
            moves[ref] = (oid, old)
    _check_order(git, [v for v in versions if f"{refs.TAGS_PREFIX}{v.tag}" in moves])
    return moves, present


def _carried(ref: str, config: Config, manifest: Manifest) -> bool:
    """The refs a bundle may bring: versions, their deprecations, GTO's stage tags, stage branches, and the
    exporter's branch (which only ``--init`` checks out)."""
    if ref.startswith(refs.TAGS_PREFIX):
        name = ref.removeprefix(refs.TAGS_PREFIX)
        return bool(refs.parse_version_tag(name) or refs.parse_deprecation_tag(name) or refs.is_gto_stage_tag(name))
    return ref == manifest.branch or ref in {stage.ref for stage in config.stages}


def _judge_as_the_server_would(git: Git, moves: dict[str, tuple[str, str | None]]) -> None:
    """Every ref the import would move, judged by the server's own rules (:func:`hook.check`), as if the bundle
    were pushed here: a hand-made version tag, a deprecation on the wrong commit, a stage commit installing
    what is not a registered version or a GTO tag that disagrees with the branch is refused before any change."""
    from gitreg.services import hook

    problems = hook.check(git, [hook.Update(old or hook.ZERO, new, ref) for ref, (new, old) in sorted(moves.items())])
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise BundleError(f"the bundle breaks the registry's rules: {problems[0]}{more}; nothing was imported, ask "
                          "for a new export")


def _check_order(git: Git, new: list[ModelVersion]) -> None:
    existing, _ = index.read_versions(git)
    known: dict[str, list[str]] = {}
    for version in existing:
        known.setdefault(version.name, []).append(version.version)
    for version in sorted(new, key=lambda v: (v.name, versioning.precedence(v.version))):
        problem = versioning.order_problem(version.version, known.get(version.name, []))
        if problem:
            raise ConflictError(f"{version.tag}: {problem}, and a line is never reordered; nothing was imported")
        known.setdefault(version.name, []).append(version.version)


def _checked_bytes(git: Git, folder: Path, manifest: Manifest, versions: list[ModelVersion]) -> dict[str, Path]:
    """``{md5: file}`` of every artifact byte, each checked against the md5 its version's commit records."""
    bundled = {v.tag: v for v in manifest.versions}
    found: dict[str, Path] = {}
    for version in versions:
        pointer = retrieve.pointer(git, version)
        files = {md5: folder / bundle.object_member(md5) for md5 in bundled[version.tag].objects}
        wanted = _wanted(pointer, files)
        for md5 in wanted:
            if md5 not in files or not files[md5].is_file():
                raise BundleError(f"the bundle lacks the bytes of {version.tag} ({md5}): ask for a new export")
            if _md5(files[md5]) != md5.removesuffix(".dir"):
                raise BundleError(f"the bundle's bytes of {version.tag} do not match the md5 its DVC pointer "
                                  f"records ({md5}): it was tampered with; nothing was imported")
            found[md5] = files[md5]
    return found


def _wanted(pointer: Pointer, files: dict[str, Path]) -> list[str]:
    if not pointer.is_dir:
        return [pointer.md5]
    listing = files.get(pointer.md5)
    if listing is None or not listing.is_file() or _md5(listing) != pointer.md5.removesuffix(".dir"):
        return [pointer.md5]  # reported as missing or tampered by the caller
    return [pointer.md5, *(entry["md5"] for entry in dvc_layout.manifest(listing))]


def _md5(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "md5").hexdigest()


def _into_cache(dvc_root: Path, objects: dict[str, Path]) -> int:
    """Checked bytes into the DVC cache (read-only, as DVC keeps them); returns how many were new."""
    cache = artifact_store.load().cache_dir(dvc_root)
    added = 0
    for md5, path in sorted(objects.items()):
        target = dvc_layout.object_path(cache, md5)
        if target.is_file() and _md5(target) == md5.removesuffix(".dir"):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.importing")
        shutil.copyfile(path, partial)
        os.chmod(partial, 0o444)
        os.replace(partial, target)
        added += 1
    return added
