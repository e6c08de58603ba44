"""The file ``gitreg export`` writes and ``gitreg import`` reads: a tar of a Git bundle, the artifact bytes
and a manifest naming every member with its sha256.

Layout (nothing else is accepted)::

    manifest.json        {"format", "schema", "roots", "refs", "versions", "members"}
    registry.bundle      a complete Git bundle (no prerequisites) of the refs in the manifest
    objects/<md5>        one artifact file, named by its md5 (folders: objects/<md5>.dir and each file)

The checksums catch a damaged or truncated transfer; the bytes are also checked against the md5 that the
tagged commit's DVC pointer records, so no byte can be swapped without changing the version's Git ids.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from gitreg.errors import IntegrityError

FORMAT = "gitreg-bundle"
SCHEMA = 1
MANIFEST = "manifest.json"
GIT_BUNDLE = "registry.bundle"
OBJECTS = "objects/"
MAX_MANIFEST = 64 * 1024 * 1024  # bytes: a manifest of a million versions is well under this
_OBJECT = re.compile(r"objects/[0-9a-f]{32}(\.dir)?\Z")
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")
_OID = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?\Z")


class BundleError(IntegrityError):
    """A bundle that is damaged, truncated, tampered with or not gitreg's."""


@dataclass(frozen=True)
class BundledVersion:
    name: str
    version: str
    tag: str
    commit: str
    objects: tuple[str, ...]  # the md5s (``.dir`` for a folder's manifest) whose bytes are members

    def to_dict(self) -> dict:
        return {"name": self.name, "version": self.version, "tag": self.tag, "commit": self.commit,
                "objects": list(self.objects)}


@dataclass(frozen=True)
class Manifest:
    roots: tuple[str, ...]  # the root commits of the exporting registry's history
    refs: dict[str, str]  # {ref: oid} the Git bundle carries
    versions: tuple[BundledVersion, ...]
    members: dict[str, str]  # {member name: sha256}
    branch: str | None = None  # the exporter's branch (refs/heads/...), which `import --init` checks out

    def to_json(self) -> bytes:
        return json.dumps({"format": FORMAT, "schema": SCHEMA, "roots": list(self.roots), "refs": self.refs,
                           "versions": [v.to_dict() for v in self.versions], "members": self.members,
                           "branch": self.branch}, indent=1, sort_keys=True).encode()


def object_member(md5: str) -> str:
    return f"{OBJECTS}{md5}"


def check_member_name(name: str) -> None:
    """Only the three kinds of member, by exact name: no path of a member is ever trusted beyond that."""
    if name not in (MANIFEST, GIT_BUNDLE) and not _OBJECT.match(name):
        raise BundleError(f"the bundle holds {name!r}, which no gitreg bundle has: it is not one, or it was "
                          "tampered with; ask for a new export")


def parse_manifest(data: bytes) -> Manifest:
    try:
        raw = json.loads(data)
        if raw.get("format") != FORMAT:
            raise ValueError("not a gitreg bundle manifest")
        if raw.get("schema") != SCHEMA:
            raise ValueError(f"schema {raw.get('schema')!r}, this gitreg reads schema {SCHEMA}: upgrade gitreg")
        found = Manifest(tuple(_oids(raw["roots"])), _refs(raw["refs"]), tuple(map(_version, raw["versions"])),
                         _members(raw["members"]), raw.get("branch"))
        if found.branch is not None and found.branch not in found.refs:
            raise ValueError(f"branch {found.branch!r} is not among its refs")
        return found
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BundleError(f"the bundle's {MANIFEST} is not valid ({exc}): ask for a new export") from exc


def _oids(values) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) and _OID.match(v) for v in values):
        raise ValueError("roots must be commit ids")
    return values


def _refs(values) -> dict[str, str]:
    if not isinstance(values, dict):
        raise ValueError("refs must be a mapping")
    for ref, oid in values.items():
        if not (isinstance(ref, str) and ref.startswith(("refs/tags/", "refs/heads/")) and ".." not in ref
                and isinstance(oid, str) and _OID.match(oid)):
            raise ValueError(f"ref {ref!r} is not a tag or branch with an object id")
    return values


def _version(raw) -> BundledVersion:
    objects = tuple(raw["objects"])
    if not all(isinstance(md5, str) and _OBJECT.match(object_member(md5)) for md5 in objects):
        raise ValueError(f"objects of {raw.get('tag')!r} must be md5s")
    if not (isinstance(raw["commit"], str) and _OID.match(raw["commit"])):
        raise ValueError(f"commit of {raw.get('tag')!r} must be a commit id")
    return BundledVersion(str(raw["name"]), str(raw["version"]), str(raw["tag"]), raw["commit"], objects)


def _members(values) -> dict[str, str]:
    if not isinstance(values, dict):
        raise ValueError("members must be a mapping")
    for name, digest in values.items():
        check_member_name(name)
        if not (isinstance(digest, str) and _SHA256.match(digest)):
            raise ValueError(f"member {name} has no sha256")
    if MANIFEST in values or GIT_BUNDLE not in values:
        raise ValueError(f"members must list {GIT_BUNDLE} and not the manifest itself")
    return values
