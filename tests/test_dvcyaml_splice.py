"""Editing one model's ``dvc.yaml`` entry as text gives the same bytes as ruamel's round trip."""

from __future__ import annotations

import random

import pytest

from gitreg.domain import dvcyaml, yamlio


def _entry(name: str, rng: random.Random) -> dict | None:
    if rng.random() < 0.15:
        return None
    entry = {"path": f"models/{name}/model.bin", "type": "model"}
    if rng.random() < 0.5:
        entry["desc"] = rng.choice(["churn model", "a: colon", "'quoted'", "#hash", "multi\nline"])
    if rng.random() < 0.5:
        entry["labels"] = rng.sample(["tabular", "nlp", "yes", "1.0"], 2)
    return entry


@pytest.mark.parametrize("seed", range(5))
def test_a_long_series_of_edits_matches_the_round_trip_byte_for_byte(seed):
    rng = random.Random(seed)
    text = "stages:\n  train:\n    cmd: python train.py\n"
    names = [f"model-{i:02d}" for i in range(20)]  # enough to insert first, between and last, and to delete
    for _ in range(100):
        name = rng.choice(names)
        new = _entry(name, rng)
        fast = dvcyaml.with_entry(text, name, new)
        assert fast == dvcyaml._round_trip(text, name, new)
        text = fast
    assert yamlio.load(text)["stages"] == {"train": {"cmd": "python train.py"}}


@pytest.mark.parametrize("text", [
    "artifacts:\n  b:\n    path: x\n  a:\n    path: y\n",                 # unsorted: ruamel sorts
    "artifacts:\n  a:\n    path: x  # a comment\n",                       # comments stay ruamel's
    "artifacts: {a: {path: x}}\n",                                        # flow style
    "artifacts:\n  a:\n    path: x\n\n  b:\n    path: y\n",               # a blank line inside
    "artifacts:\n  'a b':\n    path: x\n",                                # a quoted key
])
def test_other_shapes_are_left_to_ruamel(text):
    assert dvcyaml._spliced(text, "c", {"path": "models/c/model.bin", "type": "model"}) is None
    assert dvcyaml.with_entry(text, "c", {"path": "z", "type": "model"}) == \
        dvcyaml._round_trip(text, "c", {"path": "z", "type": "model"})
