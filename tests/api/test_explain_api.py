"""``"explain": true`` on the single-post routes, over the real default bundle."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from helpers.api import assert_error, b64, client

TEXT = "Worst airline ever 😡 #neveragain @united http://t.co/x lost my bag bag"


def _jpeg(size=(320, 240)) -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def analyzer(default_bundle):
    from sentiment_fusion.runtime import Analyzer

    return Analyzer.load(default_bundle, threads=1)


@pytest.fixture(scope="module")
def api(analyzer):
    with client(analyzer) as c:
        yield c


def test_text_round_trip(api, analyzer):
    body = api.post("/v1/predict", json={"text": TEXT, "explain": True}).json()
    explanation = body["explanation"]
    assert explanation == analyzer.explain(text=TEXT).to_dict()["explanation"]
    assert explanation["label"] == body["sentiment"].lower() == "negative"
    assert [TEXT[w["start"] : w["end"]] for w in explanation["words"]] == [w["text"] for w in explanation["words"]]
    assert [w["text"] for w in explanation["words"]][-3:] == ["my", "bag", "bag"]
    assert explanation["image"] is None and explanation["modalities"] == {}
    assert "explanation" not in api.post("/v1/predict", json={"text": TEXT}).json()
    assert "explanation" in api.post("/predict", json={"text": TEXT, "explain": True}).json()


def test_text_and_image(api):
    body = api.post("/v1/predict", json={"text": TEXT, "image": b64(_jpeg()), "explain": True}).json()
    assert body["source"] == "fusion"
    grid = body["explanation"]["image"]["grid"]
    assert len(grid) == 7 and all(len(row) == 7 for row in grid)
    overlay = Image.open(io.BytesIO(base64.b64decode(body["explanation"]["image"]["overlay_png"])))
    assert overlay.format == "PNG" and overlay.size == (320, 240)
    effects = body["explanation"]["modalities"]
    assert set(effects) == {"text", "image"}
    for effect in effects.values():
        drop = body["scores"][body["explanation"]["label"]] - effect["scores_without"][body["explanation"]["label"]]
        assert effect["contribution"] == pytest.approx(drop, abs=1e-5)


def test_upload_route(api):
    files = {"image": ("photo.jpg", _jpeg(), "image/jpeg")}
    body = api.post("/v1/predict/upload", data={"text": TEXT, "explain": "true"}, files=files).json()
    assert len(body["explanation"]["image"]["grid"]) == 7 and body["explanation"]["words"]
    assert "explanation" not in api.post("/v1/predict/upload", data={"text": TEXT}).json()
    assert_error(api.post("/v1/predict/upload", data={"text": TEXT, "explain": "perhaps"}), 422, "invalid_request")


def test_bad_combinations_are_4xx(api):
    assert_error(
        api.post("/v1/predict/batch", json={"items": [{"text": TEXT, "explain": True}]}), 422, "invalid_request"
    )
    assert_error(api.post("/v1/predict", json={"text": TEXT, "explain": "yes please"}), 422, "invalid_request")
    assert_error(api.post("/v1/predict", json={"explain": True}), 422, "missing_input")
    assert "explanation" not in api.post("/v1/predict/batch", json={"items": [{"text": TEXT}]}).json()["items"][0]


def test_openapi_documents_explain(api):
    spec = api.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert schemas["PredictRequest"]["properties"]["explain"]["type"] == "boolean"
    assert "explain" not in schemas["PostRequest"]["properties"]  # batch items
    assert {"words", "image", "modalities"} <= set(schemas["Explanation"]["properties"])
    assert set(schemas["WordWeight"]["properties"]) == {"text", "start", "end", "weight"}
    upload = spec["paths"]["/v1/predict/upload"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert "explain" in schemas[upload["$ref"].rsplit("/", 1)[-1]]["properties"]
