"""``sentiment-fusion predict --target`` and ``evaluate`` on targeted data, as a user runs them (a
subprocess), on a real bundle with a target component (tests/helpers/target_bundles.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from helpers.paths import shared_data
from helpers.target_bundles import target_bundle_path
from sentiment_fusion.labels import LABELS

pytestmark = pytest.mark.slow  # each command starts Python and loads the bundle

TEXT = "Switched from @united to @delta, best decision ever"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sentiment_fusion.cli", *args], capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return target_bundle_path(tmp_path_factory)


@pytest.fixture(scope="module")
def analyzer(bundle):
    from sentiment_fusion.runtime import Analyzer

    return Analyzer.load(bundle, threads=1)


def _close(got: dict, want: dict) -> bool:
    return bool(np.allclose([got[k] for k in LABELS], [want[k] for k in LABELS], atol=1e-5))


def test_predict_json_answers_each_target_in_order(bundle, analyzer):
    result = run_cli(
        "predict", "--model", str(bundle), "--text", TEXT, "--target", "Delta", "--target", "KLM", "--json"
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout.strip().splitlines()[-1])
    want = analyzer.predict(text=TEXT, targets=["Delta", "KLM"]).to_dict()["targets"]
    assert [t["target"] for t in body["targets"]] == ["Delta", "KLM"]
    for got, expected in zip(body["targets"], want, strict=True):
        assert {k: got[k] for k in ("spans", "found", "sentiment")} == {
            k: expected[k] for k in ("spans", "found", "sentiment")
        }
        assert _close(got["scores"], expected["scores"])
    assert body["targets"][0]["spans"] == [[25, 31]] and body["targets"][1]["found"] is False
    plain = json.loads(run_cli("predict", "--model", str(bundle), "--text", TEXT, "--json").stdout.splitlines()[-1])
    assert "targets" not in plain and _close(plain["scores"], body["scores"])


def test_predict_prints_one_line_per_target(bundle, analyzer):
    result = run_cli("predict", "--model", str(bundle), "--text", TEXT, "--target", "United", "--target", "KLM")
    assert result.returncode == 0, result.stderr
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("target ")]
    united, klm = analyzer.predict(text=TEXT, targets=["United", "KLM"]).targets
    assert len(lines) == 2
    assert lines[0].startswith(f"target 'United' (found at 14-21): {united.sentiment.title} (")
    assert lines[1].startswith(f"target 'KLM' (not found in the text): {klm.sentiment.title} (")
    for line, answer in ((lines[0], united), (lines[1], klm)):
        for label in LABELS:
            assert f"{label} {answer.scores[label]:.3f}" in line


def test_predict_explain_explains_each_target(bundle, analyzer):
    args = ("predict", "--model", str(bundle), "--text", TEXT, "--target", "United", "--target", "Delta", "--explain")
    human = run_cli(*args)
    assert human.returncode == 0, human.stderr
    assert "why" in human.stdout and "why " in human.stdout.split("target 'United'")[1]
    assert human.stdout.count("toward 'United'") == 1 and human.stdout.count("toward 'Delta'") == 1
    assert human.stdout.count("strongest words:") == 3  # the post's, then each target's
    body = json.loads(run_cli(*args, "--json").stdout.strip().splitlines()[-1])
    want = analyzer.explain(text=TEXT, targets=["United", "Delta"])
    for got, answer in zip(body["targets"], want.targets, strict=True):
        assert got["explanation"]["label"] == answer.label
        assert [w["text"] for w in got["explanation"]["words"]] == [w.text for w in answer.explanation.words]
        assert np.allclose(
            [w["weight"] for w in got["explanation"]["words"]], [w.weight for w in answer.explanation.words], atol=1e-5
        )


def test_predict_bad_targets_are_clear_errors(bundle, tiny_bundle, tmp_path):
    result = run_cli("predict", "--model", str(bundle), "--text", TEXT, "--target", "  ")
    assert result.returncode == 2 and "names nothing" in result.stderr and not result.stdout
    result = run_cli("predict", "--model", str(bundle), "--text", TEXT, "--target", "x" * 101)
    assert result.returncode == 2 and "the limit is 100" in result.stderr
    result = run_cli("predict", "--model", str(tiny_bundle), "--text", TEXT, "--target", "Delta")
    assert result.returncode == 2 and "no targeted text component" in result.stderr
    picture = tmp_path / "grey.png"
    from PIL import Image

    Image.new("RGB", (32, 32), (128, 128, 128)).save(picture)
    result = run_cli("predict", "--model", str(bundle), "--image", str(picture), "--target", "Delta")
    assert result.returncode == 2 and "targets need the post's text" in result.stderr


def test_evaluate_targets_spec_scores_the_targeted_answers(bundle, analyzer):
    data = shared_data("targeted", "twitter_dong2014", "train.raw")
    spec = f"targets:{data}:dev"
    result = run_cli("evaluate", "--model", str(bundle), "--data", spec, "--limit", "40", "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("n", "accuracy", "macro_f1", "macro_recall", "weighted_f1", "per_class", "confusion"):
        assert key in metrics
    assert metrics["n"] == 40 and metrics["targeted"] == 40 and sum(map(sum, metrics["confusion"])) == 40
    from sentiment_fusion.data import read_dataset

    examples = read_dataset(spec, limit=40).examples
    predicted = [analyzer.predict(text=e.text, targets=[e.target]).targets[0].label for e in examples]
    truth = [e.label.label for e in examples]
    assert metrics["accuracy"] == pytest.approx(np.mean([p == t for p, t in zip(predicted, truth, strict=True)]))


def test_evaluate_csv_with_a_target_column(bundle, analyzer, tmp_path):
    rows = [
        (TEXT, "United", "negative"),
        (TEXT, "Delta", "positive"),
        ("Coffee with friends, lovely morning", "", "positive"),
        ("Stuck on the tarmac for 3 hours @delta", "delta", "negative"),
    ]
    data = tmp_path / "posts.csv"
    data.write_text("text,target,label\n" + "".join(f'"{t}",{a},{lab}\n' for t, a, lab in rows))
    result = run_cli("evaluate", "--model", str(bundle), "--data", f"csv:{data}", "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["n"] == 4 and metrics["targeted"] == 3
    predicted = [
        analyzer.predict(text=t, targets=[a]).targets[0].label if a else analyzer.predict(text=t).label
        for t, a, _ in rows
    ]
    assert metrics["accuracy"] == pytest.approx(
        np.mean([p == lab for p, (_, _, lab) in zip(predicted, rows, strict=True)])
    )
