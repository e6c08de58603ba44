"""``gitreg init``: the registry skeleton, committed once; running it again changes nothing."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from gitreg import storage_lazy
from gitreg.config import CONFIG_FILE, DEFAULT_CONFIG
from gitreg.dvcyaml import DVC_YAML
from gitreg.errors import InvalidInputError, NotARegistryError
from gitreg.git import Git, TreeEdit
from gitreg.refs import MODELS_DIR

INIT_MESSAGE = "Initialize gitreg registry"
WORKFLOWS = ("gitreg-promotion.yml", "gitreg-verify.yml")


def skeleton_files() -> dict[str, bytes]:
    files = {
        CONFIG_FILE: DEFAULT_CONFIG.encode(),
        DVC_YAML: b"artifacts: {}\n",
        f"{MODELS_DIR}/.gitkeep": b"",
    }
    templates = resources.files("gitreg") / "templates"
    for workflow in WORKFLOWS:
        files[f".github/workflows/{workflow}"] = (templates / workflow).read_bytes()
    return files


def init(path: Path, remote: str | None, remote_options: dict[str, str] | None = None) -> bool:
    """Make ``path`` a registry; True when anything changed."""
    refuse_credentials(remote, remote_options or {})
    path = path.resolve()
    identity = Git(_existing_parent(path)).identity()
    _ensure_repository(path)
    git = Git(path)
    storage = storage_lazy.load()
    storage.init(path)
    changed = storage.set_default_remote(path, remote, remote_options) if remote else False
    _write_missing(path)
    paths = _changed_since_head(git, path, list(skeleton_files()) + _dvc_files(path))
    if not paths:
        return changed
    _, head = git.head()
    edit = TreeEdit(put={p: (path / p).read_bytes() for p in paths})
    commit = git.commit(head, edit, INIT_MESSAGE, identity)
    git.update_ref("HEAD", commit, head, "gitreg: init")
    git.reset_paths(paths)
    return True


def refuse_credentials(remote: str | None, options: dict[str, str | None]) -> None:
    """A secret inside a URL would be committed to .dvc/config for every clone to read: refuse it
    before anything is written. (A user name alone, as in ssh://deploy@host/store, is no secret.)"""
    urls = {"--remote": remote, "--endpoint-url": options.get("endpointurl")}
    for option, url in urls.items():
        if url and "://" in url and _has_secret(url):
            raise InvalidInputError(
                f"the {option} URL holds credentials (user:secret@), which would be committed to .dvc/config: "
                "give the URL without them and pass --access-key-id and --secret-access-key "
                "(kept in .dvc/config.local, never committed), or use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )


def _has_secret(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return "@" in url
    userinfo = parts.netloc.rpartition("@")[0]
    # Object stores take no user in the URL at all, so anything before @ there is a key.
    return ":" in userinfo or (bool(userinfo) and parts.scheme in ("s3", "gs", "azure", "oss", "http", "https"))


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


def _write_missing(root: Path) -> None:
    for rel, content in skeleton_files().items():
        target = root / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)


def _dvc_files(root: Path) -> list[str]:
    return [p for p in (".dvc/config", ".dvc/.gitignore", ".dvcignore") if (root / p).exists()]


def _changed_since_head(git: Git, root: Path, paths: list[str]) -> list[str]:
    committed = git.read_blobs([f"HEAD:{p}" for p in paths])
    return [p for p in paths if committed[f"HEAD:{p}"] != (root / p).read_bytes()]
