"""DVC's configuration and cache layout, read and written without importing DVC.

**Configuration.** :func:`settings` merges DVC's four configuration files as DVC does (system, global,
the repository's ``.dvc/config``, then ``.dvc/config.local``; later levels win; a relative
``cache.dir`` or remote ``url`` is relative to the directory of the file that sets it) and answers
what gitreg needs: the cache directory, the cache link types (``cache.type``), the default remote
(``core.remote``) and its URL. It is the one place that reads DVC's configuration; configurations it
cannot answer for (``cache.local``, a URL as ``cache.dir``, an unreadable file) make it say so, and
the caller asks DVC itself.

**Cache.** ``dvc add`` reads a file once to hash it, again to copy it into the cache, and a third time
to check it out; with DVC's import and index building that is ~4x the cost of hashing and copying the
file once. For a plain file the result is simple and stable (DVC 3: ``<cache>/files/md5/<2>/<30>``,
read-only; a pointer with md5, size, ``hash: md5`` and path), so gitreg writes it directly: one read
that hashes, one kernel copy, then the workspace file as ``cache.type`` says (the first of reflink,
hardlink, symlink, copy that works; DVC's default is reflink, then copy). Reading verifies every
byte against its md5 here too, so ``load`` needs no DVC when the bytes are in the cache. Uploading
such an object to a plain directory remote (the same layout under the remote's path) is one more
copy. Folders, shared caches and any other remote still go through DVC.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from gitreg.domain import yamlio
from gitreg.domain.pointer import Pointer, check_manifest, check_md5
from gitreg.errors import ArtifactError, StorageError, UnsafeContentError
from gitreg.io import faults, journal, progress

CHUNK = 1 << 20
CACHE_TYPES = ("reflink", "hardlink", "symlink", "copy")
DEFAULT_CACHE_TYPES = ("reflink", "copy")  # DVC's LocalHashFileDB.DEFAULT_CACHE_TYPES
_URL = re.compile(r"^\w+://")
_NAMED = re.compile(r'^\s*(remote|machine|db)\s*"(.*)"\s*$')


# ---------------------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class Settings:
    """What DVC's merged configuration says about where bytes live (see :func:`settings`)."""

    cache_dir: Path | None  # what `dvc cache dir` prints; None when DVC must say (cache.local, a URL)
    cache_types: tuple[str, ...]  # cache.type, in order of preference
    shared: bool  # cache.shared = group: objects need group permissions, DVC writes them
    remote: str | None  # core.remote
    remote_options: dict[str, str] = field(default_factory=dict)  # its section, url resolved

    @property
    def objects(self) -> Path | None:
        """Where file objects live: ``<cache dir>/files/md5``."""
        return self.cache_dir / "files" / "md5" if self.cache_dir is not None else None

    @property
    def remote_url(self) -> str | None:
        return self.remote_options.get("url")


def config_files(root: Path) -> list[Path]:
    """DVC's configuration files of the repository at ``root``, in the order they shadow each other."""
    return [_system_dir() / "config", _global_dir() / "config", root / ".dvc" / "config",
            root / ".dvc" / "config.local"]


def _system_dir() -> Path:
    if value := os.environ.get("DVC_SYSTEM_CONFIG_DIR"):
        return Path(value)
    if sys.platform.startswith("linux"):  # what platformdirs says, without importing it
        dirs = os.environ.get("XDG_CONFIG_DIRS", "").strip() or "/etc/xdg"
        return Path(dirs.split(os.pathsep)[0]) / "dvc"
    import platformdirs

    return Path(platformdirs.site_config_dir("dvc", "iterative"))


def _global_dir() -> Path:
    if value := os.environ.get("DVC_GLOBAL_CONFIG_DIR"):
        return Path(value)
    if sys.platform.startswith("linux"):
        home = os.environ.get("XDG_CONFIG_HOME", "").strip() or os.path.expanduser("~/.config")
        return Path(home) / "dvc"
    import platformdirs

    return Path(platformdirs.user_config_dir("dvc", "iterative"))


class _Unreadable(Exception):
    """A configuration this reader does not answer for; DVC itself will (or will report the error)."""


def settings(root: Path) -> Settings | None:
    """DVC's configuration for the repository at ``root``, merged as DVC merges it; None when it cannot
    be read here (DVC itself then decides, and reports a broken file). Read afresh on every call (four
    small files, well under a millisecond): ``dvc config`` may have changed one since."""
    try:
        return _settings(root, _merged(config_files(root)))
    except _Unreadable:
        return None


def refresh_workspace(path: Path, config: bytes | None) -> Path | None:
    """``path``'s .dvc/config set to ``config`` with ``core.no_scm`` (what :func:`gitreg.io.dvc.prepare_workspace`
    writes) when DVC already made that project; None (nothing done) when it has not, or ``config`` does
    not parse here."""
    from configobj import ConfigObj, ConfigObjError

    target = path / ".dvc" / "config"
    if not target.is_file():
        return None
    try:
        conf = ConfigObj((config or b"").decode().splitlines())
    except (UnicodeDecodeError, ConfigObjError):
        return None
    conf.setdefault("core", {})["no_scm"] = "True"
    fd, tmp = tempfile.mkstemp(prefix=journal.temp_prefix(), dir=target.parent)
    with os.fdopen(fd, "wb") as handle:
        conf.write(handle)
    os.replace(tmp, target)
    return path


def _merged(files: list[Path]) -> dict:
    merged: dict = {}
    for path in files:
        _merge(merged, _load(path))
    return merged


def _load(path: Path) -> dict:
    """One configuration file as DVC reads it (configobj, keys lower-cased, named sections grouped),
    with its paths resolved against the file's directory."""
    from configobj import ConfigObj, ConfigObjError

    try:
        with open(path, "rb") as handle:
            raw = ConfigObj(handle).dict()
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, ConfigObjError) as exc:
        raise _Unreadable(str(path)) from exc
    conf: dict = {"remote": {}}
    for section, values in _lower(raw).items():
        if not isinstance(values, dict):
            raise _Unreadable(f"{path}: {section} outside a section")
        if match := _NAMED.match(section):
            conf.setdefault(match.group(1), {})[match.group(2)] = values
        else:
            conf[section] = values
    base = path.parent.absolute()
    if isinstance(conf.get("cache", {}).get("dir"), str):
        conf["cache"]["dir"] = _resolve(base, conf["cache"]["dir"])
    for options in conf["remote"].values():
        if isinstance(options.get("url"), str):
            options["url"] = _resolve(base, options["url"])
    return conf


def _lower(data: dict) -> dict:
    return {key.lower(): _lower(value) if isinstance(value, dict) else value for key, value in data.items()}


def _resolve(base: Path, path: str) -> str:
    """DVC's ``Config._resolve``: URLs and absolute paths as they are, ``~`` expanded, the rest
    relative to the configuration file's directory."""
    if _URL.match(path) or os.path.isabs(path):
        return path
    expanded = os.path.expanduser(path)
    return expanded if os.path.isabs(expanded) else os.path.abspath(base / path)


def _merge(into: dict, update: dict) -> None:
    for key, value in update.items():
        if isinstance(into.get(key), dict) and isinstance(value, dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _settings(root: Path, conf: dict) -> Settings:
    cache = conf.get("cache", {})
    core = conf.get("core", {})
    if "local" in cache:  # the cache is a named remote: DVC's business
        cache_dir = None
    elif isinstance(cache.get("dir"), str):
        cache_dir = None if _URL.match(cache["dir"]) else Path(cache["dir"])
    else:
        cache_dir = root.absolute() / ".dvc" / "cache"
    remote = core.get("remote").lower() if isinstance(core.get("remote"), str) and core.get("remote") else None
    options = conf.get("remote", {}).get(remote, {}) if remote else {}
    return Settings(cache_dir=cache_dir, cache_types=_types(cache.get("type")),
                    shared=str(cache.get("shared", "")).lower() == "group", remote=remote,
                    remote_options={key: value for key, value in options.items() if isinstance(value, str)})


def _types(value: object) -> tuple[str, ...]:
    """``cache.type``: ``reflink,copy`` (configobj may already have made it a list)."""
    if value is None or value == "":
        return DEFAULT_CACHE_TYPES
    items = value if isinstance(value, list) else str(value).split(",")
    types = tuple(str(item).strip() for item in items if str(item).strip())
    if not types or any(kind not in CACHE_TYPES for kind in types):
        raise _Unreadable(f"cache.type {value!r}")
    return types


def default_layout(root: Path) -> Path | None:
    """Where gitreg itself may write file objects (``<cache.dir>/files/md5``, whichever level sets
    ``cache.dir``); None when DVC must write them (a shared or non-local cache, an unreadable config)."""
    found = settings(root)
    return found.objects if found is not None and not found.shared else None


def cache_objects(root: Path) -> Path | None:
    """Where DVC keeps this repository's file objects, read from its configuration; None when only
    DVC can say."""
    found = settings(root)
    return found.objects if found is not None else None


def cache_types(root: Path) -> tuple[str, ...]:
    """How DVC links cache objects into the workspace (``cache.type``), in order of preference."""
    found = settings(root)
    return found.cache_types if found is not None else DEFAULT_CACHE_TYPES


# ---------------------------------------------------------------------------------------- writing
def add_file(cache: Path, source: Path, target: Path, types: tuple[str, ...] = DEFAULT_CACHE_TYPES) -> Pointer:
    """Put ``source`` in the cache, place it at ``target`` as ``types`` (``cache.type``) say, and write
    ``target``.dvc and the .gitignore."""
    md5, size = _store(cache, source)
    obj = cache / md5[:2] / md5[2:]
    link(obj, target, types, present=source.resolve() == target.resolve())
    _write_pointer(target, md5, size)
    _ignore(target)
    return Pointer(md5=md5, size=size, nfiles=1)


def _store(cache: Path, source: Path) -> tuple[str, int]:
    """Hash ``source``, then copy it into the cache (in the kernel); an object already there is kept."""
    with open(source, "rb") as reader:
        md5 = hashlib.file_digest(reader, "md5").hexdigest()
    obj = cache / md5[:2] / md5[2:]
    if not obj.exists():
        obj.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=journal.temp_prefix(), dir=obj.parent)
        os.close(fd)
        try:
            progress.copy(source, tmp)
            faults.point("cache:copy")
            os.chmod(tmp, 0o444)
            os.replace(tmp, obj)
            _written[obj] = _signature(obj)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return md5, obj.stat().st_size


_UMASK = os.umask(0)
os.umask(_UMASK)


def link(obj: Path, target: Path, types: tuple[str, ...] = ("hardlink", "copy"), *, present: bool = False) -> str:
    """The cache object ``obj`` at ``target`` as DVC's checkout would place it: the first of ``types``
    (``cache.type``) that works here; returns it. ``present``: ``target`` already holds these bytes (the
    file just stored), so a copy is the file itself. Whatever was at ``target`` is replaced in one step."""
    tried = []
    for kind in types:
        if kind == "copy" and present:
            return kind
        tmp = target.parent / f"{journal.temp_prefix()}{os.getpid()}-{target.name}"
        try:
            _PLACE[kind](obj, tmp)
            os.replace(tmp, target)
            return kind
        except OSError as exc:  # not on this file system, or not allowed: the next type
            tried.append(f"{kind} ({exc.strerror or exc})")
            if os.path.lexists(tmp):
                os.unlink(tmp)
    raise StorageError(f"cannot place {target.name} from the DVC cache with cache.type {','.join(types)}: "
                       f"{'; '.join(tried)}; set another with `dvc config cache.type reflink,copy`")


def _reflink(obj: Path, tmp: Path) -> None:
    """A copy-on-write clone (btrfs, XFS, APFS...): no bytes copied; fails elsewhere."""
    if sys.platform != "linux":
        raise OSError(errno.ENOTSUP, "reflinks are only tried on Linux here")
    import fcntl

    ficlone = 0x40049409  # FICLONE
    with open(obj, "rb") as source, open(tmp, "xb") as clone:
        fcntl.ioctl(clone.fileno(), ficlone, source.fileno())
    os.chmod(tmp, 0o666 & ~_UMASK)


def _copy(obj: Path, tmp: Path) -> None:
    shutil.copyfile(obj, tmp)
    os.chmod(tmp, 0o666 & ~_UMASK)


_PLACE = {"reflink": _reflink, "hardlink": os.link, "symlink": os.symlink, "copy": _copy}


def _write_pointer(target: Path, md5: str, size: int) -> None:
    pointer = {"outs": [{"md5": md5, "size": size, "hash": "md5", "path": target.name}]}
    Path(f"{target}.dvc").write_text(yamlio.dump(pointer))


def _ignore(target: Path) -> None:
    gitignore = target.parent / ".gitignore"
    entry = f"/{target.name}"
    lines = gitignore.read_text().splitlines() if gitignore.exists() else []
    if entry not in lines:
        gitignore.write_text("\n".join([*lines, entry]) + "\n")


@dataclass
class Transfer:
    """What an upload did: objects copied, and the requested objects the remote still lacks."""

    uploaded: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # md5 -> why the remote does not hold it
    lost: list[str] = field(default_factory=list)  # md5s whose bytes are neither here nor in the remote


def remote_object(store: Path, md5: str) -> Path:
    """Where a directory remote keeps an object (DVC 3 layout)."""
    check_md5(md5)
    return store / "files" / "md5" / md5[:2] / md5[2:]


def push_to_directory_remote(root: Path, md5s: list[str]) -> Transfer | None:
    """Copy file objects to the default remote when it is a plain local directory, or None (nothing
    done) for any other remote, folder objects, bytes missing here, or a configuration this does not
    fully understand. A failed or short copy is reported in ``failed`` and leaves no object behind."""
    md5s = [check_md5(md5) for md5 in md5s]  # paths in the cache and the remote are built from them
    store = directory_remote(root)
    cache = cache_objects(root)
    if store is None or cache is None or any(md5.endswith(".dir") for md5 in md5s):
        return None
    sources = {md5: cache / md5[:2] / md5[2:] for md5 in md5s}
    needed = [md5 for md5 in md5s if not _holds(remote_object(store, md5), sources[md5])]
    if any(not sources[md5].is_file() for md5 in needed):
        return None  # DVC's path reports the missing bytes
    result = Transfer()
    for md5 in needed:
        if not intact(sources[md5], md5):
            result.failed[md5] = CORRUPT
            continue
        try:
            _copy_into(sources[md5], remote_object(store, md5))
            result.uploaded += 1
        except OSError as exc:
            result.failed[md5] = f"{exc.strerror or exc} ({exc.filename or store})"
    return result


CORRUPT = ("the local DVC cache copy does not match its hash (a hard-linked workspace file written in place?): "
           "delete it from .dvc/cache and fetch it anew with `gitreg pull --artifacts`")


_written: dict[Path, tuple[int, int, int]] = {}  # objects this process just wrote from bytes it hashed


def _signature(path: Path) -> tuple[int, int, int]:
    info = path.stat()
    return info.st_ino, info.st_size, info.st_mtime_ns


def intact(path: Path, md5: str) -> bool:
    """Bytes before refs, checked: what is uploaded is what the hash names (a folder's manifest too).
    An object this process wrote moments ago from bytes it hashed, unchanged since, is not read again."""
    if _written.get(path) == _signature(path):
        return True
    with open(path, "rb") as reader:
        return hashlib.file_digest(reader, "md5").hexdigest() == md5.removesuffix(".dir")


def _holds(target: Path, source: Path) -> bool:
    """The remote already has the object (same size as ours when we have it; a short leftover is not it)."""
    try:
        size = target.stat().st_size
    except OSError:
        return False
    return not source.is_file() or size == source.stat().st_size


def _copy_into(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=journal.temp_prefix(), dir=target.parent)
    os.close(fd)
    try:
        progress.copy(source, tmp)
        faults.point("remote:copy")
        expected, copied = source.stat().st_size, os.stat(tmp).st_size
        if copied != expected:  # a full disk or a network file system can cut a copy short
            raise OSError(errno.EIO, f"short copy, {copied} of {expected} bytes written", str(target))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def directory_remote(root: Path) -> Path | None:
    """The default DVC remote when it is a plain local directory (a path, no other option), from the
    merged configuration (a relative ``url`` is relative to the file that sets it); else None."""
    found = settings(root)
    if found is None or found.remote is None or set(found.remote_options) != {"url"}:
        return None
    url = found.remote_url
    return Path(url) if url and os.path.isabs(url) and Path(url).is_dir() else None


# ---------------------------------------------------------------------------------------- reading
def object_path(cache: Path, md5: str) -> Path:
    check_md5(md5)
    return cache / md5[:2] / md5[2:]


def local_artifact(root: Path, pointer: Pointer) -> Path | None:
    """The verified path of the artifact (a file, or a folder's manifest) in the cache DVC's configuration
    names, when every byte of it is there; None when DVC must fetch it (or name the cache)."""
    cache = cache_objects(root)
    if cache is None or not complete(cache, pointer):
        return None
    verify(cache, pointer)
    return object_path(cache, pointer.md5)


def complete(cache: Path, pointer: Pointer) -> bool:
    path = object_path(cache, pointer.md5)
    if not path.is_file():
        return False
    if not pointer.is_dir:
        return True
    return all(object_path(cache, entry["md5"]).is_file() for entry in manifest(path))


def verify(cache: Path, pointer: Pointer) -> None:
    """Check the md5 of every byte against the pointer before anyone unpickles it."""
    path = object_path(cache, pointer.md5)
    _check_md5(path, pointer.md5.removesuffix(".dir"), "artifact")
    if pointer.is_dir:
        for entry in manifest(path):
            _check_md5(object_path(cache, entry["md5"]), entry["md5"], entry["relpath"])


def _check_md5(path: Path, expected: str, label: str) -> None:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    digest = digest.hexdigest()
    if digest != expected:
        raise ArtifactError(
            f"{label} bytes do not match their pointer (md5 {digest} != {expected}): "
            f"the DVC cache is corrupt; delete {path} and run the command again to fetch it anew"
        )


def manifest(path: Path) -> list[dict]:
    """A folder's manifest, every entry checked (:func:`gitreg.domain.pointer.check_manifest`) before any
    path is built from it."""
    try:
        entries = json.loads(path.read_text())
    except (UnicodeDecodeError, ValueError) as exc:
        raise ArtifactError(f"the folder manifest {path} is not valid JSON: delete it and run the command "
                            "again to fetch it anew") from exc
    return check_manifest(entries, str(path), _TAMPERED)


_TAMPERED = "the artifact was tampered with; nothing was written, restore it from a trusted version"


def copy_out(source: Path, pointer: Pointer, destination: Path) -> None:
    """Write a verified artifact (file or directory) to ``destination`` as plain copies (the caller's
    files, not links into the read-only cache); ``source`` is what ``materialize`` returned."""
    cache = source.parent.parent  # objects live at <cache>/<2 hex>/<rest>
    if not pointer.is_dir:
        destination.parent.mkdir(parents=True, exist_ok=True)
        progress.copy(source, destination)
        return
    copies = [(object_path(cache, entry["md5"]), _target(destination, entry["relpath"]))
              for entry in manifest(source)]
    for obj, target in copies:
        target.parent.mkdir(parents=True, exist_ok=True)
        progress.copy(obj, target)


def _target(destination: Path, relpath: str) -> Path:
    """Where a folder's file goes; refused when it would land outside ``destination`` (e.g. through a
    symbolic link already there)."""
    target = destination / relpath
    if not target.resolve().is_relative_to(destination.resolve()):
        raise UnsafeContentError(f"{relpath} of the folder artifact would be written outside {destination}: "
                                 "remove the symbolic link there, or write the artifact elsewhere")
    return target
