"""The Ray Data engine writes the same rows as the local engine (Ray local mode, 2 CPUs)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

pytest.importorskip("duckdb", reason="insights needs the [insights] extra (duckdb, pyarrow)")
ray = pytest.importorskip("ray", reason="the ray engine needs Ray Data: pip install 'sentiment-fusion[scale]'")
pytest.importorskip("ray.data", reason="the ray engine needs Ray Data: pip install 'sentiment-fusion[scale]'")

from sentiment_fusion.insights.pipeline import analyze  # noqa: E402
from sentiment_fusion.insights.readers import ColumnSpec  # noqa: E402
from sentiment_fusion.insights.store import PostStore  # noqa: E402

WORDS = "love hate great terrible phone battery screen service day sad happy slow fast".split()


def rows(db: Path) -> list[tuple]:
    with PostStore(db, read_only=True) as store:
        return store.con.execute(
            "SELECT post_id, brand, created_at, text, sentiment, p_negative, p_neutral, p_positive, "
            "model_version, error FROM posts ORDER BY post_id"
        ).fetchall()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside Ray Data itself
def test_ray_engine_matches_local_engine(tmp_path, tiny_bundle, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    data = tmp_path / "posts.csv"
    with open(data, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text", "date"])
        for i in range(1500):
            writer.writerow(
                [
                    f"p{i:05d}",
                    " ".join(WORDS[(i * 3 + j) % len(WORDS)] for j in range(1 + i % 7)),
                    f"2024-03-{1 + i % 9:02d} 12:00:00",
                ]
            )
        writer.writerow(["blank", "  ", "2024-03-01 12:00:00"])
    spec = ColumnSpec(id="id", text="text", time="date", brand="acme")
    local = analyze([data], spec, tmp_path / "local.duckdb", model=tiny_bundle, progress=False)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        distributed = analyze(
            [data],
            spec,
            tmp_path / "ray.duckdb",
            model=tiny_bundle,
            engine="ray",
            commit_rows=256,
            ray_actors=2,
            progress=False,
        )
        again = analyze([data], spec, tmp_path / "ray.duckdb", model=tiny_bundle, engine="ray", progress=False)
    finally:
        ray.shutdown()
    assert (distributed.scored, distributed.errors) == (local.scored, local.errors) == (1500, 1)
    assert again.pending == 0
    a, b = rows(tmp_path / "local.duckdb"), rows(tmp_path / "ray.duckdb")
    assert len(a) == len(b) == 1501
    for x, y in zip(a, b, strict=True):
        assert x[:5] == y[:5] and x[8:] == y[8:]
        assert x[5:8] == pytest.approx(y[5:8], abs=1e-6) if x[5] is not None else y[5:8] == (None, None, None)
