"""Search: the filter language (tokenizer, parser, errors with a caret), its semantics over cards,
sorting and limits, and `gitreg search` on a real registry (index only; stages resolved once)."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitreg.domain import predicate, query, versioning
from gitreg.domain.card import Artifact, Card
from gitreg.domain.query import QueryError
from gitreg.domain.version import ModelVersion


def version(name: str, number: str, *, metrics=None, params=None, labels=(), created="2026-01-15T10:00:00+00:00",
            author=("Ada Lovelace", "ada@example.com"), description="", size=100) -> ModelVersion:
    card = Card(name=name, version=number, created=created, author={"name": author[0], "email": author[1]},
                artifact=Artifact("model.bin", "0" * 32, size, "file"), description=description,
                labels=list(labels), metrics=dict(metrics or {}), params=dict(params or {}))
    return ModelVersion(name, number, f"{name}@v{number}", "c" * 40, card)


CATALOGUE = [
    version("churn", "0.9.0", metrics={"accuracy": 0.81, "loss": 0.40}, params={"C": 1.0, "solver": "lbfgs"},
            labels=["tabular"], created="2025-12-31T23:30:00+00:00", size=1000),
    version("churn", "0.10.0", metrics={"accuracy": 0.93, "loss": 0.21, "val.f1": 0.9},
            params={"C": 0.5, "solver": "saga", "early_stop": True}, labels=["tabular", "candidate"],
            created="2026-01-15T10:00:00+00:00", size=3000),
    version("churn", "1.0.0-rc.1", metrics={"accuracy": 0.95}, params={"C": 0.5, "tags": ["a", "b"]},
            labels=["tabular"], created="2026-02-01T00:00:00+01:00", author=("Grace Hopper", "grace@example.com")),
    version("bert", "2.0.0", metrics={"accuracy": 0.88, "f1 score": 0.7}, params={"lr": 1e-4, "seed": None},
            labels=["nlp"], created="2026-01-31T12:00:30+00:00", description="fine-tuned on reviews", size=50),
    version("vision-x", "0.1.0", metrics={"accuracy": "n/a"}, labels=[], created="2026-03-03T00:00:00+00:00",
            author=("Alan Turing", "alan@example.com")),
]
STAGES = {("churn", "0.10.0"): frozenset({"staging", "production"}), ("bert", "2.0.0"): frozenset({"staging"})}


def tags(expression: str, **options) -> list[str]:
    order = query.parse_sort(options.pop("sort")) if "sort" in options else None
    found = predicate.run(query.parse(expression), CATALOGUE, STAGES, order, **options)
    return [v.tag for v in found]


@pytest.mark.parametrize("expression, expected", [
    ("", ["churn@v0.9.0", "churn@v0.10.0", "churn@v1.0.0-rc.1", "bert@v2.0.0", "vision-x@v0.1.0"]),
    ("metrics.accuracy >= 0.93", ["churn@v0.10.0", "churn@v1.0.0-rc.1"]),
    ("metrics.accuracy>0.9 and metrics.loss<0.3", ["churn@v0.10.0"]),  # no spaces needed
    ("metrics.loss != 0.4", ["churn@v0.10.0"]),  # a missing field is false, even with !=
    ("not metrics.loss exists", ["churn@v1.0.0-rc.1", "bert@v2.0.0", "vision-x@v0.1.0"]),
    ('metrics.accuracy == "n/a"', ["vision-x@v0.1.0"]),  # text compares with text only
    ("metrics.accuracy < 1", ["churn@v0.9.0", "churn@v0.10.0", "churn@v1.0.0-rc.1", "bert@v2.0.0"]),
    ("metrics.val.f1 >= 0.9", ["churn@v0.10.0"]),  # flattened metric names keep their dots
    ('metrics."f1 score" = 0.7', ["bert@v2.0.0"]),
    ("params.solver == saga or params.solver == 'lbfgs'", ["churn@v0.9.0", "churn@v0.10.0"]),
    ("params.C in (0.5, 2)", ["churn@v0.10.0", "churn@v1.0.0-rc.1"]),
    ("params.early_stop == true", ["churn@v0.10.0"]),
    ("params.early_stop != false", ["churn@v0.10.0"]),
    ("params.seed == null", ["churn@v0.9.0", "churn@v0.10.0", "churn@v1.0.0-rc.1", "bert@v2.0.0",
                             "vision-x@v0.1.0"]),
    ("params.lr exists and not params.seed exists", ["bert@v2.0.0"]),
    ('params.tags contains "b"', ["churn@v1.0.0-rc.1"]),
    ("params.lr < 0.001", ["bert@v2.0.0"]),
    ("version > 0.9.0 and version < 1.0.0", ["churn@v0.10.0", "churn@v1.0.0-rc.1"]),  # semver, not text
    ("version < 1.0.0", ["churn@v0.9.0", "churn@v0.10.0", "churn@v1.0.0-rc.1", "vision-x@v0.1.0"]),
    ("version == v2.0.0 or version == '0.1.0'", ["bert@v2.0.0", "vision-x@v0.1.0"]),
    ("version in (0.9.0, 1.0.0-rc.1)", ["churn@v0.9.0", "churn@v1.0.0-rc.1"]),
    ("created >= 2026-01-31", ["churn@v1.0.0-rc.1", "bert@v2.0.0", "vision-x@v0.1.0"]),
    ("created == 2026-01", ["churn@v0.10.0", "churn@v1.0.0-rc.1", "bert@v2.0.0"]),  # +01:00 is still January UTC
    ("created <= 2026-01-15", ["churn@v0.9.0", "churn@v0.10.0"]),  # the whole day
    ("created < 2026-01-15", ["churn@v0.9.0"]),
    ("created > 2026-01-31T12:00", ["churn@v1.0.0-rc.1", "vision-x@v0.1.0"]),  # after that minute
    ("created == '2026-01-31 12:00:30Z'", ["bert@v2.0.0"]),
    ("author == 'Grace Hopper' or author == alan@example.com", ["churn@v1.0.0-rc.1", "vision-x@v0.1.0"]),
    ('author == "Ada Lovelace <ada@example.com>" and name != churn', ["bert@v2.0.0"]),
    ('author contains "@example.com>" and author matches "G*"', ["churn@v1.0.0-rc.1"]),
    ('name matches "ch*" and version >= 1.0.0-rc.1', ["churn@v1.0.0-rc.1"]),
    ("name in (bert, vision-x)", ["bert@v2.0.0", "vision-x@v0.1.0"]),
    ('description contains "reviews"', ["bert@v2.0.0"]),
    ('labels contains "candidate"', ["churn@v0.10.0"]),
    ('labels matches "n*" or not labels exists', ["bert@v2.0.0", "vision-x@v0.1.0"]),
    ("size >= 1000", ["churn@v0.9.0", "churn@v0.10.0"]),
    ('stage == "production"', ["churn@v0.10.0"]),
    ("stage in (staging, dev)", ["churn@v0.10.0", "bert@v2.0.0"]),
    ("stage != staging and name == churn", ["churn@v0.9.0", "churn@v1.0.0-rc.1"]),
    ("not stage exists and metrics.accuracy > 0.9", ["churn@v1.0.0-rc.1"]),
    # precedence: not > and > or; parentheses override
    ("name == bert or name == churn and metrics.accuracy > 0.9", ["churn@v0.10.0", "churn@v1.0.0-rc.1",
                                                                   "bert@v2.0.0"]),
    ("(name == bert or name == churn) and metrics.accuracy > 0.9", ["churn@v0.10.0", "churn@v1.0.0-rc.1"]),
    ("NOT (name == churn) AND Metrics.accuracy exists".replace("Metrics", "metrics"),
     ["bert@v2.0.0", "vision-x@v0.1.0"]),  # keywords are case-insensitive
])
def test_the_language(expression, expected):
    assert tags(expression) == expected


def test_sort_desc_and_limit_keep_missing_values_last():
    assert tags("", sort="metrics.loss") == ["churn@v0.10.0", "churn@v0.9.0", "churn@v1.0.0-rc.1",
                                             "bert@v2.0.0", "vision-x@v0.1.0"]
    assert tags("", sort="metrics.loss", descending=True)[:2] == ["churn@v0.9.0", "churn@v0.10.0"]
    assert tags("", sort="metrics.loss", descending=True)[2:] == ["churn@v1.0.0-rc.1", "bert@v2.0.0",
                                                                  "vision-x@v0.1.0"]
    numbers_then_text = tags("", sort="metrics.accuracy", descending=True)
    assert numbers_then_text == ["vision-x@v0.1.0", "churn@v1.0.0-rc.1", "churn@v0.10.0", "bert@v2.0.0",
                                 "churn@v0.9.0"]
    assert tags("name == churn", sort="version", descending=True, limit=2) == ["churn@v1.0.0-rc.1",
                                                                              "churn@v0.10.0"]
    assert tags("", sort="created", limit=1) == ["churn@v0.9.0"]
    assert tags("", sort="size", descending=True, limit=2) == ["churn@v0.10.0", "churn@v0.9.0"]


@pytest.mark.parametrize("expression, column, message", [
    ("metrics.accuracy >= and x", 21, "expected a value .* found 'and'"),
    ("accuracy > 0.9", 1, "unknown field 'accuracy': use metrics.NAME, params.NAME"),
    ("metrics > 0.9", 1, "name the metric: write metrics.NAME"),
    ("metrics.a > 1 metrics.b > 2", 15, "expected 'and', 'or' or the end of the expression, found 'metrics.b'"),
    ("(metrics.a > 1 or name == x", 28, r"expected '\)' to close the '\(' at column 1"),
    ("metrics.a > 1 and", 18, "ends too early"),
    ("metrics.a ! 1", 11, "'!' is not an operator"),
    ('name == "churn', 9, "has no closing \""),
    ("name ~ x", 6, r"cannot read '~'"),
    ("labels > 3", 8, "labels cannot be used with >; use: contains matches exists"),
    ("stage < production", 7, "stage cannot be used with <"),
    ("version >= 1.2", 12, "'1.2' is not a version"),
    ("created > yesterday", 11, "'yesterday' is not a date"),
    ("created > 2026-13-01", 11, "is not a date"),
    ("size > big", 8, "size is a number of bytes"),
    ("params.x > true", 12, "true only compares with == or !="),
    ("name matches 3", 14, "matches takes a glob pattern"),
    ("name in churn", 9, "expected '\\(' after in"),
    ("name in (a b)", 12, "expected ',' or '\\)' in the list"),
    ("metrics.a 0.9", 11, "expected an operator"),
    ("and", 1, "expected a field"),
    ("metrics.a > 0.9x", 13, "cannot read '0.9x'"),
])
def test_malformed_expressions_point_at_the_mistake(expression, column, message):
    with pytest.raises(QueryError) as info:
        query.parse(expression)
    error = info.value
    first, shown, caret = str(error).split("\n")
    assert first.startswith(f"invalid search expression at column {column}: ")
    assert re.search(message, first), first
    assert "gitreg search --help" in first
    assert shown == f"  {expression}"
    assert caret == " " * (column + 1) + "^"
    assert error.position == column - 1 and error.exit_code == 4


def test_sort_field_errors_and_unknown_stages():
    with pytest.raises(QueryError, match="invalid sort field at column 1: cannot sort by labels"):
        query.parse_sort("labels")
    with pytest.raises(QueryError, match="invalid sort field at column 1: unknown field 'accuracy'"):
        query.parse_sort("accuracy")
    with pytest.raises(QueryError, match="at column 18: --sort takes one field"):
        query.parse_sort("metrics.accuracy desc")
    parsed = query.parse("name == a or stage in (staging, prod)")
    with pytest.raises(QueryError, match="at column 33: unknown stage 'prod': use one of dev, staging, production"):
        query.check_stages(parsed, ["dev", "staging", "production"])


@given(st.lists(st.from_regex(r"(0|[1-9][0-9]?)\.(0|[1-9])\.(0|[1-9])(-(alpha|beta|rc|[0-9]|x-y)(\.(0|[1-9]|a1))?)?"
                              r"(\+b[0-9])?", fullmatch=True), min_size=2, max_size=8))
def test_precedence_orders_exactly_like_semver(versions):
    by_semver = sorted(versions, key=lambda v: (versioning.sort_key(v), v))
    by_tuple = sorted(versions, key=lambda v: (versioning.precedence(v), v))
    assert by_tuple == by_semver


# ------------------------------------------------------------------------------------------- real registry
@pytest.fixture
def catalogue(registry, artifact, clock):
    for number, accuracy in (("0.1.0", 0.81), ("0.2.0", 0.92), ("0.10.0", 0.95)):
        artifact.write_bytes(f"churn {number}".encode() * 40)
        registry.register("churn", artifact, version=number, metrics={"accuracy": accuracy}, params={"C": accuracy},
                          labels=["tabular"] + (["candidate"] if accuracy > 0.9 else []))
        clock.tick()
    registry.register("bert", artifact, metrics={"accuracy": 0.97, "f1": 0.9}, labels=["nlp"])
    registry.promote("churn", "0.2.0", "production")
    registry.promote("bert", "0.1.0", "staging")
    return registry


def test_search_api_and_cli(catalogue, run):
    found = catalogue.search('labels contains "candidate" and metrics.accuracy > 0.9', sort="version",
                             descending=True)
    assert [v.tag for v in found] == ["churn@v0.10.0", "churn@v0.2.0"]
    assert [v.tag for v in catalogue.search("stage == production or stage == staging")] == [
        "bert@v0.1.0", "churn@v0.2.0"]
    rows = json.loads(run("search", "metrics.accuracy >= 0.9", "--sort", "metrics.accuracy", "--desc",
                          "--limit", "2", "--json").output)
    assert [(r["name"], r["version"]) for r in rows] == [("bert", "0.1.0"), ("churn", "0.10.0")]
    history = json.loads(run("history", "churn", "--json").output)
    assert set(rows[1]) == set(history[0]) == {"name", "version", "tag", "commit", "card", "deprecated"}
    assert rows[1] == history[0]  # one row per version, the same shape as history
    text = run("search", "name", "==", "churn", "and", "metrics.accuracy", ">", "0.9").output  # words joined
    lines = text.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "CREATED", "AUTHOR", "METRICS"]
    assert [line.split()[:2] for line in lines[1:]] == [["churn", "0.2.0"], ["churn", "0.10.0"]]
    assert "accuracy=0.92" in lines[1]
    assert run("search", "name == nobody").output == "No versions match.\n"
    assert json.loads(run("search", "name == nobody", "--json").output) == []


def test_search_cli_errors(catalogue, run):
    result = run("search", "metrics.accuracy >= and", expect=4)
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: invalid search expression at column 21: expected a value (a number, a \"string\", a version "
        "or a date), found 'and'; see `gitreg search --help` for the language",
        "  metrics.accuracy >= and",
        "                      ^"]
    error = run("search", "stage == prod", expect=4).stderr
    assert "column 10: unknown stage 'prod': use one of dev, staging, production" in error
    assert "column 1: unknown field 'nme'" in run("search", "--sort", "nme", expect=4).stderr
    assert "--limit" in run("search", "--limit", "0", expect=2).stderr
    help_text = run("search", "--help").output
    for word in ("metrics.NAME", "contains", "matches", "exists", "stage", "--sort", "--desc", "--limit"):
        assert word in help_text


def test_search_reads_only_the_index_and_resolves_stages_once(catalogue, monkeypatch):
    import gitreg.registry
    from gitreg.domain.card import Card
    from gitreg.io.git import Git

    calls = {"resolve": 0, "yaml": 0, "cat_file": 0, "blobs": 0}
    real_resolve, real_yaml, real_cat, real_blobs = (gitreg.services.snapshot.resolve_stages, Card.from_yaml.__func__,
                                                     Git.cat_file, Git.read_blobs)

    def counting(key, real):
        def wrapper(*args, **kwargs):
            calls[key] += key != "blobs" or bool(args[1])  # reading no blob at all starts no process
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(gitreg.services.snapshot, "resolve_stages", counting("resolve", real_resolve))
    monkeypatch.setattr(Card, "from_yaml", classmethod(counting("yaml", real_yaml)))
    monkeypatch.setattr(Git, "cat_file", counting("cat_file", real_cat))
    monkeypatch.setattr(Git, "read_blobs", counting("blobs", real_blobs))
    assert len(catalogue.search("metrics.accuracy > 0.5", sort="created")) == 4
    assert calls == {"resolve": 0, "yaml": 0, "cat_file": 0, "blobs": 0}
    assert len(catalogue.search("stage exists or stage == dev")) == 2
    assert calls["resolve"] == 1 and calls["cat_file"] == 1 and calls["yaml"] == 0
