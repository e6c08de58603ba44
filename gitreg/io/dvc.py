"""The only module that imports DVC. Import it lazily: read commands never need it.

Bytes live in DVC's cache and remote; pointers (``<artifact>.dvc``) live in Git. Verification of
bytes against pointers uses ``hashlib`` directly, so a corrupted cache can never be unpickled.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("DVC_NO_ANALYTICS", "1")

from dvc.exceptions import DvcException  # noqa: E402
from dvc.repo import Repo  # noqa: E402
from dvc_data.hashfile.hash_info import HashInfo  # noqa: E402

from gitreg.domain.pointer import Pointer, check_manifest, check_md5, read_pointer  # noqa: E402
from gitreg.errors import ArtifactError, GitregError, StorageError, TransferError, UnsafeContentError  # noqa: E402
from gitreg.io import dvc_layout as local_cache  # noqa: E402
from gitreg.io import progress  # noqa: E402
from gitreg.io.dvc_layout import (  # noqa: E402  (the layout itself, re-exported for old callers)
    Transfer,
    complete,
    copy_out,  # noqa: F401
    object_path,
    verify,
)
from gitreg.io.dvc_layout import manifest as _manifest  # noqa: E402

# DVC's own log lines never reach the console raw: its failures reach us as exceptions (or through
# _dvc_errors), long transfers are announced by gitreg.io.progress, and every record DVC logs is passed on
# as a debug record of logger ``gitreg.dvc`` ("dvc: ..."), which `gitreg -v` shows.
DVC_LOGGERS = ("dvc", "dvc_data", "dvc_objects")


class _ToGitreg(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not format is no reason to fail a transfer
            message = str(record.msg)
        cause = record.exc_info[1] if record.exc_info else None
        text = _one_line(f"{message}: {cause}" if cause else message)
        logging.getLogger("gitreg.dvc").debug("dvc: %s%s", "" if record.levelno < logging.WARNING
                                              else f"{record.levelname.lower()}: ", text)


def _capture_dvc_logs() -> None:
    verbose = logging.getLogger("gitreg").isEnabledFor(logging.DEBUG)
    for name in DVC_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [_ToGitreg()]
        logger.propagate = False
        logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("dvc.progress").setLevel(logging.CRITICAL)  # DVC draws no bars of its own: ours do


_capture_dvc_logs()

DEFAULT_REMOTE = "storage"


@contextmanager
def _repo(root: Path) -> Iterator[Repo]:
    try:
        with Repo(str(root), _wait_for_lock=True) as repo:
            yield repo
    except DvcException as exc:
        raise StorageError(f"DVC failed: {exc}") from exc


def init(root: Path) -> None:
    if (root / ".dvc").is_dir():
        return
    try:
        Repo.init(str(root)).close()
    except DvcException as exc:
        raise StorageError(f"dvc init failed: {exc}") from exc


# Remote options that are secrets or belong to one machine: kept in .dvc/config.local, never committed.
LOCAL_OPTIONS = ("access_key_id", "secret_access_key", "session_token", "profile", "credentialpath")


def set_default_remote(root: Path, url: str, options: dict[str, str] | None = None,
                       name: str = DEFAULT_REMOTE) -> bool:
    """Make ``url`` the default remote; True when the committed configuration changed.

    ``options`` are passed to the DVC remote (e.g. ``endpointurl``, ``region`` for S3); credentials
    among them go to ``.dvc/config.local`` only.
    """
    if "://" not in url:
        # Absolute, so that every clone of the registry finds the same store (a relative path would
        # be taken relative to each clone's .dvc/).
        url = str(Path(url).resolve())
    options = {key: value for key, value in (options or {}).items() if value is not None}
    shared = {"url": url, **{k: v for k, v in options.items() if k not in LOCAL_OPTIONS}}
    private = {k: v for k, v in options.items() if k in LOCAL_OPTIONS}
    changed = False
    with _repo(root) as repo:
        with repo.config.edit("repo") as conf:
            if conf.get("core", {}).get("remote") != name or conf.get("remote", {}).get(name) != shared:
                conf.setdefault("remote", {})[name] = shared
                conf.setdefault("core", {})["remote"] = name
                changed = True
        if private:
            with repo.config.edit("local") as conf:
                conf.setdefault("remote", {}).setdefault(name, {}).update(private)
    return changed


def add(root: Path, path: Path) -> Pointer:
    """Move ``path`` into DVC's cache (``dvc add``) and return what its pointer says."""
    with _repo(root) as repo:
        try:
            repo.add([str(path)])
        except DvcException as exc:
            raise StorageError(f"dvc add {path.name} failed: {exc}") from exc
    return read_pointer(Path(f"{path}.dvc").read_text())


def fetch(root: Path, md5s: list[str]) -> None:
    """Bring objects (and directories' files) from the default remote into the local cache."""
    with _repo(root) as repo:
        if not repo.config.get("core", {}).get("remote"):
            raise ArtifactError(
                f"artifact {md5s[0]} is not in the local DVC cache and no DVC remote is configured: "
                "run `gitreg init --remote DIR_OR_URL`, or `dvc pull` where the bytes are"
            )
        cache = Path(repo.cache.local.path)
        try:
            _pull(repo, _hashes(md5s))
            # A folder's manifest arrives first; its files are objects of their own.
            _pull(repo, _hashes(_files_of(cache, md5s)))
        except DvcException as exc:
            raise StorageError(f"fetching artifacts from the DVC remote failed: {exc}") from exc


def _pull(repo: Repo, hashes: list[HashInfo]) -> None:
    """``repo.cloud.pull``; with a progress bar showing, the same transfer with a byte-level callback
    (DVC's own pull would draw a bar of files of its own)."""
    callback = progress.dvc_callback()
    if callback is None or not hashes:
        repo.cloud.pull(hashes)
        return
    from dvc.data_cloud import get_index

    odb = repo.cloud.get_remote_odb(None, "pull")
    repo.cloud.transfer(odb, repo.cache.local, hashes, src_index=get_index(odb), cache_odb=repo.cache.local,
                        verify=odb.verify, validate_status=repo.cloud._log_missing, callback=callback)


def _hashes(md5s: list[str]) -> list[HashInfo]:
    return [HashInfo("md5", check_md5(md5)) for md5 in md5s]


def _files_of(cache: Path, md5s: list[str]) -> list[str]:
    """The file objects listed by the folder manifests among ``md5s`` that are in the cache."""
    files = []
    for md5 in md5s:
        manifest = object_path(cache, md5)
        if md5.endswith(".dir") and manifest.is_file():
            files += [entry["md5"] for entry in _manifest(manifest)]
    return files


def cache_dir(root: Path) -> Path:
    """Where DVC keeps objects of this repository (honours ``cache.dir``)."""
    with _repo(root) as repo:
        return Path(repo.cache.local.path)


def materialize(root: Path, pointer: Pointer) -> Path:
    """The verified path of the artifact in the cache (a file, or a directory's manifest), fetched from
    the default remote first when the cache lacks any of it."""
    cache = cache_dir(root)
    if not complete(cache, pointer):
        with progress.step("Downloading the artifact from the DVC remote", pointer.size):
            fetch(root, [pointer.md5])
    if not complete(cache, pointer):
        raise ArtifactError(
            f"artifact {pointer.md5} is in neither the local DVC cache nor the remote: "
            "run `dvc push` on the machine that registered it, then try again"
        )
    verify(cache, pointer)
    return object_path(cache, pointer.md5)


def push(root: Path, md5s: list[str] | None = None) -> Transfer:
    """Upload objects (a folder's manifest and its files) to the default DVC remote, then ask the
    remote whether it holds every one: what DVC reports as failed, what it only logged, and what
    the remote does not list afterwards all end up in ``failed``. Without a remote, TransferError.
    With ``md5s`` None, everything the workspace's pointers name (``dvc push``)."""
    with _repo(root) as repo:
        if not repo.config.get("core", {}).get("remote"):
            if md5s:  # bytes before refs: refs naming bytes nobody can fetch are not published
                raise TransferError(
                    "this registry has no DVC remote, so the bytes of the versions being published could not "
                    "be fetched by anyone else; no ref was pushed: set one with `gitreg init --remote DIR_OR_URL`"
                )
            return Transfer()
        if md5s is None:
            try:
                return Transfer(uploaded=repo.push())
            except DvcException as exc:
                raise TransferError(f"pushing the workspace's artifacts to the DVC remote failed: {exc}") from exc
        cache = Path(repo.cache.local.path)
        owners = _owners(cache, md5s)
        try:
            odb = repo.cloud.get_remote_odb(None, "push")
            wanted = _absent(odb, list(owners))
            result = Transfer(lost=sorted({owners[md5] for md5 in wanted if not object_path(cache, md5).is_file()}))
            wanted = [md5 for md5 in wanted if owners[md5] not in result.lost]
            for md5 in [md5 for md5 in wanted if not local_cache.intact(object_path(cache, md5), md5)]:
                result.failed.setdefault(owners[md5], local_cache.CORRUPT)
                wanted.remove(md5)
            if not wanted:
                return result
            with _dvc_errors() as logged:
                callback = progress.dvc_callback()
                moved = repo.cloud.transfer(repo.cache.local, odb, _hashes(wanted), cache_odb=repo.cache.local,
                                            **({"callback": callback} if callback else {}))
            why = logged[0] if logged else "the remote does not list it after the upload"
            for md5 in {h.value for h in moved.failed} | set(_absent(odb, wanted)):
                result.failed.setdefault(owners[md5], why)
            result.uploaded = len(moved.transferred)
            return result
        except Exception as exc:  # DVC, fsspec and the cloud client raise their own kinds
            return Transfer(failed={md5: _one_line(exc) for md5 in md5s})


def _owners(cache: Path, md5s: list[str]) -> dict[str, str]:
    """Every object to upload, mapped to the requested md5 (a folder) it belongs to."""
    owners = {check_md5(md5): md5 for md5 in md5s}
    for md5 in md5s:
        for file_md5 in _files_of(cache, [md5]):
            owners.setdefault(file_md5, md5)
    return owners


def _absent(odb, md5s: list[str]) -> list[str]:
    """The objects the remote does not hold, asked of the remote itself (not DVC's index of it)."""
    present = set(odb.oids_exist(md5s)) if md5s else set()
    return [md5 for md5 in md5s if md5 not in present]


@contextmanager
def _dvc_errors() -> Iterator[list[str]]:
    """What DVC logs as errors instead of raising (a failed upload is one), kept off the console."""
    logged: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            cause = record.exc_info[1] if record.exc_info else None
            logged.append(_one_line(f"{record.getMessage()}: {cause}" if cause else record.getMessage()))

    saved = {}
    for name in ("dvc", "dvc_data", "dvc_objects"):
        logger = logging.getLogger(name)
        saved[name] = (logger.handlers[:], logger.propagate)
        logger.handlers, logger.propagate = [Keep(logging.ERROR)], False
    try:
        yield logged
    finally:
        for name, (handlers, propagate) in saved.items():
            logging.getLogger(name).handlers, logging.getLogger(name).propagate = handlers, propagate


def _one_line(error: object) -> str:
    text = " ".join(str(error).split())
    return text[:300] or type(error).__name__


def missing_in_remote(root: Path, md5s: list[str]) -> dict[str, list[str]] | None:
    """For each of ``md5s`` the objects the default DVC remote lacks (see :func:`_missing`); None
    without a remote."""
    with _repo(root) as repo:
        if not repo.config.get("core", {}).get("remote"):
            return None
        try:
            return _missing(repo.cloud.get_remote_odb(None, "push"), md5s)
        except GitregError:
            raise
        except Exception as exc:  # DVC, fsspec and the cloud client raise their own kinds
            raise StorageError(f"cannot ask the DVC remote which objects it holds: {_one_line(exc)}") from exc


def missing_at(url: str, md5s: list[str]) -> dict[str, list[str]]:
    """:func:`missing_in_remote` for the store at ``url`` (e.g. ``s3://bucket/prefix``), with credentials
    (and ``AWS_ENDPOINT_URL``) from the environment: for a server, which has no DVC project."""
    from dvc.fs import get_cloud_fs
    from dvc_data.hashfile.db import HashFileDB

    try:
        cls, config, path = get_cloud_fs({}, url=url)
        fs = cls(**config)
        return _missing(HashFileDB(fs, fs.join(path, "files", "md5")), md5s)
    except GitregError:
        raise
    except Exception as exc:
        raise StorageError(f"cannot ask the artifact store {url} which objects it holds: {_one_line(exc)}") from exc


def _missing(odb, md5s: list[str]) -> dict[str, list[str]]:
    """md5 -> the objects of it the remote lacks: the object itself, or for a folder whose manifest
    is there (read from the remote), the files it lists that are not."""
    absent = set(_absent(odb, [check_md5(md5) for md5 in md5s]))
    found = {md5: [md5] for md5 in md5s if md5 in absent}
    for md5 in md5s:
        if md5.endswith(".dir") and md5 not in absent:
            files = _remote_manifest(odb, md5)
            found[md5] = _absent(odb, files) if files is not None else [md5]
    return {md5: objects for md5, objects in found.items() if objects}


def _remote_manifest(odb, md5: str) -> list[str] | None:
    """The file md5s a folder's manifest in the remote lists; None when it does not hash to its name."""
    data = odb.fs.cat_file(odb.oid_to_path(md5))
    if hashlib.md5(data).hexdigest() != md5.removesuffix(".dir"):
        return None
    try:
        entries = json.loads(data)
    except ValueError as exc:
        raise UnsafeContentError(f"the folder manifest {md5} in the remote is not a list of files: "
                                 "restore it from a trusted copy") from exc
    where = f"{md5} in the remote"
    return [entry["md5"] for entry in check_manifest(entries, where, "the version was tampered with; "
                                                     "restore the object from a trusted copy")]


def prepare_workspace(path: Path, config: bytes | None) -> Path:
    """A DVC project without Git that uses a registry's committed configuration (its remote), for
    fetching and verifying that registry's bytes from a mirror; returns ``path``."""
    if not (path / ".dvc").is_dir():
        path.mkdir(parents=True, exist_ok=True)
        try:
            Repo.init(str(path), no_scm=True).close()
        except DvcException as exc:
            raise StorageError(f"cannot prepare a DVC cache in {path}: {exc}") from exc
    (path / ".dvc" / "config").write_bytes(config or b"")
    from dvc.config import Config

    with Config(dvc_dir=str(path / ".dvc")).edit("repo") as conf:
        conf.setdefault("core", {})["no_scm"] = True
    return path
