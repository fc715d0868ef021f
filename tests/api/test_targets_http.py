"""``"targets"`` on the predict routes (JSON, batch, upload), over a real bundle with a target
component (tests/helpers/target_bundles.py): answers, limits as settings, 4xx codes, OpenAPI."""

from __future__ import annotations

import concurrent.futures
import io

import httpx
import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from helpers.api import ThreadServer, assert_error, b64, client
from helpers.target_bundles import target_bundle_path
from sentiment_fusion.api.config import Settings
from sentiment_fusion.api.main import create_app
from sentiment_fusion.labels import LABELS
from sentiment_fusion.posts import MAX_TARGET_CHARS, MAX_TARGETS

TEXT = "Switched from @united to @delta, best decision ever"
SEED_KEYS = {"sentiment", "scores", "modalities", "source", "model"}


@pytest.fixture(scope="module")
def analyzer(tmp_path_factory):
    from sentiment_fusion.runtime import Analyzer

    return Analyzer.load(target_bundle_path(tmp_path_factory), threads=1)


@pytest.fixture(scope="module")
def api(analyzer):
    with client(analyzer) as c:
        yield c


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def _same_targets(got: list[dict], want: list[dict]) -> None:
    assert [t["target"] for t in got] == [t["target"] for t in want]
    for g, w in zip(got, want, strict=True):
        assert g["spans"] == w["spans"] and g["found"] == w["found"] and g["sentiment"] == w["sentiment"]
        assert [g["scores"][k] for k in LABELS] == pytest.approx([w["scores"][k] for k in LABELS], abs=1e-5)


def test_predict_answers_each_target_in_order(api, analyzer):
    body = api.post("/v1/predict", json={"text": TEXT, "targets": ["Delta", "KLM", "@United"]}).json()
    assert set(body) == SEED_KEYS | {"targets"}
    _same_targets(
        body["targets"], analyzer.predict(text=TEXT, targets=["Delta", "KLM", "@United"]).to_dict()["targets"]
    )
    delta, klm, united = body["targets"]
    assert delta["spans"] == [[25, 31]] and delta["found"] is True
    assert klm == {**klm, "spans": [], "found": False}
    assert [TEXT[a:b] for a, b in united["spans"]] == ["@united"]
    for t in body["targets"]:
        assert set(t) == {"target", "spans", "found", "sentiment", "scores"}
        assert sum(t["scores"].values()) == pytest.approx(1.0, abs=1e-5)
    # the post's own answer is the same with or without targets; the seed contract has no targets key
    plain = api.post("/predict", json={"text": TEXT}).json()
    assert set(plain) == SEED_KEYS and plain["scores"] == pytest.approx(body["scores"], abs=1e-6)
    legacy = api.post("/predict", json={"text": TEXT, "targets": ["Delta"]}).json()
    _same_targets(legacy["targets"], body["targets"][:1])
    assert api.post("/v1/predict", json={"text": TEXT, "targets": None}).json().keys() == SEED_KEYS
    assert api.post("/v1/predict", json={"text": TEXT, "targets": []}).json()["targets"] == []


def test_text_and_image_with_targets(api, analyzer):
    if "image" not in analyzer.modalities:
        pytest.skip("the bundle reads no images")
    body = api.post("/v1/predict", json={"text": TEXT, "image": b64(_png()), "targets": ["Delta"]}).json()
    assert set(body["modalities"]) == {"text", "image"}
    _same_targets(body["targets"], analyzer.predict(text=TEXT, targets=["Delta"]).to_dict()["targets"])
    assert_error(
        api.post("/v1/predict", json={"image": b64(_png()), "targets": ["Delta"]}), 422, "targets_need_text", "text"
    )


def test_batch_takes_targets_per_item(api, analyzer):
    items = [
        {"text": TEXT, "targets": ["United", "Delta"]},
        {"text": "Lovely day at the beach"},
        {"text": "@apple my battery died again", "targets": ["Apple"]},
    ]
    answer = api.post("/v1/predict/batch", json={"items": items}).json()["items"]
    assert "targets" not in answer[1] and set(answer[1]) == SEED_KEYS
    for item, got in zip(items, answer, strict=True):
        if "targets" in item:
            want = analyzer.predict(text=item["text"], targets=item["targets"]).to_dict()["targets"]
            _same_targets(got["targets"], want)
    error = assert_error(
        api.post("/v1/predict/batch", json={"items": [{"text": TEXT}, {"text": TEXT, "targets": ["x" * 101]}]}),
        422,
        "target_too_long",
        "items[1]",
    )
    assert error["index"] == 1
    error = assert_error(
        api.post("/v1/predict/batch", json={"items": [{"text": TEXT, "targets": [3]}]}), 422, "invalid_targets"
    )
    assert error["index"] == 0


def test_upload_takes_one_targets_field_per_target(api, analyzer):
    data = {"text": TEXT, "targets": ["Delta", "United", "KLM"]}
    body = api.post("/v1/predict/upload", data=data).json()
    _same_targets(body["targets"], analyzer.predict(text=TEXT, targets=data["targets"]).to_dict()["targets"])
    files = {"image": ("photo.png", _png(), "image/png")} if "image" in analyzer.modalities else None
    body = api.post("/v1/predict/upload", data={"text": TEXT, "targets": "Delta"}, files=files).json()
    assert [t["target"] for t in body["targets"]] == ["Delta"]
    assert "targets" not in api.post("/v1/predict/upload", data={"text": TEXT}).json()
    assert_error(api.post("/v1/predict/upload", data={"text": TEXT, "targets": ""}), 422, "invalid_targets")
    assert_error(
        api.post("/v1/predict/upload", data={"text": TEXT, "targets": ["a"] * 33}), 422, "too_many_targets", "32"
    )
    assert_error(  # other fields still once
        api.post("/v1/predict/upload", data={"text": [TEXT, TEXT]}), 422, "invalid_request", "more than once"
    )


def test_explain_explains_each_target(api, analyzer):
    body = api.post("/v1/predict", json={"text": TEXT, "targets": ["United", "Delta"], "explain": True}).json()
    want = analyzer.explain(text=TEXT, targets=["United", "Delta"]).to_dict()
    assert body["explanation"] == want["explanation"]
    _same_targets(body["targets"], want["targets"])
    for got, expected in zip(body["targets"], want["targets"], strict=True):
        why = got["explanation"]
        assert why["label"] == got["sentiment"].lower() and why["image"] is None and why["modalities"] == {}
        assert [w["text"] for w in why["words"]] == [w["text"] for w in expected["explanation"]["words"]]
        assert [w["weight"] for w in why["words"]] == pytest.approx(
            [w["weight"] for w in expected["explanation"]["words"]], abs=1e-5
        )
        assert [TEXT[w["start"] : w["end"]] for w in why["words"]] == [w["text"] for w in why["words"]]
    upload = api.post("/v1/predict/upload", data={"text": TEXT, "targets": ["Delta"], "explain": "true"}).json()
    assert upload["targets"][0]["explanation"]["words"]
    assert "explanation" not in api.post("/v1/predict", json={"text": TEXT, "targets": ["Delta"]}).json()["targets"][0]
    assert_error(
        api.post("/v1/predict", json={"text": TEXT, "targets": [f"t{i}" for i in range(9)], "explain": True}),
        422,
        "too_many_targets",
        "explain",
    )


@pytest.mark.parametrize(
    "targets, code, word",
    [
        ("Delta", "invalid_targets", "list"),
        ([1], "invalid_targets", "string"),
        ([["Delta"]], "invalid_targets", "string"),
        ({"a": "Delta"}, "invalid_targets", "list"),
        (["  "], "invalid_targets", "names nothing"),
        (["#"], "invalid_targets", "names nothing"),
        (["-", "'"], "invalid_targets", "names nothing"),  # no word to match
        (["\u0301"], "invalid_targets", "names nothing"),  # an accent alone folds to nothing
        ([f"t{i}" for i in range(MAX_TARGETS + 1)], "too_many_targets", str(MAX_TARGETS)),
        (["x" * (MAX_TARGET_CHARS + 1)], "target_too_long", str(MAX_TARGET_CHARS)),
    ],
)
def test_bad_targets_are_4xx_with_the_library_codes(api, targets, code, word):
    assert_error(api.post("/v1/predict", json={"text": TEXT, "targets": targets}), 422, code, word)


def test_the_limits_are_settings(analyzer):
    with client(analyzer, max_targets=2, max_target_chars=10, max_explain_targets=1) as c:
        assert_error(
            c.post("/v1/predict", json={"text": TEXT, "targets": ["a", "b", "c"]}), 422, "too_many_targets", "2"
        )
        assert_error(c.post("/v1/predict", json={"text": TEXT, "targets": ["x" * 11]}), 422, "target_too_long", "10")
        assert_error(
            c.post("/v1/predict", json={"text": TEXT, "targets": ["a", "b"], "explain": True}),
            422,
            "too_many_targets",
            "1",
        )
        assert c.post("/v1/predict", json={"text": TEXT, "targets": ["Delta", "x" * 10]}).status_code == 200
        limits = c.get("/v1/model").json()["limits"]
        assert (limits["max_targets"], limits["max_target_chars"], limits["max_explain_targets"]) == (2, 10, 1)
    for too_high in ({"max_targets": MAX_TARGETS + 1}, {"max_target_chars": MAX_TARGET_CHARS + 1}):
        with pytest.raises(ValidationError):  # the library checks its own limits too: never above them
            Settings(**too_high)


def test_a_model_without_a_target_component_says_so(tiny_analyzer):
    with client(tiny_analyzer) as c:
        assert_error(
            c.post("/v1/predict", json={"text": TEXT, "targets": ["Delta"]}), 422, "targets_not_supported", "target"
        )
        assert_error(
            c.post("/v1/predict/batch", json={"items": [{"text": TEXT, "targets": ["Delta"]}]}),
            422,
            "targets_not_supported",
        )
        assert_error(
            c.post("/v1/predict/upload", data={"text": TEXT, "targets": "Delta"}), 422, "targets_not_supported"
        )
        assert set(c.post("/v1/predict", json={"text": TEXT}).json()) == SEED_KEYS


def test_openapi_documents_targets(api):
    spec = api.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    post = schemas["PostRequest"]["properties"]["targets"]
    assert {"type": "array", "items": {"type": "string"}} in post["anyOf"] and "max_targets" in post["description"]
    assert "targets" in schemas["PredictRequest"]["properties"]
    response = schemas["PredictResponse"]["properties"]["targets"]
    assert {"type": "array", "items": {"$ref": "#/components/schemas/TargetAnswer"}} in response["anyOf"]
    assert set(schemas["TargetAnswer"]["properties"]) == {
        "target",
        "spans",
        "found",
        "sentiment",
        "scores",
        "explanation",
    }
    assert set(schemas["TargetAnswer"]["required"]) == {"target", "spans", "found", "sentiment", "scores"}
    upload = spec["paths"]["/v1/predict/upload"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    form = schemas[upload["$ref"].rsplit("/", 1)[-1]]["properties"]["targets"]
    assert {"type": "array", "items": {"type": "string"}} in form["anyOf"] and "one `targets` field" in form[
        "description"
    ]


@pytest.mark.slow
def test_concurrent_requests_with_and_without_targets_share_micro_batches(analyzer):
    """Real uvicorn on loopback: posts with targets and without, sent at once, are merged by the
    micro-batcher; each answer is the one the post gets alone."""
    texts = [f"{TEXT} #{i}" if i % 2 else f"Flight {i} was late, thanks @united" for i in range(24)]
    aims = [["Delta", "United"] if i % 3 else None for i in range(24)]
    app = create_app(Settings(), analyzer=analyzer)
    with ThreadServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:

        def ask(i: int) -> dict:
            body = {"text": texts[i], **({"targets": aims[i]} if aims[i] is not None else {})}
            response = http.post("/v1/predict", json=body)
            assert response.status_code == 200, response.text
            return response.json()

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(ask, range(24)))
    for text, targets, answer in zip(texts, aims, answers, strict=True):
        alone = analyzer.predict(text=text, targets=targets).to_dict()
        assert answer["scores"] == pytest.approx(alone["scores"], abs=1e-5)
        if targets is None:
            assert "targets" not in answer
        else:
            _same_targets(answer["targets"], alone["targets"])
