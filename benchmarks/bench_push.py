"""register --push of a large artifact to a directory DVC remote, beside the floor measured in the
same run (md5 of the file plus one copy of it). Target: at most 1.5 x floor + 0.5 s.

Run by hand:  python benchmarks/bench_push.py [--mb 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def floor(artifact: Path, scratch: Path) -> float:
    start = time.perf_counter()
    digest = hashlib.md5()
    with open(artifact, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    shutil.copyfile(artifact, scratch / "copy.bin")
    elapsed = time.perf_counter() - start
    (scratch / "copy.bin").unlink()
    return elapsed


def setup(work: Path) -> Path:
    bare = work / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    root = work / "registry"
    gitreg = [sys.executable, "-m", "gitreg"]
    subprocess.run([*gitreg, "init", str(root), "--remote", str(work / "store")], check=True, capture_output=True)
    subprocess.run(["git", "remote", "add", "origin", str(bare)], cwd=root, check=True)
    subprocess.run([*gitreg, "-C", str(root), "push"], check=True, capture_output=True)
    return root


def register_push(root: Path, artifact: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gitreg", "-C", str(root), "register", "big", str(artifact),
                    "--bump", "patch", "--push"], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gitreg-bench-") as tmp:
        work = Path(tmp)
        root = setup(work)
        floors, runs = [], []
        for n in range(args.repeat):
            artifact = work / f"weights-{n}.bin"
            artifact.write_bytes(os.urandom(args.mb << 20))
            floors.append(floor(artifact, work))
            runs.append(register_push(root, artifact))
        f, r = statistics.median(floors), statistics.median(runs)
        target = 1.5 * f + 0.5
        print(f"artifact            {args.mb} MB, median of {args.repeat}")
        print(f"floor (md5 + copy)  {f:.2f} s")
        print(f"register --push     {r:.2f} s")
        print(f"target              {target:.2f} s  ->  {'met' if r <= target else 'MISSED'} ({r / f:.2f} x floor)")


if __name__ == "__main__":
    main()
