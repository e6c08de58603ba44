"""One reference grammar for every command and the API (issue 10, part 6): NAME, NAME@1.2.0, NAME@v1.2.0,
NAME@latest, NAME@ALIAS, NAME#STAGE; bad references get one error naming the accepted forms."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitreg.domain import refs
from gitreg.domain.aliases import check_alias
from gitreg.domain.refs import REFERENCE_FORMS, ModelRef
from gitreg.errors import InvalidInputError, NotFoundError
from tests.conftest import snapshot
from tests.test_bad_input import fails, refused_api


@pytest.mark.parametrize("text, expected", [
    ("churn", ModelRef("churn")),
    ("churn@latest", ModelRef("churn")),
    ("churn@1.2.0", ModelRef("churn", "1.2.0")),
    ("churn@v1.2.0", ModelRef("churn", "1.2.0")),
    ("churn@2.0.0-rc.1+b.7", ModelRef("churn", "2.0.0-rc.1+b.7")),
    ("churn@champion", ModelRef("churn", alias="champion")),
    ("churn@shadow-2", ModelRef("churn", alias="shadow-2")),
    ("churn@canary_eu", ModelRef("churn", alias="canary_eu")),
    ("churn#production", ModelRef("churn", stage="production")),
])
def test_every_accepted_form(text, expected):
    assert ModelRef.parse(text) == expected
    assert ModelRef.parse(str(expected)) == expected


aliases = st.from_regex(refs.ALIAS_RE, fullmatch=True).filter(lambda a: a != refs.LATEST)


@given(aliases)
def test_an_alias_reference_round_trips(alias):
    ref = ModelRef.parse(f"m@{alias}")
    assert ref == ModelRef("m", alias=alias) and str(ref) == f"m@{alias}"
    assert check_alias(alias) == alias  # what a reference reads as an alias is a name an alias may have


@pytest.mark.parametrize("text", ["churn@", "churn@v", "churn@1.2", "churn@v1", "churn@Champion", "churn@-x",
                                  "churn@a", "churn@1.2.0@x", "churn@x#prod", "churn#", "@champion", "churn@ x",
                                  "churn@champion\n", "churn@champ.ion", "churn@" + "a" * 65, "ch urn@v1.0.0"])
def test_bad_references_get_one_error_listing_the_forms(text):
    with pytest.raises(InvalidInputError) as info:
        ModelRef.parse(text)
    message = str(info.value)
    assert REFERENCE_FORMS in message and "\n" not in message


def test_a_bad_version_still_says_what_a_version_is():
    with pytest.raises(InvalidInputError, match=r"invalid version '1\.2': use semantic versioning .*NAME@ALIAS"):
        ModelRef.parse("churn@1.2")


@pytest.mark.parametrize("alias, why", [
    ("1.2.0", "already means a version"), ("v1.2.0", "already means a version"), ("latest", "already means"),
    ("v2", "not like a version"), ("Champion", "lower-case"), ("a", "2 to 64"), ("x/y", "lower-case"),
    ("production", "is a stage of this registry"), ("", "lower-case"),
])
def test_alias_names_are_checked(alias, why):
    with pytest.raises(InvalidInputError, match=why):
        check_alias(alias, ["dev", "staging", "production"])


def test_the_alias_ref_grammar():
    assert refs.format_alias_ref("churn", "champion") == "refs/gitreg/aliases/churn/champion"
    assert refs.parse_alias_ref("refs/gitreg/aliases/churn/champion") == ("churn", "champion")
    for bad in ("refs/gitreg/aliases/churn", "refs/gitreg/aliases/churn/Champion", "refs/gitreg/aliases/-x/champion",
                "refs/gitreg/aliases/churn/champion/x", "refs/heads/churn/champion"):
        assert refs.parse_alias_ref(bad) is None


# ------------------------------------------------------------------------------ every command, the API
@pytest.fixture
def two(registry, artifact, clock):
    for n in range(2):
        artifact.write_bytes(f"w{n}".encode() * 100)
        registry.register("m", artifact)
        clock.tick()
    registry.promote("m", "0.1.0", "staging")
    registry.alias_set("m", "champion", "0.1.0")
    return registry


FORMS = {"m": "0.2.0", "m@latest": "0.2.0", "m@0.1.0": "0.1.0", "m@v0.1.0": "0.1.0", "m@champion": "0.1.0",
         "m#staging": "0.1.0"}


def test_every_form_resolves_in_show_get_compare_and_load(two, run, tmp_path):
    import json

    for text, version in FORMS.items():
        assert two.resolve(text).version == version
        assert two.show(text).version == version
        assert json.loads(run("show", text, "--json").output)["version"] == version
        out = tmp_path / f"{text.replace('@', '_').replace('#', '_')}.bin"
        run("get", text, "-o", str(out))
        assert hashlib.md5(out.read_bytes()).hexdigest() == two.resolve(text).card.artifact.md5
    report = json.loads(run("compare", "m@champion", "m@latest", "--json").output)
    assert [v["version"] for v in report["versions"]] == ["0.1.0", "0.2.0"]


def test_load_takes_a_reference_and_the_old_keywords(registry, make_model, tmp_path, clock):
    import joblib

    for c in (1.0, 0.5):
        path = tmp_path / f"model-{c}.joblib"
        joblib.dump(make_model(c=c), path)
        registry.register("clf", path)
        clock.tick()
    registry.alias_set("clf", "champion", "0.1.0")
    registry.promote("clf", "0.2.0", "staging")
    c_of = {text: registry.load(text).C for text in ("clf", "clf@latest", "clf@0.1.0", "clf@v0.1.0",
                                                       "clf@champion", "clf#staging")}
    assert c_of == {"clf": 0.5, "clf@latest": 0.5, "clf@0.1.0": 1.0, "clf@v0.1.0": 1.0, "clf@champion": 1.0,
                    "clf#staging": 0.5}
    assert registry.load("clf", "0.1.0").C == 1.0 and registry.load("clf", version="v0.1.0").C == 1.0
    assert registry.load("clf", stage="staging").C == 0.5
    assert registry.load(ModelRef("clf", alias="champion")).C == 1.0
    refused_api(registry.root, InvalidInputError, "not both", registry.load, "clf@0.1.0", "0.2.0")
    refused_api(registry.root, InvalidInputError, "NAME@ALIAS", registry.load, "clf@Nope")
    refused_api(registry.root, NotFoundError, "clf has no alias 'shadow'", registry.load, "clf@shadow")


@pytest.mark.parametrize("args", [("show", "m@Bad"), ("get", "m@1.2", "-o", "x.bin"), ("compare", "m", "m@"),
                                  ("show", "m#"), ("show", "m@v")])
def test_every_command_refuses_a_bad_reference_naming_the_forms(two, run, args):
    before = snapshot(two.root)
    line = fails(run, *args, code=4, match="NAME@latest, NAME@ALIAS or NAME#STAGE")
    assert line.count("NAME@1.2.0") == 1
    assert snapshot(two.root) == before


@pytest.mark.parametrize("args, code, match", [
    (("show", "m@shadow"), 5, "m has no alias 'shadow': `gitreg alias list m` shows its aliases"),
    (("show", "m@staging"), 5, "staging is a stage: write m#staging"),
    (("show", "ghost@champion"), 5, "no model named 'ghost'"),
    (("show", "m@9.9.9"), 5, "m has no version 9.9.9"),
])
def test_unknown_targets_are_not_found(two, run, args, code, match):
    before = snapshot(two.root)
    fails(run, *args, code=code, match=match)
    assert snapshot(two.root) == before
