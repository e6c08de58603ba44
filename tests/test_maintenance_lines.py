"""Maintenance lines (issue 10, part 5): a fix ships to an older line (2.4.1 after 3.0.0), no line is reordered,
`--bump patch --line 2.4` bumps within a line, and the server's hook applies the same rule."""

from __future__ import annotations

import pytest

from gitreg.domain import versioning
from gitreg.errors import ConflictError, InvalidInputError, NotFoundError
from tests.conftest import snapshot

EXISTING = ["1.0.0", "2.4.0", "2.5.0", "3.0.0"]


@pytest.mark.parametrize("version", ["2.4.1", "2.5.3", "2.6.0", "1.0.1", "1.1.0", "3.0.1", "3.1.0", "4.0.0"])
def test_a_version_greater_than_the_latest_of_its_line_is_allowed(version):
    assert versioning.next_version(EXISTING, version, None, False) == version


@pytest.mark.parametrize("version, why", [
    ("2.4.0-rc.1", "in line 2.4, version 2.4.0-rc.1 is not greater than the latest version 2.4.0"),
    ("2.3.9", "in line 2, version 2.3.9 is not greater than the latest version 2.5.0"),
    ("0.9.0", "version 0.9.0 is not greater than the latest version 3.0.0"),
])
def test_a_version_that_would_reorder_a_line_is_refused(version, why):
    with pytest.raises(ConflictError, match=why.replace(".", r"\.")):
        versioning.next_version(EXISTING, version, None, False)


def test_bumps_within_a_line_and_their_refusals():
    assert versioning.next_version(EXISTING, None, "patch", False, line="2.4") == "2.4.1"
    assert versioning.next_version(EXISTING, None, "minor", False, line="2") == "2.6.0"
    assert versioning.next_version(EXISTING, None, "patch", False, line="v1") == "1.0.1"
    with pytest.raises(InvalidInputError, match="use --bump patch"):
        versioning.next_version(EXISTING, None, "minor", False, line="2.4")
    with pytest.raises(InvalidInputError, match="invalid line"):
        versioning.next_version(EXISTING, None, "patch", False, line="2.x")
    with pytest.raises(NotFoundError, match="no version in line 7.1"):
        versioning.next_version(EXISTING, None, "patch", False, line="7.1")
    with pytest.raises(InvalidInputError, match="not --version"):
        versioning.next_version(EXISTING, "2.4.1", None, False, line="2.4")


def test_register_ships_a_fix_to_an_older_line_and_latest_stays_the_highest(registry, artifact, run, clock):
    for n, version in enumerate(("2.4.0", "3.0.0")):
        artifact.write_bytes(f"w{n}".encode() * 100)
        registry.register("m", artifact, version=version)
        clock.tick()
    artifact.write_bytes(b"fix" * 100)
    assert registry.register("m", artifact, version="2.4.1").version == "2.4.1"
    artifact.write_bytes(b"fix2" * 100)
    run("register", "m", str(artifact), "--bump", "patch", "--line", "2.4")
    assert [v.version for v in registry.history("m")] == ["3.0.0", "2.4.2", "2.4.1", "2.4.0"]
    assert registry.resolve("m").version == "3.0.0"
    before = snapshot(registry.root)
    artifact.write_bytes(b"late" * 100)
    result = run("register", "m", str(artifact), "--version", "2.3.0", expect=6)
    assert "in line 2, version 2.3.0 is not greater than the latest version 2.4.2" in result.stderr
    assert run("register", "m", str(artifact), "--bump", "patch", "--line", "9.9", expect=5).stderr
    assert snapshot(registry.root) == before


def test_the_hook_applies_the_same_rule():
    from gitreg.domain.version import ModelVersion
    from gitreg.services import hook

    def version(text):
        return ModelVersion("m", text, f"m@v{text}", "0" * 40, "{}")

    existing = [version(v) for v in EXISTING]
    assert hook._version_order(existing, [version("2.4.1"), version("3.0.1")]) == []
    refused = hook._version_order(existing, [version("2.3.9")])
    assert len(refused) == 1 and "in line 2, version 2.3.9 is not greater than the latest version 2.5.0" in refused[0]
