"""Monitor mode (issue 15, points 1-3 and 8): a real uvicorn on 127.0.0.1 over a real DuckDB file.

``POST /v1/posts`` stores, updates, leaves unchanged and rejects posts one by one; the file holds
each post once; ``GET /v1/insights/*`` equals what ``sentiment-fusion insights ... --csv`` prints on
the same file (the CLI runs as its own process once the server has let go of the file); API key
scopes; ``serve --db`` refuses more than one worker.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys

import httpx
import pytest

from helpers.api import ImageAwareAnalyzer, ThreadServer, b64, png_bytes
from helpers.monitor import KeywordAnalyzer
from helpers.monitor import posts as _posts
from helpers.target_bundles import plumbing_target_bundle
from sentiment_fusion.api.config import Settings
from sentiment_fusion.api.main import create_app

duckdb = pytest.importorskip("duckdb")

VIEWS = ("summary", "trends", "alerts", "terms", "examples")


@pytest.fixture
def store_path(tmp_path):
    return tmp_path / "monitor.duckdb"


def _server(analyzer, store_path, **settings):
    return ThreadServer(create_app(Settings(monitor_db=store_path, **settings), analyzer=analyzer))


def _rows_in_file(path) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT post_id, brand, text, sentiment FROM posts ORDER BY post_id").fetchall()
    finally:
        con.close()


def test_ingest_is_idempotent_by_id(tiny_analyzer, store_path):
    with _server(tiny_analyzer, store_path) as server:
        first = httpx.post(server.url + "/v1/posts", json={"posts": _posts(20)}, timeout=30)
        assert first.status_code == 200, first.text
        body = first.json()
        assert (body["stored"], body["updated"], body["unchanged"], body["rejected"]) == (20, 0, 0, 0)
        assert [p["index"] for p in body["posts"]] == list(range(20))
        assert all(p["sentiment"] in ("Negative", "Neutral", "Positive") for p in body["posts"])
        assert all(abs(sum(p["scores"].values()) - 1) < 1e-5 for p in body["posts"])

        again = _posts(20)
        again[3]["text"] = "a changed text"
        again[4]["brand"] = "nokia"
        again[5].pop("created_at")  # a missing time keeps the stored one: unchanged
        again.append({"id": "new-1", "text": "brand new post"})
        second = httpx.post(server.url + "/v1/posts", json={"posts": again}, timeout=30).json()
        assert (second["stored"], second["updated"], second["unchanged"], second["rejected"]) == (1, 2, 18, 0)
        status = {p["id"]: p["status"] for p in second["posts"]}
        assert status["p3"] == status["p4"] == "updated" and status["new-1"] == "stored" and status["p5"] == "unchanged"
        unchanged = next(p for p in second["posts"] if p["id"] == "p0")
        assert unchanged["scores"] == body["posts"][0]["scores"]  # the stored verdict
        state = httpx.get(server.url + "/v1/monitor").json()
        assert state["posts"] == 21 and state["brands"] == ["all", "apple", "nokia", "samsung"]
    rows = _rows_in_file(store_path)
    assert len(rows) == 21 == len({r[0] for r in rows})
    by_id = {r[0]: r for r in rows}
    assert by_id["p3"][2] == "a changed text" and by_id["p4"][1] == "nokia" and by_id["new-1"][1] == "all"


def test_bad_posts_are_rejected_one_by_one(tiny_analyzer, store_path):
    long_text = "x" * 5001
    posts = [
        {"id": "ok-1", "text": "good post"},
        {"text": "no id"},
        "not an object",
        {"id": "t", "text": "bad time", "created_at": "yesterday-ish"},
        {"id": "e", "text": "   "},
        {"id": "l", "text": long_text},
        {"id": "u", "text": "unknown field", "colour": "red"},
        {"id": "i", "text": "an image", "image": "not base64!!"},
        {"id": "b", "text": "empty brand", "brand": " "},
        {"id": ["x"], "text": "id of the wrong type"},
        {"id": "dup", "text": "first copy"},
        {"id": "dup", "text": "second copy"},
        {"id": 7, "text": "an integer id is fine"},
        {"id": "old", "text": "a stray year", "created_at": "0001-01-01T00:00:00Z"},
        {"id": "future", "text": "from the future", "created_at": "2999-01-01T00:00:00Z"},
    ]
    with _server(tiny_analyzer, store_path) as server:
        answer = httpx.post(server.url + "/v1/posts", json={"posts": posts}, timeout=30)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        codes = {p["index"]: p.get("error", {}).get("code") for p in body["posts"]}
        assert codes == {
            0: None,
            1: "invalid_post",
            2: "invalid_post",
            3: "invalid_created_at",
            4: "empty_text",
            5: "text_too_long",
            6: "invalid_post",
            7: "image_not_supported",  # the text-only model says so before reading the image
            8: "invalid_brand",
            9: "invalid_post",
            10: "duplicate_id",
            11: None,
            12: None,
            13: "invalid_created_at",
            14: "invalid_created_at",
        }
        assert (body["stored"], body["rejected"]) == (3, 12)
        assert "colour" in body["posts"][6]["error"]["message"]

        def error(response, status, code):
            assert response.status_code == status, response.text
            assert response.json()["error"]["code"] == code, response.text

        url = server.url + "/v1/posts"
        error(httpx.post(url, json={"posts": _posts(101)}), 413, "batch_too_large")
        error(httpx.post(url, json={"posts": []}), 422, "invalid_request")
        error(httpx.post(url, json={"items": []}), 422, "invalid_request")
        error(
            httpx.post(url, content=b"{not json", headers={"content-type": "application/json"}), 400, "malformed_json"
        )
        error(httpx.get(server.url + "/v1/insights/trends?period=month"), 422, "invalid_request")
        error(httpx.get(server.url + "/v1/insights/trends?since=soon"), 422, "invalid_time")
        error(httpx.get(server.url + "/v1/insights/examples?k=100000"), 422, "invalid_request")
        error(httpx.get(server.url + "/v1/insights/summary?since=2015-01-02&until=2015-01-01"), 422, "invalid_time")
    assert sorted(r[0] for r in _rows_in_file(store_path)) == ["7", "dup", "ok-1"]


def test_images_are_scored_and_keyed_by_content(tiny_analyzer, store_path):
    analyzer = ImageAwareAnalyzer(tiny_analyzer)
    bright = b64(png_bytes((16, 16), (250, 250, 250)))
    dark = b64(png_bytes((16, 16), (5, 5, 5)))
    with _server(analyzer, store_path) as server:
        url = server.url + "/v1/posts"
        posts = [{"id": "a", "image": bright}, {"id": "b", "image": "aGVsbG8="}, {"id": "c", "image": "%%"}]
        first = httpx.post(url, json={"posts": posts}).json()
        assert first["posts"][0]["status"] == "stored" and first["posts"][0]["sentiment"] == "Positive"
        assert [p.get("error", {}).get("code") for p in first["posts"]] == [None, "invalid_image", "invalid_base64"]
        same = httpx.post(url, json={"posts": [{"id": "a", "image": "data:image/png;base64," + bright}]}).json()
        assert same["unchanged"] == 1
        changed = httpx.post(url, json={"posts": [{"id": "a", "image": dark}]}).json()
        assert changed["updated"] == 1 and changed["posts"][0]["sentiment"] == "Negative"
        refused = httpx.post(url, json={"posts": [{"id": "c", "image": "https://example.com/x.png"}]}).json()
        assert refused["posts"][0]["error"]["code"] == "url_fetch_disabled"
    con = duckdb.connect(str(store_path), read_only=True)
    (image,) = con.execute("SELECT image FROM posts WHERE post_id = 'a'").fetchone()
    con.close()
    assert image.startswith("sha256:")


def _cli_rows(store_path, view: str, *extra: str) -> list[dict]:
    out = subprocess.run(
        [sys.executable, "-m", "sentiment_fusion.cli", "insights", view, "--db", str(store_path), "--csv", *extra],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return list(csv.DictReader(io.StringIO(out))) if out.strip() else []


def _same_as_csv(api_rows: list[dict], csv_rows: list[dict]) -> None:
    """Column names, order and every figure: a CSV cell is the JSON value as the CLI writes it."""
    assert len(api_rows) == len(csv_rows)
    for api, cli in zip(api_rows, csv_rows, strict=True):
        assert list(api) == list(cli)
        for key, value in api.items():
            if value is None:
                assert cli[key] == "", key
            elif isinstance(value, float):
                assert float(cli[key]) == value, key
            else:
                assert str(value) == cli[key], key


@pytest.mark.slow
def test_reads_equal_the_cli_tables(tiny_analyzer, store_path, tmp_path):
    # Skewed days so that alerts and terms have rows: days 8-9 of each brand turn negative.
    posts = _posts(300, brands=("apple", "samsung"), hours=1)
    for post in posts[190:260]:
        post["text"] = "awful broken refund battery dead again"
    queries = {
        "summary": ["", "?brand=apple"],
        "trends": ["?period=day", "?period=week&brand=samsung", "?period=hour"],
        "alerts": ["?period=day", "?period=day&min_volume=5&window=3&correction=none&alpha=0.2"],
        "terms": ["", "?k=3&min_count=2&min_z=0.5"],
        "examples": ["?k=2", "?brand=apple"],
    }
    cli_args = {
        "": [],
        "?brand=apple": ["--brand", "apple"],
        "?period=day": ["--period", "day"],
        "?period=week&brand=samsung": ["--period", "week", "--brand", "samsung"],
        "?period=hour": ["--period", "hour"],
        "?period=day&min_volume=5&window=3&correction=none&alpha=0.2": [
            "--period",
            "day",
            "--min-volume",
            "5",
            "--window",
            "3",
            "--correction",
            "none",
            "--alpha",
            "0.2",
        ],
        "?k=3&min_count=2&min_z=0.5": ["-k", "3", "--min-count", "2", "--min-z", "0.5"],
        "?k=2": ["-k", "2"],
    }
    since, until = "2014-12-06T00:00:00", "2014-12-11T12:00:00"
    with _server(KeywordAnalyzer(tiny_analyzer), store_path) as server:
        for start in range(0, len(posts), 100):
            assert httpx.post(server.url + "/v1/posts", json={"posts": posts[start : start + 100]}, timeout=60).json()[
                "stored"
            ] == len(posts[start : start + 100])
        api = {
            (view, q): httpx.get(f"{server.url}/v1/insights/{view}{q}", timeout=60).json()["rows"]
            for view, qs in queries.items()
            for q in qs
        }
        windowed = {
            view: httpx.get(f"{server.url}/v1/insights/{view}", params={"since": since, "until": until}).json()["rows"]
            for view in VIEWS
        }
    assert api[("alerts", "?period=day&min_volume=5&window=3&correction=none&alpha=0.2")], "the skew makes alerts"
    assert api[("terms", "")], "and characteristic terms"
    for (view, q), rows in api.items():
        _same_as_csv(rows, _cli_rows(store_path, view, *cli_args[q]))
    # since/until: the same tables as the CLI prints on a store holding only that window's posts
    trimmed = tmp_path / "window.duckdb"
    shutil.copy(store_path, trimmed)
    con = duckdb.connect(str(trimmed))
    con.execute("DELETE FROM posts WHERE NOT (created_at >= ? AND created_at < ?)", [since, until])
    con.close()
    for view in VIEWS:
        _same_as_csv(windowed[view], _cli_rows(trimmed, view))
        _same_as_csv(windowed[view], _cli_rows(store_path, view, "--since", since, "--until", until))


def test_api_key_scopes(tiny_analyzer, store_path):
    with _server(tiny_analyzer, store_path, api_keys="writer-key", api_read_keys="reader-key") as server:
        url = server.url
        post = {"posts": [{"id": "1", "text": "hello"}]}
        assert httpx.post(url + "/v1/posts", json=post).json()["error"]["code"] == "missing_api_key"
        assert httpx.get(url + "/v1/insights/summary").status_code == 401
        assert (
            httpx.get(url + "/v1/monitor", headers={"X-API-Key": "wrong"}).json()["error"]["code"] == "invalid_api_key"
        )
        refused = httpx.post(url + "/v1/posts", json=post, headers={"X-API-Key": "reader-key"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "read_only_key"
        assert httpx.post(url + "/v1/posts", json=post, headers={"X-API-Key": "writer-key"}).json()["stored"] == 1
        for key in ("reader-key", "writer-key"):
            for path in ("/v1/insights/summary", "/v1/monitor", "/v1/insights/trends"):
                assert httpx.get(url + path, headers={"X-API-Key": key}).status_code == 200, (key, path)
        assert (
            httpx.post(url + "/v1/predict", json={"text": "hi"}, headers={"X-API-Key": "reader-key"}).status_code == 200
        )
        assert httpx.get(url + "/healthz").status_code == 200  # health stays open


def test_openapi_documents_the_monitor_routes(tiny_analyzer, store_path):
    with _server(tiny_analyzer, store_path) as server:
        schema = httpx.get(server.url + "/openapi.json").json()
    paths = schema["paths"]
    assert "rows" in schema["components"]["schemas"]["InsightsRows"]["properties"]
    columns = {
        "summary": [*"brand posts scored errors first last negative neutral positive net_lo accuracy".split()],
        "trends": ["brand", "period", "n", "negative_lo", "positive_hi", "net", "net_lo", "net_hi"],
        "alerts": ["brand", "period", "metric", "value", "baseline", "change", "z", "p", "p_adjusted", "n"],
        "terms": ["brand", "sentiment", "rank", "term", "zeta", "delta", "count", "count_other"],
        "examples": ["brand", "sentiment", "confidence", "post_id", "created_at", "text"],
    }
    for view in VIEWS:
        route = paths[f"/v1/insights/{view}"]["get"]
        assert route["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("InsightsRows")
        for column in columns[view]:
            assert column in route["description"], (view, column)
    body = paths["/v1/posts"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("IngestRequest")
    request = schema["components"]["schemas"]["IngestRequest"]
    assert set(request["properties"]["posts"]["items"]["properties"]) == {"id", "text", "image", "created_at", "brand"}


def test_monitor_routes_exist_only_with_a_store(tiny_analyzer):
    with ThreadServer(create_app(Settings(), analyzer=tiny_analyzer)) as server:
        assert httpx.post(server.url + "/v1/posts", json={"posts": []}).status_code in (404, 405)
        assert httpx.get(server.url + "/v1/insights/summary").status_code == 404


def test_serve_refuses_several_workers_with_a_store(tmp_path, monkeypatch):
    from sentiment_fusion.api.server import SettingsError, serve

    for name in ("SENTIMENT_FUSION_MONITOR_DB", "SENTIMENT_FUSION_MONITOR_BRANDS"):
        monkeypatch.setenv(name, "")  # recorded, so that what serve() sets is undone after the test
        monkeypatch.delenv(name)
    with pytest.raises(SettingsError, match="--workers 1"):
        serve(workers=2, db=tmp_path / "s.duckdb")
    not_a_store = tmp_path / "notes.duckdb"
    not_a_store.write_text("hello")
    with pytest.raises(SettingsError, match="not a DuckDB file"):
        serve(workers=1, db=not_a_store)


@pytest.fixture(scope="module")
def target_analyzer(tiny_bundle, tmp_path_factory):
    """The tiny bundle plus a ``target`` component (as tests/insights/conftest.py builds it)."""
    from sentiment_fusion.runtime import Analyzer

    dest = tmp_path_factory.mktemp("bundles") / "tiny-target"
    return Analyzer.load(plumbing_target_bundle(dest, tiny_bundle, "markers", "tiny-target"), threads=1)


BRANDS = '[brands.united]\naliases = ["united", "@united"]\n[brands.delta]\naliases = ["delta"]\n'


def test_brands_file_scores_mentions_as_analyze_does(target_analyzer, tiny_analyzer, store_path, tmp_path):
    brands = tmp_path / "brands.toml"
    brands.write_text(BRANDS)
    posts = [
        {"id": "a", "text": "Switched from @united to Delta", "created_at": "2024-03-01T09:00:00Z"},
        {"id": "b", "text": "no airline here"},
        {"id": "c", "text": "delta lost my bag", "created_at": "2024-03-01T10:00:00Z"},
    ]
    with _server(target_analyzer, store_path, monitor_brands=brands) as server:
        body = httpx.post(server.url + "/v1/posts", json={"posts": posts}, timeout=30).json()
        assert body["stored"] == 3, body
        found = {p["id"]: [(m["brand"], m["spans"]) for m in p["mentions"]] for p in body["posts"]}
        assert found == {"a": [("delta", [[25, 30]]), ("united", [[14, 21]])], "b": [], "c": [("delta", [[0, 5]])]}
        assert all(m["sentiment"] in ("Negative", "Neutral", "Positive") for p in body["posts"] for m in p["mentions"])
        again = httpx.post(server.url + "/v1/posts", json={"posts": posts[:1]}).json()
        assert again["unchanged"] == 1 and again["posts"][0]["mentions"] == body["posts"][0]["mentions"]
        summary = httpx.get(server.url + "/v1/insights/summary").json()["rows"]
        assert {r["brand"]: r["posts"] for r in summary} == {"delta": 2, "united": 1}  # per mention, as analyze
    _same_as_csv(summary, _cli_rows(store_path, "summary"))
    con = duckdb.connect(str(store_path), read_only=True)
    assert con.execute("SELECT count(*) FROM mentions").fetchone() == (3,)
    con.close()
    # a model without a targeted component cannot honour --brands: a clear error, nothing stored
    with _server(tiny_analyzer, store_path, monitor_brands=brands) as server:
        refused = httpx.post(server.url + "/v1/posts", json={"posts": [{"id": "d", "text": "delta"}]})
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "targets_not_supported"


def test_image_urls_follow_the_url_rules_and_are_fetched_only_when_needed(tiny_analyzer, store_path):
    """An allowed image URL is fetched (loopback here, with the tests-only switch), stored as the URL,
    and not fetched again for an unchanged re-send."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    picture = png_bytes((16, 16), (250, 250, 250))
    hits: list[str] = []

    class Images(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(picture)))
            self.end_headers()
            self.wfile.write(picture)

        def log_message(self, *args) -> None:
            pass

    images = ThreadingHTTPServer(("127.0.0.1", 0), Images)
    threading.Thread(target=images.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{images.server_address[1]}/bright.png"
    try:
        options = {"url_fetch_enabled": True, "url_allowed_hosts": "127.0.0.1", "url_allow_private": True}
        with _server(ImageAwareAnalyzer(tiny_analyzer), store_path, **options) as server:
            post = {"id": "u", "text": "look", "image": url}
            first = httpx.post(server.url + "/v1/posts", json={"posts": [post]}).json()
            assert first["stored"] == 1 and hits == ["/bright.png"]
            again = httpx.post(server.url + "/v1/posts", json={"posts": [post]}).json()
            assert again["unchanged"] == 1 and hits == ["/bright.png"]  # not fetched again
            other = {"id": "v", "text": "x", "image": "http://elsewhere.example/x.png"}
            refused = httpx.post(server.url + "/v1/posts", json={"posts": [other]}).json()
            assert refused["posts"][0]["error"]["code"] == "url_host_not_allowed"
    finally:
        images.shutdown()
        images.server_close()
    con = duckdb.connect(str(store_path), read_only=True)
    assert con.execute("SELECT image FROM posts WHERE post_id = 'u'").fetchone() == (url,)
    con.close()
