"""Other tools read a gitreg registry: GTO lists its versions, `dvc artifacts get` downloads them."""

from __future__ import annotations

import hashlib


def test_gto_and_dvc_artifacts_read_the_registry(tmp_path, new_registry, clock, artifact):
    registry = new_registry(tmp_path / "reg", remote=tmp_path / "dvc-remote")
    first = registry.register("churn", artifact)
    clock.tick()
    artifact.write_bytes(b"weights-v2" * 100)
    registry.register("churn", artifact)
    from gitreg.io import dvc

    dvc.push(registry.root)

    from gto.api import show

    rows = show(str(registry.root), "churn", table=False)
    assert sorted(row["version"] for row in rows) == ["v0.1.0", "v0.2.0"]

    from dvc.repo.artifacts import Artifacts

    out = tmp_path / "got.bin"
    Artifacts.get(str(registry.root), "churn", version="v0.1.0", out=str(out))
    assert hashlib.md5(out.read_bytes()).hexdigest() == first.card.artifact.md5
