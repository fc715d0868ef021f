"""The HTTP API through FastAPI's TestClient: every route and every kind of bad input."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from helpers.api import ImageAwareAnalyzer, assert_error, b64, client, png_bytes

LABELS = {"negative", "neutral", "positive"}


@pytest.fixture(scope="module")
def text_client(tiny_analyzer):
    with client(tiny_analyzer) as c:
        yield c


@pytest.fixture(scope="module")
def api(image_analyzer):
    with client(image_analyzer) as c:
        yield c


def assert_prediction(body: dict, modalities: set[str]) -> None:
    assert body["sentiment"] in {"Negative", "Neutral", "Positive"}
    assert set(body["scores"]) == LABELS
    assert abs(sum(body["scores"].values()) - 1) < 1e-6
    assert body["sentiment"].lower() == max(body["scores"], key=body["scores"].get)
    assert set(body["modalities"]) == modalities
    for view in body["modalities"].values():
        assert set(view["scores"]) == LABELS and view["sentiment"] in {"Negative", "Neutral", "Positive"}
    assert set(body["model"]) == {"name", "version"} and body["source"]


# ----------------------------------------------------------------------------- routes
@pytest.mark.parametrize("path", ["/predict", "/v1/predict"])
def test_predict_text(text_client, tiny_analyzer, path):
    r = text_client.post(path, json={"text": "I love this, great day!"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert_prediction(body, {"text"})
    assert body["source"] == "text" and body["model"] == {"name": "tiny", "version": "0.0.1"}
    expected = tiny_analyzer.predict(text="I love this, great day!")
    assert body["sentiment"] == expected.sentiment.title
    assert body["scores"] == pytest.approx(expected.scores)
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])


def test_predict_image_base64_and_data_url(api):
    bright, dark = png_bytes(color=(255, 255, 255)), png_bytes(color=(0, 0, 0))
    r = api.post("/v1/predict", json={"image": b64(bright)})
    assert r.status_code == 200, r.text
    assert_prediction(r.json(), {"image"})
    assert r.json()["sentiment"] == "Positive" and r.json()["source"] == "image"
    r = api.post("/v1/predict", json={"image": "data:image/png;base64," + b64(dark)})
    assert r.json()["sentiment"] == "Negative"
    # base64 wrapped over lines (as many tools write it) is fine too
    wrapped = "\n".join(re.findall(".{1,76}", b64(dark)))
    assert api.post("/v1/predict", json={"image": wrapped}).json()["sentiment"] == "Negative"


def test_predict_text_and_image(api):
    r = api.post("/predict", json={"text": "This is terrible and sad.", "image": b64(png_bytes(fmt="JPEG"))})
    assert r.status_code == 200, r.text
    assert_prediction(r.json(), {"text", "image"})
    assert r.json()["source"] == "mean"


def test_upload(api):
    r = api.post(
        "/v1/predict/upload",
        data={"text": "The meeting is at noon."},
        files={"image": ("a.png", png_bytes(), "image/png")},
    )
    assert r.status_code == 200, r.text
    assert_prediction(r.json(), {"text", "image"})
    assert_prediction(api.post("/v1/predict/upload", data={"text": "hi there"}).json(), {"text"})
    assert_prediction(
        api.post("/v1/predict/upload", files={"image": ("a.gif", png_bytes(fmt="GIF"), "image/gif")}).json(), {"image"}
    )
    # what a browser sends for an empty form: an empty text field and an empty file part
    r = api.post("/v1/predict/upload", data={"text": ""}, files={"image": ("", b"", "application/octet-stream")})
    assert_error(r, 422, "missing_input")
    assert_error(
        api.post("/v1/predict/upload", files={"image": ("x.png", b"GIF89a junk", "image/png")}), 422, "invalid_image"
    )


def test_upload_counts_a_browsers_crlf_line_breaks_as_one_character(text_client):
    text = "ab\r\n" * 1666  # 4,998 characters as the JSON route counts them, 6,664 as sent by a form
    assert text_client.post("/v1/predict/upload", data={"text": text}).status_code == 200
    assert_error(text_client.post("/v1/predict/upload", data={"text": "abc\r\n" * 1300}), 422, "text_too_long")


def test_real_image_pipeline_matches_the_library(multimodal_analyzer):
    """Real ONNX image encoder + head + fusion graph: the API's answer is the library's answer."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.effect_noise((96, 64), 60).convert("RGB").save(buffer, "JPEG")
    jpeg = buffer.getvalue()
    with client(multimodal_analyzer) as c:
        r = c.post("/v1/predict", json={"text": "The meeting is at noon.", "image": b64(jpeg)})
        assert r.status_code == 200, r.text
        expected = multimodal_analyzer.predict(text="The meeting is at noon.", image=jpeg)
        assert r.json()["source"] == "fusion" and r.json()["sentiment"] == expected.sentiment.title
        assert r.json()["scores"] == pytest.approx(expected.scores, abs=1e-6)
        assert r.json()["modalities"]["image"]["scores"] == pytest.approx(expected.modalities["image"].scores, abs=1e-6)
        upload = c.post(
            "/v1/predict/upload",
            data={"text": "The meeting is at noon."},
            files={"image": ("x.jpg", jpeg, "image/jpeg")},
        )
        assert upload.json()["scores"] == pytest.approx(expected.scores, abs=1e-6)
        only_image = c.post("/v1/predict", json={"image": b64(jpeg)}).json()
        assert only_image["source"] == "image"
        assert only_image["scores"] == pytest.approx(multimodal_analyzer.predict(image=jpeg).scores, abs=1e-6)


def test_batch(api):
    items = [
        {"text": "I love this, great day!"},
        {"image": b64(png_bytes(color=(0, 0, 0)))},
        {"text": "This is terrible and sad.", "image": b64(png_bytes())},
    ]
    r = api.post("/v1/predict/batch", json={"items": items})
    assert r.status_code == 200, r.text
    answers = r.json()["items"]
    assert [set(a["modalities"]) for a in answers] == [{"text"}, {"image"}, {"text", "image"}]
    assert answers[1]["sentiment"] == "Negative"
    single = api.post("/v1/predict", json=items[0]).json()
    assert answers[0]["scores"] == pytest.approx(single["scores"])
    assert r.json()["model"]["name"] == "tiny-with-toy-image"


def test_batch_of_many_images_is_scored_in_order(api):
    colors = [(0, 0, 0), (255, 255, 255)] * 9  # 18 images: more than one chunk of 8
    items = [{"image": b64(png_bytes(color=c))} for c in colors]
    r = api.post("/v1/predict/batch", json={"items": items})
    assert r.status_code == 200, r.text
    assert [a["sentiment"] for a in r.json()["items"]] == ["Negative", "Positive"] * 9


@pytest.mark.parametrize(
    "bad, code",
    [
        ({}, "missing_input"),
        ({"text": "  "}, "empty_text"),
        ({"image": "not base64!"}, "invalid_base64"),
        ({"image": b64(b"plain text, not an image")}, "invalid_image"),
    ],
)
def test_batch_names_the_bad_item(api, bad, code):
    items = [{"text": "fine"}, {"text": "also fine"}, bad, {"text": "fine"}]
    error = assert_error(api.post("/v1/predict/batch", json={"items": items}), 422, code, "items[2]")
    assert error["index"] == 2


def test_batch_shape_errors(api):
    assert_error(api.post("/v1/predict/batch", json={"items": []}), 422, "invalid_request", "items")
    assert_error(api.post("/v1/predict/batch", json={"items": {"text": "a"}}), 422, "invalid_request", "items")
    assert_error(api.post("/v1/predict/batch", json=[{"text": "a"}]), 422, "invalid_request")
    error = assert_error(
        api.post("/v1/predict/batch", json={"items": [{"text": "a"}, {"text": 5}]}),
        422,
        "invalid_request",
        "items[1].text",
    )
    assert "string" in error["message"]


def test_health_ready_model(api):
    from sentiment_fusion import __version__

    health = api.get("/healthz").json()
    assert health["status"] == "ok"
    assert health["package_version"] == __version__
    assert health["model"] == {"name": "tiny-with-toy-image", "version": "0.0.1"}
    r = api.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"
    assert r.json()["model"] == health["model"]
    info = api.get("/v1/model").json()
    assert info["name"] == "tiny-with-toy-image" and info["version"] == "0.0.1"
    assert info["package_version"] == __version__
    assert info["labels"] == ["negative", "neutral", "positive"]
    assert info["modalities"] == ["text", "image"]
    assert info["components"]["text"]["kind"] == "bilstm"
    assert isinstance(info["metrics"], list)
    assert info["limits"]["max_text_chars"] == 5000


def test_docs_and_openapi(api):
    spec = api.get("/openapi.json").json()
    for path in (
        "/predict",
        "/v1/predict",
        "/v1/predict/upload",
        "/v1/predict/batch",
        "/healthz",
        "/readyz",
        "/v1/model",
        "/metrics",
    ):
        assert path in spec["paths"], path
    assert "ErrorResponse" in spec["components"]["schemas"]
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    page = api.get("/docs").text
    assert "swagger" in page.lower() and "/openapi.json" in page
    # Swagger UI comes from this server, not a CDN: every script and stylesheet is a local path.
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/docs-assets/") for a in assets), assets
    for asset in assets:
        r = api.get(asset)
        assert r.status_code == 200 and len(r.content) > 1000, asset


def test_docs_can_be_switched_off(tiny_analyzer):
    with client(tiny_analyzer, docs_enabled=False) as c:
        for path in ("/docs", "/openapi.json", "/docs-assets/swagger-ui.css"):
            assert c.get(path).status_code == 404, path
        assert c.post("/v1/predict", json={"text": "fine"}).status_code == 200


def test_page_and_static_files(api):
    r = api.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    for asset in ("/static/app.js", "/static/style.css"):
        assert asset in r.text
    for path in ("/static/index.html", "/static/app.js"):  # the page under its file name too: same policy
        assert api.get(path).headers["content-security-policy"] == r.headers["content-security-policy"]
        assert api.get(asset).status_code == 200
    # nothing external: no scripts, fonts or styles from other hosts
    for text in (r.text, api.get("/static/app.js").text, api.get("/static/style.css").text):
        assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//|@import|url\(\s*[\"']?(https?:)?//", text)
    assert api.get("/static/../main.py").status_code == 404


def test_metrics(api):
    api.post("/v1/predict", json={"text": "metrics please"})
    api.post("/v1/predict", json={})
    text = api.get("/metrics").text
    assert re.search(r'sentiment_fusion_http_requests_total\{method="POST",route="/v1/predict",status="200"\} \d', text)
    assert 'status="422"' in text
    assert "sentiment_fusion_http_request_duration_seconds_bucket" in text
    assert re.search(r"sentiment_fusion_inference_seconds_count \d", text)
    assert "sentiment_fusion_model_ready 1.0" in text


# ----------------------------------------------------------------------------- bad input
def test_malformed_json(api):
    r = api.post("/v1/predict", content=b'{"text": "unterminated', headers={"content-type": "application/json"})
    assert_error(r, 400, "malformed_json", "not valid JSON")
    r = api.post("/v1/predict", content=b"\xff\xfe{}", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] in {"malformed_json", "bad_request"}
    deep = b"[" * 100_000 + b"]" * 100_000  # RecursionError in the JSON parser: still a 400
    r = api.post("/v1/predict", content=deep, headers={"content-type": "application/json"})
    assert_error(r, 400, "malformed_body", "nested too deeply")
    r = api.post("/v1/predict", content=b'{"text": "a"} trailing', headers={"content-type": "application/json"})
    assert_error(r, 400, "malformed_json", "extra data")
    r = api.post("/v1/predict", content=b"", headers={"content-type": "application/json"})
    assert_error(r, 400, "empty_body", "body is empty")
    r = api.post(
        "/v1/predict",
        content=gzip.compress(b'{"text": "a"}'),
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert_error(r, 415, "unsupported_content_encoding", "gzip")


def test_lone_surrogate_in_text(api):
    r = api.post("/v1/predict", content=b'{"text": "bad \\ud800 escape"}', headers={"content-type": "application/json"})
    assert_error(r, 422, "invalid_text", "unicode")
    r = api.post("/v1/predict", content=b'{"text": "ok \\ud83d\\ude00"}', headers={"content-type": "application/json"})
    assert r.status_code == 200  # a proper surrogate pair is an emoji


def test_upload_bad_forms(api):
    assert_error(api.post("/v1/predict/upload", json={"text": "a"}), 415, "unsupported_media_type", "multipart")
    assert_error(api.post("/v1/predict/upload", data={"text": "a", "caption": "x"}), 422, "invalid_request", "caption")
    r = api.post("/v1/predict/upload", content=b"junk", headers={"content-type": "multipart/form-data"})
    assert_error(r, 400, "bad_request", "boundary")
    r = api.post("/v1/predict/upload", files=[("text", (None, "good")), ("text", (None, "bad"))])
    assert_error(r, 422, "invalid_request", "more than once: ['text']")
    r = api.post(
        "/v1/predict/upload",
        files=[
            ("image", ("a.png", png_bytes((8, 8)), "image/png")),
            ("image", ("b.png", png_bytes((8, 8)), "image/png")),
        ],
    )
    assert_error(r, 422, "invalid_request", "more than once: ['image']")


def test_batch_type_errors_name_the_item(api):
    r = api.post("/v1/predict/batch", json={"items": [{"text": "x"}, {"text": "y"}, {"text": [1]}]})
    error = assert_error(r, 422, "invalid_request", "body.items[2].text")
    assert error["index"] == 2


@pytest.mark.parametrize(
    "body, where",
    [
        ({"text": 5}, "body.text"),
        ({"text": ["a"]}, "body.text"),
        ({"image": {"b64": "x"}}, "body.image"),
        ({"text": "a", "txt": "typo"}, "body.txt"),
        ("just a string", "body"),
        (None, "body"),
    ],
)
def test_wrong_types_and_unknown_fields(api, body, where):
    r = api.post("/v1/predict", content=json.dumps(body), headers={"content-type": "application/json"})
    assert_error(r, 422, "invalid_request", where)


def test_wrong_content_type(api):
    r = api.post("/v1/predict", content=b'{"text": "a"}', headers={"content-type": "text/plain"})
    assert_error(r, 415, "unsupported_media_type", "application/json")


@pytest.mark.parametrize(
    "body, status, code, words",
    [
        ({}, 422, "missing_input", ["text", "image"]),
        ({"text": None, "image": None}, 422, "missing_input", []),
        ({"text": ""}, 422, "empty_text", []),
        ({"text": " \n\t"}, 422, "empty_text", []),
        ({"text": "\u200b"}, 422, "empty_text", ["invisible"]),  # zero-width space
        ({"text": "\ufeff\u2060 \u0000"}, 422, "empty_text", []),  # BOM, word joiner, NUL
        ({"text": "\ufffd\ufffd"}, 422, "empty_text", []),  # what undecodable form bytes become
        ({"image": ""}, 422, "invalid_image", ["empty"]),
        ({"image": "@@@not-base64@@@"}, 422, "invalid_base64", ["base64", "paths are not enabled"]),
        ({"image": "../../etc/passwd"}, 422, "invalid_base64", ["paths are not enabled"]),
        ({"image": "abc"}, 422, "invalid_base64", []),
        ({"image": b64(b"%PDF-1.4 hello")}, 422, "invalid_image", ["not a supported image"]),
        ({"image": b64(png_bytes()[:40])}, 422, "invalid_image", []),
        ({"image": "data:text/plain;base64," + b64(b"hi")}, 422, "invalid_image", ["text/plain"]),
        ({"image": "data:image/png," + "rawdata"}, 422, "invalid_data_url", ["base64"]),
        ({"image": "data:image/png;base64,!!!"}, 422, "invalid_base64", []),
        ({"image": "data:nonsense"}, 422, "invalid_data_url", []),
        ({"image": "https://example.com/cat.jpg"}, 422, "url_fetch_disabled", ["not fetched"]),
        ({"image": "file:///etc/passwd"}, 422, "url_fetch_disabled", []),
    ],
)
def test_bad_input(api, body, status, code, words):
    assert_error(api.post("/v1/predict", json=body), status, code, *words)


def test_truncated_image_says_so(api):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 50).convert("RGB").save(buffer, "JPEG")
    cut = buffer.getvalue()[: len(buffer.getvalue()) // 2]
    error = assert_error(api.post("/v1/predict", json={"image": b64(cut)}), 422, "invalid_image")
    assert "truncated" in error["message"].lower() or "decode" in error["message"].lower()


def test_modality_the_model_lacks(text_client):
    assert_error(
        text_client.post("/v1/predict", json={"text": "ok", "image": b64(png_bytes())}),
        422,
        "image_not_supported",
        "no image component",
    )
    assert_error(
        text_client.post("/v1/predict/upload", files={"image": ("a.png", png_bytes(), "image/png")}),
        422,
        "image_not_supported",
    )


def test_not_found_and_method_not_allowed(api):
    assert_error(api.get("/v2/predict"), 404, "not_found")
    assert_error(api.get("/v1/predict"), 405, "method_not_allowed")
    assert_error(api.delete("/healthz"), 405, "method_not_allowed")


def test_bug_is_a_logged_json_500_and_the_service_keeps_serving(tiny_analyzer, caplog):
    with client(ImageAwareAnalyzer(tiny_analyzer, fail_on="boom")) as c:
        r = c.post("/v1/predict", json={"text": "boom"})
        assert_error(r, 500, "internal_error", "request_id")
        assert any("boom" in (rec.exc_text or "") or rec.exc_info for rec in caplog.records if rec.levelname == "ERROR")
        assert c.post("/v1/predict", json={"text": "fine"}).status_code == 200
        assert c.get("/healthz").status_code == 200
