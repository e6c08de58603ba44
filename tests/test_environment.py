"""An environment that reproduces (issue 11, part 5): the packages a model needs (the distributions its types
come from, and what they require) with Python and the platform; `gitreg env --requirements` for pip; load's
differences as one readable line each in the CLI."""

from __future__ import annotations

import json
import re

from tests.conftest import snapshot
from tests.test_compare import cancer_csv  # noqa: F401  (fixture)


def test_the_card_records_the_packages_the_model_needs(registry, make_model, run):
    card = registry.register("cancer", make_model()).card
    packages = card.environment["packages"]
    assert {"scikit-learn", "scipy", "threadpoolctl", "numpy", "joblib", "skops"} <= set(packages)
    assert card.environment["platform"] and card.environment["python"]
    lines = run("env", "cancer", "--requirements").stdout.splitlines()
    assert lines[0].startswith("# python ") and lines[1].startswith("# platform ")
    assert all(re.fullmatch(r"[a-z0-9-]+==[\w.+-]+", line) for line in lines[2:]) and len(lines[2:]) == len(packages)
    assert json.loads(run("env", "cancer", "--json").stdout) == card.environment
    assert "scikit-learn" in run("env", "cancer").stdout


def test_a_file_registers_only_its_format_s_packages(registry, artifact):
    card = registry.register("blob", artifact).card  # bytes of no known format: nothing is guessed
    assert set(card.environment["packages"]) <= {"joblib", "numpy", "scikit-learn"}


def test_load_in_the_cli_names_each_difference_on_one_line(registry, make_model, run, monkeypatch, cancer_csv):  # noqa: F811
    from gitreg.services import provenance

    monkeypatch.setattr(provenance, "current_platform", lambda: "Plan9-pdp11")
    registry.register("cancer", make_model())
    monkeypatch.undo()
    result = run("compare", "cancer@0.1.0", "cancer@0.1.0", "--data", str(cancer_csv), "--target", "diagnosis")
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert any(re.fullmatch(r"warning: cancer@v0\.1\.0 was registered with platform Plan9-pdp11 -> \S+", line)
               for line in warned), result.stderr
    assert "Warning:" not in result.stderr and ".py:" not in result.stderr


def test_env_of_a_missing_version_changes_nothing(registry, artifact, run):
    registry.register("m", artifact)
    before = snapshot(registry.root)
    assert "m has no version 9.9.9" in run("env", "m@9.9.9", expect=5).stderr
    assert snapshot(registry.root) == before
