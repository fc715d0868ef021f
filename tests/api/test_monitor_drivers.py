"""What counts as the same text (insights/copies.py) and the alert drivers built on it
(insights/alert_drivers.py), on a real DuckDB store."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pytest

duckdb = pytest.importorskip("duckdb")


def _key(text: str | None) -> str:
    from sentiment_fusion.insights.copies import copy_key_sql

    return duckdb.sql(f"SELECT {copy_key_sql('t')} FROM (SELECT ?::VARCHAR AS t)", params=[text]).fetchall()[0][0]


def test_retweets_links_mentions_case_and_spacing_do_not_make_a_new_text():
    from sentiment_fusion.insights.copies import retweet_sql

    same = [
        "Protesters stage #DieIn protests in @Apple store http://t.co/abc",
        "RT @TeamCavuto: Protesters stage #DieIn protests in @Apple store http://t.co/xyz",
        "rt @someone protesters  stage #diein protests in store!!!",
        "  Protesters stage #DieIn protests in @Apple store www.example.com/x .",
    ]
    assert {_key(t) for t in same} == {"protesters stage #diein protests in store"}
    assert _key("Protesters stage #DieIn protests in a store") != _key(same[0])
    assert _key(None) == "" and _key("http://t.co/x @a") == ""
    flags = [
        duckdb.sql(f"SELECT {retweet_sql('t')} FROM (SELECT ?::VARCHAR AS t)", params=[t]).fetchall()[0][0]
        for t in same
    ]
    assert flags == [False, True, True, False]


def test_trends_count_unique_texts_and_drivers_name_the_repeated_one(tmp_path):
    from sentiment_fusion.insights import aggregates
    from sentiment_fusion.insights.alert_drivers import alert_drivers
    from sentiment_fusion.insights.store import PostStore

    day = datetime(2024, 5, 9)
    rows = [("o", "The outage ruined my day #fail", "negative")]
    rows += [(f"rt{i}", f"RT @user{i}: The outage ruined my day #fail http://t.co/{i}", "negative") for i in range(6)]
    rows += [(f"u{i}", f"ordinary post number {i}", "neutral") for i in range(3)]
    rows += [(f"b{i}", f"yesterday all good {i}", "positive") for i in range(5)]
    with PostStore(tmp_path / "s.duckdb") as store:
        table = pa.table(
            {
                "post_id": [r[0] for r in rows],
                "brand": ["acme"] * len(rows),
                "created_at": [day if not r[0].startswith("b") else day - timedelta(days=1) for r in rows],
                "text": [r[1] for r in rows],
                "image": pa.nulls(len(rows), pa.string()),
                "human_label": pa.nulls(len(rows), pa.string()),
            }
        )
        store.ingest([table])
        store.con.execute(
            "UPDATE posts SET sentiment = ?, p_negative = 0.9 WHERE post_id LIKE 'o%' OR post_id LIKE 'rt%'",
            ["negative"],
        )
        store.con.execute("UPDATE posts SET sentiment = 'neutral', p_negative = 0.1 WHERE post_id LIKE 'u%'")
        store.con.execute("UPDATE posts SET sentiment = 'positive', p_negative = 0.0 WHERE post_id LIKE 'b%'")
        stats = {s.period: s for s in aggregates.trends(store, "day")}
        assert (stats[day].n, stats[day].n_unique) == (10, 4)  # 7 copies of one text + 3 others
        assert stats[day].to_row()["unique_texts"] == 4
        assert aggregates.trends(store, "day", unique_texts=False)[1].n_unique == 0
        found = alert_drivers(store, "acme", day, "day", window=1, min_count=1, min_z=0.0)
    top = found["repeated"][0]
    assert (top["posts"], top["retweets"], top["share"]) == (7, 6, 0.7)
    assert top["text"] == "The outage ruined my day #fail"  # the original, not a retweet
    assert found["unique_texts"] == 4
    assert [e["post_id"] for e in found["examples"]] == ["o"]  # one example per text
    assert {"outage", "ruined"} <= {w["term"] for w in found["words"]}
