"""Annotations after registration (labels, notes, links as Git notes on the version's tag) and the
model's page (models/NAME/README.md on main): issue 10, part 4. Real Git, a real hooked bare remote."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gitreg import Registry
from gitreg.errors import InvalidInputError, NotFoundError
from tests.conftest import Invoker, git, hooked_scene, snapshot

NOTES = "refs/notes/gitreg"


@pytest.fixture
def shared(tmp_path, new_registry, clock, artifact, prebuilt):
    """m v0.1.0 and v0.2.0 registered with --push on a bare remote with the hook; (alice, bare)."""
    prebuilt.copy(('hooked', 2), hooked_scene(new_registry, artifact, [('m', 0), ('m', 1)]), tmp_path)
    return Registry(tmp_path / "alice"), tmp_path / "origin.git"


def clone(bare, path) -> Registry:
    subprocess.run(["git", "clone", "-q", str(bare), str(path)], check=True)
    return Registry(path)


def remote_state(bare) -> str:
    return git(bare, "for-each-ref", "--format=%(refname) %(objectname)")


def test_annotate_then_show_text_and_json_with_author_and_time(shared, clock):
    alice, _ = shared
    run = Invoker(alice.root)
    tag_before = git(alice.root, "rev-parse", "refs/tags/m@v0.1.0")
    card_before = alice.show("m@0.1.0").card
    clock.tick()
    out = run("annotate", "m@0.1.0", "--label", "validated-site-b", "--note", "FDA submission 2026-14",
              "--link", "https://tracker.example.com/FDA-14").output
    assert "Annotated m@v0.1.0" in out and "1 annotation" in out
    clock.tick()
    run("annotate", "m@v0.1.0", "--label", "eu", "--label", "approved")

    text = run("show", "m@0.1.0").output
    assert "# added later (2 annotations" in text
    assert "# - 2026-01-01T00:01:00Z  Ada Lovelace <ada@example.com>" in text
    assert "#   labels: validated-site-b" in text and "#   FDA submission 2026-14" in text
    assert "#   link: https://tracker.example.com/FDA-14" in text and "#   labels: eu, approved" in text
    shown = json.loads(run("show", "m@0.1.0", "--json").output)
    assert shown["annotations"] == [
        {"time": "2026-01-01T00:01:00Z", "author": "Ada Lovelace <ada@example.com>", "labels": ["validated-site-b"],
         "note": "FDA submission 2026-14", "link": "https://tracker.example.com/FDA-14"},
        {"time": "2026-01-01T00:02:00Z", "author": "Ada Lovelace <ada@example.com>", "labels": ["eu", "approved"],
         "note": "", "link": ""}]
    assert shown["card"]["labels"] == []  # the card is as registered
    assert json.loads(run("show", "m@0.2.0", "--json").output)["annotations"] == []
    # the version tag and its card never change; the record is its own ref, one commit per annotation
    assert git(alice.root, "rev-parse", "refs/tags/m@v0.1.0") == tag_before
    assert alice.show("m@0.1.0").card == card_before
    assert git(alice.root, "log", "--format=%s", NOTES).splitlines() == ["Annotate m@v0.1.0"] * 2
    assert git(alice.root, "notes", "--ref", "gitreg", "list").split()[1] == tag_before.strip()
    assert git(alice.root, "status", "--porcelain") == ""


def test_repeated_annotations_accumulate_and_search_sees_their_labels(shared, clock):
    alice, _ = shared
    for label in ("validated-site-b", "eu"):
        clock.tick()
        alice.annotate("m@0.1.0", labels=[label])
    alice.annotate("m@0.2.0", note="retrained on Q3", labels=["candidate"])
    assert [a.labels for a in alice.annotations("m@0.1.0")] == [("validated-site-b",), ("eu",)]
    assert [a.note for a in alice.annotations("m")] == ["retrained on Q3"]  # the latest version

    def found(expression):
        return [v.version for v in alice.search(expression)]

    assert found("labels contains validated-site-b") == ["0.1.0"]
    assert found('labels contains "eu" and labels contains validated-site-b') == ["0.1.0"]
    assert found('labels matches "cand*"') == ["0.2.0"]
    assert found("labels exists") == ["0.1.0", "0.2.0"]
    assert found("not labels contains eu") == ["0.2.0"]
    out = Invoker(alice.root)("search", "labels contains candidate", "--json").output
    assert [row["version"] for row in json.loads(out)] == ["0.2.0"]


def test_push_publishes_them_and_a_second_clone_sees_them_after_pull(shared, tmp_path, clock):
    alice, bare = shared
    bob = clone(bare, tmp_path / "bob")
    alice.annotate("m@0.1.0", labels=["validated-site-b"])
    assert NOTES in alice.push().refs
    assert bob.annotations("m@0.1.0") == []
    assert NOTES in bob.pull().refs
    assert [a.labels for a in bob.annotations("m@0.1.0")] == [("validated-site-b",)]
    # both annotate offline; bob publishes first, then alice's `push` merges his into hers and publishes both
    clock.tick()
    bob.annotate("m@0.1.0", note="bob's", push=True)
    clock.tick()
    alice.annotate("m@0.1.0", note="alice's")
    assert NOTES in alice.push().refs
    # annotate --push over a remote that moved: fetched, merged (a union), pushed again
    clock.tick()
    bob.annotate("m@0.2.0", note="bob's second", push=True)
    carol = clone(bare, tmp_path / "carol")
    carol.pull()
    assert [a.note for a in carol.annotations("m@0.1.0")] == ["", "bob's", "alice's"]
    assert [a.note for a in carol.annotations("m@0.2.0")] == ["bob's second"]
    assert bob.pull().refs == [] and len(bob.annotations("m@0.1.0")) == 3
    assert git(bare, "rev-parse", NOTES) == git(bob.root, "rev-parse", NOTES)
    assert alice.verify() == []
    # read without a clone: the mirror brings the notes too
    remote = Registry.open(str(bare))
    assert [a.note for a in remote.annotations("m@0.1.0")] == ["", "bob's", "alice's"]
    assert [v.version for v in remote.search("labels contains validated-site-b")] == ["0.1.0"]


ANNOTATOR = """
import subprocess, sys
root, who = sys.argv[1], sys.argv[2]
for n in range(3):
    subprocess.run([sys.executable, "-m", "gitreg", "-C", root, "annotate", "m@0.1.0", "--label", f"{who}-{n}",
                    "--push"], check=True)
"""


def test_two_writers_at_once_on_a_shared_bare_remote_lose_no_annotation(shared, tmp_path):
    _, bare = shared
    writers = [clone(bare, tmp_path / f"writer{i}") for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-c", ANNOTATOR, str(w.root), f"w{i}"], stderr=subprocess.PIPE)
             for i, w in enumerate(writers)]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err.decode()[-2000:]
    fresh = clone(bare, tmp_path / "fresh")
    fresh.pull()
    labels = sorted(label for a in fresh.annotations("m@0.1.0") for label in a.labels)
    assert labels == sorted(f"w{i}-{n}" for i in range(2) for n in range(3))
    assert [v.version for v in fresh.search("labels contains w1-2")] == ["0.1.0"]


def _hand_push(root, *args, expect_refused=True) -> str:
    proc = subprocess.run(["git", "push", "origin", *args], cwd=root, capture_output=True, text=True)
    assert (proc.returncode != 0) == expect_refused, proc.stderr
    return proc.stderr


def test_the_hook_refuses_what_would_drop_annotations_or_misplace_them(shared, tmp_path, clock):
    alice, bare = shared
    alice.annotate("m@0.1.0", labels=["validated-site-b"], push=True)
    mallory = clone(bare, tmp_path / "mallory")
    git(mallory.root, "fetch", "-q", "origin", f"{NOTES}:{NOTES}")
    published = remote_state(bare)
    tag = git(mallory.root, "rev-parse", "refs/tags/m@v0.1.0").strip()
    notes = ["notes", "--ref", "gitreg"]
    # a fast-forward that removes the note
    git(mallory.root, *notes, "remove", tag)
    assert "drops every annotation of m@v0.1.0" in _hand_push(mallory.root, f"{NOTES}:{NOTES}")
    # a rewrite (forced push of a history without it)
    git(mallory.root, "update-ref", NOTES, git(alice.root, "rev-parse", f"{NOTES}").strip())
    git(mallory.root, *notes, "add", "-f", "-m", '{"time":"2026-01-01T00:00:00Z","author":"M <m@x>","labels":["x"]}',
        tag)
    git(mallory.root, "update-ref", NOTES, git(mallory.root, "commit-tree", "-m", "rewrite",
                                               f"{NOTES}^{{tree}}").strip())
    assert "non-fast-forward" in _hand_push(mallory.root, "--force", f"{NOTES}:{NOTES}")
    # an edit that replaces the earlier entry, and an entry that is not an annotation
    git(mallory.root, "update-ref", NOTES, git(alice.root, "rev-parse", f"{NOTES}").strip())
    git(mallory.root, *notes, "add", "-f", "-m", '{"time":"2026-01-01T00:00:00Z","author":"M <m@x>","labels":["y"]}',
        tag)
    assert "drops annotations made earlier" in _hand_push(mallory.root, f"{NOTES}:{NOTES}")
    git(mallory.root, "update-ref", NOTES, git(alice.root, "rev-parse", f"{NOTES}").strip())
    git(mallory.root, *notes, "append", "-m", "hello", tag)
    assert "an added annotation is not valid" in _hand_push(mallory.root, f"{NOTES}:{NOTES}")
    # a note on the version's commit (not its tag), and deleting the record
    git(mallory.root, "update-ref", NOTES, git(alice.root, "rev-parse", f"{NOTES}").strip())
    git(mallory.root, *notes, "add", "-m", '{"time":"2026-01-01T00:00:00Z","author":"M <m@x>","labels":["x"]}',
        "m@v0.1.0^{commit}")
    assert "which is not a version's tag" in _hand_push(mallory.root, f"{NOTES}:{NOTES}")
    assert "never deleted" in _hand_push(mallory.root, f":{NOTES}")
    assert remote_state(bare) == published
    # what a clone holds that the hook would refuse, verify names
    assert mallory.verify() == [f"{NOTES}: a note on object {git(mallory.root, 'rev-parse', 'm@v0.1.0^{commit}')[:12]}, "
                                "which is not a version's tag"]
    git(mallory.root, "update-ref", NOTES, git(alice.root, "rev-parse", f"{NOTES}").strip())
    git(mallory.root, *notes, "append", "-m", "hello", tag)
    assert mallory.verify() == [f"{NOTES}: an annotation of m@v0.1.0 is not valid: an entry is not JSON"]
    assert [a.labels for a in mallory.annotations("m@0.1.0")] == [("validated-site-b",)]  # read past the bad line
    # a valid hand-made addition passes
    git(mallory.root, "update-ref", NOTES, git(alice.root, "rev-parse", f"{NOTES}").strip())
    entry = '{"time":"2026-01-01T00:05:00Z","author":"M <m@x>","labels":["ok"],"note":"","link":""}'
    git(mallory.root, *notes, "append", "-m", entry, tag)
    _hand_push(mallory.root, f"{NOTES}:{NOTES}", expect_refused=False)
    alice.pull()
    assert [a.labels for a in alice.annotations("m@0.1.0")] == [("validated-site-b",), ("ok",)]


@pytest.mark.parametrize("args, code, says", [
    (("m@9.9.9", "--label", "x"), 5, "m has no version 9.9.9"),
    (("nope@1.0.0", "--label", "x"), 5, "no model named 'nope'"),
    (("m@0.1.0",), 4, "give --label L"),
    (("m@0.1.0", "--note", "   "), 4, "give --label L"),
    (("m@0.1.0", "--link", "ftp://example.com/x"), 4, "give an http(s) URL"),
    (("m@0.1.0", "--link", "not a url"), 4, "give an http(s) URL"),
    (("m@0.1.0", "--link", "https://user:secret@example.com/x"), 4, "credentials"),
    (("m@0.1.0", "--label", "has space"), 4, "invalid label 'has space'"),
    (("m@0.1.0", "--label", "-dash"), 4, "invalid label"),
    (("m@0.1.0", "--note", "x" * 2001), 4, "at most 2000"),
    (("m", "--label", "x"), 4, "annotate names a version"),
    (("m#production", "--label", "x"), 4, "annotate names a version"),
])
def test_bad_input_is_refused_in_one_line_and_changes_nothing(shared, args, code, says):
    alice, bare = shared
    alice.annotate("m@0.2.0", labels=["earlier"])
    before, remote = snapshot(alice.root), remote_state(bare)
    result = Invoker(alice.root)("annotate", *args, "--push", expect=code)
    assert says in result.output and len(result.output.strip().splitlines()) == 1
    assert snapshot(alice.root) == before and remote_state(bare) == remote


def test_push_of_an_unpublished_version_is_refused_and_takes_nothing(shared, artifact):
    alice, bare = shared
    artifact.write_bytes(b"local only" * 10)
    alice.register("m", artifact)
    before, remote = snapshot(alice.root), remote_state(bare)
    with pytest.raises(NotFoundError, match="m@v0.3.0 is not on origin yet"):
        alice.annotate("m@0.3.0", labels=["x"], push=True)
    assert snapshot(alice.root) == before and remote_state(bare) == remote
    with pytest.raises(InvalidInputError, match="invalid label"):
        alice.annotate("m@0.3.0", labels=["a b"])


def test_show_readme_reads_the_page_committed_on_main(shared):
    alice, _ = shared
    run = Invoker(alice.root)
    missing = run("show", "m", "--readme", expect=5).output
    assert "create models/m/README.md, commit it on main" in missing
    assert json.loads(run("show", "m", "--readme", "--json").output)["readme"] == {
        "path": "models/m/README.md", "branch": "main", "text": None}
    page = alice.root / "models" / "m" / "README.md"
    page.write_text("# m\n\nChurn model for the EU market.\n")
    run("show", "m", "--readme", expect=5)  # the working tree is not the page: main is
    git(alice.root, "add", str(page))
    git(alice.root, "commit", "-qm", "Describe m")
    assert run("show", "m@0.1.0", "--readme").output == "# m\n\nChurn model for the EU market.\n"
    shown = json.loads(run("show", "m", "--readme", "--json").output)
    assert shown["readme"]["text"] == "# m\n\nChurn model for the EU market.\n" and shown["version"] == "0.2.0"
    assert alice.readme("m").text.startswith("# m")
    assert alice.verify() == []


def test_reading_annotations_takes_the_same_git_processes_for_one_or_many(shared, monkeypatch, artifact):
    """search on labels: one `notes list` and one `cat-file --batch` however many versions carry notes."""
    import gitreg.io.git as git_module

    alice, _ = shared
    calls = []
    real_run = git_module.subprocess.run

    def counting(args, *rest, **kwargs):
        calls.append(args[1] if args and args[0] == "git" else args)
        return real_run(args, *rest, **kwargs)

    def processes(expression):
        calls.clear()
        monkeypatch.setattr(git_module.subprocess, "run", counting)
        alice.search(expression, snapshot=alice.snapshot())
        monkeypatch.setattr(git_module.subprocess, "run", real_run)
        return list(calls)

    without_notes = processes("labels contains x")
    assert without_notes.count("notes") == 1 and "cat-file" not in without_notes
    alice.annotate("m@0.1.0", labels=["x"])
    one = processes("labels contains x")
    for n in range(6):
        artifact.write_bytes(f"more{n}".encode() * 10)
        alice.register("m", artifact)
        alice.annotate(alice.versions("m")[-1].tag, labels=["x"])
    many = processes("labels contains x")
    assert one == many == [*without_notes, "cat-file"]
    assert len(alice.search("labels contains x")) == 7
    assert "notes" not in processes("metrics.accuracy > 0")  # no labels asked: no notes read


def test_match_annotates_every_selected_version_in_one_push(shared, tmp_path):
    registry, bare = shared
    run = Invoker(registry.root)
    planned = json.loads(run("annotate", "--match", "name == m", "--label", "audited-2026", "--dry-run",
                             "--json").stdout)
    assert planned["annotated"] == ["m@v0.1.0", "m@v0.2.0"] and git(registry.root, "notes", "--ref", "gitreg",
                                                                     "list").strip() == ""
    out = run("annotate", "--match", "name == m", "--label", "audited-2026", "--push").stdout
    assert "Annotated m@v0.1.0" in out and "Annotated m@v0.2.0" in out
    reader = clone(bare, tmp_path / "reader")
    reader.pull()
    assert [v.version for v in reader.search('labels contains "audited-2026"')] == ["0.1.0", "0.2.0"]
    assert "no version that is not deprecated matches" in run("annotate", "--match", "name == zz", "--label", "x",
                                                               expect=5).stderr
