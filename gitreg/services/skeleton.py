"""``gitreg init``: the registry skeleton, committed once; running it again changes nothing."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from gitreg.domain.config import CONFIG_FILE, DEFAULT_CONFIG, Config
from gitreg.domain.dvcyaml import DVC_YAML
from gitreg.domain.refs import MODELS_DIR
from gitreg.errors import ConflictError, InvalidInputError, NotARegistryError
from gitreg.io import artifact_store
from gitreg.io.git import Git, TreeEdit
from gitreg.services import ci

INIT_MESSAGE = "Initialize gitreg registry"
PINNED_FILES = (CONFIG_FILE, *(f"{ci.WORKFLOW_DIR}/{name}" for name in ci.WORKFLOWS))
SKELETON_PATHS = (*PINNED_FILES, DVC_YAML, f"{MODELS_DIR}/.gitkeep")


def skeleton_files(ci_install: str) -> dict[str, bytes]:
    files = {
        CONFIG_FILE: (DEFAULT_CONFIG + ci.config_section(ci_install)).encode(),
        DVC_YAML: b"artifacts: {}\n",
        f"{MODELS_DIR}/.gitkeep": b"",
    }
    files.update(ci.workflow_files(ci_install))
    return files


def init(path: Path, remote: str | None, remote_options: dict[str, str] | None = None,
         ci_install: str | None = None) -> bool:
    """Make ``path`` a registry; True when anything changed. ``ci_install`` re-pins what CI installs
    (``ci.install`` and the workflows, in one commit); by default a new registry pins this gitreg."""
    refuse_credentials(remote, remote_options or {})
    spec = ci.check_requirement(ci_install) if ci_install is not None else None
    path = path.resolve()
    identity = Git(_existing_parent(path)).identity()
    pin = spec or (None if (path / CONFIG_FILE).is_file() else ci.default_requirement())  # before any write
    _ensure_repository(path)
    git = Git(path)
    if spec:
        _require_committed(git, path)
    storage = artifact_store.load()
    storage.init(path)
    changed = storage.set_default_remote(path, remote, remote_options) if remote else False
    _write_missing(path, pin)
    if spec:
        _repin(path, spec)
    paths = _changed_since_head(git, path, list(SKELETON_PATHS) + _dvc_files(path))
    if not paths:
        return changed
    _, head = git.head()
    edit = TreeEdit(put={p: (path / p).read_bytes() for p in paths})
    commit = git.commit(head, edit, _message(git, head, spec), identity)
    git.update_ref("HEAD", commit, head, "gitreg: init")
    git.reset_paths(paths)
    return True


def _message(git: Git, head: str | None, spec: str | None) -> str:
    # Only the registry's first commit may say INIT_MESSAGE: new stage branches are born from it.
    if head is None or git.read_blobs([f"{head}:{CONFIG_FILE}"])[f"{head}:{CONFIG_FILE}"] is None:
        return INIT_MESSAGE
    return f"Pin the CI workflows to {spec}" if spec else "Restore the gitreg registry skeleton"


def refuse_credentials(remote: str | None, options: dict[str, str | None]) -> None:
    """A secret inside a URL would be committed to .dvc/config for every clone to read: refuse it
    before anything is written. (A user name alone, as in ssh://deploy@host/store, is no secret.)"""
    urls = {"--remote": remote, "--endpoint-url": options.get("endpointurl")}
    for option, url in urls.items():
        if not url or "://" not in url:
            continue
        if _has_secret(url):
            raise InvalidInputError(f"the {option} URL holds credentials (user:secret@), {_NOT_IN_URLS}")
        if secret := _secret_parameter(url):
            raise InvalidInputError(f"the {option} URL holds credentials (its query parameter {secret!r}), "
                                    f"{_NOT_IN_URLS}")


_NOT_IN_URLS = ("which would be committed to .dvc/config: give the URL without them and pass --access-key-id and "
                "--secret-access-key (kept in .dvc/config.local, never committed), or use AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY")
# Query parameters that carry secrets: presigned S3 URLs (X-Amz-*), SAS tokens (sig), API tokens, keys.
_SECRET_PARAMETER = re.compile(r"token|signature|secret|passw(or)?d|credential|key|^sig$|^x-amz-", re.IGNORECASE)


def _has_secret(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return "@" in url
    userinfo = parts.netloc.rpartition("@")[0]
    # Object stores take no user in the URL at all, so anything before @ there is a key.
    return ":" in userinfo or (bool(userinfo) and parts.scheme in ("s3", "gs", "azure", "oss", "http", "https"))


def _secret_parameter(url: str) -> str | None:
    """The name of the first query parameter of ``url`` that looks like a secret (names %-decoded)."""
    query = url.partition("?")[2].partition("#")[0]
    names = [name.strip() for name, _ in parse_qsl(query, keep_blank_values=True)]
    return next((name for name in names if _SECRET_PARAMETER.search(name)), None)


def _existing_parent(path: Path) -> Path:
    while not path.is_dir():
        path = path.parent
    return path


def _ensure_repository(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    try:
        top = Git.toplevel(path)
    except NotARegistryError:
        Git.init(path)
        return
    if top.resolve() != path:
        raise InvalidInputError(
            f"{path} is inside the Git repository {top}: a registry lives at the top of its "
            f"repository, so run `gitreg init {top}` or choose a directory outside it"
        )


def _pinned(root: Path) -> str | None:
    config = root / CONFIG_FILE
    return Config.parse(config.read_bytes()).ci_install if config.is_file() else None


def _require_committed(git: Git, root: Path) -> None:
    """Re-pinning rewrites these files: refuse rather than commit or lose someone's uncommitted edit."""
    if git.head()[1] is None:
        return
    committed = git.read_blobs([f"HEAD:{p}" for p in PINNED_FILES])
    edited = [p for p in PINNED_FILES if committed[f"HEAD:{p}"] is not None
              and (not (root / p).is_file() or (root / p).read_bytes() != committed[f"HEAD:{p}"])]
    if edited:
        raise ConflictError(f"{edited[0]} has uncommitted changes: commit or discard them, then run init again")


def _repin(root: Path, spec: str) -> None:
    config = root / CONFIG_FILE
    text = config.read_text()
    if Config.parse(text).ci_install != spec:
        pinned = ci.with_pin(text, spec)
        if Config.parse(pinned).ci_install != spec:
            raise InvalidInputError(f"could not set ci.install in {CONFIG_FILE}: write `ci: {{install: SPEC}}` "
                                    "there by hand, commit, and run init again")
        config.write_text(pinned)
    for rel, content in ci.workflow_files(spec).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)


def _write_missing(root: Path, pin: str | None) -> None:
    if all((root / rel).exists() for rel in SKELETON_PATHS):
        return
    # A workflow restored into an existing registry installs what its .gitreg.yaml pins.
    for rel, content in skeleton_files(pin or _pinned(root) or ci.default_requirement()).items():
        target = root / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)


def _dvc_files(root: Path) -> list[str]:
    return [p for p in (".dvc/config", ".dvc/.gitignore", ".dvcignore") if (root / p).exists()]


def _changed_since_head(git: Git, root: Path, paths: list[str]) -> list[str]:
    committed = git.read_blobs([f"HEAD:{p}" for p in paths])
    return [p for p in paths if committed[f"HEAD:{p}"] != (root / p).read_bytes()]
