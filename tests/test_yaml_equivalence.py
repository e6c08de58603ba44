"""The libyaml fast path of ``yamlio.load`` reads exactly what ruamel reads, or steps aside."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitreg.domain import yamlio
from gitreg.errors import UnsafeContentError

SCALARS = ["yes", "no", "on", "off", "y", "017", "0o17", "0x1F", "0b101", "1_000", "1e3", "1.5e-3", ".5", "5.",
           ".inf", "-.inf", ".nan", ".NaN", "NaN", "~", "null", "Null", "", "true", "True", "FALSE", "2024-01-01",
           "2024-01-01T10:00:00Z", "1:20", "=", "-0", "+12", "'quoted'", '"tab\\there"', "héllo", "0.1.0", "v1"]


def ruamel(text):
    try:
        return ("ok", yamlio._load("safe", text, "x"))
    except Exception as exc:  # noqa: BLE001
        return ("error", type(exc).__name__)


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("scalar", SCALARS)
def test_each_scalar_reads_as_ruamel_reads_it(scalar):
    text = f"value: {scalar}\nlist:\n  - {scalar}\n"
    expected = ruamel(text)
    assert expected[0] == "error" or same(yamlio.load(text), expected[1])


@pytest.mark.parametrize("text", ["a: 1\na: 2\n", "a: &x 1\nb: *x\n", "a: !!python/object:os.system x\n",
                                  "%YAML 1.1\n---\na: yes\n", "a: =\n", "[" * 70 + "]" * 70, "a: [1, 2\n"])
def test_what_the_fast_path_must_not_decide_goes_to_ruamel(text):
    expected = ruamel(text)
    if expected[0] == "ok":
        assert same(yamlio.load(text), expected[1])
    else:
        with pytest.raises(Exception) as caught:
            yamlio.load(text)
        assert type(caught.value).__name__ == expected[1] or isinstance(caught.value, UnsafeContentError)


def test_deep_block_nesting_is_refused_as_before():
    text = "".join(f"{'  ' * level}k{level}:\n" for level in range(80)) + f"{'  ' * 80}v\n"
    with pytest.raises(UnsafeContentError, match="nests deeper"):
        yamlio.load(text)


keys = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=8)
leaves = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                   st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(SCALARS), keys)
documents = st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(keys, inner, max_size=4)), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, documents, min_size=1, max_size=6))
def test_documents_ruamel_writes_read_back_the_same_both_ways(data):
    text = yamlio.dump(data)
    expected = ruamel(text)
    assert expected[0] == "ok"
    assert same(yamlio.load(text), expected[1])


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": -Infinity}', '{"a": 1e999}', '{"a": [1' + "0" * 400 + '.0]}'])
def test_json_without_finite_numbers_is_refused_on_either_decoder(text):
    with pytest.raises(UnsafeContentError):
        yamlio.load_json(text)




# ``dump_plain`` lets verify compare bytes instead of parsing: whatever it writes must read back as exactly
# the data, and for the plain data cards hold it must write what ``dump`` writes (else verify parses).
plain_text = st.text(st.sampled_from("abcxyzAZ019_./@+:, -"), min_size=1, max_size=12)
plain_leaves = st.one_of(st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=False, allow_infinity=False),
                         st.sampled_from(SCALARS), plain_text, keys)
plain_documents = st.recursive(plain_leaves, lambda inner: st.one_of(st.lists(plain_leaves, max_size=4),
                                                                     st.dictionaries(st.one_of(plain_text, keys), inner,
                                                                                     max_size=4)), max_leaves=20)


@settings(max_examples=400, deadline=None)  # 20,000 passed once by hand
@given(st.dictionaries(st.one_of(plain_text, keys), plain_documents, min_size=1, max_size=6))
def test_what_dump_plain_writes_reads_back_as_the_data_and_is_what_dump_writes(data):
    text = yamlio.dump_plain(data)
    if text is None:
        return
    assert same(ruamel(text)[1], data) and same(yamlio.load(text), data)
    assert text == yamlio.dump(data)


def test_dump_plain_writes_every_card_register_writes(registry, artifact):
    from gitreg.domain.pointer import plain_texts

    version = registry.register("m", artifact, metrics={"accuracy": 0.91, "loss": 0.2}, params={"C": 1.0},
                                labels=["tabular"], description="a model")
    tree = f"{version.commit}:models/m"
    card_yaml = registry.git.read_blobs([f"{tree}/card.yaml"])[f"{tree}/card.yaml"]
    assert yamlio.dump_plain(version.card.to_dict()).encode() == card_yaml
    artifact = version.card.artifact
    pointer = registry.git.read_blobs([f"{tree}/{artifact.path}.dvc"])[f"{tree}/{artifact.path}.dvc"]
    assert pointer in plain_texts(artifact.md5, artifact.size, artifact.path)


@pytest.mark.parametrize("value", ["a: b", "a #b", "x ", " x", "'q'", "line\nbreak", "tab\tx", "é", None, 1e-05,
                                   1e20, [{"a": 1}], [[1]], "~", "-x", "?x", "*x", "&x", "!x", "%x", "@x", "#x",
                                   "... x", "..."])
def test_dump_plain_leaves_anything_unsure_to_the_parser(value):
    assert yamlio.dump_plain({"k": value}) is None
    if isinstance(value, str) and value:
        assert yamlio.dump_plain({value: 1}) is None  # as a key at the margin too ("... x:" ends a document)
