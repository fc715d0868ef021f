"""One model-path setting (``SENTIMENT_FUSION_MODEL``) for the library, the CLI and the service,
the old ``SENTIMENT_FUSION_MODEL_PATH`` kept as a deprecated alias; ``serve`` flags defined once."""

from __future__ import annotations

import argparse

import pytest

pytest.importorskip("fastapi", reason="the API needs the [serve] extra")

from helpers.api import client
from sentiment_fusion.api.config import Settings
from sentiment_fusion.api.server import build_parser
from sentiment_fusion.cli import build_parser as cli_parser


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("SENTIMENT_FUSION_MODEL", "SENTIMENT_FUSION_MODEL_PATH"):
        monkeypatch.delenv(name, raising=False)


def test_the_service_loads_the_bundle_the_library_setting_names(tiny_bundle, monkeypatch):
    monkeypatch.setenv("SENTIMENT_FUSION_MODEL", str(tiny_bundle))
    assert Settings().model_path == tiny_bundle
    with client(None, load_in_background=False) as c:
        assert c.get("/v1/model").json()["name"] == "tiny"


def test_the_old_variable_still_works_with_a_warning(tiny_bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("SENTIMENT_FUSION_MODEL_PATH", str(tiny_bundle))
    with pytest.warns(FutureWarning, match="SENTIMENT_FUSION_MODEL_PATH is deprecated: set SENTIMENT_FUSION_MODEL"):
        assert Settings().model_path == tiny_bundle
    with pytest.warns(FutureWarning), client(None, load_in_background=False) as c:
        assert c.get("/v1/model").json()["name"] == "tiny"
    monkeypatch.setenv("SENTIMENT_FUSION_MODEL", str(tmp_path))  # the current name wins, silently
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Settings().model_path == tmp_path
    assert Settings(model_path=tiny_bundle).model_path == tiny_bundle  # by field name, as tests and code pass it


def _options(parser: argparse.ArgumentParser) -> dict:
    return {a.dest: (a.option_strings, a.default, a.choices, a.type) for a in parser._actions if a.dest != "help"}


def test_serve_and_app_py_share_one_set_of_flags():
    serve = next(a for a in cli_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["serve"]
    assert _options(serve) == _options(build_parser())
    assert set(_options(serve)) == {"host", "port", "workers", "model", "log_level", "db", "brands"}
