"""gitreg at 1,000, 10,000 and 100,000 versions: every command timed as a real subprocess, beside the floor.

    python benchmarks/bench_scale.py                                # 1k, 10k and 100k, medians of 3
    python benchmarks/bench_scale.py --sizes 1000,10000 --reps 5 --json results.json --keep /tmp/bench

For each size N it builds (build_registry.py; with --keep DIR it reuses DIR/registry-N) a registry of
N/100 models × 100 versions with stage history, packs its refs as ``git gc`` would (``show`` and
``history`` are also timed once with loose refs, on a fresh build), then times each command REPS times
(median wall seconds, and the peak RSS of the command and the processes it waited for):

- the floor: a Python process making one ``git for-each-ref`` pass over every tag with its message;
- reads: list, show, history, search (selective; matching every version with --json; ``stage ==``),
  log, log NAME, stats; list, log and stats again as the first read of a clone (no
  .git/gitreg/checked-tags, so every card is checked); verify, beside its own floor: the floor plus one ``git cat-file --batch``
  pass over every version's card.yaml, in one Python process;
- writes: register (a new 1 MB artifact each time; the artifact's own md5 and copy are timed too),
  promote and rollback (real, on the registry of that size);
- ``load`` of a small joblib file (a plain dict) in a fresh Python process, against ``joblib.load``
  of the same file in a fresh process; ``gitreg --help``;
- with --gto: GTO's ``gto show`` on the 1,000-version registry.

Targets (issue 9; 2 cores, medians of 3): every read within 3× the floor; verify within 3× its own
floor; register, promote and rollback under 1 s plus the artifact's own hashing and copy; load within
0.1 s of joblib's own; ``--help`` under 0.1 s; the peak memory of every read under 400 MB. Prints one
Markdown table per size and one table of cost against N; --json FILE writes every figure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.build_registry import build, model_name, pack_refs  # noqa: E402

BIN = Path(sys.executable).parent
FLOOR = ("import subprocess; subprocess.run(['git', 'for-each-ref', '--format=%(refname)%00%(contents)', "
         "'refs/tags/'], capture_output=True, check=True)")
VERIFY_FLOOR = (
    "import subprocess\n"
    "out = subprocess.run(['git', 'for-each-ref', '--format=%(refname:strip=2)%00%(contents)', 'refs/tags/'],\n"
    "                     capture_output=True, check=True, text=True).stdout\n"
    "names = [line.split('\\0')[0] for line in out.split('\\n') if '@v' in line.split('\\0')[0]]\n"
    "query = ''.join(f\"{n}:models/{n.split('@v')[0]}/card.yaml\\n\" for n in names)\n"
    "cards = subprocess.run(['git', 'cat-file', '--batch'], input=query.encode(), capture_output=True, check=True)\n"
    "assert cards.stdout.count(b' blob ') >= len(names)\n"
)
ARTIFACT_BYTES = 1 << 20
LOAD_MODEL = "bench-load"
VERSIONS_PER_MODEL = 100
READ_TARGET, WRITE_TARGET, LOAD_TARGET, HELP_TARGET, MEMORY_TARGET = 3.0, 1.0, 0.1, 0.1, 400.0


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


TIME = Path("/usr/bin/time")


def run_once(argv: list[str], cwd: Path, timeout: float | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one run: the largest of the process and those it waited for,
    as ``/usr/bin/time`` reads it (without it: ``RUSAGE_CHILDREN``,
    the largest child so far). ``inf`` seconds: killed after ``timeout``."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        wrapped = [str(TIME), "-f", "%M", "-o", rss.name, *argv] if TIME.exists() else argv
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            stderr = proc.communicate(timeout=timeout)[1]
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
            return float("inf"), 0.0
        seconds = time.perf_counter() - start
        status = proc.returncode
        if status != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({status}): {stderr.decode(errors='replace').strip()}")
        peak_kb = int(rss.read().split()[-1]) if TIME.exists() else resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, peak_kb / 1024


SLOW = 60.0  # a run slower than this is not repeated
TIMEOUT = 900.0  # a run is killed after this (--timeout)


def timed(argv: list[str] | None, cwd: Path, reps: int, before=None) -> dict:
    """Median wall seconds and peak RSS of ``argv`` run ``reps`` times (``before(i)`` gives run i's argv);
    a command slower than SLOW seconds runs once, one slower than TIMEOUT is killed (seconds: inf)."""
    runs = []
    for i in range(reps):
        runs.append(run_once(before(i) if before else argv, cwd, TIMEOUT))
        if runs[-1][0] > SLOW and not before:
            break
    return {"seconds": statistics.median(r[0] for r in runs), "runs": [round(r[0], 3) for r in runs],
            "peak_mb": round(max(r[1] for r in runs), 1)}


def gitreg(*args: str) -> list[str]:
    return [str(BIN / "gitreg"), *args]


def compile_gitreg() -> None:
    """Bytecode as an installed package has it: an editable install under PYTHONDONTWRITEBYTECODE is never
    compiled, and every timed command would then compile gitreg's modules anew (about 0.09 s)."""
    import compileall

    import gitreg

    compileall.compile_dir(Path(gitreg.__file__).parent, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="versions, comma-separated (100 per model)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build in (or reuse from) this folder and keep it")
    parser.add_argument("--real-stage-history", action="store_true",
                        help="make the stage history with the real promote/rollback (slow at scale)")
    parser.add_argument("--gto", action="store_true", help="also time GTO's `gto show` at 1,000 versions")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--build-only", action="store_true", help="only build the registries (with --keep)")
    parser.add_argument("--previous", type=Path, help="a --json FILE of other sizes, for the cost table")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds before one run is killed")
    options = parser.parse_args()
    globals()["TIMEOUT"] = options.timeout
    sizes = [int(size) for size in options.sizes.split(",")]
    if any(size % VERSIONS_PER_MODEL or size <= 0 for size in sizes):
        parser.error(f"every size must be a positive multiple of {VERSIONS_PER_MODEL} (models × 100 versions)")
    work = options.keep or Path(tempfile.mkdtemp(prefix="gitreg-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    isolate(work)
    compile_gitreg()
    if options.build_only and not options.keep:
        parser.error("--build-only needs --keep DIR")
    results = {"reps": options.reps, "cpus": os.cpu_count(), "sizes": []}
    if options.previous:
        results["sizes"] = [s for s in json.loads(options.previous.read_text())["sizes"] if s["versions"] not in sizes]
    try:
        for size in sizes:
            if options.build_only:
                ensure_built(work, size, options)
                continue
            results["sizes"].append(run_size(work, size, options))
            print(size_table(results["sizes"][-1]), flush=True)
            if options.json:
                options.json.write_text(json.dumps(results, indent=2))
    finally:
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    results["sizes"].sort(key=lambda s: s["versions"])
    if len(results["sizes"]) > 1:
        print(cost_table(results["sizes"]))
    if options.json:
        options.json.write_text(json.dumps(results, indent=2))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_built(work: Path, total: int, options) -> tuple[Path, dict]:
    """The registry of ``total`` versions in ``work`` (built unless there), and its build figures:
    build seconds, and ``show``/``history`` timed once with loose refs before they are packed."""
    models = total // VERSIONS_PER_MODEL
    root, notes = work / f"registry-{total}", work / f"registry-{total}.build.json"
    if not root.exists():
        log(f"building {total} versions…")
        started = time.perf_counter()
        build(root, models, VERSIONS_PER_MODEL, echo=log, real_stages=options.real_stage_history, pack=False)
        figures = {"build_seconds": round(time.perf_counter() - started, 1)}
        log(f"  built in {figures['build_seconds']} s")
        name = model_name(models // 2)
        figures["loose_refs"] = {what: round(run_once(gitreg(what, name), root)[0], 3) for what in ("show", "history")}
        pack_refs(root)
        notes.write_text(json.dumps(figures))
    return root, json.loads(notes.read_text()) if notes.exists() else {}


def run_size(work: Path, total: int, options) -> dict:
    models = total // VERSIONS_PER_MODEL
    root, figures = ensure_built(work, total, options)
    result: dict = {"versions": total, "models": models, "reps": options.reps, **figures, "rows": []}
    name = model_name(models // 2)
    result["stage_commits"] = int(subprocess.run(
        ["git", "rev-list", "--count", "--first-parent", "stage/dev", "stage/staging", "stage/production"],
        cwd=root, capture_output=True, text=True).stdout.strip() or 0)
    reps = options.reps
    log(f"timing at {total} versions…")

    def add(command: str, kind: str, figures: dict, target: str = "", met: bool | None = None) -> None:
        key = re.sub(r"model-\d+", "NAME", command)
        result["rows"].append({"command": command, "key": key, "kind": kind, **figures,
                               "seconds": round(figures["seconds"], 3), "target": target, "met": met})
        log(f"  {command}: {figures['seconds']:.3f} s (runs {figures['runs']}), {figures['peak_mb']} MB")

    floor = timed([sys.executable, "-c", FLOOR], root, reps)
    add("floor: one `git for-each-ref` pass (Python)", "floor", floor)
    add("`python -c pass` (the interpreter's own start-up)", "floor", timed([sys.executable, "-c", "pass"], root, reps))
    help_ = timed(gitreg("--help"), root, reps)
    add("`gitreg --help`", "help", help_, f"< {HELP_TARGET} s", help_["seconds"] < HELP_TARGET)
    reads = [
        ("list", gitreg("list")),
        (f"show {name}", gitreg("show", name)),
        (f"history {name}", gitreg("history", name)),
        ("search 'metrics.accuracy >= 0.95 and labels contains \"candidate\"'",
         gitreg("search", 'metrics.accuracy >= 0.95 and labels contains "candidate"')),
        ("search 'metrics.accuracy >= 0' --json (every version)", gitreg("search", "metrics.accuracy >= 0", "--json")),
        ("search 'stage == production'", gitreg("search", "stage == production")),
        ("log", gitreg("log")),
        (f"log {model_name(0)}", gitreg("log", model_name(0))),
        ("stats", gitreg("stats")),
    ]
    for what, argv in reads:
        figures = timed(argv, root, reps)
        ok = figures["seconds"] <= READ_TARGET * floor["seconds"] and figures["peak_mb"] < MEMORY_TARGET
        add(f"`gitreg {what}`", "read", figures, f"≤ {READ_TARGET:g}× floor, < {MEMORY_TARGET:g} MB", ok)
    add_first_reads(root, reps, add, floor)
    for row in result["rows"]:
        row["x_floor"] = round(row["seconds"] / floor["seconds"], 2)
    add_writes(root, models, reps, add, result)
    add_load(root, reps, add, result)
    # verify last: at scale it is the slowest; its own floor stands beside it
    verify_floor = timed([sys.executable, "-c", VERIFY_FLOOR], root, reps)
    add("verify floor: the floor + one `cat-file --batch` pass over every card", "floor", verify_floor)
    figures = timed(gitreg("verify"), root, reps)
    ok = figures["seconds"] <= READ_TARGET * verify_floor["seconds"] and figures["peak_mb"] < MEMORY_TARGET
    add("`gitreg verify`", "read", figures, f"≤ {READ_TARGET:g}× verify floor, < {MEMORY_TARGET:g} MB", ok)
    result["rows"][-2]["x_floor"] = round(verify_floor["seconds"] / floor["seconds"], 2)
    result["rows"][-1]["x_floor"] = round(figures["seconds"] / verify_floor["seconds"], 2)
    if options.gto and total == 1000:
        gto = timed([str(BIN / "gto"), "show"], root, reps)
        add("`gto show` (GTO 1.x)", "gto", {**gto, "x_floor": round(gto["seconds"] / floor["seconds"], 2)})
    return result


def add_first_reads(root: Path, reps: int, add, floor: dict) -> None:
    """Reads of a clone that has not read its tags before (a fresh clone, CI): every card is checked,
    none is remembered yet in .git/gitreg/checked-tags (the reads above find it written)."""
    remembered = root / ".git" / "gitreg" / "checked-tags"
    for what in ("list", "log", "stats"):
        def first_read(_: int, what=what) -> list[str]:
            remembered.unlink(missing_ok=True)
            return gitreg(what)

        figures = timed(None, root, reps, first_read)
        ok = figures["seconds"] <= READ_TARGET * floor["seconds"] and figures["peak_mb"] < MEMORY_TARGET
        add(f"`gitreg {what}`, first read of the clone", "read", figures,
            f"≤ {READ_TARGET:g}× floor, < {MEMORY_TARGET:g} MB", ok)


def add_writes(root: Path, models: int, reps: int, add, result: dict) -> None:
    artifact = root.parent / f"artifact-{models}.bin"

    def fresh_artifact(i: int) -> list[str]:
        artifact.write_bytes(os.urandom(ARTIFACT_BYTES))
        return gitreg("register", model_name(1), str(artifact), "--metric", f"accuracy=0.9{i}")

    times = []
    for _ in range(reps):
        artifact.write_bytes(os.urandom(ARTIFACT_BYTES))
        started = time.perf_counter()
        hashlib.md5(artifact.read_bytes()).hexdigest()
        shutil.copyfile(artifact, root.parent / "artifact.copy")
        times.append(time.perf_counter() - started)
    hash_copy = statistics.median(times)
    result["artifact_hash_and_copy_seconds"] = round(hash_copy, 4)
    target = f"< {WRITE_TARGET:g} s + hash and copy"
    figures = timed(None, root, reps, fresh_artifact)
    add("`gitreg register` (1 MB artifact)", "write", figures, target, figures["seconds"] < WRITE_TARGET + hash_copy)
    # a model no stage history touched (that is every 10th model): promote REPS versions, then roll all back
    name = model_name(models - 1)
    versions = subprocess.run(["git", "tag", "--list", f"{name}@v*", "--sort=-v:refname"], cwd=root,
                              capture_output=True, text=True, check=True).stdout.split()[:reps][::-1]
    figures = timed(None, root, reps, lambda i: gitreg("promote", *versions[i].split("@v"), "staging"))
    add(f"`gitreg promote {name} … staging`", "write", figures, target, figures["seconds"] < WRITE_TARGET + hash_copy)
    figures = timed(gitreg("rollback", name, "staging"), root, reps)
    add(f"`gitreg rollback {name} staging`", "write", figures, target, figures["seconds"] < WRITE_TARGET + hash_copy)
    for row in result["rows"][-3:]:
        row["x_floor"] = None


def add_load(root: Path, reps: int, add, result: dict) -> None:
    payload = root.parent / "model.joblib"
    code = ("import joblib; joblib.dump({'weights': [float(i) for i in range(20000)], 'classes': [0, 1], "
            f"'blob': bytes(range(256)) * 64}}, {str(payload)!r})")
    subprocess.run([sys.executable, "-c", code], check=True)
    tags = subprocess.run(["git", "tag", "--list", f"{LOAD_MODEL}@v*"], cwd=root, capture_output=True, text=True,
                          check=True).stdout.split()
    if not tags:
        run_once(gitreg("register", LOAD_MODEL, str(payload)), root)
    own = timed([sys.executable, "-c", f"import joblib; joblib.load({str(payload)!r})"], root, reps)
    ours = timed([sys.executable, "-c", f"from gitreg import Registry; Registry('.').load({LOAD_MODEL!r})"],
                 root, reps)
    add("`joblib.load` of the same file (fresh process)", "floor", {**own, "x_floor": None})
    add("`Registry.load` (fresh process)", "load", {**ours, "x_floor": None}, f"≤ joblib + {LOAD_TARGET:g} s",
        ours["seconds"] <= own["seconds"] + LOAD_TARGET)


def size_table(result: dict) -> str:
    head = (f"### {result['versions']:,} versions ({result['models']} models × {VERSIONS_PER_MODEL}), "
            f"{result['stage_commits']} stage-branch commits, median of {result['reps']} runs, "
            f"{os.cpu_count()} CPUs")
    if "build_seconds" in result:
        head += f"; built in {result['build_seconds']} s"
    lines = [head + ".", "", "| command | seconds | × floor | peak MB | target | |", "|---|---:|---:|---:|---|---|"]
    for row in result["rows"]:
        ratio = "" if row.get("x_floor") is None else f"{row['x_floor']:.1f}"
        verdict = "" if row["met"] is None else ("met" if row["met"] else "**MISSED**")
        lines.append(f"| {row['command']} | {row['seconds']:.3f} | {ratio} | {row['peak_mb']:.0f} | "
                     f"{row['target']} | {verdict} |")
    lines.append(f"\nThe artifact's own md5 and copy (1 MB): {result['artifact_hash_and_copy_seconds']:.3f} s.")
    if "loose_refs" in result:
        loose = result["loose_refs"]
        lines.append(f"With loose refs (before `git pack-refs --all`), one run: show {loose['show']:.3f} s, "
                     f"history {loose['history']:.3f} s.")
    return "\n".join(lines) + "\n"


def cost_table(sizes: list[dict]) -> str:
    """Seconds (× floor) against N; 'growth' is how much faster than the floor a command grew from the
    smallest to the largest N (1.0: as the floor; a write should stay flat, i.e. below 1)."""
    lines = ["### Cost against N", "",
             "| command | " + " | ".join(f"{s['versions']:,}" for s in sizes) + " | growth vs floor | target |",
             "|---|" + "---:|" * len(sizes) + "---:|---|"]
    floors = [next(r for r in s["rows"] if r["kind"] == "floor")["seconds"] for s in sizes]
    keys = list(dict.fromkeys(row["key"] for s in sizes for row in s["rows"]))
    for key in keys:
        rows = [next((r for r in s["rows"] if r["key"] == key), None) for s in sizes]
        command = key
        cells = []
        for row in rows:
            if row is None:
                cells.append("–")
                continue
            ratio = "" if row.get("x_floor") is None else f" ({row['x_floor']:.1f}×)"
            mark = "" if row["met"] is None else (" ✓" if row["met"] else " **MISSED**")
            cells.append(f"{row['seconds']:.3f}{ratio}{mark}")
        known = [(r, f) for r, f in zip(rows, floors) if r]
        growth = ""
        if len(known) > 1:
            (first, f0), (last, f1) = known[0], known[-1]
            value = (last["seconds"] / first["seconds"]) / (f1 / f0)
            growth = f"{value:.2f}" + (" **grows faster**" if value > 1.5 else "")
        lines.append(f"| {command} | " + " | ".join(cells) + f" | {growth} | {next((r['target'] for r in rows if r), '')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
