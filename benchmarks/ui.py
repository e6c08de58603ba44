"""``gitreg ui`` and ``gitreg report`` at 10,000 versions: server start-up and every page, timed.

    python benchmarks/ui.py                         # builds /tmp/gitreg-ui-bench/registry-10000 once
    python benchmarks/ui.py --keep DIR --reps 5 --json results.json

Builds (or reuses) a registry of 100 models x 100 versions with stage history (build_registry.py), then:

- start-up: ``gitreg ui`` as a real subprocess, from exec to its first answered request (the process
  imports, opens the registry, binds, and answers ``/static/style.css``);
- each page over HTTP: the first answer of a new server (after its start-up read) and then warm (median
  of REPS, wall and this process's CPU: the server runs in it);
- a page from a fresh read of the registry: what the server reads in the background after the refs
  change (visitors meanwhile get pages from the previous read);
- ``gitreg report`` of the whole registry (every model, version and consecutive diff page).

Targets (issue 14): start-up under 1 s, every warm page under 300 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.build_registry import build, model_name  # noqa: E402

PAGES = {
    "models": "/",
    "models page 2": "/?page=2",
    "model": f"/model/{model_name(0)}",
    "model page 2": f"/model/{model_name(0)}?page=2",
    "version": f"/model/{model_name(0)}/v/1.0.0",
    "diff": f"/diff?a={model_name(0)}@1.0.0&b={model_name(0)}@2.0.0",
    "log": "/log",
    "log filtered": f"/log?model={model_name(10)}&action=promote&since=2024-06-01",
    "log page 50": "/log?page=50",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_up(root: Path) -> float:
    port = free_port()
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "gitreg", "ui", "--port", str(port)], cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/static/style.css", timeout=5).read()
                return time.perf_counter() - began
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("gitreg ui exited") from None
                time.sleep(0.005)
    finally:
        proc.terminate()
        proc.wait()


def fetch(url: str, cpu: list | None = None) -> float:
    """Wall seconds of one request; ``cpu`` gets the CPU seconds this process spent on it (the server runs
    in this process: a figure a loaded machine does not inflate)."""
    began, began_cpu = time.perf_counter(), time.process_time()
    with urllib.request.urlopen(url, timeout=30) as answer:
        answer.read()
        assert answer.status == 200, url
    if cpu is not None:
        cpu.append(time.process_time() - began_cpu)
    return time.perf_counter() - began


def pages(root: Path, reps: int) -> dict[str, dict[str, float]]:
    from gitreg import Registry
    from gitreg.web import server

    results = {}
    for name, path in PAGES.items():
        httpd = server.serve(Registry(root), port=0)  # a new server: its first answer reads the registry
        while any(t.name == "gitreg-ui-warm" for t in threading.enumerate()):
            time.sleep(0.01)  # what `gitreg ui` reads right after it starts, before a visitor comes
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{httpd.server_address[1]}{path}"
        first = fetch(url)
        cpu: list[float] = []
        warm = statistics.median(fetch(url, cpu) for _ in range(reps))
        results[name] = {"first": round(first, 4), "warm": round(warm, 4), "cpu": round(statistics.median(cpu), 4)}
        httpd.shutdown()
        httpd.server_close()
    return results


def cold_state(root: Path) -> dict[str, float]:
    """A page from a State read from nothing: what the server's background read costs after the refs change
    (visitors meanwhile get pages from the previous read)."""
    from gitreg import Registry
    from gitreg.web import pages as page_data

    found = {}
    for name, build_page in (("models", lambda s: page_data.models_page(s)),
                             ("model", lambda s: page_data.model_page(s, model_name(0))),
                             ("log", lambda s: page_data.log_page(s))):
        state = page_data.State(Registry(root))
        began = time.perf_counter()
        build_page(state)
        found[name] = round(time.perf_counter() - began, 4)
    return found


def report(root: Path) -> float:
    out = Path(tempfile.mkdtemp(prefix="gitreg-report-")) / "site"
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gitreg", "report", "-o", str(out)], cwd=root, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, default=Path(tempfile.gettempdir()) / "gitreg-ui-bench")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--no-report", action="store_true", help="Skip timing `gitreg report`.")
    args = parser.parse_args()
    root = args.keep / "registry-10000"
    if not root.exists():
        print(f"building {root} (100 models x 100 versions) ...")
        build(root, 100, 100, echo=None)
    os.environ.setdefault("PYTHONPATH", str(Path(__file__).resolve().parent.parent))
    results = {"start-up": round(statistics.median(start_up(root) for _ in range(args.reps)), 4),
               "pages": pages(root, args.reps), "cold state": cold_state(root)}
    if not args.no_report:
        results["report"] = round(report(root), 2)
    print(f"gitreg ui at 10,000 versions (medians of {args.reps}; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores)\n")
    print(f"start-up (exec to first answer): {results['start-up'] * 1000:.0f} ms\n")
    print("| page | first answer of a new server (ms) | warm (ms) | warm, CPU (ms) |\n|---|---|---|---|")
    for name, timing in results["pages"].items():
        print(f"| {name} | {timing['first'] * 1000:.0f} | {timing['warm'] * 1000:.0f} | {timing['cpu'] * 1000:.0f} |")
    print("\nbuilding a page from a fresh read of the refs (what the server does in the background after a "
          "change, while pages still come from the previous read) (ms): "
          + ", ".join(f"{name} {value * 1000:.0f}" for name, value in results["cold state"].items()))
    if "report" in results:
        print(f"\ngitreg report of the whole registry: {results['report']:.1f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
