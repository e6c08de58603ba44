"""A signature that means something: input columns with dtypes, outputs, a stored input example; a
predictor that refuses input a caller would get a silent wrong prediction from; and ``--bump auto``
reading it (changed inputs major, an added output minor)."""

from __future__ import annotations

import pytest

from gitreg import SignatureError
from gitreg.domain import signature
from tests.test_bad_input import refused_api

pd = pytest.importorskip("pandas", reason="pandas is in the test extra")


@pytest.fixture
def frame(dataset):
    x, y = dataset
    columns = [f"f{i}" for i in range(5)]
    data = pd.DataFrame(x[:200, :5], columns=columns)
    data["segment"] = pd.Series(["a", "b"] * 100, dtype=object)
    return data, y[:200]


@pytest.fixture
def churn(frame):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    data, y = frame
    encode = make_column_transformer((OneHotEncoder(), ["segment"]), remainder="passthrough")
    return make_pipeline(encode, LogisticRegression(max_iter=200)).fit(data, y)


def test_a_dataframe_example_records_columns_dtypes_outputs_and_rows(registry, churn, frame):
    data, _ = frame
    card = registry.register("churn", churn, input_example=data.head(20)).card
    sig = card.signature
    assert sig["inputs"][:2] == [{"name": "f0", "dtype": "float64"}, {"name": "f1", "dtype": "float64"}]
    assert sig["inputs"][-1] == {"name": "segment", "dtype": "object"}
    assert sig["outputs"] == {"predict": {"classes": [0, 1], "dtype": "int64"}, "predict_proba": {"shape": [None, 2]}}
    assert sig["example"]["columns"] == list(data.columns) and len(sig["example"]["rows"]) == 5
    assert sig["n_features"] == 6 and sig["features"] == list(data.columns)
    predictor = registry.predictor("churn")
    assert (predictor.predict(data[:10]) == churn.predict(data[:10])).all()
    assert predictor.input_example == sig["example"]


def test_the_predictor_refuses_missing_extra_and_wrongly_typed_columns(registry, churn, frame):
    data, _ = frame
    registry.register("churn", churn, input_example=data.head(5))
    predictor = registry.predictor("churn")
    root = registry.root
    refused_api(root, SignatureError, r"input does not match the signature of churn@v0\.1\.0: missing f3 columns",
                predictor.predict, data.drop(columns=["f3"]))
    refused_api(root, SignatureError, "extra leak columns", predictor.predict, data.assign(leak=1.0))
    refused_api(root, SignatureError, "f0 is (object|str), expected float64", predictor.predict,
                data.assign(f0=data["f0"].astype(str)))
    refused_api(root, SignatureError, "segment is float64, expected object", predictor.predict,
                data.assign(segment=1.5))
    assert len(predictor.predict(data.assign(f1=data["f1"].round().astype("int64")))) == 200  # ints are floats


def test_an_array_example_checks_width_and_dtype(registry, make_model, dataset):
    x, _ = dataset
    model = make_model()
    sig = registry.register("cancer", model, input_example=x[:3]).card.signature
    assert sig["inputs"][0] == {"name": None, "dtype": "float64"} and len(sig["inputs"]) == 30
    assert sig["example"]["columns"] is None and len(sig["example"]["rows"]) == 3
    predictor = registry.predictor("cancer")
    assert (predictor.predict(x[:4]) == model.predict(x[:4])).all()
    refused_api(registry.root, SignatureError, "29 columns, expected 30", predictor.predict, x[:4, :29])
    refused_api(registry.root, SignatureError, "expected float64", predictor.predict, x[:4].astype(str))
    refused_api(registry.root, SignatureError, "takes a table of 30 columns", predictor.predict, x[0])


def test_a_version_without_inputs_predicts_unchecked(registry, make_model, dataset):
    x, _ = dataset
    registry.register("cancer", make_model())
    assert len(registry.predictor("cancer").predict(x[:2])) == 2


def test_bump_auto_reads_the_richer_signature(registry, churn, frame, clock):
    data, _ = frame
    assert registry.register("churn", churn, input_example=data.head(5)).version == "0.1.0"
    clock.tick()
    assert registry.register("churn", churn, input_example=data.head(5)).version == "0.2.0"  # same signature
    clock.tick()
    retyped = data.assign(f0=data["f0"].astype("float32"))
    assert registry.register("churn", churn, input_example=retyped.head(5)).version == "1.0.0"  # inputs changed


def test_an_added_output_is_minor_and_a_removed_one_major():
    inputs = [{"name": "a", "dtype": "float64"}]
    old = {"inputs": inputs, "outputs": {"predict": {"dtype": "float64"}}}
    more = {"inputs": inputs, "outputs": {"predict": {"dtype": "float64"}, "predict_proba": {"shape": [None, 2]}}}
    assert not signature.incompatible(old, more)
    assert signature.incompatible(more, old)
    assert signature.incompatible(old, {"inputs": inputs, "outputs": {"predict": {"dtype": "int64"}}})
    assert signature.incompatible(old, {"inputs": [{"name": "b", "dtype": "float64"}], "outputs": old["outputs"]})
    assert not signature.incompatible(old, {"inputs": [{"name": "a"}]})  # no dtype recorded: names decide
    assert signature.differences(old, more) == ["outputs added: predict_proba"]


def test_example_rows_stay_json_even_with_missing_values(registry, make_model, dataset):
    x, _ = dataset
    rows = x[:2].copy()
    rows[1, 0] = float("nan")  # the model predicts the first row only
    sig = registry.register("cancer", make_model(), input_example=rows).card.signature
    assert sig["example"]["rows"][1][0] is None
    assert registry.show("cancer").card.signature["example"]["rows"][1][0] is None


def test_a_bad_example_is_one_clear_error(registry, make_model, dataset):
    x, _ = dataset
    refused_api(registry.root, Exception, "input_example must be a pandas DataFrame or a 2-D numpy array",
                registry.register, "cancer", make_model(), input_example=[1, 2, 3])
    refused_api(registry.root, Exception, r"the model cannot predict its input_example",
                registry.register, "cancer", make_model(), input_example=x[:2, :3])


def test_compare_names_the_signature_differences(registry, churn, frame, clock, run):
    data, _ = frame
    registry.register("churn", churn, input_example=data.head(5))
    clock.tick()
    registry.register("churn", churn, input_example=data.assign(f0=data["f0"].astype("float32")).head(5))
    out = run("compare", "churn@0.1.0", "churn@1.0.0").output
    assert "input dtypes: f0 float64 → float32" in out
