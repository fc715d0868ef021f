"""Property-based fuzzing of every operation in /openapi.json (schemathesis), bounded.

Valid (positive) and schema-violating (negative) requests generated from the schema go to a
real uvicorn on 127.0.0.1 serving the tiny text+image+fusion bundle: no answer may be a
server error, and every answer must use a documented status code and match its schema.

Driven through schemathesis' Python API and Hypothesis directly (its pytest plugin does not
load under pytest 9); EXAMPLES bounds the run (about 10 s on 2 cores).
"""

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
from sentiment_fusion.api.config import Settings  # noqa: E402
from sentiment_fusion.api.main import create_app  # noqa: E402

pytestmark = pytest.mark.slow  # hundreds of generated requests to a real server

EXAMPLES = 40  # per operation and generation mode
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def served(multimodal_analyzer):
    app = create_app(Settings(request_timeout_s=5), analyzer=multimodal_analyzer)
    with ThreadServer(app) as server:
        yield server


def test_no_server_errors(served):
    schema = schemathesis.openapi.from_url(served.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {
        "POST /v1/predict",
        "POST /predict",
        "POST /v1/predict/upload",
        "POST /v1/predict/batch",
        "GET /v1/model",
        "GET /healthz",
    }
    statuses: dict[int, int] = {}
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
                response = case.call_and_validate(checks=CHECKS, timeout=10)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

            try:
                run()
            except Unsatisfiable:  # nothing to break in an operation without inputs (GET /healthz)
                assert mode is GenerationMode.NEGATIVE and operation.method.upper() == "GET"
    print("schemathesis statuses:", statuses)
    assert not any(status >= 500 for status in statuses), statuses
    assert statuses.get(200) and statuses.get(422), statuses  # both valid and invalid requests were made
