"""A stage change reads only its model's tags and the tags the stage's cards claim; whenever that
narrow read sees stage content it cannot match, it reads every tag, so it never disagrees with the
full resolver."""

from __future__ import annotations

from dataclasses import replace

from gitreg.domain.version import tag_message
from tests.conftest import git


def hand_formatted_version(registry, name: str, version: str) -> None:
    """A valid version whose card a person formatted: its ``version:`` line carries a comment, so the
    quick claim (the card's plain top-level lines) does not name it; YAML does."""
    card = replace(registry.show(name).card, version=version)
    text = card.to_yaml().replace(f"version: {version}\n", f"version: {version}  # by hand\n")
    assert "# by hand" in text
    (registry.root / "models" / name / "card.yaml").write_text(text)
    git(registry.root, "add", f"models/{name}")
    git(registry.root, "commit", "-qm", f"Register {name} v{version}")
    git(registry.root, "tag", "-a", f"{name}@v{version}", "-m", tag_message(card))


def test_a_stage_holding_a_hand_formatted_version_takes_other_models(registry, artifact):
    registry.register("n", artifact)
    hand_formatted_version(registry, "n", "0.2.0")
    registry.promote("n", "0.2.0", "staging")
    artifact.write_bytes(b"other weights" * 50)
    registry.register("m", artifact)

    registry.promote("m", "0.1.0", "staging")  # its narrow snapshot cannot name n's version by the quick claim

    assert {name: v.version for name, v in registry.stages()["staging"].entries.items()} == \
        {"m": "0.1.0", "n": "0.2.0"}
    assert registry.verify() == []
