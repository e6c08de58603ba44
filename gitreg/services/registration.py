"""``register``: plan a new version with no side effect, then apply it in one reversible step.

Apply order: artifact into DVC's cache, card and pointer into the working tree, a commit built on a
private index (only ``models/<name>/`` and ``dvc.yaml``), HEAD moved by compare-and-swap, then the
annotated tag. Any failure puts the working tree, the index and the refs back as they were.
"""

from __future__ import annotations

import shutil
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from gitreg.domain import dvcyaml, formats, refs, versioning
from gitreg.domain.card import CARD_FILE, Artifact, Card, check_finite
from gitreg.domain.pointer import Pointer, read_pointer
from gitreg.domain.version import ModelVersion, tag_message
from gitreg.errors import ArtifactError, ConflictError, InvalidInputError, NotFoundError
from gitreg.io import artifact_store, dvc_layout, faults, journal, progress, skops_file
from gitreg.io.git import Git, Identity, TreeEdit
from gitreg.services import artifact_info, provenance

JOBLIB_FILE = "model.joblib"
SKOPS_FILE = "model.skops"
# Every registration commit carries a fresh id: two registrations of the same file by the same
# identity in the same second would otherwise be the same commit and tag objects, and collapse.
REGISTRATION_TRAILER = "Gitreg-Registration"
COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip")


@dataclass(frozen=True)
class Source:
    """The artifact: a Python object to save (with skops, or joblib when the registry says so), or a file
    or folder taken as it is (its format told by ``fmt`` or its name)."""

    obj: Any = None
    path: Path | None = None
    serialization: str = "skops"
    fmt: str | None = None

    @property
    def filename(self) -> str:
        """A stable name across versions (``model.joblib``, ``model.pt``, ``model/``), so that the
        dvc.yaml path and every diff between versions stay readable."""
        if self.path is None:
            return SKOPS_FILE if self.serialization == "skops" else JOBLIB_FILE
        if self.path.is_dir():
            return "model"
        suffixes = self.path.suffixes[-2:] if self.path.suffix in COMPRESSED else self.path.suffixes[-1:]
        return "model" + "".join(suffixes)

    @property
    def size(self) -> int:
        """Bytes of a file or folder (0 for an object, known once it is saved)."""
        if self.path is None:
            return 0
        if self.path.is_file():
            return self.path.stat().st_size
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())

    @property
    def kind(self) -> str:
        if self.path is None:
            return self.serialization
        return "directory" if self.path.is_dir() else "file"

    @property
    def format(self) -> str:
        if self.path is None:
            return self.serialization
        if self.fmt and self.path.is_dir() != (self.fmt == "directory"):
            raise InvalidInputError(f"--format {self.fmt} does not fit {self.path}, which is "
                                    f"{'a folder' if self.path.is_dir() else 'a file'}")
        return self.fmt or formats.from_name(self.path.name, self.path.is_dir(), _head(self.path))


def _head(path: Path) -> bytes:
    if not path.is_file():
        return b""
    with open(path, "rb") as handle:
        return handle.read(16)


@dataclass(frozen=True)
class RegisterRequest:
    name: str
    source: Source
    version: str | None = None
    bump: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    description: str = ""
    data: tuple[str, ...] = ()
    base: str | None = None
    allow_dirty_data: bool = False  # record a DVC input whose workspace differs from its pointer as dirty
    code_repo: str | None = None  # where the training code came from (default: this repository)
    code_commit: str | None = None
    line: str | None = None  # a maintenance line, MAJOR.MINOR or MAJOR: --bump within it
    origin: dict[str, Any] = field(default_factory=dict)  # where it came from, e.g. {"mlflow": {...}}
    signature: dict[str, Any] | None = None  # given (--signature FILE.json): nothing is read from the artifact
    input_example: Any = None  # a few rows (DataFrame or 2-D array): input dtypes, outputs, the stored example


@dataclass(frozen=True)
class RegisterPlan:
    name: str
    version: str
    tag: str
    card: Card  # its artifact hash is filled in when the bytes are stored
    source: Source
    head_ref: str
    parent: str
    identity: Identity

    @property
    def model_dir(self) -> str:
        return refs.model_dir(self.name)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "tag": self.tag,
                "parent": self.parent, "card": self.card.to_dict()}


def source_from(model_or_path: Any, serialization: str = "skops", fmt: str | None = None) -> Source:
    if fmt is not None:
        formats.check(fmt)
    if isinstance(model_or_path, (str, Path)):
        path = Path(model_or_path)
        _check_artifact_path(path)
        return Source(path=path.resolve(), fmt=fmt)
    if model_or_path is None:
        raise InvalidInputError("nothing to register: pass a model object or the path of a file or folder")
    if fmt is not None:
        raise InvalidInputError("format= is for a file or folder; an object is saved as .gitreg.yaml's serialization says")
    return Source(obj=model_or_path, serialization=serialization)


def _check_artifact_path(path: Path) -> None:
    if not path.exists():
        raise ArtifactError(f"artifact {path} does not exist: give the path of the model file or folder")
    if not path.is_file() and not path.is_dir():
        raise ArtifactError(f"artifact {path} is not a regular file or folder (a FIFO, socket or device): "
                            "give the path of the saved model")
    if path.is_file() and path.stat().st_size == 0:
        raise ArtifactError(f"artifact {path} is empty: save the model to it first")
    if path.is_dir():
        _check_folder(path)
    if path.name.endswith(".dvc"):
        raise InvalidInputError(f"{path} is a DVC pointer, not an artifact: give the path of the model itself")


def _check_folder(folder: Path) -> None:
    """What a folder artifact stores: regular files inside it (a link out of it would publish whatever
    it points at; a FIFO would block the copy forever)."""
    top, has_files = folder.resolve(), False
    for path in folder.rglob("*"):
        if path.is_symlink() and not path.resolve().is_relative_to(top):
            raise ArtifactError(f"{path} in the artifact folder links outside it (to {path.resolve()}): "
                                "copy the file into the folder instead")
        if not path.is_file() and not path.is_dir():
            raise ArtifactError(f"{path} in the artifact folder is not a regular file (a FIFO, socket or device): "
                                "remove it from the folder")
        has_files = has_files or path.is_file()
    if not has_files:
        raise ArtifactError(f"artifact folder {folder} holds no files: save the model into it first")


# ---------------------------------------------------------------------------------------- plan
def plan(git: Git, request: RegisterRequest, existing: list[ModelVersion]) -> RegisterPlan:
    name = refs.check_name(request.name)
    identity = git.identity()
    head_ref, parent = git.head()
    if parent is None:
        raise InvalidInputError("the registry has no commit yet: run `gitreg init` first")
    if request.source.path is not None and git.root.resolve().is_relative_to(request.source.path):
        raise InvalidInputError(
            f"{request.source.path} holds the registry itself: give the path of the model file or folder"
        )
    _refuse_registry_folders(git, request.source.path)
    _refuse_local_edits(git, refs.model_dir(name), request.source)
    described = artifact_info.describe(request.source.obj, request.source.path, request.source.format,
                                       request.signature, request.input_example)
    signature = described.signature
    previous = existing[-1].card if existing else None
    version = versioning.next_version(
        [v.version for v in existing],
        request.version,
        request.bump,
        versioning.signature_incompatible(previous.signature if previous else None, signature),
        request.line,
    )
    card = Card(
        name=name,
        version=version,
        created=_iso(identity),
        author={"name": identity.name, "email": identity.email},
        artifact=Artifact(path=request.source.filename, md5="", size=request.source.size, kind=request.source.kind,
                          format=described.format, types=described.types),
        description=request.description,
        labels=_labels(request.labels),
        metrics=_numeric(request.metrics),
        params=_finite(request.params, "param"),
        lineage=_lineage(git, request, parent),
        environment=provenance.environment(needs=_modules_needed(request.source, described)),
        signature=signature,
    )
    return RegisterPlan(name, version, refs.format_version_tag(name, version), card,
                        request.source, head_ref or "HEAD", parent, identity)


def _modules_needed(source: Source, described) -> tuple[str, ...]:
    """The modules the model's types come from: a skops file's recorded types, an object's own class, and
    the library of its format (onnxruntime, torch, ...); never found by loading a file."""
    from gitreg.domain import formats

    modules = [name.rsplit(".", 1)[0] for name in described.types]
    if source.obj is not None:
        modules.append(type(source.obj).__module__)
    package = formats.FORMATS[described.format].package if described.format in formats.FORMATS else None
    return tuple(sorted({m for m in modules + ([package] if package else []) if m and m != "builtins"}))


def _refuse_registry_folders(git: Git, source: Path | None) -> None:
    """The registry's own folders are no model: copying ``models/`` into ``models/<name>/`` never ends,
    and ``.git`` or ``.dvc`` would publish the repository's internals (a file already inside
    ``models/<name>/`` is fine: it is moved aside before the copy)."""
    if source is None:
        return
    root, source = git.root.resolve(), source.resolve()
    if (root / refs.MODELS_DIR).is_relative_to(source):
        raise InvalidInputError(f"{source} holds the registry's {refs.MODELS_DIR}/ folder, where versions are "
                                "written: give the path of the model file or folder")
    internal = {root / ".git", Path(git.git_dir()).resolve(), root / ".dvc"}
    inside = next((folder for folder in sorted(internal) if source.is_relative_to(folder)), None)
    if inside is not None:
        raise InvalidInputError(f"{source} lies inside the registry's {inside.name} folder, which is no model: "
                                "give the path of the model file or folder")


def _numeric(metrics: dict[str, Any]) -> dict[str, Any]:
    """Metrics are numbers (gates, search and compare compare them); text belongs in params."""
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidInputError(
                f"metric {key} must be a number, not {value!r}: record text with --param {key}=..."
            )
    return _finite(metrics, "metric")


def _labels(labels) -> list[str]:
    _plain_names(labels, "label")
    return list(dict.fromkeys(labels))


def _plain_names(names, what: str) -> None:
    """Names and labels are one line of printable text: they reach tables, trailers and search."""
    for name in names:
        if not isinstance(name, str) or not name.strip() or any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise InvalidInputError(f"{what} {name!r} must be a non-empty name on one line, without control characters")


def _finite(values: dict[str, Any], what: str) -> dict[str, Any]:
    """NaN and infinities are no JSON and compare with nothing (a gate would silently fail or pass)."""
    _plain_names(values, what)
    try:
        check_finite(values, what)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    return dict(values)


def _refuse_local_edits(git: Git, model_dir: str, source: Source) -> None:
    """models/<name>/ is replaced by a registration: never silently discard what the user put there."""
    changed = git.status_lines(model_dir)
    source_rel = _relative(git.root, source.path)
    edits = [line[3:] for line in changed if not (source_rel and line[3:].startswith(source_rel))]
    if edits:
        raise ConflictError(
            f"{model_dir}/ has uncommitted changes ({', '.join(edits[:3])}) that registering would discard: "
            "commit, move or delete them first"
        )


def _relative(root: Path, path: Path | None) -> str | None:
    if path is None or not path.resolve().is_relative_to(root.resolve()):
        return None
    return path.resolve().relative_to(root.resolve()).as_posix()


def _lineage(git: Git, request: RegisterRequest, parent: str) -> dict[str, Any]:
    from gitreg.services import lineage as inputs

    code = inputs.code(git, parent, request.code_repo, request.code_commit)
    dirty = code["dirty"] if code == {"commit": parent, "dirty": code["dirty"]} else git.is_dirty()
    lineage: dict[str, Any] = {"commit": parent, "dirty": dirty, "code": code}
    if request.data:
        lineage["data"] = inputs.data_inputs(git, request.data, request.allow_dirty_data)
    if request.base:
        base = refs.ModelRef.parse(request.base)
        if not base.version:
            raise InvalidInputError(f"--base needs a version: write it as NAME@VERSION, not {request.base!r}")
        base_tag = refs.format_version_tag(base.name, base.version)
        if not git.rev_parse(f"{refs.TAGS_PREFIX}{base_tag}"):
            raise NotFoundError(
                f"--base {base_tag} is not a registered version: `gitreg history {base.name}` lists its versions"
            )
        lineage["base"] = {"name": base.name, "version": base.version}
    lineage.update(request.origin)
    return lineage


def _iso(identity: Identity) -> str:
    sign = -1 if identity.offset.startswith("-") else 1
    hours, minutes = int(identity.offset[1:3]), int(identity.offset[3:5])
    tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    return datetime.fromtimestamp(identity.timestamp, tz).isoformat()


# --------------------------------------------------------------------------------------- apply
def apply(git: Git, plan: RegisterPlan) -> ModelVersion:
    """Each step is journaled before it is taken, so that a kill at any point is finished (tag made)
    or undone (no tag yet) by the next gitreg command: see :mod:`gitreg.services.recovery`."""
    entry = journal.Journal.begin(git, "register", head_ref=plan.head_ref, base=plan.parent,
                                  model_dir=plan.model_dir, tags=[plan.tag])
    with ExitStack() as undo:
        undo.callback(entry.close)
        workspace = _Workspace(git.root, plan.model_dir, entry)
        undo.callback(workspace.restore)
        card = _store_artifact(git.root, plan, workspace.relocated(plan.source))
        dvc_yaml = _write_dvc_yaml(git, plan, card)
        faults.point("register:card-written")
        commit = _commit(git, plan, card, dvc_yaml)
        entry.record(commits=[commit])
        faults.point("register:committed")
        git.update_ref(plan.head_ref, commit, plan.parent, f"gitreg: register {plan.tag}")
        undo.callback(git.update_ref, plan.head_ref, plan.parent, commit, "gitreg: undo register")
        faults.point("register:branch-moved")
        tag_oid = git.create_tag(plan.tag, commit, tag_message(card), plan.identity)
        undo.callback(git.delete_ref, f"{refs.TAGS_PREFIX}{plan.tag}", tag_oid)
        faults.point("register:tagged")
        git.reset_paths([plan.model_dir, dvcyaml.DVC_YAML])
        undo.pop_all()
    workspace.discard_backup()
    entry.close()
    git.pack_tags_when_loose()
    return ModelVersion(plan.name, plan.version, plan.tag, commit, card)


def _store_artifact(root: Path, plan: RegisterPlan, source: Source) -> Card:
    target = root / plan.model_dir / source.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    pointer = _store_bytes(root, source, target)
    faults.point("register:stored")
    artifact = replace(plan.card.artifact, md5=pointer.md5, size=pointer.size, nfiles=pointer.nfiles)
    card = replace(plan.card, artifact=artifact)
    (root / plan.model_dir / CARD_FILE).write_text(card.to_yaml())
    return card


def _write_dvc_yaml(git: Git, plan: RegisterPlan, card: Card) -> bytes:
    """``dvc.yaml`` with the model's ``artifacts:`` entry, for the commit (from the parent's) and the
    working tree; computed once when the working tree's is the parent's (a round trip of a 1,000-model
    file takes a noticeable part of a second)."""
    committed = git.read_blob(plan.parent, dvcyaml.DVC_YAML)
    text = dvcyaml.with_entry(committed, plan.name, dvcyaml.entry(card)).encode()
    path = git.root / dvcyaml.DVC_YAML
    current = path.read_bytes() if path.exists() else None
    path.write_bytes(text if current == committed else
                     dvcyaml.with_entry(current, plan.name, dvcyaml.entry(card)).encode())
    return text


def _store_bytes(root: Path, source: Source, target: Path) -> Pointer:
    """The artifact into DVC's cache and the workspace; returns its pointer."""
    if source.obj is not None and source.serialization == "skops":
        skops_file.dump(source.obj, target)
        source = Source(path=target)
    elif source.obj is not None:
        import joblib

        joblib.dump(source.obj, target)
        source = Source(path=target)
    default_cache = dvc_layout.default_layout(root)
    with progress.step(f"Storing {source.path.name} in the DVC cache", source.size):
        if source.path.is_file() and default_cache:
            return dvc_layout.add_file(default_cache, source.path, target, dvc_layout.cache_types(root))
        if source.path.is_dir():
            shutil.copytree(source.path, target)
        elif source.path != target:
            shutil.copyfile(source.path, target)
        return artifact_store.load().add(root, target)


def _commit(git: Git, plan: RegisterPlan, card: Card, dvc_yaml: bytes) -> str:
    """The registration commit: HEAD's tree with ``models/<name>/`` replaced and its dvc.yaml entry."""
    model_dir = git.root / plan.model_dir
    files = {f"{plan.model_dir}/{p.name}": p.read_bytes()
             for p in sorted(model_dir.iterdir()) if p.is_file() and _committed(p.name, card)}
    files[dvcyaml.DVC_YAML] = dvc_yaml
    edit = TreeEdit(remove=[plan.model_dir], put=files)
    return git.commit(plan.parent, edit, _commit_message(card), plan.identity)


def _commit_message(card: Card) -> str:
    return f"{tag_message(card).splitlines()[0]}\n\n{REGISTRATION_TRAILER}: {registration_id()}\n"


def registration_id() -> str:
    return str(uuid.uuid4())


def _committed(filename: str, card: Card) -> bool:
    return filename in (CARD_FILE, ".gitignore", f"{card.artifact.path}.dvc")


def backup_dir(root: Path, entry_id: str) -> Path:
    return root / ".dvc" / "tmp" / f"{UNDO_PREFIX}{entry_id}"


UNDO_PREFIX = "gitreg-undo-"


class _Workspace:
    """Moves ``models/<name>/`` and copies ``dvc.yaml`` aside (in a folder the journal names) so that
    a failed or killed registration can put them back."""

    def __init__(self, root: Path, model_dir: str, entry: journal.Journal):
        self.root = root
        self.model_dir = root / model_dir
        self.dvc_yaml = root / dvcyaml.DVC_YAML
        self.backup = backup_dir(root, entry.entry.id)
        self.backup.mkdir(parents=True)
        self.had_dvc_yaml = self.dvc_yaml.exists()
        if self.had_dvc_yaml:
            shutil.copyfile(self.dvc_yaml, self.backup / dvcyaml.DVC_YAML)
        self.had_model_dir = self.model_dir.exists()
        entry.record(backup=self.backup.relative_to(root).as_posix(), had_model_dir=self.had_model_dir,
                     had_dvc_yaml=self.had_dvc_yaml)
        if self.had_model_dir:
            self.model_dir.rename(self.backup / "model")

    def relocated(self, source: Source) -> Source:
        """The source as it is now, when it lived in the model folder that was moved aside."""
        if source.path is None or not self.had_model_dir or not source.path.is_relative_to(self.model_dir):
            return source
        return replace(source, path=self.backup / "model" / source.path.relative_to(self.model_dir))

    def restore(self) -> None:
        restore_workspace(self.model_dir, self.dvc_yaml, self.backup, self.had_model_dir, self.had_dvc_yaml)

    def discard_backup(self) -> None:
        shutil.rmtree(self.backup, ignore_errors=True)


def restore_workspace(model_dir: Path, dvc_yaml: Path, backup: Path, had_model_dir: bool, had_dvc_yaml: bool) -> None:
    """``models/<name>/`` and ``dvc.yaml`` as they were before the registration; safe to run again
    after a kill in the middle of it."""
    saved = backup / "model"
    if (saved.exists() or not had_model_dir) and model_dir.exists():
        shutil.rmtree(model_dir)
    if saved.exists():
        saved.rename(model_dir)
    if not had_dvc_yaml:
        dvc_yaml.unlink(missing_ok=True)
    elif (backup / dvcyaml.DVC_YAML).exists():
        shutil.copyfile(backup / dvcyaml.DVC_YAML, dvc_yaml)
    shutil.rmtree(backup, ignore_errors=True)


def drop_tag(git: Git, version: ModelVersion) -> None:
    """Delete the tag of a registration that was never published, if it is still this one's (after a
    fetch, a tag of that name may be another writer's)."""
    if git.rev_parse(version.ref) == version.commit:
        git.delete_ref(version.ref, git.ref_oid(version.ref))


def drop_commit(git: Git, version: ModelVersion, head_ref: str, parent: str) -> None:
    """Take the registration commit (never published) off the branch; files follow."""
    unregister_files(git, refs.model_dir(version.name), version.commit, parent)
    git.update_ref(head_ref, parent, version.commit, f"gitreg: undo unpublished {version.tag}")


def unregister_files(git: Git, model_dir: str, registered: str, parent: str) -> None:
    """Index and working tree from the registration commit back to ``parent``, including the artifact
    that Git ignores: the registered bytes go, the previous version's come back from the cache."""
    unregister_commits(git, [model_dir], registered, parent)


def unregister_commits(git: Git, model_dirs: list[str], registered: str, parent: str) -> None:
    """:func:`unregister_files` for the registrations of several models between ``parent`` and ``registered``."""
    artifacts = {model_dir: [name.removesuffix(".dvc") for name in git.tree_names(registered, model_dir)
                             if name.endswith(".dvc")] for model_dir in dict.fromkeys(model_dirs)}
    git.switch_worktree(registered, parent)
    for model_dir, names in artifacts.items():
        _restore_artifacts(git, model_dir, names, parent)


def _restore_artifacts(git: Git, model_dir: str, artifacts: list[str], parent: str) -> None:
    """The registered artifacts go; the previous version's come back, also under another name."""
    store = dvc_layout.default_layout(git.root)
    previous = ([name.removesuffix(".dvc") for name in git.tree_names(parent, model_dir) if name.endswith(".dvc")]
                if git.tree_id(parent, model_dir) else [])
    for name in dict.fromkeys([*artifacts, *previous]):
        target = git.root / model_dir / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
        before = git.read_blob(parent, f"{model_dir}/{name}.dvc")
        obj = store / read_pointer(before).md5[:2] / read_pointer(before).md5[2:] if before and store else None
        if obj is not None and obj.is_file():
            dvc_layout.link(obj, target, dvc_layout.cache_types(git.root))


def rebuild(git: Git, version: ModelVersion, new_version: str, head_ref: str, onto: str,
            entry: journal.Journal | None = None) -> ModelVersion:
    """The same registration (same bytes, same card but for its version) as a new commit on ``onto``,
    e.g. the remote's new tip after another writer pushed first. Moves the checked-out branch there.
    The commit and tag are journaled before the branch moves (``entry``)."""
    card = replace(version.card, version=new_version)
    model_dir = refs.model_dir(version.name)
    dvc_yaml = dvcyaml.with_entry(git.read_blob(onto, dvcyaml.DVC_YAML), version.name, dvcyaml.entry(card))
    edit = TreeEdit(remove=[model_dir], graft={model_dir: git.tree_id(version.commit, model_dir)},
                    put={f"{model_dir}/{CARD_FILE}": card.to_yaml().encode(), dvcyaml.DVC_YAML: dvc_yaml.encode()})
    identity = git.identity()
    commit = git.commit(onto, edit, _commit_message(card), identity)
    tag = refs.format_version_tag(card.name, new_version)
    if entry is not None:
        entry.record(commits=[*entry.entry.commits, commit], tags=[*entry.entry.tags, tag])
    git.switch_worktree(version.commit, commit)
    git.update_ref(head_ref, commit, version.commit, f"gitreg: register {card.name} v{new_version}")
    faults.point("register:rebuilt")
    git.create_tag(tag, commit, tag_message(card), identity)
    return ModelVersion(card.name, new_version, tag, commit, card)
