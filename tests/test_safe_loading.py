"""Safe by default: objects are saved with skops and load only the types their card lists; a pickle is
never unpickled by register, --dry-run, show or compare without data, and a registry can refuse or
warn about pickles at load. Each hostile case proves its payload did not run."""

from __future__ import annotations

import json
import pickle
import subprocess
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest

from gitreg import PickleWarning, Registry, UntrustedArtifactError
from gitreg.domain.card import Card
from gitreg.domain.version import ModelVersion
from gitreg.errors import ArtifactError, CardError, InvalidInputError
from tests.conftest import git, snapshot
from tests.test_bad_input import refused, refused_api
from tests.test_hostile import commit_file


class Payload:
    """Unpickling it creates ``marker``: the proof that a pickle ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


@pytest.fixture
def evil(tmp_path) -> tuple[Path, Path]:
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.joblib"
    path.write_bytes(pickle.dumps(Payload(marker)))
    return path, marker


def set_pickle_policy(root: Path, policy: str) -> None:
    text = (root / ".gitreg.yaml").read_text() + f"load:\n  pickle: {policy}\n"
    commit_file(root, ".gitreg.yaml", text, f"pickles: {policy}")


def test_a_malicious_pickle_never_runs_in_register_dry_run_show_or_compare(registry, run, evil, clock):
    path, marker = evil
    run("register", "evil", str(path), "--dry-run")
    run("register", "evil", str(path), "--json")
    clock.tick()
    run("register", "evil", str(path), "--bump", "patch")
    shown = json.loads(run("show", "evil", "--json").output)
    run("compare", "evil@0.1.0", "evil@0.1.1")
    run("compare", "evil@0.1.0", "evil@0.1.1", "--json")
    assert not marker.exists()
    artifact = shown["card"]["artifact"]
    assert artifact["format"] == "joblib" and artifact["kind"] == "file" and "signature" not in shown["card"]

    set_pickle_policy(registry.root, "refuse")
    refused_api(registry.root, UntrustedArtifactError, r"evil@v0\.1\.1 is a joblib pickle, .* refuses pickles",
                Registry(registry.root).load, "evil")
    rows = path.parent / "rows.csv"
    rows.write_text("a,y\n1,0\n2,1\n")
    refused(run, "compare", "evil@0.1.0", "evil@0.1.1", "--data", str(rows), "--target", "y",
            code=17, match="refuses pickles")
    assert not marker.exists()


def test_trust_pickles_false_refuses_whatever_the_config_says(registry, evil):
    path, marker = evil
    registry.register("evil", path)
    set_pickle_policy(registry.root, "allow")
    refused_api(registry.root, UntrustedArtifactError, "trust_pickles=False",
                Registry(registry.root, trust_pickles=False).load, "evil")
    assert not marker.exists()


def test_a_pickle_loads_with_a_warning_by_default_and_silently_when_allowed(registry, evil, make_model, tmp_path):
    """The payload is real: loading a pickle does run it (which is why it is refused above)."""
    path, marker = evil
    registry.register("evil", path)
    with pytest.warns(PickleWarning, match=r"evil@v0\.1\.0 is a joblib pickle: loading it runs any code"):
        registry.load("evil")
    assert marker.exists()
    marker.unlink()
    set_pickle_policy(registry.root, "allow")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", PickleWarning)
        Registry(registry.root).load("evil")
    assert marker.exists()


def test_objects_are_saved_with_skops_and_load_trusting_only_their_recorded_types(registry, make_model, dataset):
    model = make_model()
    found = registry.register("cancer", model)
    artifact = found.card.artifact
    assert (artifact.path, artifact.kind, artifact.format) == ("model.skops", "skops", "skops")
    assert "sklearn.linear_model._logistic.LogisticRegression" in artifact.types
    x, _ = dataset
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", PickleWarning)  # no pickle involved
        loaded = registry.load("cancer")
    assert (loaded.predict(x[:20]) == model.predict(x[:20])).all()
    again = registry.register("cancer", make_model())
    assert again.card.artifact.md5 == artifact.md5  # the same model saves to the same bytes


def test_skops_types_the_card_does_not_list_are_refused_unless_trusted(registry):
    found = registry.register("odd", {"weights": [Fraction(1, 3)]})
    assert "fractions.Fraction" in found.card.artifact.types
    assert registry.load("odd") == {"weights": [Fraction(1, 3)]}
    # A card that lists fewer types than its file holds (say, registered by another tool): refused.
    shrunk = replace(found.card, artifact=replace(found.card.artifact, types=("builtins.dict",)))
    registry.resolve = lambda ref: ModelVersion(found.name, found.version, found.tag, found.commit, shrunk)
    refused_api(registry.root, UntrustedArtifactError,
                r"odd@v0\.1\.0 holds types its card does not list: fractions\.Fraction; if you trust them, "
                r"load with trusted=\['fractions\.Fraction'\]", registry.load, "odd")
    assert registry.load("odd", trusted=["fractions.Fraction"]) == {"weights": [Fraction(1, 3)]}


def test_a_skops_file_registers_with_its_signature_read_without_loading_it(registry, make_model, tmp_path, run):
    import skops.io as sio

    model = make_model(n_features=10)
    path = tmp_path / "trained.skops"
    sio.dump(model, path)
    data = json.loads(run("register", "cancer", str(path), "--json").output)
    card = data["card"]
    assert card["artifact"]["format"] == "skops" and card["artifact"]["path"] == "model.skops"
    assert card["signature"] == {"n_features": 10, "classes": [0, 1]}
    not_skops = tmp_path / "fake.skops"
    not_skops.write_bytes(b"not a zip")
    refused(run, "register", "cancer", str(not_skops), code=9, match="fake.skops is not a skops file")


def test_serialization_joblib_saves_objects_with_joblib(registry, make_model):
    text = (registry.root / ".gitreg.yaml").read_text() + "serialization: joblib\n"
    commit_file(registry.root, ".gitreg.yaml", text, "joblib objects")
    found = Registry(registry.root).register("cancer", make_model())
    artifact = found.card.artifact
    assert (artifact.path, artifact.kind, artifact.format, artifact.types) == ("model.joblib", "joblib", "joblib", ())
    assert found.card.signature == {"n_features": 30, "classes": [0, 1]}
    with pytest.warns(PickleWarning):
        assert Registry(registry.root).load("cancer").n_features_in_ == 30


def test_a_card_without_a_format_is_joblib_or_pickle_as_before():
    base = {"schema": 1, "name": "m", "version": "1.0.0", "created": "2026-01-01T00:00:00+00:00", "author": {}}
    artifact = {"md5": "0123456789abcdef0123456789abcdef", "size": 3}
    loaders = [Card.from_dict({**base, "artifact": {**artifact, "path": path, "kind": kind}}, "test").artifact.loader
               for path, kind in (("model.joblib", "joblib"), ("model.pkl", "file"), ("model.joblib.gz", "file"),
                                  ("model.onnx", "file"), ("model", "directory"))]
    assert loaders == ["joblib", "pickle", "joblib", "file", "directory"]


def test_an_old_joblib_card_still_loads(registry, tmp_path):
    import joblib

    path = tmp_path / "old.joblib"
    joblib.dump({"weights": [1.0]}, path)
    found = registry.register("old", path)
    old = replace(found.card, artifact=replace(found.card.artifact, format=""))  # as cards were written before
    assert "format" not in old.to_dict()["artifact"]
    registry.resolve = lambda ref: ModelVersion(found.name, found.version, found.tag, found.commit, old)
    with pytest.warns(PickleWarning):
        assert registry.load("old") == {"weights": [1.0]}


@pytest.mark.parametrize("change, reason", [
    ({"format": "exe"}, "artifact.format 'exe' is not one of skops, joblib"),
    ({"types": ["posix.system"]}, "artifact.types lists posix.system, which no model needs and could run commands"),
    ({"types": ["builtins.eval"]}, "lists builtins.eval"),
    ({"types": ["not a type"]}, "artifact.types must be a list of dotted type names"),
    ({"types": "sklearn.Thing"}, "artifact.types must be a list"),
    ({"loader": "pickle"}, "unknown field artifact.'loader'"),
])
def test_hostile_format_fields_in_a_card_are_refused(change, reason):
    data = {"schema": 1, "name": "m", "version": "1.0.0", "created": "2026-01-01T00:00:00+00:00", "author": {},
            "artifact": {"path": "model.skops", "md5": "0123456789abcdef0123456789abcdef", "size": 3,
                         "kind": "skops", **change}}
    with pytest.raises(CardError, match=reason):
        Card.from_dict(data, "test")


def test_a_hand_made_card_that_trusts_os_system_is_refused_by_the_hook(tmp_path, new_registry, make_model, run, clock):
    from tests.test_hostile import forge_version

    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    run("hook", "install", str(bare), cwd=tmp_path)
    registry = new_registry(tmp_path / "alice", remote=tmp_path / "store")
    git(registry.root, "remote", "add", "origin", str(bare))
    registry.register("m", make_model(), version="1.0.0", push=True)
    clock.tick()
    card = forge_version(registry, "1.0.1", types=("posix.system", "sklearn.linear_model._logistic.LogisticRegression"))
    assert card.artifact.types[0] == "posix.system"
    proc = subprocess.run(["git", "push", "origin", "main", "m@v1.0.1"], cwd=registry.root,
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "posix.system" in proc.stderr
    listed = run("list", cwd=registry.root)
    assert "skipped tag m@v1.0.1" in listed.stderr and "1.0.0" in listed.stdout


@pytest.mark.parametrize("text, match", [
    ("load:\n  pickle: sometimes\n", "load.pickle must be one of allow, warn, refuse"),
    ("load:\n  pickles: refuse\n", "unknown key 'pickles' in load: did you mean 'pickle'"),
    ("load: refuse\n", "'load' must be a mapping like {pickle: warn}"),
    ("serialization: pickle\n", "'serialization' must be one of skops, joblib"),
])
def test_a_bad_load_or_serialization_setting_is_one_line_naming_the_fix(registry, run, artifact, text, match):
    commit_file(registry.root, ".gitreg.yaml", (registry.root / ".gitreg.yaml").read_text() + text, "bad")
    refused(run, "register", "m", str(artifact), code=4, match=match)


def test_a_signature_file_gives_a_pickle_its_signature_and_drives_bump_auto(registry, run, evil, tmp_path, clock):
    path, marker = evil
    signature = tmp_path / "signature.json"
    signature.write_text(json.dumps({"n_features": 30, "classes": [0, 1]}))
    card = json.loads(run("register", "m", str(path), "--signature", str(signature), "--json").output)["card"]
    assert card["signature"] == {"n_features": 30, "classes": [0, 1]}
    clock.tick()
    signature.write_text(json.dumps({"n_features": 12, "classes": [0, 1]}))
    assert "m@v1.0.0" in run("register", "m", str(path), "--signature", str(signature)).output  # inputs changed
    assert not marker.exists()


@pytest.mark.parametrize("content, match", [
    ("[1, 2]", "must hold a mapping"),
    ("{not json", "is not valid JSON"),
    ('{"n_features": NaN}', "NaN is not a number gitreg can store"),
])
def test_a_bad_signature_file_is_refused(registry, run, artifact, tmp_path, content, match):
    signature = tmp_path / "signature.json"
    signature.write_text(content)
    code = 17 if "NaN" in content else 4  # hostile content, as in a metrics file
    refused(run, "register", "m", str(artifact), "--signature", str(signature), code=code, match=match)


def test_the_api_checks_a_signature_and_a_format(registry, artifact):
    refused_api(registry.root, InvalidInputError, "signature= must be a mapping", registry.register, "m", artifact,
                signature=[1])
    refused_api(registry.root, InvalidInputError, "signature n is nan", registry.register, "m", artifact,
                signature={"n": float("nan")})
    refused_api(registry.root, InvalidInputError, "unknown format 'exe'", registry.register, "m", artifact,
                format="exe")
    refused_api(registry.root, InvalidInputError, "format= is for a file or folder", registry.register, "m",
                {"a": 1}, format="onnx")


def test_skops_refuses_to_save_what_it_cannot_and_says_what_to_do(registry):
    before = snapshot(registry.root)
    with pytest.raises(ArtifactError, match="skops cannot save this generator .*serialization: joblib"):
        registry.register("f", (i for i in range(3)))
    with pytest.raises(ArtifactError, match=r"names [\w.]*<lambda>, which cannot be imported"):
        registry.register("f", lambda x: x)
    assert snapshot(registry.root) == before
