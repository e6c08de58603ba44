"""The ref grammar (names, version tags, model references) and semver ordering and bumps.

Strategies are built from the grammar in :mod:`gitreg.domain.refs`; the oracle for "is this valid" is the
same grammar matched against the whole string with ``re.fullmatch``.
"""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gitreg.domain import refs, versioning
from gitreg.domain.refs import ModelRef, format_version_tag, parse_version_tag
from gitreg.errors import ConflictError, InvalidInputError

ALNUM = string.ascii_letters + string.digits
NAME_INNER = ALNUM + "_-"

names = st.one_of(
    st.sampled_from(ALNUM),
    st.builds(lambda first, middle, last: first + middle + last,
              st.sampled_from(ALNUM), st.text(NAME_INNER, max_size=98), st.sampled_from(ALNUM)),
)

numbers = st.integers(min_value=0, max_value=10**6).map(str)
alnum_ids = st.text(ALNUM + "-", min_size=1, max_size=8).filter(lambda s: not s.isdigit())
prerelease_ids = st.one_of(numbers, alnum_ids)
build_ids = st.text(ALNUM + "-", min_size=1, max_size=8)


@st.composite
def semvers(draw) -> str:
    core = ".".join(draw(numbers) for _ in range(3))
    pre = draw(st.lists(prerelease_ids, max_size=3))
    build = draw(st.lists(build_ids, max_size=3))
    return core + (f"-{'.'.join(pre)}" if pre else "") + (f"+{'.'.join(build)}" if build else "")


stages = st.from_regex(re.compile(refs.STAGE_PATTERN), fullmatch=True)

REF_GRAMMAR = re.compile(  # NAME@ALIAS covers NAME@latest
    rf"(?:{refs.NAME_PATTERN})(?:@v?(?:{refs.SEMVER_PATTERN})|@(?:{refs.ALIAS_PATTERN})|#(?:{refs.STAGE_PATTERN}))?"
)

BAD_NAMES = ["../x", "a/b", "-a", "a-", "_a", "a_", "a b", "a@b", "a#b", "", "a" * 101, "a..b", "a.b",
             "a\n", "\na", "a\x00b", "ä", "a:b", "a~b", "a^b", "a\\b"]


# ----------------------------------------------------------------------------------------- names
@given(names)
def test_every_name_of_the_grammar_is_accepted(name):
    assert refs.check_name(name) == name
    assert len(name) <= 100


@pytest.mark.parametrize("name", BAD_NAMES)
def test_names_outside_the_grammar_are_rejected(name):
    with pytest.raises(InvalidInputError, match=r"invalid model name .*use letters, digits"):
        refs.check_name(name)


def test_the_longest_name_is_100_characters():
    assert refs.check_name("a" * 100) == "a" * 100


@given(st.text(max_size=120))
@example("a\n")
@example("1.0.0\n")
def test_check_name_accepts_exactly_the_grammar(text):
    valid = re.fullmatch(refs.NAME_PATTERN, text) is not None
    if valid:
        assert refs.check_name(text) == text
    else:
        with pytest.raises(InvalidInputError):
            refs.check_name(text)


@given(st.text(max_size=40))
@example("1.0.0\n")
@example("vv1.0.0")
def test_check_version_accepts_exactly_semver_with_an_optional_v(text):
    valid = re.fullmatch(f"v?(?:{refs.SEMVER_PATTERN})", text) is not None
    if valid:
        assert refs.check_version(text) == text.removeprefix("v")
    else:
        with pytest.raises(InvalidInputError, match="use semantic versioning"):
            refs.check_version(text)


# ---------------------------------------------------------------------------------- version tags
@given(names, semvers())
def test_version_tag_round_trip(name, version):
    tag = format_version_tag(name, version)
    assert tag == f"{name}@v{version}"
    assert parse_version_tag(tag) == (name, version)


@pytest.mark.parametrize("tag", ["m@1.0.0", "m@v1.0", "m@v01.0.0", "@v1.0.0", "m@v1.0.0\n", "m@vv1.0.0",
                                 "a/b@v1.0.0", "m@v1.0.0-", "m@v1.0.0+", "m-v1.0.0", "v1.0.0"])
def test_other_tags_are_not_versions(tag):
    assert parse_version_tag(tag) is None


# -------------------------------------------------------------------------------- model references
@given(names, semvers())
def test_model_ref_with_version_round_trips(name, version):
    for text in (f"{name}@{version}", f"{name}@v{version}"):
        ref = ModelRef.parse(text)
        assert ref == ModelRef(name, version)
        assert str(ref) == f"{name}@v{version}"
        assert ModelRef.parse(str(ref)) == ref


@given(names, stages)
def test_model_ref_with_stage_round_trips(name, stage):
    ref = ModelRef.parse(f"{name}#{stage}")
    assert ref == ModelRef(name, stage=stage)
    assert str(ref) == f"{name}#{stage}"
    assert ModelRef.parse(str(ref)) == ref


@given(names)
def test_bare_model_ref_round_trips(name):
    ref = ModelRef.parse(name)
    assert ref == ModelRef(name) and str(ref) == name


def test_model_ref_examples():
    assert ModelRef.parse("churn@1.2.0") == ModelRef("churn", "1.2.0")
    assert ModelRef.parse("churn@v1.2.0") == ModelRef("churn", "1.2.0")
    assert ModelRef.parse("churn#production") == ModelRef("churn", stage="production")
    assert ModelRef.parse("churn@2.0.0-rc.1+build.7").version == "2.0.0-rc.1+build.7"


@pytest.mark.parametrize("text", ["", "@1.0.0", "m@", "m@v", "m#", "m@1.0", "m@vv1.0.0", "m@1.0.0@2.0.0",
                                  "m#prod#dev", "m@1.0.0#prod", "m#Prod", "m#-prod", "../m@1.0.0",
                                  "m@1.0.0\n", "m\n", "m #prod", "m@ 1.0.0"])
def test_invalid_model_refs_are_rejected(text):
    with pytest.raises(InvalidInputError, match=r"invalid (model name|version|stage name|model reference)"):
        ModelRef.parse(text)


@given(st.text(alphabet=ALNUM + "_-@#.v+\n /", max_size=30))
@example("m@vv1.0.0")
@example("m\n")
@example("m@champion")
@example("m@v2")
def test_model_ref_parse_accepts_exactly_the_grammar(text):
    if REF_GRAMMAR.fullmatch(text):
        assert ModelRef.parse(text).name == re.split("[@#]", text)[0]
    else:
        with pytest.raises(InvalidInputError):
            ModelRef.parse(text)


# ------------------------------------------------------------------------------------- versioning
@pytest.mark.parametrize(
    ("existing", "bump", "changed", "expected"),
    [
        ([], None, False, "0.1.0"),
        ([], "major", True, "0.1.0"),
        (["0.1.0"], None, False, "0.2.0"),
        (["0.1.0"], None, True, "1.0.0"),
        (["0.1.0"], "patch", True, "0.1.1"),
        (["1.0.0-rc.1"], "patch", False, "1.0.0"),  # a bump releases the pre-release
        (["1.0.0-rc.1"], "minor", False, "1.0.0"),
        (["1.0.0-rc.1"], "major", False, "1.0.0"),
        (["1.1.0-rc.1"], "major", False, "2.0.0"),
        (["1.0.1-alpha"], "minor", False, "1.1.0"),
        (["0.9.0", "1.0.0-rc.2", "1.0.0-rc.10"], "patch", False, "1.0.0"),
        (["1.0.0+build.5"], "patch", False, "1.0.1"),  # build metadata never carries over
        (["1.0.0+build.5"], "auto", True, "2.0.0"),
        (["1.0.0", "1.0.0+build.5"], "minor", False, "1.1.0"),
    ],
)
def test_next_version_bumps(existing, bump, changed, expected):
    assert versioning.next_version(existing, None, bump, changed) == expected


@pytest.mark.parametrize(
    ("existing", "explicit", "expected"),
    [
        ([], "1.0.0", "1.0.0"),
        ([], "v2.0.0-rc.1", "2.0.0-rc.1"),
        (["1.0.0-rc.1"], "1.0.0", "1.0.0"),
        (["1.0.0-rc.1"], "1.0.0-rc.2", "1.0.0-rc.2"),
        (["1.0.0-rc.2"], "1.0.0-rc.10", "1.0.0-rc.10"),  # numeric identifiers compare as numbers
        (["1.0.0"], "1.0.1+build.1", "1.0.1+build.1"),
    ],
)
def test_next_version_explicit(existing, explicit, expected):
    assert versioning.next_version(existing, explicit, None, False) == expected


@pytest.mark.parametrize(
    ("existing", "explicit", "message"),
    [
        (["1.0.0"], "1.0.0", "already exists and versions are immutable"),
        (["1.0.0"], "v1.0.0", "already exists and versions are immutable"),
        (["1.0.0+a"], "1.0.0+a", "already exists"),
        (["1.0.0+a"], "1.0.0+b", "not greater than the latest version 1.0.0\\+a"),  # build metadata is no order
        (["1.0.0"], "1.0.0-rc.1", "not greater than the latest version 1.0.0"),
        (["1.0.0-rc.1"], "1.0.0-beta", "not greater"),
        (["0.1.0", "2.0.0"], "1.5.0", "not greater than the latest version 2.0.0"),
    ],
)
def test_next_version_refuses_taken_or_lower_versions(existing, explicit, message):
    with pytest.raises(ConflictError, match=message):
        versioning.next_version(existing, explicit, None, False)


@pytest.mark.parametrize("explicit", ["1.0", "1.0.0.0", "01.0.0", "1.0.0-", "1.0.0-01", "one", "", "1.0.0+"])
def test_next_version_refuses_invalid_semver(explicit):
    with pytest.raises(InvalidInputError, match="invalid version .*semantic versioning"):
        versioning.next_version(["0.1.0"], explicit, None, False)


def test_next_version_refuses_version_and_bump_together_and_unknown_bumps():
    with pytest.raises(InvalidInputError, match="either --version or --bump, not both"):
        versioning.next_version([], "1.0.0", "patch", False)
    with pytest.raises(InvalidInputError, match="invalid bump 'huge': use one of major, minor, patch, auto"):
        versioning.next_version(["1.0.0"], None, "huge", False)


@given(st.lists(semvers(), min_size=1, max_size=6), st.sampled_from(["major", "minor", "patch", "auto"]),
       st.booleans())
def test_a_bump_is_always_greater_than_every_existing_version(existing, bump, changed):
    new = versioning.next_version(existing, None, bump, changed)
    assert all(versioning.sort_key(new) > versioning.sort_key(old) for old in existing)
    assert "+" not in new
    assert refs.check_version(new) == new


def test_latest_orders_by_semver_precedence():
    assert versioning.latest([]) is None
    assert versioning.latest(["1.0.0-rc.10", "1.0.0-rc.2", "0.9.0"]) == "1.0.0-rc.10"
    assert versioning.latest(["1.0.0-rc.1", "1.0.0"]) == "1.0.0"
    assert versioning.latest(["1.10.0", "1.9.0"]) == "1.10.0"
    assert versioning.latest(["1.0.0+b", "1.0.0+a"]) == "1.0.0+b"  # deterministic tie-break


# ------------------------------------------------------------------------------- GTO's other tags
@given(names, stages, st.one_of(st.none(), st.integers(min_value=0, max_value=10**8)), st.booleans())
def test_assignment_tags_round_trip(name, stage, counter, leaving):
    tag = refs.format_assignment_tag(name, stage, counter, leaving)
    parsed = refs.parse_assignment_tag(tag)
    assert (parsed.name, parsed.stage, parsed.counter, parsed.leaving) == (name, stage, counter, leaving)
    assert str(parsed) == tag and refs.is_gto_stage_tag(tag)
    assert refs.parse_version_tag(tag) is None and refs.parse_deprecation_tag(tag) is None


@given(names, semvers())
def test_deprecation_tags_round_trip(name, version):
    tag = refs.format_deprecation_tag(name, version)
    assert refs.parse_deprecation_tag(tag) == (name, version)
    assert refs.parse_version_tag(tag) is None and refs.parse_assignment_tag(tag) is None


@pytest.mark.parametrize("tag", ["churn#Prod#1", "churn#prod#1\n", "churn#prod#", "churn#prod#x",
                                 "churn##1", "churn#prod!!#1", "#prod#1", "churn#prod#1#2"])
def test_malformed_assignment_tags_are_not_assignments(tag):
    assert refs.parse_assignment_tag(tag) is None
