"""Brand mentions in the store: one row per post and brand it names, re-runs, changed brands, kills,
an old store upgraded in place, insights per brand, and ``score_and_store``."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

pytest.importorskip("duckdb", reason="insights needs the [insights] extra (duckdb, pyarrow)")

from helpers.processes import sigkill_at_progress
from sentiment_fusion.insights import aggregates
from sentiment_fusion.insights.brands import MentionConfig
from sentiment_fusion.insights.cli import main as insights_main
from sentiment_fusion.insights.mentions import NoTargetModelError, score_and_store
from sentiment_fusion.insights.pipeline import analyze
from sentiment_fusion.insights.readers import ColumnSpec
from sentiment_fusion.insights.store import PostStore
from sentiment_fusion.runtime import Analyzer

POSTS = [
    {"id": "1", "text": "Switched from @united to @delta, best decision ever", "date": "2024-03-01", "brand": "delta"},
    {"id": "2", "text": "@united lost my bag again", "date": "2024-03-01", "brand": "united"},
    {"id": "3", "text": "The Delta crew was lovely #delta", "date": "2024-03-02", "brand": "delta"},
    {"id": "4", "text": "a quiet day at the airport", "date": "2024-03-02", "brand": "united"},
    {"id": "5", "text": "", "date": "2024-03-02", "brand": "united"},
]
BRANDS = '[brands.united]\naliases = ["united", "@united"]\n[brands.delta]\naliases = ["delta"]\n'
SPEC = ColumnSpec(id="id", text="text", time="date")


def write_posts(path: Path, posts: list[dict] = POSTS) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ["id", "text", "date", "brand"])
        writer.writeheader()
        writer.writerows(posts)
    return path


def mentions(db: Path) -> list[dict]:
    with PostStore(db, read_only=True) as store:
        return store.query("SELECT * FROM mentions ORDER BY post_id, brand")


def keys(rows: list[dict]) -> list[tuple]:
    return [(r["post_id"], r["brand"], r["target"], r["spans"]) for r in rows]


def run(tmp_path, bundle, brands: str | None = BRANDS, spec: ColumnSpec = SPEC, **options):
    path = None
    if brands is not None:
        path = tmp_path / "brands.toml"
        path.write_text(brands)
    return analyze(
        [tmp_path / "posts.csv"], spec, tmp_path / "s.duckdb", model=bundle, brands=path, progress=False, **options
    )


def test_each_post_yields_one_row_per_brand_it_names_and_unmatched_posts_are_kept(tmp_path, tiny_target_bundle):
    write_posts(tmp_path / "posts.csv")
    result = run(tmp_path, tiny_target_bundle)
    assert (result.scored, result.errors) == (4, 1)  # every post is kept and scored as a whole
    assert result.mention_totals == {"mentions": 4, "matched": 3, "unmatched": 2}
    assert (result.mentions.posts, result.mentions.scored, result.mentions.kept) == (5, 4, 0)
    rows = mentions(tmp_path / "s.duckdb")
    assert keys(rows) == [
        ("1", "delta", "delta", [[25, 31]]),
        ("1", "united", "united", [[14, 21]]),
        ("2", "united", "united", [[0, 7]]),
        ("3", "delta", "delta", [[4, 9], [26, 32]]),
    ]
    for r in rows:
        assert r["sentiment"] in {"negative", "neutral", "positive"}
        assert abs(r["p_negative"] + r["p_neutral"] + r["p_positive"] - 1) < 1e-6
        assert r["model_version"] == "tiny-target@0.0.1" and r["scored_at"] is not None
    # the same answers as the runtime's own targeted call
    analyzer = Analyzer.load(tiny_target_bundle, threads=1)
    [[united]] = analyzer.predict_targets([POSTS[1]["text"]], [["united"]])
    assert rows[2]["p_negative"] == pytest.approx(united.scores["negative"], abs=1e-6)
    with PostStore(tmp_path / "s.duckdb", read_only=True) as store:
        assert {r["brand"]: r["posts"] for r in aggregates.summary(store)} == {"delta": 2, "united": 2}
        assert store.query("SELECT * FROM brands ORDER BY brand") == [
            {"brand": "delta", "aliases": ["delta"]},
            {"brand": "united", "aliases": ["united", "@united"]},
        ]


def test_a_rerun_scores_nothing_and_changes_nothing(tmp_path, tiny_target_bundle):
    write_posts(tmp_path / "posts.csv")
    run(tmp_path, tiny_target_bundle)
    before = mentions(tmp_path / "s.duckdb")
    again = run(tmp_path, tiny_target_bundle)
    assert (again.pending, again.mentions.posts, again.mentions.scored) == (0, 0, 0)
    without_flags = run(tmp_path, tiny_target_bundle, brands=None)  # the store keeps its brands
    assert without_flags.mention_config == MentionConfig.from_json(
        '{"mode": "aliases", "brands": {"delta": ["delta"], "united": ["united", "@united"]}}'
    )
    assert without_flags.mentions.posts == 0
    assert mentions(tmp_path / "s.duckdb") == before  # not even scored_at


def test_a_changed_brands_file_rescores_only_what_changed(tmp_path, tiny_target_bundle):
    write_posts(tmp_path / "posts.csv")
    run(tmp_path, tiny_target_bundle)
    before = {(r["post_id"], r["brand"]): r for r in mentions(tmp_path / "s.duckdb")}
    # delta gains an alias (same targets, wider spans), united is removed, airport is new
    changed = '[brands.delta]\naliases = ["delta", "crew"]\n[brands.airport]\naliases = ["airport"]\n'
    result = run(tmp_path, tiny_target_bundle, brands=changed)
    assert (result.mentions.posts, result.mentions.scored, result.mentions.kept, result.mentions.deleted) == (
        5,
        1,
        2,
        2,
    )
    after = {(r["post_id"], r["brand"]): r for r in mentions(tmp_path / "s.duckdb")}
    assert sorted(after) == [("1", "delta"), ("3", "delta"), ("4", "airport")]
    assert after[("3", "delta")]["spans"] == [[4, 9], [10, 14], [26, 32]]
    for key in (("1", "delta"), ("3", "delta")):  # kept: same scores, same time
        assert {k: v for k, v in after[key].items() if k != "spans"} == {
            k: v for k, v in before[key].items() if k != "spans"
        }
    with PostStore(tmp_path / "s.duckdb", read_only=True) as store:
        assert [r["brand"] for r in store.query("SELECT brand FROM brands ORDER BY brand")] == ["airport", "delta"]
    # a changed text re-scores that post's mentions only
    posts = [dict(p) for p in POSTS]
    posts[2]["text"] = "The Delta crew was rude #delta"
    write_posts(tmp_path / "posts.csv", posts)
    again = run(tmp_path, tiny_target_bundle, brands=changed)
    assert (again.pending, again.mentions.posts, again.mentions.scored) == (1, 1, 1)
    latest = {(r["post_id"], r["brand"]): r for r in mentions(tmp_path / "s.duckdb")}
    assert latest[("1", "delta")] == after[("1", "delta")]
    assert latest[("3", "delta")]["scored_at"] > after[("3", "delta")]["scored_at"]


def test_new_matching_rules_rematch_every_post_and_score_only_what_they_change(
    tmp_path, tiny_target_bundle, monkeypatch
):
    from sentiment_fusion.insights import brands

    posts = [*POSTS, {"id": "6", "text": "Délta lost my bag", "date": "2024-03-03", "brand": "delta"}]
    write_posts(tmp_path / "posts.csv", posts)
    with monkeypatch.context() as old:  # a store matched before accents folded
        matched = brands.target_spans
        old.setattr(
            brands, "target_spans", lambda text, alias: [s for s in matched(text, alias) if text[s[0] : s[1]].isascii()]
        )
        old.setattr(brands, "MATCHING_VERSION", 1)
        first = run(tmp_path, tiny_target_bundle)
    assert first.mention_totals == {"mentions": 4, "matched": 3, "unmatched": 3}
    before = {(r["post_id"], r["brand"]): r for r in mentions(tmp_path / "s.duckdb")}
    again = run(tmp_path, tiny_target_bundle)
    assert (again.pending, again.mentions.posts, again.mentions.scored, again.mentions.kept) == (0, 6, 1, 4)
    after = {(r["post_id"], r["brand"]): r for r in mentions(tmp_path / "s.duckdb")}
    assert after[("6", "delta")]["spans"] == [[0, 5]]
    assert all(after[key] == row for key, row in before.items())  # the others kept as they were


def test_a_new_model_version_rescores_every_mention(tmp_path, tiny_bundle, tiny_target_bundle):
    import json
    import shutil

    write_posts(tmp_path / "posts.csv")
    run(tmp_path, tiny_target_bundle)
    other = tmp_path / "other"
    shutil.copytree(tiny_target_bundle, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["version"] = "0.0.2"
    (other / "manifest.json").write_text(json.dumps(manifest))
    result = run(tmp_path, other, brands=None)
    assert (result.pending, result.mentions.scored, result.mentions.kept) == (5, 4, 0)
    assert {r["model_version"] for r in mentions(tmp_path / "s.duckdb")} == {"tiny-target@0.0.2"}


def test_a_run_that_fails_midway_keeps_the_chunks_done_and_the_next_run_finishes(
    tmp_path, tiny_target_bundle, monkeypatch
):
    posts = [{"id": f"p{i:03d}", "text": f"@united flight {i} and delta", "date": "2024-03-01"} for i in range(40)]
    write_posts(tmp_path / "posts.csv", posts)
    calls = {"n": 0}
    real = Analyzer.predict_targets

    def failing(self, texts, targets):
        calls["n"] += bool(texts)  # predict_batch calls it too, with no targets
        if calls["n"] == 3:
            raise KeyboardInterrupt  # as a kill would, mid-chunk
        return real(self, texts, targets)

    monkeypatch.setattr(Analyzer, "predict_targets", failing)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, tiny_target_bundle, commit_rows=8)
    assert len(mentions(tmp_path / "s.duckdb")) == 2 * 16  # two chunks of 8 posts committed, whole
    monkeypatch.setattr(Analyzer, "predict_targets", real)
    result = run(tmp_path, tiny_target_bundle, commit_rows=8)
    assert (result.mentions.posts, result.mentions.scored) == (24, 48)
    rows = mentions(tmp_path / "s.duckdb")
    assert len(rows) == 80 and len({(r["post_id"], r["brand"]) for r in rows}) == 80


def test_post_brand_mode_scores_each_post_toward_its_own_brand(tmp_path, tiny_target_bundle):
    write_posts(tmp_path / "posts.csv")
    spec = ColumnSpec(id="id", text="text", time="date", brand_col="brand")
    result = run(tmp_path, tiny_target_bundle, brands=None, spec=spec)
    assert result.mention_config == MentionConfig("post_brand")
    assert keys(mentions(tmp_path / "s.duckdb")) == [
        ("1", "delta", "delta", [[25, 31]]),
        ("2", "united", "united", [[0, 7]]),
        ("3", "delta", "delta", [[4, 9], [26, 32]]),
        ("4", "united", "united", []),  # not named: scored toward it from the whole post
    ]
    # --brands too: the column's brand, through its aliases
    result = run(tmp_path, tiny_target_bundle, brands='[brands.delta]\naliases = ["crew", "delta"]\n', spec=spec)
    assert result.mention_config.mode == "post_brand"
    assert keys(mentions(tmp_path / "s.duckdb"))[2] == ("3", "delta", "delta", [[4, 9], [10, 14], [26, 32]])
    assert result.mentions.kept == 4  # same targets, same scores; only post 3's spans widened


def test_without_a_target_component_brands_are_a_clear_error_and_brand_col_scores_posts_only(tmp_path, tiny_bundle):
    write_posts(tmp_path / "posts.csv")
    with pytest.raises(NoTargetModelError, match=r"tiny@0\.0\.1 has no targeted text component"):
        run(tmp_path, tiny_bundle)
    assert not (tmp_path / "s.duckdb").exists()  # refused before the store was touched
    spec = ColumnSpec(id="id", text="text", time="date", brand_col="brand")
    result = run(tmp_path, tiny_bundle, brands=None, spec=spec)
    assert result.mention_config is None and result.scored == 4
    with PostStore(tmp_path / "s.duckdb", read_only=True) as store:
        assert store.rows_sql() == "posts"  # insights read the posts, as before
        assert {r["brand"]: r["posts"] for r in aggregates.summary(store)} == {"delta": 2, "united": 3}


def test_the_cli_prints_the_unmatched_posts_and_names_a_bad_brands_file(tmp_path, tiny_target_bundle, capsys):
    write_posts(tmp_path / "posts.csv")
    (tmp_path / "brands.toml").write_text(BRANDS)
    base = ["analyze", str(tmp_path / "posts.csv"), "--id-col", "id", "--text-col", "text", "--time-col", "date"]
    base += ["--db", str(tmp_path / "s.duckdb"), "--model", str(tiny_target_bundle), "--quiet"]
    assert insights_main([*base, "--brands", str(tmp_path / "brands.toml")]) == 0
    out = capsys.readouterr().out
    assert "mentions (2 brand(s) by alias): 4 in 3 posts; 2 posts unmatched" in out
    (tmp_path / "bad.toml").write_text("[brands.apple]\naliases = 'apple'\n")
    assert insights_main([*base, "--brands", str(tmp_path / "bad.toml")]) == 2
    err = capsys.readouterr().err
    assert f"error: brands file {tmp_path / 'bad.toml'}: brand 'apple': aliases must be a list" in err
    assert insights_main(["insights", "summary", "--db", str(tmp_path / "s.duckdb"), "--csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("brand,posts,") and sorted(line.split(",")[:2] for line in lines[1:]) == [
        ["delta", "2"],
        ["united", "2"],
    ]


# A store as the version before mentions wrote it (schema 1).
SCHEMA_1 = """
CREATE TABLE posts (
    post_id VARCHAR PRIMARY KEY, brand VARCHAR NOT NULL, created_at TIMESTAMP, text VARCHAR, image VARCHAR,
    human_label VARCHAR, sentiment VARCHAR, p_negative DOUBLE, p_neutral DOUBLE, p_positive DOUBLE,
    model_version VARCHAR, scored_at TIMESTAMP, error VARCHAR
);
CREATE TABLE store_meta (key VARCHAR PRIMARY KEY, value VARCHAR);
INSERT INTO store_meta VALUES ('schema_version', '1');
INSERT INTO posts VALUES
    ('1', 'all', '2024-03-01', 'Switched from @united to @delta, best decision ever', NULL, 'positive',
     'positive', 0.1, 0.2, 0.7, 'tiny-target@0.0.1', '2024-03-03', NULL),
    ('2', 'all', '2024-03-01', '@united lost my bag again', NULL, NULL,
     'negative', 0.7, 0.2, 0.1, 'tiny-target@0.0.1', '2024-03-03', NULL);
"""


def test_a_store_from_before_mentions_opens_read_only_and_is_upgraded_in_place(tmp_path, tiny_target_bundle):
    import duckdb

    db = tmp_path / "s.duckdb"
    con = duckdb.connect(str(db))
    con.execute(SCHEMA_1)
    con.close()
    with PostStore(db, read_only=True) as store:  # insights on an old store: the posts, as before
        assert store.rows_sql() == "posts" and store.mention_counts()["mentions"] == 0
        assert [r["posts"] for r in aggregates.summary(store)] == [2]
    write_posts(tmp_path / "posts.csv", [{"id": "3", "text": "delta again", "date": "2024-03-02"}])
    result = run(tmp_path, tiny_target_bundle)
    assert result.pending == 1  # the stored posts keep their scores
    assert result.mention_totals == {"mentions": 4, "matched": 3, "unmatched": 0}
    with PostStore(db, read_only=True) as store:
        assert store.query("SELECT value FROM store_meta WHERE key = 'schema_version'") == [{"value": "2"}]
        assert store.query("SELECT p_positive FROM posts WHERE post_id = '1'") == [{"p_positive": 0.7}]
        # per brand, each with its own verdict; the human label belongs to each mention of the post
        assert store.rows_sql() != "posts"
        assert {(r["brand"], r["posts"], r["labelled"]) for r in aggregates.summary(store)} == {
            ("delta", 2, 1),
            ("united", 2, 1),
        }


def test_score_and_store_writes_a_batch_and_its_mentions_in_one_transaction(tmp_path, tiny_target_bundle, monkeypatch):
    from datetime import datetime

    analyzer = Analyzer.load(tiny_target_bundle, threads=1)
    config = MentionConfig("aliases", {"united": ("united",), "delta": ("delta",)})
    batch = [
        {"post_id": "a", "text": "Switched from @united to @delta", "created_at": datetime(2024, 3, 1, 9)},
        {"post_id": "b", "text": "no airline here"},
    ]
    with PostStore(tmp_path / "live.duckdb") as store:
        out = score_and_store(store, analyzer, batch, config)
        assert [r["post_id"] for r in out] == ["a", "b"]
        assert out[0]["brand"] == "all" and out[0]["sentiment"] is not None
        assert [(m["brand"], m["spans"]) for m in out[0]["mentions"]] == [("delta", [[25, 31]]), ("united", [[14, 21]])]
        assert out[1]["mentions"] == []
        # sent again: nothing re-scored, nothing duplicated
        again = score_and_store(store, analyzer, batch[:1])
        assert again[0]["mentions"] == out[0]["mentions"] and again[0]["scored_at"] == out[0]["scored_at"]
        assert store.mention_counts() == {"mentions": 2, "matched": 1, "unmatched": 1}
        # a changed text: the post and its mentions scored again, a brand it no longer names dropped
        changed = score_and_store(store, analyzer, [{"post_id": "a", "text": "Delta lost my bag"}])
        assert changed[0]["created_at"] == datetime(2024, 3, 1, 9)  # fields not sent are kept
        assert [(m["brand"], m["spans"]) for m in changed[0]["mentions"]] == [("delta", [[0, 5]])]
        assert changed[0]["mentions"][0]["input_key"] != out[0]["mentions"][0]["input_key"]
        assert store.mention_counts() == {"mentions": 1, "matched": 1, "unmatched": 1}
        # a failure in the middle leaves the store as it was
        monkeypatch.setattr(Analyzer, "predict_targets", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
        with pytest.raises(RuntimeError, match="boom"):
            score_and_store(store, analyzer, [{"post_id": "c", "text": "delta delayed"}])
        assert store.counts()["posts"] == 2 and store.mention_counts()["mentions"] == 1
    with PostStore(tmp_path / "live.duckdb", read_only=True) as store:  # the live store reads like a bulk one
        assert {r["brand"]: r["posts"] for r in aggregates.summary(store)} == {"delta": 1}


def test_the_report_counts_brand_mentions_per_brand(tmp_path, tiny_target_bundle):
    from sentiment_fusion.insights.report import render_report

    write_posts(tmp_path / "posts.csv")
    run(tmp_path, tiny_target_bundle)
    with PostStore(tmp_path / "s.duckdb", read_only=True) as store:
        html = render_report(store)
    assert "4 brand mentions (each post that names a brand, once per brand it names) · 2 brand(s)" in html
    assert "<h2>delta</h2>" in html and "<h2>united</h2>" in html


@pytest.mark.slow
def test_two_brands_in_one_post_get_their_own_verdicts_on_the_real_bundle(tmp_path):
    from helpers.target_bundles import require_trained_target

    analyzer = Analyzer.load(require_trained_target())
    config = MentionConfig("aliases", {"samsung": ("samsung", "galaxy"), "apple": ("apple", "iphone")})
    text = "My Samsung is great, but Apple support was horrible"
    with PostStore(tmp_path / "s.duckdb") as store:
        [post] = score_and_store(store, analyzer, [{"post_id": "1", "text": text}], config)
        assert {m["brand"]: m["sentiment"] for m in post["mentions"]} == {"samsung": "positive", "apple": "negative"}
        rows = {r["brand"]: r for r in aggregates.summary(store)}
    assert (rows["samsung"]["positive"], rows["apple"]["negative"]) == (1.0, 1.0)


@pytest.mark.slow
def test_sigkill_while_scoring_mentions_then_rerun_loses_and_duplicates_nothing(tmp_path, tiny_target_bundle):
    import subprocess
    import sys

    n, commit = 3000, 8
    posts = [
        {"id": f"p{i:05d}", "text": f"acme day {i}" + (" and #globex" if i % 3 == 0 else ""), "date": "2024-03-01"}
        for i in range(n)
    ]
    write_posts(tmp_path / "posts.csv", posts)
    (tmp_path / "brands.toml").write_text('[brands.acme]\n[brands.globex]\naliases = ["globex"]\n')
    db = tmp_path / "s.duckdb"
    command = [sys.executable, "-m", "sentiment_fusion.insights.cli", "analyze", str(tmp_path / "posts.csv")]
    command += ["--id-col", "id", "--text-col", "text", "--db", str(db), "--model", str(tiny_target_bundle)]
    command += ["--brands", str(tmp_path / "brands.toml"), "--commit-rows", str(commit)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sigkill_at_progress(proc, 200, bar="mentions:", timeout=120)  # the mentions bar: "mentions: ...| 360/3000 ["

    def expected(post_id: str) -> set[tuple[str, str]]:
        i = int(post_id[1:])
        return {(post_id, "acme")} | ({(post_id, "globex")} if i % 3 == 0 else set())

    with PostStore(db, read_only=True) as store:
        synced = [r["post_id"] for r in store.query("SELECT post_id FROM mention_sync ORDER BY post_id")]
        rows = {(r["post_id"], r["brand"]) for r in store.query("SELECT post_id, brand FROM mentions")}
    assert 200 <= len(synced) < n and len(synced) % commit == 0  # whole chunks only
    assert synced == [p["id"] for p in posts[: len(synced)]]
    assert rows == set().union(*(expected(p) for p in synced))  # each committed post has all its mentions

    rerun = subprocess.run([*command, "--quiet"], capture_output=True, text=True, timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stderr
    left = [p["id"] for p in posts[len(synced) :]]
    assert f"matched {len(left)} posts again: {sum(len(expected(p)) for p in left)} mentions scored, 0 kept" in (
        rerun.stdout
    )
    with PostStore(db, read_only=True) as store:
        final = store.query("SELECT post_id, brand FROM mentions")
    assert len(final) == len({(r["post_id"], r["brand"]) for r in final}) == n + n // 3
