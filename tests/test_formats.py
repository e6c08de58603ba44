"""One ``load`` for every format, told from the card; each library imported only when its format is
loaded, a missing one named; and ``Registry.path``: a verified, content-addressed cache shared by the
registries of a machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gitreg import MissingPackageError, Registry
from gitreg.errors import ArtifactError
from tests.test_bad_input import fails, refused_api


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory):
    """A scikit-learn classifier converted to ONNX once per module (skl2onnx's import alone takes seconds)."""
    np = pytest.importorskip("numpy")
    pytest.importorskip("skl2onnx", reason="skl2onnx (test extra) makes the ONNX model")
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    x = np.random.RandomState(0).rand(40, 4).astype(np.float32)
    model = LogisticRegression().fit(x, np.array([0, 1] * 20))
    path = tmp_path_factory.mktemp("onnx") / "classifier.onnx"
    path.write_bytes(to_onnx(model, x[:1], options={"zipmap": False}).SerializeToString())
    return path, x, model.predict(x)


def test_onnx_loads_as_an_inference_session(registry, onnx_file, run):
    pytest.importorskip("onnxruntime", reason="onnxruntime is in the test extra")
    path, x, expected = onnx_file
    card = json.loads(run("register", "ranker", str(path), "--json").output)["card"]
    assert card["artifact"]["format"] == "onnx" and card["artifact"]["path"] == "model.onnx"
    session = registry.load("ranker")
    assert type(session).__name__ == "InferenceSession"
    (predicted, _) = session.run(None, {session.get_inputs()[0].name: x})
    assert (predicted == expected).all()


def test_safetensors_load_as_a_dict_of_arrays(registry, tmp_path):
    np = pytest.importorskip("numpy")
    pytest.importorskip("safetensors", reason="safetensors is in the test extra")
    from safetensors.numpy import save_file

    weights = {"dense.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "dense.bias": np.zeros(2)}
    path = tmp_path / "weights.safetensors"
    save_file(weights, str(path))
    found = registry.register("lm", path)
    assert found.card.artifact.format == "safetensors"
    loaded = registry.load("lm")
    assert set(loaded) == set(weights) and all((loaded[k] == weights[k]).all() for k in weights)


def test_torch_state_dicts_load_with_weights_only_and_full_modules_only_when_trusted(registry, tmp_path):
    torch = pytest.importorskip(
        "torch", reason="torch is not in the test extra: PyPI's wheel is 555 MB plus CUDA libraries; "
                        "the torch loader was tested by hand with the CPU wheel")
    state = {"weight": torch.ones(2, 3)}
    path = tmp_path / "state.pt"
    torch.save(state, path)
    registry.register("net", path)
    assert (registry.load("net")["weight"] == state["weight"]).all()
    module = tmp_path / "module.pt"
    torch.save(torch.nn.Linear(3, 2), module)
    registry.register("full", module)
    from gitreg import UntrustedArtifactError

    with pytest.raises(UntrustedArtifactError, match="pass trusted=True"):
        registry.load("full")
    assert isinstance(registry.load("full", trusted=True), torch.nn.Linear)


@pytest.mark.parametrize("fmt, suffix", [("xgboost", ".ubj"), ("lightgbm", ".txt")])
def test_boosters_load_natively_when_their_library_is_there(registry, tmp_path, fmt, suffix):
    library = pytest.importorskip(fmt, reason=f"{fmt} is not in the test extra")
    np = pytest.importorskip("numpy")
    x, y = np.random.RandomState(0).rand(50, 3), np.array([0, 1] * 25)
    path = tmp_path / f"booster{suffix}"
    if fmt == "xgboost":
        library.train({"objective": "binary:logistic"}, library.DMatrix(x, label=y), 2).save_model(str(path))
    else:
        library.train({"objective": "binary", "verbose": -1}, library.Dataset(x, label=y), 2).save_model(str(path))
    found = registry.register("booster", path)
    assert found.card.artifact.format == fmt
    assert type(registry.load("booster")).__name__ == "Booster"


def test_a_folder_loads_as_its_verified_read_only_path(registry, tmp_path):
    folder = tmp_path / "hf-model"
    (folder / "tokenizer").mkdir(parents=True)
    (folder / "config.json").write_text('{"layers": 2}')
    (folder / "tokenizer" / "vocab.txt").write_text("a\nb\n")
    found = registry.register("hf", folder)
    assert found.card.artifact.format == "directory"
    loaded = registry.load("hf")
    assert loaded == registry.path("hf") and loaded.is_dir() and loaded.name == "model"
    assert (loaded / "config.json").read_text() == '{"layers": 2}'
    assert (loaded / "tokenizer" / "vocab.txt").read_text() == "a\nb\n"
    assert not ((loaded / "config.json").stat().st_mode & 0o222)


def test_a_missing_library_is_one_error_naming_the_package(registry, tmp_path, monkeypatch, run):
    path = tmp_path / "net.pt"
    path.write_bytes(b"\x80\x02 not really a checkpoint")
    registry.register("net", path)
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    error = refused_api(registry.root, MissingPackageError,
                        r"loading a torch artifact needs torch, which is not installed: pip install torch$",
                        registry.load, "net")
    assert error.exit_code == 18
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"onnx bytes")
    registry.register("session", onnx)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    refused_api(registry.root, MissingPackageError, "pip install onnxruntime", registry.load, "session")


def test_a_file_of_no_known_format_points_at_path_and_get(registry, artifact):
    registry.register("m", artifact)
    refused_api(registry.root, ArtifactError, r"m@v0\.1\.0 is a file artifact of no format gitreg loads",
                registry.load, "m")
    assert registry.path("m").read_bytes() == artifact.read_bytes()


def test_format_is_recorded_from_the_name_or_given(registry, tmp_path, run):
    booster = tmp_path / "booster.json"
    booster.write_text("{}")
    card = json.loads(run("register", "b", str(booster), "--format", "xgboost", "--json").output)["card"]
    assert card["artifact"]["format"] == "xgboost"
    fails(run, "register", "b", str(booster), "--format", "exe", code=4, match="unknown format 'exe'")
    fails(run, "register", "b", str(booster), "--format", "directory", code=4, match="does not fit")
    model = tmp_path / "model.joblib.gz"
    model.write_bytes(b"compressed")
    assert json.loads(run("register", "z", str(model), "--json").output)["card"]["artifact"]["format"] == "joblib"


def test_loading_imports_only_the_library_of_its_format(registry, tmp_path):
    """A fresh process loading safetensors imports neither skops, scikit-learn, onnxruntime nor torch; and
    the CLI's start-up and read commands import none of the format libraries."""
    np = pytest.importorskip("numpy")
    pytest.importorskip("safetensors")
    from safetensors.numpy import save_file

    path = tmp_path / "w.safetensors"
    save_file({"w": np.ones(2)}, str(path))
    registry.register("lm", path)
    heavy = "sorted({m.split('.')[0] for m in sys.modules} & {'skops', 'sklearn', 'onnxruntime', 'torch', " \
            "'safetensors', 'joblib', 'xgboost', 'lightgbm'})"
    script = (f"import sys\nfrom gitreg import Registry\nRegistry({str(registry.root)!r}).load('lm')\n"
              f"print({heavy})")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.replace("'", '"')) == ["safetensors"]
    script = ("import sys\nfrom click.testing import CliRunner\nfrom gitreg.cli import cli\n"
              f"for args in (['--help'], ['show', 'lm', '--json'], ['list']):\n"
              f"    assert CliRunner().invoke(cli, ['-C', {str(registry.root)!r}, *args]).exit_code == 0\n"
              f"print({heavy})")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------------------------ the shared cache
def test_path_is_shared_by_registries_and_needs_no_dvc_cache_once_placed(tmp_path, new_registry, artifact, clock):
    store = tmp_path / "store"
    alice = new_registry(tmp_path / "alice", remote=store)
    alice.register("m", artifact)
    from gitreg.io import dvc

    dvc.push(alice.root)
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(alice.root), str(bare)], check=True)
    bob_root = tmp_path / "bob"
    subprocess.run(["git", "clone", "-q", str(bare), str(bob_root)], check=True)
    first = alice.path("m@0.1.0")
    assert first.is_relative_to(Path(os.environ["GITREG_CACHE_DIR"]) / "artifacts")
    assert first.read_bytes() == artifact.read_bytes() and first.name == "model.bin"
    import shutil

    shutil.rmtree(alice.root / ".dvc" / "cache")  # neither clone has the bytes now
    assert Registry(bob_root).path("m") == first  # the machine's copy, not a second download
    assert alice.path("m") == first


def test_a_changed_cache_entry_is_checked_again_and_replaced(registry, artifact):
    registry.register("m", artifact)
    cached = registry.path("m")
    cached.chmod(0o644)
    cached.write_bytes(b"tampered")
    assert registry.path("m").read_bytes() == artifact.read_bytes()
    again = registry.path("m")
    assert again == cached and not (again.stat().st_mode & 0o222)


def test_a_corrupt_dvc_cache_never_reaches_the_shared_cache(registry, artifact):
    found = registry.register("m", artifact)
    md5 = found.card.artifact.md5
    cached = registry.root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    cached.chmod(0o644)
    cached.write_bytes(b"corrupt")
    refused_api(registry.root, ArtifactError, "do not match their pointer", registry.path, "m")
    from gitreg.io import shared_cache

    assert not shared_cache.entry(md5, found.card.artifact.path).exists()


def test_two_processes_placing_the_same_artifact_end_with_one_verified_copy(registry, tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(1 << 20))
    registry.register("m", path)
    script = f"from gitreg import Registry\nprint(Registry({str(registry.root)!r}).path('m'))"
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outs = {proc.communicate()[0].strip() for proc in procs}
    assert all(proc.returncode == 0 for proc in procs) and len(outs) == 1
    placed = Path(outs.pop())
    assert placed.read_bytes() == path.read_bytes()
    assert [p.name for p in placed.parent.iterdir() if p.name.startswith(".incoming")] == []


def test_threads_of_one_process_share_the_entry_too(registry, tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    for n in range(5):
        (folder / f"part{n}.bin").write_bytes(os.urandom(1000))
    registry.register("f", folder)
    found = []
    threads = [threading.Thread(target=lambda: found.append(Registry(registry.root).path("f"))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 1 and len(found) == 3
    assert sorted(p.name for p in found[0].iterdir()) == [f"part{n}.bin" for n in range(5)]


def test_gitreg_path_prints_it(registry, artifact, run):
    registry.register("m", artifact)
    printed = run("path", "m").output.strip()
    assert Path(printed).read_bytes() == artifact.read_bytes()
    assert json.loads(run("path", "m@0.1.0", "--json").output) == {"ref": "m@0.1.0", "path": printed}
    fails(run, "path", "ghost", code=5, match="no model named 'ghost'")
