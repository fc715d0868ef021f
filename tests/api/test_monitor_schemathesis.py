"""Property-based fuzzing of the monitor routes in /openapi.json (schemathesis), bounded: valid and
schema-violating requests to a real uvicorn on 127.0.0.1 over a real DuckDB file; no answer may
be a server error, every answer must use a documented status code and match its schema."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="fuzzing needs schemathesis (pip install schemathesis)")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from helpers.api import ThreadServer  # noqa: E402
from helpers.monitor import KeywordAnalyzer, posts  # noqa: E402
from sentiment_fusion.api.config import Settings  # noqa: E402
from sentiment_fusion.api.main import create_app  # noqa: E402

pytestmark = pytest.mark.slow

EXAMPLES = 30  # per operation and generation mode
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
MONITOR = ("/v1/posts", "/v1/insights/", "/v1/monitor")


def test_no_server_errors_on_the_monitor_routes(tiny_analyzer, tmp_path):
    import httpx

    app = create_app(
        Settings(monitor_db=tmp_path / "fuzz.duckdb", alert_min_volume=5, alert_window=3),
        analyzer=KeywordAnalyzer(tiny_analyzer),
    )
    statuses: dict[int, int] = {}
    with ThreadServer(app) as server:
        history = posts(200, hours=1)
        for post in history[150:190]:
            post["text"] = "awful broken refund"
        for i in range(0, 200, 100):  # a store with alerts, terms and examples to read
            assert httpx.post(server.url + "/v1/posts", json={"posts": history[i : i + 100]}).json()["stored"] == 100
        schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
        operations = [r.ok() for r in schema.get_all_operations() if r.ok().path.startswith(MONITOR)]
        assert {op.label for op in operations} >= {
            "POST /v1/posts",
            "GET /v1/insights/alerts",
            "GET /v1/monitor/alerts",
        }
        for operation in operations:
            for mode in GenerationMode:

                @given(case=operation.as_strategy(generation_mode=mode))
                @settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    derandomize=True,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )
                def run(case):
                    response = case.call_and_validate(checks=CHECKS, timeout=30)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

                try:
                    run()
                except Unsatisfiable:
                    assert mode is GenerationMode.NEGATIVE and operation.method.upper() == "GET"
    print("schemathesis statuses:", statuses)
    assert not any(status >= 500 for status in statuses), statuses
    assert statuses.get(200) and statuses.get(422), statuses
