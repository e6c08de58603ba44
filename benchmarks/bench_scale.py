"""gitreg at 10,000 versions: every command timed as a real subprocess, beside the floor and GTO.

    python benchmarks/bench_scale.py                  # 100 models × 100 versions, 5 repetitions
    python benchmarks/bench_scale.py --reps 9 --json results.json --keep /tmp/bench

Builds (see build_registry.py) a registry of MODELS × VERSIONS real version tags with stage history
made by the real Registry.promote/rollback, then times each command REPS times (median):

- the floor: a Python process that makes one ``git for-each-ref`` pass over every tag with its message;
- read commands: list, show NAME, history NAME, search (index only, and with ``stage ==``), log, stats;
- writes: register (a new 1 MB artifact each time) and promote;
- ``gitreg --help``;
- at 1,000 versions (100 models × 10, the same kind of tags): the floor, ``gitreg list`` and GTO's ``gto show``.

Targets (2 cores): reads within 5× the floor and under 1 s; register and promote under 1.5 s plus
the artifact's own hashing and copy; ``gitreg --help`` under 0.25 s. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.build_registry import build, model_name  # noqa: E402

BIN = Path(sys.executable).parent
FLOOR = ("import subprocess; subprocess.run(['git', 'for-each-ref', '--format=%(refname)%00%(contents)', "
         "'refs/tags/'], capture_output=True, check=True)")
ARTIFACT_BYTES = 1 << 20


def isolate(work: Path) -> None:
    """A private HOME and Git/DVC configuration, like the test suite's."""
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    config = home / ".gitconfig"
    config.write_text("[user]\n\tname = Bench Mark\n\temail = bench@example.com\n[init]\n\tdefaultBranch = main\n")
    os.environ.update({"HOME": str(home), "GIT_CONFIG_GLOBAL": str(config), "GIT_CONFIG_NOSYSTEM": "1",
                       "DVC_SITE_CACHE_DIR": str(home / "dvc-site"), "DVC_GLOBAL_CONFIG_DIR": str(home / "dvc-g"),
                       "DVC_SYSTEM_CONFIG_DIR": str(home / "dvc-s"), "DVC_NO_ANALYTICS": "1"})
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMITTER_DATE", "GIT_AUTHOR_DATE"):
        os.environ.pop(var, None)


def timed(argv: list[str], cwd: Path, reps: int, before=None) -> tuple[float, list[float]]:
    """Median wall time of ``argv`` run ``reps`` times (``before(i)`` prepares run i, untimed)."""
    times = []
    for i in range(reps):
        args = before(i) if before else argv
        start = time.perf_counter()
        proc = subprocess.run(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return statistics.median(times), times


def gitreg(*args: str) -> list[str]:
    return [str(BIN / "gitreg"), *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--versions", type=int, default=100, help="versions per model")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build in this (new) folder and keep it")
    parser.add_argument("--skip-gto", action="store_true", help="skip the 1,000-version GTO comparison")
    parser.add_argument("--json", type=Path, help="also write the results here")
    options = parser.parse_args()
    work = options.keep or Path(tempfile.mkdtemp(prefix="gitreg-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    isolate(work)
    try:
        results = run(work, options)
    finally:
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(table(results))
    if options.json:
        options.json.write_text(json.dumps(results, indent=2))


def run(work: Path, options) -> dict:
    total = options.models * options.versions
    results: dict = {"models": options.models, "versions": total, "reps": options.reps, "cpus": os.cpu_count(),
                     "rows": []}
    started = time.perf_counter()
    print(f"building {total} versions…", file=sys.stderr)
    root = build(work / "registry", options.models, options.versions, echo=lambda m: print(m, file=sys.stderr))
    results["build_seconds"] = round(time.perf_counter() - started, 1)
    results["stage_changes"] = int(subprocess.run(
        ["git", "rev-list", "--count", "--first-parent", "stage/dev", "stage/staging", "stage/production"],
        cwd=root, capture_output=True, text=True).stdout.strip() or 0)
    reps = options.reps
    floor, _ = timed([sys.executable, "-c", FLOOR], root, reps)
    add = lambda what, kind, seconds: results["rows"].append(  # noqa: E731
        {"command": what, "kind": kind, "versions": total, "seconds": round(seconds, 3),
         "x_floor": round(seconds / floor, 1)})
    add("floor: one `git for-each-ref` pass (Python)", "floor", floor)
    add("`gitreg --help`", "help", timed(gitreg("--help"), root, reps)[0])
    name = model_name(options.models // 2)
    reads = [
        ("list", gitreg("list")),
        (f"show {name}", gitreg("show", name)),
        (f"history {name}", gitreg("history", name)),
        ("search 'metrics.accuracy >= 0.95 and labels contains \"candidate\"'",
         gitreg("search", 'metrics.accuracy >= 0.95 and labels contains "candidate"')),
        ("search 'stage == production' --sort metrics.f1 --desc",
         gitreg("search", "stage == production", "--sort", "metrics.f1", "--desc")),
        ("log", gitreg("log")),
        ("stats", gitreg("stats")),
    ]
    for what, argv in reads:
        add(f"`gitreg {what}`", "read", timed(argv, root, reps)[0])
    add_writes(root, options, reps, add, results)
    if not options.skip_gto:
        add_gto(work, options, reps, results)
    return results


def add_writes(root: Path, options, reps: int, add, results: dict) -> None:
    artifact = root.parent / "artifact.bin"

    def fresh_artifact(i: int) -> list[str]:
        artifact.write_bytes(os.urandom(ARTIFACT_BYTES))
        return gitreg("register", model_name(1), str(artifact), "--metric", f"accuracy=0.9{i}")

    add("`gitreg register` (1 MB artifact)", "write", timed([], root, reps, fresh_artifact)[0])
    started = time.perf_counter()
    for _ in range(reps):
        artifact.write_bytes(os.urandom(ARTIFACT_BYTES))
        hashlib.md5(artifact.read_bytes()).hexdigest()
        shutil.copyfile(artifact, root.parent / "artifact.copy")
    results["artifact_hash_and_copy_seconds"] = round((time.perf_counter() - started) / reps, 3)
    target = model_name(options.models - 1)
    versions = subprocess.run(["git", "tag", "--list", f"{target}@v*", "--sort=-v:refname"], cwd=root,
                              capture_output=True, text=True).stdout.split()
    add("`gitreg promote`", "write", timed([], root, reps, lambda i: gitreg(
        "promote", target, versions[i].split("@v")[1], "staging"))[0])


def add_gto(work: Path, options, reps: int, results: dict) -> None:
    small_versions = max(1, 1000 // options.models)
    print(f"building {options.models * small_versions} versions for GTO…", file=sys.stderr)
    root = build(work / "registry-1k", options.models, small_versions, stages=False, echo=None)
    total = options.models * small_versions
    floor, _ = timed([sys.executable, "-c", FLOOR], root, reps)
    rows = [("floor: one `git for-each-ref` pass (Python)", floor),
            ("`gitreg list`", timed(gitreg("list"), root, reps)[0]),
            (f"`gitreg show {model_name(0)}`", timed(gitreg("show", model_name(0)), root, reps)[0]),
            ("`gto show` (GTO 1.x)", timed([str(BIN / "gto"), "show"], root, max(1, min(3, reps)))[0])]
    for what, seconds in rows:
        results["rows"].append({"command": what, "kind": "gto" if "gto" in what else "small", "versions": total,
                                "seconds": round(seconds, 3), "x_floor": round(seconds / floor, 1)})


def table(results: dict) -> str:
    floor = next(row["seconds"] for row in results["rows"] if row["kind"] == "floor")
    hash_copy = results.get("artifact_hash_and_copy_seconds", 0)
    lines = [f"{results['versions']} versions ({results['models']} models), {results.get('stage_changes', 0)} "
             f"stage-branch commits, median of {results['reps']} runs, {results['cpus']} CPUs; "
             f"built in {results['build_seconds']} s.", "",
             "| command | versions | seconds | × floor | target |", "|---|---:|---:|---:|---|"]
    for row in results["rows"]:
        lines.append(f"| {row['command']} | {row['versions']:,} | {row['seconds']:.2f} | {row['x_floor']:.1f} | "
                     f"{verdict(row, floor, hash_copy)} |")
    lines.append(f"\nThe artifact's own hashing and copy (1 MB): {hash_copy:.3f} s.")
    return "\n".join(lines)


def verdict(row: dict, floor: float, hash_copy: float) -> str:
    seconds = row["seconds"]
    if row["kind"] == "read":
        ok = seconds <= 5 * floor and seconds < 1
        return f"{'met' if ok else 'MISSED'} (≤ 5× floor, < 1 s)"
    if row["kind"] == "write":
        ok = seconds < 1.5 + hash_copy
        return f"{'met' if ok else 'MISSED'} (< 1.5 s + hashing and copy)"
    if row["kind"] == "help":
        return f"{'met' if seconds < 0.25 else 'MISSED'} (< 0.25 s)"
    return ""


if __name__ == "__main__":
    main()
