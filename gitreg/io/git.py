"""The only module that runs Git.

Read paths are built for speed: one ``git for-each-ref`` pass lists every version tag with its
message, one ``git cat-file --batch`` process reads any number of blobs. Writes use plumbing on a
private index file (``read-tree``/``update-index``/``write-tree``/``commit-tree``) and move refs by
compare-and-swap (``update-ref REF NEW OLD``), so the user's HEAD, index and working tree are never
touched unless the caller asks for it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gitreg.errors import (
    ConflictError,
    GitError,
    IdentityError,
    NotARegistryError,
    PushRejectedError,
    RemoteMovedError,
    SigningKeyError,
)

RECORD_END = "\x00\n"
# How Git words "someone else pushed first" (rejections, lost ref-lock races, stale expectations).
REMOTE_MOVED_SIGNS = ("(fetch first)", "(non-fast-forward)", "(already exists)", "cannot lock ref",
                      "but expected", "(stale info)", "failed to update ref", "[rejected]")
FILE_MODE = "100644"


@dataclass(frozen=True)
class Identity:
    name: str
    email: str
    timestamp: int
    offset: str  # "+0100"

    @property
    def git_date(self) -> str:
        return f"{self.timestamp} {self.offset}"


@dataclass(frozen=True)
class TagRecord:
    name: str
    tag_oid: str
    commit: str
    message: str
    target_type: str = "commit"  # what the tag points at: a version tag must name a commit
    tagger: str = ""  # "Name <email> TIMESTAMP OFFSET": read for deprecation tags (NAME@vX.Y.Z!) only


@dataclass
class TreeEdit:
    """Changes to apply on top of a parent commit's tree, in this order."""

    remove: list[str] = field(default_factory=list)  # directory prefixes or files
    graft: dict[str, str] = field(default_factory=dict)  # prefix -> tree oid
    put: dict[str, bytes] = field(default_factory=dict)  # path -> content


@dataclass(frozen=True)
class StageTagRecord:
    name: str
    oid: str
    annotated: bool
    target: str | None  # the commit it names (None: not a commit)
    time: int
    mirrors: str | None  # the value of the trailer asked for


@dataclass(frozen=True)
class RefCommit:
    """A commit as a ref-history reader needs it: which ref it was reached from, and its trailer block."""

    ref: str
    oid: str
    kind: str  # the object type ("commit" unless a ref was made by hand)
    parents: tuple[str, ...]
    author: str  # "Name <email>"
    timestamp: int
    trailers: str


LOOSE_TAGS = 64
REF_COMMIT_FIELDS = ("%(refname)", "%(objectname)", "%(objecttype)", "%(parent)", "%(authorname) %(authoremail)",
                     "%(authordate:unix)", "%(contents:trailers:only,unfold)")
LOG_COMMIT_FORMAT = "%S%x00%H%x00commit%x00%P%x00%an <%ae>%x00%at%x00%(trailers:only,unfold)%x00"


class Git:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        # True: every commit and tag this object writes is signed with Git's own signing (the user's
        # user.signingkey and gpg.format), so `git verify-tag`/`verify-commit` check it without gitreg
        self.sign = False

    # ----------------------------------------------------------------- plumbing
    def _run(
        self,
        *args: str,
        input: str | bytes | None = None,
        env: dict[str, str] | None = None,
        check: bool = True,
        text: bool = True,
    ) -> subprocess.CompletedProcess:
        full_env = None if env is None else {**os.environ, **env}
        if text and isinstance(input, bytes):
            text = False
        elif not text and isinstance(input, str):
            input = input.encode()
        try:
            proc = subprocess.run(
                ["git", *args],
                cwd=self.root,
                input=input,
                capture_output=True,
                text=text,
                env=full_env,
            )
        except FileNotFoundError as exc:
            raise GitError("git is not installed: install Git 2.30 or newer") from exc
        if check and proc.returncode != 0:
            raise GitError(_describe_failure(args, proc.stderr))
        return proc

    def _out(self, *args: str, **kwargs) -> str:
        stdout = self._run(*args, **kwargs).stdout
        return (stdout.decode() if isinstance(stdout, bytes) else stdout).strip()


    # ----------------------------------------------------------------- named queries
    def symbolic_ref(self, name: str) -> str | None:
        """The ref ``name`` (e.g. ``HEAD``, ``refs/remotes/origin/HEAD``) points at, None when it is no symbolic ref."""
        return self._out("symbolic-ref", "-q", name, check=False) or None

    def ref_oid(self, ref: str) -> str | None:
        """The object a ref names as it is (an annotated tag's own id, not its commit's)."""
        return self._out("rev-parse", "-q", "--verify", ref, check=False) or None

    def tree_of(self, commit: str) -> str:
        return self._out("rev-parse", f"{commit}^{{tree}}")

    def commits_between(self, tip: str, exclude: str | None = None, first_parent: bool = False) -> list[str]:
        """Commits reachable from ``tip`` and not from ``exclude`` (newest first), optionally first-parent only."""
        return self._out("rev-list", *(["--first-parent"] if first_parent else []), tip,
                         *([f"^{exclude}"] if exclude else [])).split()

    def newest_commit_with_line(self, line: str, tip: str) -> str | None:
        """The newest commit reachable from ``tip`` whose message has exactly the line ``line`` (a regex)."""
        return self._out("rev-list", "-1", f"--grep=^{line}$", tip) or None

    def root_commit(self, tip: str) -> str:
        return self._out("rev-list", "--max-parents=0", "-1", tip)

    def status_lines(self, pathspec: str) -> list[str]:
        """``git status --porcelain`` lines (untracked files included) under ``pathspec``."""
        return self._run("status", "--porcelain", "--untracked-files=all", "--", pathspec).stdout.splitlines()

    def tree_names(self, rev: str, path: str) -> list[str]:
        """The names directly under ``rev:path``."""
        return self._out("ls-tree", "--name-only", f"{rev}:{path}").splitlines()

    def tagged_commits(self) -> set[str]:
        """Every commit an annotated tag points at."""
        return set(self._out("for-each-ref", "--format=%(*objectname)", "refs/tags/").split())

    def commits_with_source(self, revs: tuple[str, ...], trailer: str) -> list[tuple[str, str, str, str]]:
        """(commit, the ref it was reached from, subject, ``trailer``'s value) of ``git log revs``."""
        output = self._out("log", *revs, "--source",
                           f"--format=%H%x00%S%x00%s%x00%(trailers:key={trailer},valueonly)%x00")
        found = []
        for record in output.split("\x00\n"):
            fields = record.strip("\n").split("\x00")
            if len(fields) >= 4:
                found.append((fields[0], fields[1], fields[2], fields[3].strip()))
        return found

    def on_a_remote(self, commit: str) -> bool:
        """Whether any remote-tracking branch contains ``commit``."""
        return bool(self._out("branch", "-r", "--contains", commit))

    def pack_tags_when_loose(self, threshold: int = LOOSE_TAGS) -> bool:
        """``git pack-refs`` (tags only) once more than ``threshold`` tags are loose files: every narrow read
        (``for-each-ref 'refs/tags/NAME@v*'``) scans the loose ones (0.4 s at 50,000) while packed ones cost
        nothing, and packing rewrites packed-refs (0.14 s at 100,000) only once per ``threshold`` tags."""
        dot_git = self.root / ".git"
        try:
            loose = sum(1 for _ in os.scandir((dot_git if dot_git.is_dir() else Path(self.git_dir())) / "refs" / "tags"))
        except OSError:
            return False
        return loose > threshold and self._run("pack-refs", check=False).returncode == 0

    def config_get(self, key: str) -> str | None:
        return self._out("config", "--get", key, check=False) or None

    def config_set(self, key: str, value: str) -> None:
        self._run("config", key, value)

    def is_repository(self) -> bool:
        return self._run("rev-parse", "--git-dir", check=False).returncode == 0

    def commit_all(self, message: str) -> None:
        """Commit every change to tracked files (``git commit -a``)."""
        self._run("commit", "-q", "-a", "-m", message)

    def clone_mirror(self, url: str, path: Path) -> tuple[bool, str]:
        """A bare, blob-less clone of ``url`` at ``path``: (succeeded, stderr)."""
        proc = self._run("clone", "--quiet", "--bare", "--filter=blob:none", url, str(path), check=False)
        return proc.returncode == 0, proc.stderr

    def clone_bundle(self, bundle: str, path: Path, branch: str) -> Git:
        """A clone at ``path`` of the Git bundle ``bundle`` on ``branch``, nothing checked out, no remote left."""
        path = path.absolute()
        proc = self._run("clone", "--quiet", "--no-checkout", "--branch", branch, os.path.abspath(bundle), str(path),
                         check=False)
        if proc.returncode != 0:
            raise GitError(f"cannot start a registry from the bundle: {_describe_failure(('clone',), proc.stderr)}")
        clone = Git(path)
        clone._run("remote", "remove", "origin")
        return clone

    def check_out_head(self) -> None:
        """Index and working tree made from HEAD (after a clone that checked nothing out)."""
        self._run("read-tree", "--reset", "-u", "HEAD")

    def fetch_quietly(self, remote: str, refspecs: list[str]) -> tuple[bool, str]:
        """``git fetch --prune`` of ``refspecs``: (succeeded, stderr), for callers that explain failures."""
        proc = self._run("fetch", "--quiet", "--prune", remote, *refspecs, check=False)
        return proc.returncode == 0, proc.stderr

    # ----------------------------------------------------------------- discovery
    @classmethod
    def toplevel(cls, path: str | os.PathLike) -> Path:
        path = Path(path)
        if not path.is_dir():
            raise NotARegistryError(f"{path} is not a directory: give the path of a gitreg registry")
        proc = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=path, capture_output=True, text=True
        )
        if proc.returncode != 0:
            where = path.resolve()
            raise NotARegistryError(
                f"{where} is not inside a Git repository: run `gitreg init {where}` to make it a registry"
            )
        return Path(proc.stdout.strip())

    @staticmethod
    def init(path: Path) -> None:
        proc = subprocess.run(["git", "init", "-q", str(path)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise GitError(_describe_failure(("init",), proc.stderr))

    def rev_parse(self, rev: str) -> str | None:
        proc = self._run("rev-parse", "--verify", "-q", f"{rev}^{{commit}}", check=False)
        return proc.stdout.strip() or None

    def head(self) -> tuple[str | None, str | None]:
        """(the ref HEAD points at or None when detached, the commit or None when unborn)."""
        proc = self._run("rev-parse", "HEAD", "--symbolic-full-name", "HEAD", check=False)
        lines = proc.stdout.split()
        if proc.returncode == 0 and len(lines) == 2:
            return (None if lines[1] == "HEAD" else lines[1]), lines[0]
        unborn = self._run("symbolic-ref", "-q", "HEAD", check=False).stdout.strip()
        return unborn or None, None

    def identity(self) -> Identity:
        """The author identity and the time to stamp on this change (honours GIT_COMMITTER_DATE)."""
        author = self._run("var", "GIT_AUTHOR_IDENT", check=False)
        committer = self._run("var", "GIT_COMMITTER_IDENT", check=False)
        if author.returncode or committer.returncode:
            raise IdentityError(
                "Git does not know who you are: run `git config --global user.name \"Your Name\"` "
                "and `git config --global user.email you@example.com`"
            )
        who, _, when = author.stdout.strip().rpartition(">")
        name, _, email = who.partition("<")
        timestamp, offset = committer.stdout.strip().rsplit(" ", 2)[-2:]
        return Identity(name.strip(), email.strip(), int(timestamp), offset)

    def is_dirty(self) -> bool:
        return bool(self._out("status", "--porcelain", "--untracked-files=no"))

    # ----------------------------------------------------------------- reads
    def version_tags(self, pattern: str = "refs/tags/") -> Iterator[TagRecord]:
        """Every annotated tag under ``pattern`` with its message, as the caller reads them: one
        ``for-each-ref`` names the tags (0.2 s at 100,000), one ``cat-file --batch`` streams their objects
        while the caller parses them, Git and Python on two cores. (``for-each-ref`` with ``%(contents)``
        writes nothing before it has read every tag, so its reader only waits; and holds all in memory.)"""
        listing = self._out("for-each-ref", "--format=%(objecttype) %(objectname) %(refname:strip=2)", pattern)
        # only annotated tags go to cat-file: a lightweight tag may name a blob of any size
        tags = [line[4:].split(" ", 1) for line in listing.splitlines() if line.startswith("tag ")]
        objects = self._stream_objects([oid for oid, _ in tags])
        for (oid, name), (kind, content) in zip(tags, objects):
            if kind == "tag":
                yield _tag_record(name, oid, content)

    def _stream_objects(self, oids: list[str]) -> Iterator[tuple[str, bytes]]:
        """(type, content) of each object, in order, from one ``cat-file --batch`` fed by a thread."""
        if not oids:
            return
        proc = subprocess.Popen(["git", "cat-file", "--batch", "--buffer"], cwd=self.root, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        feeder = threading.Thread(target=_feed, args=(proc.stdin, oids), daemon=True)
        feeder.start()
        try:
            for _ in oids:
                header = proc.stdout.readline().split()
                if len(header) < 3:  # "<oid> missing", or Git died
                    if not header:
                        raise GitError(_describe_failure(("cat-file", "--batch"), proc.stderr.read()))
                    yield "missing", b""
                    continue
                content = proc.stdout.read(int(header[2]) + 1)
                yield header[1].decode(), content[:-1]
        finally:
            proc.kill()
            feeder.join()
            proc.wait()
            proc.stdout.close()
            proc.stderr.close()

    def stage_tags(self, trailer: str, pattern: str = "refs/tags/*#*") -> list[StageTagRecord]:
        """Every tag GTO may read as a stage (un)assignment (names with ``#``), with the value of the
        ``trailer`` in its message, in one ``for-each-ref``."""
        fields = ("%(refname:strip=2)", "%(objectname)", "%(objecttype)", "%(*objectname)", "%(*objecttype)",
                  "%(taggerdate:unix)", f"%(contents:trailers:key={trailer},valueonly)")
        listing = self._run("for-each-ref", f"--format={'%00'.join(fields)}%00", pattern).stdout
        return [_stage_tag_record(chunk) for chunk in listing.split(RECORD_END) if chunk.strip()]

    def tag_object(self, name: str, oid: str) -> TagRecord | None:
        """An annotated tag object read directly (it may not be under refs/ yet); None if not a tag."""
        proc = self._run("cat-file", "tag", oid, check=False, text=False)
        return _tag_record(name, oid, proc.stdout) if proc.returncode == 0 else None

    def stage_tag_object(self, name: str, oid: str, trailer: str) -> StageTagRecord:
        """What ``stage_tags`` says of one tag, read from its object (in a hook, before it is under refs/)."""
        proc = self._run("cat-file", "tag", oid, check=False, text=False)
        if proc.returncode != 0:
            kind = self._out("cat-file", "-t", oid, check=False)
            return StageTagRecord(name, oid, False, oid if kind == "commit" else None, 0, None)
        headers, _, message = proc.stdout.decode(errors="replace").partition("\n\n")
        fields = dict(line.split(" ", 1) for line in headers.splitlines() if " " in line)
        stamp = fields.get("tagger", "").rsplit(" ", 2)
        values = [line.split(":", 1)[1].strip() for line in message.splitlines() if line.startswith(f"{trailer}:")]
        return StageTagRecord(name, oid, True, fields.get("object") if fields.get("type") == "commit" else None,
                              int(stamp[-2]) if len(stamp) == 3 and stamp[-2].isdigit() else 0,
                              values[-1] if values else None)

    def tags_named(self, names: list[str]) -> list[TagRecord]:
        """The annotated tags of these exact names that exist, with one ``cat-file --batch``."""
        records = []
        with self.cat_file() as cat:
            for name in names:
                found = cat.get(f"refs/tags/{name}")
                if found and found[1] == "tag":
                    records.append(_tag_record(name, found[0], found[2]))
        return records

    def read_blobs(self, specs: list[str]) -> dict[str, bytes | None]:
        """``{"rev:path": content or None}`` for every spec, with one ``cat-file --batch``."""
        if not specs:
            return {}
        proc = self._run("cat-file", "--batch", input="\n".join(specs) + "\n", text=False)
        data, pos, result = proc.stdout, 0, {}
        for spec in specs:
            end = data.index(b"\n", pos)
            header = data[pos:end].split()
            pos = end + 1
            if header[-1] == b"missing" or header[1] != b"blob":
                result[spec] = None
                if header[-1] != b"missing":
                    pos += int(header[2]) + 1
                continue
            size = int(header[2])
            result[spec] = data[pos : pos + size]
            pos += size + 1
        return result

    def cat_file(self) -> CatFile:
        return CatFile(self.root)

    def branch_tips(self, tracking: str = "refs/remotes/origin/") -> dict[str, tuple[str, bool]]:
        """``{branch: (commit, is_local)}``: local branches, and where a clone has no local branch of
        that name, the remote-tracking one (a fresh clone sees the stages without checking them out)."""
        output = self._out("for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/", tracking)
        tips: dict[str, tuple[str, bool]] = {}
        for line in output.splitlines():
            ref, oid = line.split(" ", 1)
            if ref.startswith("refs/heads/"):
                tips[ref[len("refs/heads/"):]] = (oid, True)
            else:
                tips.setdefault(ref[len(tracking):], (oid, False))
        return tips

    def ref_commits(self, prefix: str) -> list[RefCommit]:
        """The tip of every ref under ``prefix`` with its author, time and trailers, in one ``for-each-ref``."""
        listing = self._run("for-each-ref", f"--format={'%00'.join(REF_COMMIT_FIELDS)}%00", prefix).stdout
        return [_ref_commit(chunk) for chunk in listing.split(RECORD_END) if chunk.strip()]

    def ref_histories(self, refs: list[str], exclude: tuple[str, ...] = ()) -> list[RefCommit]:
        """Every commit reachable from ``refs`` (and not from ``exclude``), newest first, each with the ref it
        was reached from: one ``git log``, however many refs."""
        if not refs:
            return []
        revs = "".join(f"{ref}\n" for ref in refs) + "".join(f"^{oid}\n" for oid in exclude)
        proc = self._run("log", "--source", "--stdin", f"--format={LOG_COMMIT_FORMAT}", input=revs, check=False)
        if proc.returncode != 0:
            raise GitError(_describe_failure(("log",), proc.stderr))
        return [_ref_commit(chunk) for chunk in proc.stdout.split(RECORD_END) if chunk.strip()]

    def object_type(self, oid: str) -> str | None:
        """``commit``, ``tree``, ``blob`` or ``tag``; None when there is no such object."""
        return self._out("cat-file", "-t", oid, check=False) or None

    def empty_tree(self) -> str:
        """The empty tree, written to the object store (a commit that records only its message uses it)."""
        return self._out("hash-object", "-t", "tree", "-w", "--stdin", input="")

    def ref_values(self, *prefixes: str) -> dict[str, str]:
        """``{ref: oid}`` of every ref (under ``prefixes``), in one process."""
        output = self._out("for-each-ref", "--format=%(refname) %(objectname)", *prefixes)
        return dict(line.split(" ", 1) for line in output.splitlines())

    def first_parent_log(self, ref: str, path: str | None = None) -> list[CommitRecord]:
        """Commits on the first-parent chain of ``ref`` (touching ``path``), newest first."""
        args = ["log", "--first-parent", f"--format={COMMIT_FORMAT}", ref]
        if path:
            args += ["--", path]
        proc = self._run(*args, check=False)
        if proc.returncode != 0:
            return []
        return [_commit_record(chunk) for chunk in proc.stdout.split(RECORD_END) if chunk.strip()]

    def commit_record(self, rev: str) -> CommitRecord:
        chunk = self._out("log", "-1", f"--format={COMMIT_FORMAT}", rev)
        return _commit_record(chunk.removesuffix("\x00"))

    def changed_paths(self, old: str, new: str) -> list[str]:
        """Paths whose content differs between two commits."""
        return self._out("diff-tree", "-r", "--name-only", "--no-commit-id", old, new).splitlines()

    def on_first_parent_line(self, ancestor: str, tip: str) -> bool:
        """``ancestor`` is reached from ``tip`` by first parents alone (a branch that only moved forward)."""
        oids = self._out("rev-list", "--first-parent", "--parents", f"{ancestor}..{tip}").splitlines()
        return not oids or oids[-1].split()[1:2] == [ancestor]

    def merge_base(self, a: str, b: str) -> str | None:
        return self._run("merge-base", a, b, check=False).stdout.strip() or None

    def read_blob(self, rev: str, path: str) -> bytes | None:
        return self.read_blobs([f"{rev}:{path}"])[f"{rev}:{path}"]

    def tree_id(self, rev: str, path: str) -> str | None:
        proc = self._run("rev-parse", "--verify", "-q", f"{rev}:{path}", check=False)
        return proc.stdout.strip() or None

    # ----------------------------------------------------------------- writes
    def commit(
        self, parent: str | None, edit: TreeEdit, message: str, identity: Identity
    ) -> str:
        """Build a commit = parent's tree + ``edit``, without touching HEAD, index or files."""
        fd, index_path = tempfile.mkstemp(prefix="gitreg-index-", dir=self.git_dir())
        os.close(fd)
        os.unlink(index_path)  # git wants to create it itself
        env = {"GIT_INDEX_FILE": index_path}
        try:
            self._run("read-tree", *([parent] if parent else ["--empty"]), env=env)
            if edit.remove:
                self._run("rm", "--cached", "-r", "-f", "-q", "--ignore-unmatch", "--", *edit.remove, env=env)
            for prefix, tree in edit.graft.items():
                self._run("read-tree", f"--prefix={prefix}/", tree, env=env)
            if edit.put:
                lines = [
                    f"{FILE_MODE} {self.hash_blob(content)}\t{path}"
                    for path, content in edit.put.items()
                ]
                self._run("update-index", "--index-info", input="\n".join(lines) + "\n", env=env)
            tree = self._out("write-tree", env=env)
        finally:
            if os.path.exists(index_path):
                os.unlink(index_path)
        return self.commit_tree(tree, [parent] if parent else [], message, identity)

    def commit_tree(self, tree: str, parents: list[str], message: str, identity: Identity) -> str:
        args = ["commit-tree", *(["-S"] if self.sign else []), tree]
        for parent in parents:
            args += ["-p", parent]
        proc = self._run(*args, "-F", "-", input=message, env=_stamp(identity), check=False)
        if proc.returncode != 0:
            raise (_signing_failure(proc.stderr) if self.sign else GitError(_describe_failure(args, proc.stderr)))
        return proc.stdout.strip()

    def hash_blob(self, content: bytes) -> str:
        return self._out("hash-object", "-w", "--stdin", input=content)

    def update_ref(self, ref: str, new: str, old: str | None, reason: str) -> None:
        """Compare-and-swap: fails with ConflictError when ``ref`` is no longer at ``old``."""
        expected = old or "0" * 40
        proc = self._run("update-ref", "-m", reason, ref, new, expected, check=False)
        if proc.returncode != 0:
            raise ConflictError(
                f"{ref} moved while gitreg was working (someone else changed it): run the command again"
            )

    def delete_ref(self, ref: str, old: str) -> None:
        self._run("update-ref", "-d", ref, old)

    def delete_tags(self, oids: dict[str, str]) -> None:
        """Delete tags ``{name: oid}`` that are still at that oid, in one ``update-ref --stdin``."""
        if oids:
            self._run("update-ref", "--stdin", input="".join(f"delete refs/tags/{name} {oid}\n"
                                                            for name, oid in oids.items()))

    def create_tag(self, name: str, target: str, message: str, identity: Identity) -> str:
        """Create an annotated tag; ConflictError when it exists (tags are never moved)."""
        ref = f"refs/tags/{name}"
        if self.rev_parse(ref):
            raise ConflictError(f"tag {name} already exists: versions are immutable, pick another version")
        oid = self.make_tag_object(name, target, message, identity)
        self.update_ref(ref, oid, None, f"gitreg: tag {name}")
        return oid

    def create_tags(self, tags: list[tuple[str, str, str, Identity]]) -> dict[str, str]:
        """Annotated tags ``(name, commit, message, tagger)``, all created or none (one ``update-ref``
        transaction); ConflictError when one exists already. ``{name: tag object id}``."""
        if not tags:
            return {}
        made = {name: self.make_tag_object(name, target, message, who) for name, target, message, who in tags}
        proc = self._run("update-ref", "--stdin", check=False,
                         input="".join(f"create refs/tags/{name} {oid}\n" for name, oid in made.items()))
        if proc.returncode != 0:
            raise ConflictError(f"a tag gitreg meant to create exists already ({_describe_failure(('update-ref',), proc.stderr)}): "
                                "run the command again")
        return made

    def make_tag_object(self, name: str, target: str, message: str, identity: Identity) -> str:
        """An annotated tag object (no ref), signed when ``self.sign``; its id."""
        if self.sign and not message.endswith("\n"):
            message += "\n"  # the signature block must start a line
        if not self.sign:
            return self._out("mktag", input=f"object {target}\ntype commit\ntag {name}\n"
                                            f"tagger {identity.name} <{identity.email}> {identity.git_date}\n\n{message}")
        # `git tag -s` is Git's only way to sign a tag, and it also creates the ref: run it in a private bare
        # repository that borrows this one's objects (alternates) and has none of its refs, with the signing
        # settings this repository sees, then copy the signed object here with mktag (same bytes, same id)
        with tempfile.TemporaryDirectory(prefix="gitreg-sign-") as shadow:  # outside .git: a kill leaves no litter
            shadow_git = Git(shadow)
            shadow_git._run("init", "-q", "--bare", shadow)
            objects = Path(self._out("rev-parse", "--git-path", "objects"))
            (Path(shadow) / "objects" / "info" / "alternates").write_text(f"{(self.root / objects).resolve()}\n")
            settings = [arg for key, value in self.signing_settings().items() for arg in ("-c", f"{key}={value}")]
            env = {**_stamp(identity), "GIT_COMMITTER_NAME": identity.name, "GIT_COMMITTER_EMAIL": identity.email,
                   "GIT_DIR": shadow}
            proc = shadow_git._run(*settings, "tag", "-s", "--cleanup=verbatim", "-F", "-", name, target,
                                   input=message, env=env, check=False)
            if proc.returncode != 0:
                raise _signing_failure(proc.stderr)
            content = shadow_git._run("cat-file", "tag", f"refs/tags/{name}", env={"GIT_DIR": shadow}, text=False).stdout
        return self._out("mktag", input=content)

    def signing_settings(self) -> dict[str, str]:
        """The ``user.*`` and ``gpg.*`` settings this repository sees (global and local), in one call."""
        proc = self._run("config", "-z", "--get-regexp", r"^(user|gpg)\.", check=False)
        pairs = (entry.partition("\n") for entry in proc.stdout.split("\x00") if entry)
        return {key: value for key, _, value in pairs}

    def signing_problem(self) -> str | None:
        """Why Git could not sign here (a missing key or program), checked before any change; None: it can."""
        settings = self.signing_settings()
        fmt = settings.get("gpg.format", "openpgp").lower()
        key = settings.get("user.signingkey", "")
        if fmt == "ssh":
            program = settings.get("gpg.ssh.program", "ssh-keygen")
            if not key and not settings.get("gpg.ssh.defaultkeycommand"):
                return ("gpg.format is ssh but Git has no key to sign with: run "
                        "`git config --global user.signingkey ~/.ssh/id_ed25519.pub`")
            if key and not key.startswith(("key::", "ssh-")) and not Path(os.path.expanduser(key)).is_file():
                return (f"user.signingkey is {key}, which is not a file: run "
                        "`git config --global user.signingkey PATH_OF_YOUR_KEY.pub`")
        elif fmt == "openpgp":
            program = settings.get("gpg.openpgp.program") or settings.get("gpg.program", "gpg")
            if shutil.which(program) and not key and not settings.get("user.email"):
                return "Git has no key to sign with: run `git config --global user.signingkey YOUR_GPG_KEY_ID`"
            if shutil.which(program):
                wanted = key or settings.get("user.email", "")
                found = subprocess.run([program, "--batch", "--list-secret-keys", "--", wanted], capture_output=True)
                if found.returncode != 0:
                    return (f"{program} has no secret key {wanted!r} to sign with: run `git config --global "
                            "user.signingkey YOUR_KEY_ID` (or `git config --global gpg.format ssh` and an SSH key)")
        elif fmt == "x509":
            program = settings.get("gpg.x509.program", "gpgsm")
        else:
            return f"gpg.format is {fmt!r}: set it to ssh, openpgp or x509 (`git config --global gpg.format ssh`)"
        if not shutil.which(program):
            return f"{program} is not installed, and Git needs it to sign with gpg.format {fmt}: install it"
        return None

    def commit_signatures(self, oids: list[str], settings: dict[str, str],
                          env: dict[str, str] | None = None) -> dict[str, tuple[str, str, str]]:
        """``{commit: (%G?, signer, key fingerprint)}`` of every commit, from one ``git log --no-walk``
        (``settings`` such as ``gpg.ssh.allowedSignersFile`` given as ``-c``)."""
        if not oids:
            return {}
        args = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        proc = self._run(*args, "log", "--no-walk=unsorted", "--stdin", "--format=%H%x00%G?%x00%GS%x00%GF%x00%GK%x00",
                         input="".join(f"{oid}\n" for oid in oids), env=env, check=False)
        if proc.returncode != 0:
            raise GitError(_describe_failure(("log",), proc.stderr))
        found = {}
        for chunk in proc.stdout.split(RECORD_END):
            fields = chunk.strip("\n").split("\x00")
            if len(fields) >= 5:
                found[fields[0]] = (fields[1], fields[2], fields[3] or fields[4])
        return found

    def verify_tag_raw(self, oid: str, settings: dict[str, str], env: dict[str, str] | None = None) -> tuple[int, str]:
        """``git verify-tag --raw``: (exit code, what the signing program said)."""
        args = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        proc = self._run(*args, "verify-tag", "--raw", oid, env=env, check=False)
        return proc.returncode, proc.stderr

    def write_bundle(self, path: str, refs: list[str], prerequisites: list[str]) -> None:
        """A Git bundle at ``path`` of ``refs`` alone (the ``prerequisites`` it builds on are left out)."""
        self._run("bundle", "create", "-q", os.path.abspath(path), *refs, *(f"^{oid}" for oid in prerequisites))

    def unbundle(self, path: str) -> dict[str, str]:
        """Store the objects of the Git bundle at ``path`` in this repository, moving no ref; ``{ref: oid}``
        of its heads. GitError when it is not a complete, valid bundle."""
        proc = self._run("bundle", "unbundle", os.path.abspath(path), check=False)
        if proc.returncode != 0:
            raise GitError(f"the Git bundle is damaged: {_describe_failure(('bundle', 'unbundle'), proc.stderr)}")
        return {ref: oid for oid, _, ref in (line.partition(" ") for line in proc.stdout.splitlines()) if ref}

    def root_commits(self, revs: list[str]) -> set[str]:
        """The commits without parents that ``revs`` descend from."""
        return set(self._out("rev-list", "--max-parents=0", *revs).split()) if revs else set()

    def update_refs(self, updates: dict[str, tuple[str, str | None]]) -> None:
        """``{ref: (new, old or None to create)}`` in one transaction: all move or none (ConflictError when a
        ref is no longer where the caller saw it)."""
        lines = "".join(f"update {ref} {new} {old}\n" if old else f"create {ref} {new}\n"
                        for ref, (new, old) in updates.items())
        proc = self._run("update-ref", "--stdin", check=False, input=lines)
        if proc.returncode != 0:
            raise ConflictError(f"a ref moved while gitreg was working ({_describe_failure(('update-ref',), proc.stderr)}): "
                                "run the command again")

    def tag_kinds(self, pattern: str = "refs/tags/") -> dict[str, str]:
        """``{tag name: object type}`` ("tag" for annotated, "commit" etc. for lightweight), one call."""
        listing = self._out("for-each-ref", "--format=%(objecttype) %(refname:strip=2)", pattern)
        return {name: kind for kind, _, name in (line.partition(" ") for line in listing.splitlines())}

    def reset_paths(self, paths: list[str]) -> None:
        """Make the user's index match HEAD for ``paths`` (after a commit made beside it)."""
        self._run("reset", "-q", "HEAD", "--", *paths)

    def remotes(self) -> list[str]:
        return self._out("remote").split()

    def push(self, remote: str, refspecs: list[str]) -> list[str]:
        """One atomic push, never forced; returns the remote refs it changed.
        RemoteMovedError when someone else pushed first."""
        return [ref for ref, flag in self.push_flags(remote, refspecs).items() if flag != "="]

    def push_flags(self, remote: str, refspecs: list[str]) -> dict[str, str]:
        """One atomic push, never forced; ``{remote ref: flag}`` as Git reports each ref ("*" created,
        " " fast-forwarded, "=" already up to date: the push changed nothing there).
        RemoteMovedError when someone else pushed first."""
        proc = self._run("push", "--atomic", "--porcelain", remote, *refspecs, check=False)
        if proc.returncode == 0:
            # porcelain: "<flag>\t<src>:<dst>\t<summary>"
            rows = [line.split("\t") for line in proc.stdout.splitlines() if line.count("\t") >= 2]
            return {row[1].split(":")[-1]: row[0] for row in rows}
        report = proc.stdout + proc.stderr
        if any(sign in report for sign in REMOTE_MOVED_SIGNS):
            raise RemoteMovedError(f"{remote} moved while gitreg was pushing: fetch, then run the command again")
        hook_says = [line[len("remote: "):].strip() for line in proc.stderr.splitlines()
                     if line.startswith("remote: ") and line[len("remote: "):].strip()]
        reason = "; ".join(hook_says) or _describe_failure(("push",), proc.stderr)
        raise PushRejectedError(f"{remote} rejected the push: {reason}")

    def fetch(self, remote: str, refspecs: list[str]) -> None:
        proc = self._run("fetch", "--quiet", "--no-tags", remote, *refspecs, check=False)
        if proc.returncode != 0:
            raise GitError(f"cannot fetch from {remote}: {_describe_failure(('fetch',), proc.stderr)}")

    def remote_refs(self, remote: str, prefix: str) -> dict[str, str]:
        """``{ref: oid}`` on ``remote`` under ``prefix`` (peeled tags folded in)."""
        output = self._out("ls-remote", "--refs", remote, f"{prefix}*")
        return {ref: oid for oid, ref in (line.split("\t") for line in output.splitlines() if line)}

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return self._run("merge-base", "--is-ancestor", ancestor, descendant, check=False).returncode == 0

    def fast_forward_worktree(self, old: str, new: str, ref: str) -> None:
        """Move the checked-out ``ref`` from ``old`` to ``new`` like ``git merge --ff-only``:
        index and working tree follow, and the user's uncommitted changes are kept (or nothing moves)."""
        proc = self._run("read-tree", "-m", "-u", old, new, check=False)
        if proc.returncode != 0:
            raise ConflictError(
                f"cannot fast-forward {ref} to {new[:8]}: your uncommitted changes touch the same files; "
                "commit or stash them, then run the command again"
            )
        self.update_ref(ref, new, old, "gitreg: fast-forward")

    def switch_worktree(self, old: str, new: str) -> None:
        """Index and working tree from ``old``'s content to ``new``'s, keeping unrelated local changes."""
        self._run("read-tree", "-m", "-u", old, new)

    # ----------------------------------------------------------------- notes
    def notes_list(self, ref: str) -> list[tuple[str, str]]:
        """``(note blob, annotated object)`` of every note under ``ref``, in one process; empty when the
        ref does not exist."""
        proc = self._run("notes", f"--ref={ref}", "list", check=False)
        return [(parts[0], parts[1]) for parts in map(str.split, proc.stdout.splitlines()) if len(parts) == 2]

    def note_of(self, ref: str, obj: str) -> bytes | None:
        """The note on ``obj`` (an object id or a ref, not peeled: a tag's own object) under ``ref``."""
        proc = self._run("notes", f"--ref={ref}", "show", obj, check=False, text=False)
        return proc.stdout if proc.returncode == 0 else None

    def write_note(self, ref: str, obj: str, content, message: str, identity: Identity) -> str:
        """Commit ``content(the note on obj now, or None)`` as the note on ``obj`` on top of ``ref``, and move
        ``ref`` by compare-and-swap (``git notes`` itself moves its ref unconditionally): ConflictError when
        another writer moved it meanwhile. The note is read and written from one state of ``ref``."""
        old = self.ref_oid(ref)

        def add(scratch: str) -> None:
            blob = self.hash_blob(content(self.note_of(scratch, obj) if old else None))
            self._run("notes", f"--ref={scratch}", "add", "-f", "-C", blob, obj, env=_stamp(identity))

        tree = self.tree_of(self._on_scratch_notes(old, add))
        new = self.commit_tree(tree, [old] if old else [], message, identity)
        self.update_ref(ref, new, old, "gitreg: annotate")
        return new

    def merge_notes(self, ref: str, other: str, identity: Identity) -> str:
        """``git notes merge -s cat_sort_uniq`` of ``other`` into ``ref`` (union of the lines of notes both
        changed; a fast-forward when it can), ``ref`` moved by compare-and-swap. The new tip."""
        old = self.ref_oid(ref)
        if old is None:
            new = self._out("rev-parse", "--verify", other)
        else:
            new = self._on_scratch_notes(old, lambda scratch: self._run(
                "notes", f"--ref={scratch}", "merge", "-q", "-s", "cat_sort_uniq", other, env=_stamp(identity)))
        if new != old:
            self.update_ref(ref, new, old, "gitreg: merge annotations")
        return new

    def _on_scratch_notes(self, start: str | None, operation) -> str:
        """Run a ``git notes`` operation on a private notes ref that starts at ``start``; its result."""
        scratch = f"refs/notes/gitreg-scratch-{uuid.uuid4().hex}"
        try:
            if start:
                self._run("update-ref", scratch, start)
            operation(scratch)
            return self._out("rev-parse", "--verify", scratch)
        finally:
            self._run("update-ref", "-d", scratch, check=False)

    def tree_files(self, rev: str) -> dict[str, tuple[str, str, str]]:
        """``{path: (mode, type, oid)}`` of every entry under ``rev``'s tree, recursively, in one process."""
        output = self._run("ls-tree", "-r", "-z", rev).stdout
        files = {}
        for entry in output.split("\x00"):
            meta, _, path = entry.partition("\t")
            if path:
                mode, kind, oid = meta.split()
                files[path] = (mode, kind, oid)
        return files

    def git_dir(self) -> str:
        return self._out("rev-parse", "--absolute-git-dir")


COMMIT_FORMAT = "%H%x00%P%x00%an%x00%ae%x00%ct%x00%B%x00"


@dataclass(frozen=True)
class CommitRecord:
    oid: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    timestamp: int
    message: str


def _commit_record(chunk: str) -> CommitRecord:
    oid, parents, name, email, timestamp, message = chunk.lstrip("\n").split("\x00")
    return CommitRecord(oid, tuple(parents.split()), name, email, int(timestamp), message)


class CatFile:
    """One ``git cat-file --batch`` process answering any number of questions: one at a time, or many in
    one exchange (:meth:`prefetch`), whose answers are kept."""

    def __init__(self, root: Path):
        self.proc = subprocess.Popen(
            ["git", "cat-file", "--batch"], cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self._known: dict[str, tuple[str, str, bytes] | None] = {}
        self._subtrees: dict[str, dict[str, str]] = {}

    def get(self, spec: str) -> tuple[str, str, bytes] | None:
        """(oid, type, content) of ``rev:path`` or an object id; None when missing."""
        if spec in self._known:
            return self._known[spec]
        self.proc.stdin.write(spec.encode() + b"\n")
        self.proc.stdin.flush()
        return self._answer()

    def prefetch(self, specs) -> None:
        """Ask all of ``specs`` at once (written by a thread while the answers are read) and keep the
        answers for :meth:`get`: one exchange instead of a round trip each (3,000 took a second). Only
        for specs named by object id (``OID`` or ``OID:path``), whose answer cannot change."""
        todo = [spec for spec in dict.fromkeys(specs) if spec not in self._known]
        if not todo:
            return
        feeder = threading.Thread(target=_feed, args=(self.proc.stdin, todo, False), daemon=True)
        feeder.start()
        for spec in todo:
            self._known[spec] = self._answer()
        feeder.join()

    def forget(self) -> None:
        """Drop the kept answers (a long walk prefetches in chunks)."""
        self._known.clear()

    def _answer(self) -> tuple[str, str, bytes] | None:
        header = self.proc.stdout.readline().split()
        if len(header) < 3 or header[-1] == b"missing":
            return None
        content = self.proc.stdout.read(int(header[2]) + 1)[:-1]
        return header[0].decode(), header[1].decode(), content

    def blob(self, spec: str) -> bytes | None:
        found = self.get(spec)
        return found[2] if found and found[1] == "blob" else None

    def subtrees(self, spec: str) -> dict[str, str]:
        """``{name: tree oid}`` of the directories directly under a tree (each tree parsed once: a stage
        branch's commits mostly share their ``models/`` trees with their parents')."""
        found = self.get(spec)
        if not found or found[1] != "tree":
            return {}
        if found[0] not in self._subtrees:
            self._subtrees[found[0]] = {name: oid for mode, name, oid in _tree_entries(found[2]) if mode == b"40000"}
        return dict(self._subtrees[found[0]])

    def files(self, spec: str) -> dict[str, str]:
        """``{name: blob oid}`` of the files directly under a tree (an experiment's records)."""
        found = self.get(spec)
        if not found or found[1] != "tree":
            return {}
        return {name: oid for mode, name, oid in _tree_entries(found[2]) if mode.startswith(b"100")}

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()

    def __enter__(self) -> CatFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _feed(stream, lines: list[str], close: bool = True) -> None:
    try:
        stream.write("".join(f"{line}\n" for line in lines).encode())
        stream.close() if close else stream.flush()
    except (BrokenPipeError, ValueError, OSError):  # the reader stopped early and killed the process
        pass


def _tag_record(name: str, oid: str, content: bytes) -> TagRecord:
    """A tag object's target, its type and the message (Git writes ``object`` and ``type`` first)."""
    headers, _, message = content.partition(b"\n\n")
    message = message[:signature_start(message)]  # what was signed: readers never see the signature block
    first, _, rest = headers.partition(b"\n")
    second = rest.partition(b"\n")[0]
    if first.startswith(b"object ") and second.startswith(b"type "):
        target, kind = first[7:], second[5:]
    else:  # a tag object made by hand, headers in any order
        fields = dict(line.split(b" ", 1) for line in headers.split(b"\n") if b" " in line)
        target, kind = fields.get(b"object", b""), fields.get(b"type", b"")
    # only a deprecation record shows its tagger (who withdrew it, when): a version read skips the search
    tagger = _header(headers, b"tagger") if name.endswith("!") else ""
    return TagRecord(name, oid, target.decode(errors="replace"), message.decode(errors="replace"),
                     kind.decode(errors="replace"), tagger)


SIGNATURE_STARTS = (b"-----BEGIN PGP SIGNATURE-----", b"-----BEGIN SSH SIGNATURE-----",
                    b"-----BEGIN SIGNED MESSAGE-----")


def signature_start(message: bytes) -> int:
    """Where a tag message's signature block begins (its length when unsigned): as Git reads it, the last
    line that starts like a signature."""
    found, pos = len(message), 0
    while pos < len(message):
        if message.startswith(SIGNATURE_STARTS, pos):
            found = pos
        end = message.find(b"\n", pos)
        pos = len(message) if end < 0 else end + 1
    return found


def _header(headers: bytes, key: bytes) -> str:
    for line in headers.split(b"\n"):
        if line.startswith(key + b" "):
            return line[len(key) + 1:].decode(errors="replace")
    return ""


def _stage_tag_record(chunk: str) -> StageTagRecord:
    name, oid, kind, peeled, peeled_kind, time, mirrors = chunk.lstrip("\n").split("\x00")[:7]
    annotated = kind == "tag"
    target = (peeled if peeled_kind == "commit" else None) if annotated else (oid if kind == "commit" else None)
    value = mirrors.strip().splitlines()
    return StageTagRecord(name, oid, annotated, target, int(time or 0), value[-1].strip() if value else None)


def _ref_commit(chunk: str) -> RefCommit:
    ref, oid, kind, parents, author, timestamp, trailers = chunk.lstrip("\n").split("\x00")[:7]
    return RefCommit(ref, oid, kind, tuple(parents.split()), author, int(timestamp or 0), trailers)


def _tree_entries(data: bytes):
    pos = 0
    while pos < len(data):
        space = data.index(b" ", pos)
        nul = data.index(b"\x00", space)
        yield data[pos:space], data[space + 1 : nul].decode(), data[nul + 1 : nul + 21].hex()
        pos = nul + 21


def _stamp(identity: Identity) -> dict[str, str]:
    return {
        "GIT_AUTHOR_NAME": identity.name,
        "GIT_AUTHOR_EMAIL": identity.email,
        "GIT_AUTHOR_DATE": identity.git_date,
        "GIT_COMMITTER_DATE": identity.git_date,
    }


def _signing_failure(stderr: str | bytes) -> SigningKeyError:
    detail = _describe_failure(("signing",), stderr).removeprefix("git signing failed: ")
    return SigningKeyError(f"Git could not sign ({detail}): check `git config user.signingkey` and `gpg.format`")


def _describe_failure(args, stderr: str | bytes) -> str:
    if isinstance(stderr, bytes):
        stderr = stderr.decode(errors="replace")
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    detail = lines[-1] if lines else "no message"
    return f"git {args[0]} failed: {detail}"
