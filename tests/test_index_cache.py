"""The version index read lazily: cards kept as their index lines, the tags already checked remembered
in the clone, and what that memory may and may not be trusted with."""

from __future__ import annotations

import json
import subprocess

import pytest

from gitreg import Registry
from gitreg.domain.card import Card
from gitreg.domain.version import ModelVersion
from gitreg.errors import CardError
from gitreg.io import checked_tags
from gitreg.io.git import Git
from tests.conftest import git


@pytest.fixture
def three(registry, artifact, clock):
    for accuracy in (0.8, 0.85, 0.9):
        clock.tick()
        registry.register("m", artifact, metrics={"accuracy": accuracy})
    return registry


def checked_file(registry: Registry):
    return registry.root / ".git" / checked_tags.FILE


def hand_made_tag(root, name: str, index_line: str) -> str:
    """An annotated tag on HEAD whose message ends with ``index_line``, made with plain Git."""
    git(root, "tag", "-a", name, "-m", f"Register by hand\n\n{index_line}\n")
    return name


def test_a_read_remembers_the_tags_it_checked_and_forgets_deleted_ones(three):
    three.versions()
    keys = checked_tags.load(three.git)
    assert {key.split(" ", 1)[1] for key in keys} == {"m@v0.1.0", "m@v0.2.0", "m@v0.3.0"}
    git(three.root, "tag", "-d", "m@v0.3.0")
    three.versions()
    assert {key.split(" ", 1)[1] for key in checked_tags.load(three.git)} == {"m@v0.1.0", "m@v0.2.0"}


def test_a_broken_tag_is_never_remembered_and_is_reported_on_every_read(three):
    line = json.loads(git(three.root, "cat-file", "-p", "m@v0.3.0").rstrip().rsplit("\n", 1)[1])
    line["version"], line["metrics"] = "0.4.0", {"accuracy": "NaN"}
    hand_made_tag(three.root, "m@v0.4.0", json.dumps(line).replace('"NaN"', "NaN"))
    for _ in range(2):
        snapshot = three.snapshot()
        assert [b.tag for b in snapshot.broken] == ["m@v0.4.0"]
        assert not any(key.endswith(" m@v0.4.0") for key in checked_tags.load(three.git))


def test_a_damaged_or_older_file_is_ignored_and_rewritten(three):
    three.versions()
    checked_file(three).write_bytes(b"\xff\xfe not a cache")
    assert [v.version for v in three.versions()] == ["0.1.0", "0.2.0", "0.3.0"]
    assert checked_file(three).read_text().startswith(checked_tags.HEADER)
    checked_file(three).write_text("gitreg checked-tags 0 schema-0\nwhatever\n")
    assert len(three.versions()) == 3
    assert "whatever" not in checked_file(three).read_text()


def test_a_read_whose_memory_cannot_be_written_still_reads(three):
    three.versions()
    checked_file(three).unlink()
    checked_file(three).mkdir()  # neither readable nor replaceable as a file (permissions do not stop root)
    assert len(three.versions()) == 3
    assert not [p for p in checked_file(three).parent.iterdir() if p.name.startswith(".checked-tags-")]


def test_a_file_that_vouches_for_a_bad_tag_misleads_no_card_and_not_verify(three):
    """Derived data written by hand can make a read skip a check; building the card still refuses, and
    verify (like the server's hook) never reads the file."""
    line = json.loads(git(three.root, "cat-file", "-p", "m@v0.3.0").rstrip().rsplit("\n", 1)[1])
    line["version"] = "0.4.0"
    line["artifact"]["md5"] = "../../../etc/passwd"
    hand_made_tag(three.root, "m@v0.4.0", json.dumps(line))
    assert [b.tag for b in three.snapshot().broken] == ["m@v0.4.0"]
    oid = git(three.root, "rev-parse", "m@v0.4.0").strip()
    checked_tags.save(three.git, {*checked_tags.load(three.git), checked_tags.key(oid, "m@v0.4.0")})
    lied = three.snapshot()
    assert not lied.broken  # the forged file was believed for listing ...
    with pytest.raises(CardError, match="artifact.md5"):
        lied.version("m", "0.4.0").card  # ... but no card is built from it
    assert any("m@v0.4.0" in problem for problem in three.verify())


def test_card_data_is_the_cards_own_dict_whatever_form_the_index_line_has(three):
    card = three.show("m").card
    plain = card.to_dict()
    shuffled = dict(reversed(list(plain.items())))
    sparse = {k: v for k, v in plain.items() if k not in ("labels", "lineage", "description")}
    odd = {**plain, "labels": [1, "x"], "signature": None, "description": None}
    big = {**plain, "metrics": {"rows": 2**70}}
    for data in (plain, shuffled, sparse, odd, big):
        version = ModelVersion("m", card.version, f"m@v{card.version}", "c" * 40, json.dumps(data))
        assert version.card_data() == version.card.to_dict() == Card.from_dict(data, "x").to_dict()
        assert list(version.card_data()) == list(version.card.to_dict())


def test_the_index_keeps_json_semantics_beyond_what_orjson_reads(three):
    card = three.show("m").card.to_dict()
    for metrics, ok in (({"rows": 2**70}, True), ({"x": "\ud800"}, True), ({"x": float("nan")}, False),
                        ({"x": 1e308 * 10}, False)):
        line = json.dumps({**card, "metrics": metrics}, ensure_ascii=False)
        if ok:
            assert Card.from_json(line, "w").metrics == metrics
        else:
            with pytest.raises(CardError):
                Card.from_json(line, "w")
    too_large = json.dumps({**card, "metrics": {}}).replace('"metrics": {}', '"metrics": {"x": 1e999}')
    with pytest.raises(CardError, match="finite"):
        Card.from_json(too_large, "w")


def test_an_index_line_with_a_unicode_line_separator_in_its_description_reads(registry, artifact):
    found = registry.register("m", artifact, description="first part\u2028second part")
    read = registry.versions()[0]
    assert isinstance(read.card_source, str), "read from the index line, not from the tree"
    assert read.card.description == found.card.description


def test_version_tags_reads_hand_made_tag_objects_and_skips_lightweight_tags(three):
    root = three.root
    head = git(root, "rev-parse", "HEAD").strip()
    raw = f"type commit\nobject {head}\ntag m@v0.9.0\ntagger A <a@b> 1767225600 +0000\n\nby hand\n"
    oid = subprocess.run(["git", "hash-object", "-t", "tag", "-w", "--literally", "--stdin"], cwd=root,
                         input=raw, capture_output=True, text=True, check=True).stdout.strip()
    (root / ".git" / "refs" / "tags" / "m@v0.9.0").write_text(oid + "\n")  # update-ref refuses such an object
    git(root, "tag", "light", head)
    records = {r.name: r for r in Git(root).version_tags()}
    assert "light" not in records
    assert (records["m@v0.9.0"].commit, records["m@v0.9.0"].target_type) == (head, "commit")
    assert records["m@v0.9.0"].message == "by hand\n"


def test_prefetched_answers_include_the_missing(three):
    with three.git.cat_file() as cat:
        head = git(three.root, "rev-parse", "HEAD").strip()
        cat.prefetch([f"{head}:models", f"{head}:nothing-here", "0" * 40])
        assert cat.get(f"{head}:nothing-here") is None and cat.get("0" * 40) is None
        assert cat.get(f"{head}:models")[1] == "tree"
        assert cat.get(f"{head}:.gitreg.yaml")[1] == "blob"  # and asking one by one still works


def tag_with_files(registry, version: str, edit) -> str:
    """A version tag made by hand whose index is the latest card at ``version`` and whose files
    ``edit(folder, card)`` changes after they are written as register writes them."""
    from dataclasses import replace

    from gitreg.domain.version import tag_message

    root, latest = registry.root, registry.show("m")
    card = replace(latest.card, version=version)
    git(root, "checkout", "-q", latest.tag, "--", "models/m")
    folder = root / "models" / "m"
    (folder / "card.yaml").write_text(card.to_yaml())
    edit(folder, card)
    git(root, "add", "models/m")
    git(root, "commit", "-qm", f"Register m v{version}")
    git(root, "tag", "-a", f"m@v{version}", "-m", tag_message(card))
    return f"m@v{version}"


def test_verify_parses_what_is_not_written_as_register_writes_it(three):
    def reformat(folder, card):
        text = (folder / "card.yaml").read_text().replace("accuracy:", "# hand-edited\n  accuracy:")
        (folder / "card.yaml").write_text(text.replace("schema: 1", "schema: 1  # same data"))
        pointer = folder / f"{card.artifact.path}.dvc"
        pointer.write_text(f"outs:\n- md5: {card.artifact.md5}\n  size: {card.artifact.size}\n  hash: md5\n"
                           f"  path: {card.artifact.path}  # DVC's own layout, with a comment\n")

    tag_with_files(three, "0.4.0", reformat)
    assert three.verify() == []


def test_verify_finds_a_card_or_pointer_that_says_other_than_the_index(three):
    def other_metric(folder, card):
        text = (folder / "card.yaml").read_text()
        (folder / "card.yaml").write_text(text.replace(f"accuracy: {card.metrics['accuracy']}", "accuracy: 0.99"))

    def other_bytes(folder, card):
        pointer = folder / f"{card.artifact.path}.dvc"
        pointer.write_text(pointer.read_text().replace(card.artifact.md5, "ab" * 16))

    tag_with_files(three, "0.4.0", other_metric)
    tag_with_files(three, "0.5.0", other_bytes)
    problems = three.verify()
    assert any("m@v0.4.0: its message index and" in problem for problem in problems)
    assert any("m@v0.5.0: its pointer" in problem and "ab" * 16 in problem for problem in problems)


def test_a_tag_whose_header_lies_about_its_target_is_caught_where_the_tree_is_read(three):
    """A tag object written with `hash-object --literally` that says `type commit` but names a blob: the
    listing takes the header's word (as the hook's own tag read does), and every reader of the tree refuses."""
    root = three.root
    line = json.loads(git(root, "cat-file", "-p", "m@v0.3.0").rstrip().rsplit("\n", 1)[1])
    line["version"] = "0.4.0"
    blob = git(root, "rev-parse", "m@v0.3.0:models/m/card.yaml").strip()
    raw = f"object {blob}\ntype commit\ntag m@v0.4.0\ntagger A <a@b> 1767225600 +0000\n\nlies\n\n{json.dumps(line)}\n"
    oid = subprocess.run(["git", "hash-object", "-t", "tag", "-w", "--literally", "--stdin"], cwd=root,
                         input=raw, capture_output=True, text=True, check=True).stdout.strip()
    (root / ".git" / "refs" / "tags" / "m@v0.4.0").write_text(oid + "\n")
    assert any("m@v0.4.0: no card.yaml" in problem for problem in three.verify())
    with pytest.raises(CardError, match="m@v0.4.0"):
        three.show("m@0.4.0")
