"""Check that the fast stage history of build_registry.py is what the real promote and rollback write.

    python benchmarks/check_builder.py [--models 6 --versions 8 --every 2]

Builds two tiny registries with the same registrations (same clock, so main and the tags are the same
objects), one with the fast-import stage history and one with the real ``Registry.promote`` and
``Registry.rollback``, then compares them: every stage branch's first-parent commits (trees, parents,
messages; the Gitreg-Clock trailer and the commit ids it changes are mapped, the real one being the
wall clock), ``gitreg log --json``, ``gitreg log NAME --json`` and ``gitreg list --json``, and runs
``gitreg verify`` on both. Exits 1 with the first difference.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_scale import gitreg, isolate  # noqa: E402
from benchmarks.build_registry import build, model_name  # noqa: E402

CLOCK = re.compile(r"^Gitreg-Clock: \d+\n", re.M)


def out(root: Path, *args: str) -> str:
    return subprocess.run(args, cwd=root, capture_output=True, text=True, check=True).stdout


def first_parent(root: Path, branch: str) -> list[dict]:
    """Oldest first: each commit's tree, parents' trees and message without the clock."""
    commits = []
    for oid in out(root, "git", "rev-list", "--first-parent", "--reverse", branch).split():
        raw = out(root, "git", "cat-file", "commit", oid)
        headers, _, message = raw.partition("\n\n")
        parents = [line.split()[1] for line in headers.splitlines() if line.startswith("parent ")]
        commits.append({"oid": oid, "tree": out(root, "git", "rev-parse", f"{oid}^{{tree}}").strip(),
                        "parent_trees": [out(root, "git", "rev-parse", f"{p}^{{tree}}").strip() for p in parents],
                        "second_parent": (CLOCK.sub("", out(root, "git", "log", "-1", "--format=%B", parents[1]))
                                          if len(parents) > 1 else None),
                        "headers": [line for line in headers.splitlines() if line.startswith(("author", "committer"))],
                        "message": CLOCK.sub("", message)})
    return commits


def normalised(text: str, ids: dict[str, str]) -> str:
    for oid, name in ids.items():
        text = text.replace(oid, name).replace(oid[:7], name)
    return re.sub(r'"clock": \d+', '"clock": 0', text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=6)
    parser.add_argument("--versions", type=int, default=8)
    parser.add_argument("--every", type=int, default=2, help="stage changes for every N-th model")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gitreg-check-builder-"))
    try:
        isolate(work)
        roots = {}
        for kind in ("fast", "real"):
            os.environ["GIT_COMMITTER_DATE"] = os.environ["GIT_AUTHOR_DATE"] = "1700000000 +0000"
            roots[kind] = build(work / kind, options.models, options.versions, echo=None,
                                real_stages=kind == "real", every=options.every)
            for var in ("GIT_COMMITTER_DATE", "GIT_AUTHOR_DATE"):
                os.environ.pop(var, None)
        return compare(roots["fast"], roots["real"], options)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def compare(fast: Path, real: Path, options) -> int:
    def fail(what: str, a, b) -> int:
        print(f"DIFFERENT: {what}\n  fast: {a}\n  real: {b}")
        return 1

    for what in ("main", "refs/tags"):
        a = out(fast, "git", "for-each-ref", "--format=%(refname) %(objectname)", what if "/" in what else "refs/heads/main")
        b = out(real, "git", "for-each-ref", "--format=%(refname) %(objectname)", what if "/" in what else "refs/heads/main")
        if a != b:
            return fail(what, a[:300], b[:300])
    branches = out(real, "git", "for-each-ref", "--format=%(refname)", "refs/heads/").split()
    if out(fast, "git", "for-each-ref", "--format=%(refname)", "refs/heads/").split() != branches:
        return fail("branches", out(fast, "git", "branch", "-a"), out(real, "git", "branch", "-a"))
    ids: dict[str, str] = {}
    changes = 0
    for branch in (b for b in branches if b != "refs/heads/main"):
        a, b = first_parent(fast, branch), first_parent(real, branch)
        if len(a) != len(b):
            return fail(f"{branch}: number of commits", len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            ids[x["oid"]] = ids[y["oid"]] = f"<{branch}#{i}>"
        for i, (x, y) in enumerate(zip(a, b)):
            for key in ("tree", "parent_trees", "second_parent", "headers", "message"):
                if normalised(str(x[key]), ids) != normalised(str(y[key]), ids):
                    return fail(f"{branch} commit {i}: {key}", x[key], y[key])
        changes += len(a) - 1
    reads = [("log", "--json"), ("log", model_name(0), "--json"), ("list", "--json"),
             ("history", model_name(0), "--json"), ("search", "stage == production", "--json")]
    for args in reads:
        a = normalised(out(fast, *gitreg(*args)), ids)
        b = normalised(out(real, *gitreg(*args)), ids)
        if a != b:
            return fail(f"gitreg {' '.join(args)}", a[:2000], b[:2000])
    for root in (fast, real):
        proc = subprocess.run(gitreg("verify"), cwd=root, capture_output=True, text=True)
        if proc.returncode != 0:
            return fail(f"gitreg verify in {root.name}", proc.stdout + proc.stderr, "")
    events = len(json.loads(out(fast, *gitreg("log", "--json"))))
    print(f"same: {options.models}×{options.versions} versions, {changes} stage-branch commits, {events} log "
          "events; `gitreg verify` clean on both")
    return 0


if __name__ == "__main__":
    sys.exit(main())
