"""Train a tiny LSTM for a few steps on a slice of real tweets, then score it through the CLI."""
import json
import subprocess
import sys

import pytest

from conftest import shared_data

pytestmark = pytest.mark.data


def run_cli(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "sentiment_fusion.cli", *args], capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tweets = shared_data("tweeteval", "sentiment")
    out = tmp_path_factory.mktemp("e2e")
    run_cli("train", "text", "--kind", "bilstm", "--train", f"tweeteval:{tweets}:train@600",
            "--val", f"tweeteval:{tweets}:val", "--max-steps", "12", "--batch-size", "32", "--vocab-size", "2000",
            "--out", str(out / "bundle"), "--work", str(out / "work"), "--quiet")
    return out / "bundle", tweets


def test_evaluate_prints_the_contract_json_last(trained):
    bundle, tweets = trained
    result = run_cli("evaluate", "--model", str(bundle), "--data", f"tweeteval:{tweets}:val", "--limit", "300", "--json")
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("n", "accuracy", "macro_f1", "macro_recall", "weighted_f1", "per_class", "confusion"):
        assert key in metrics
    assert metrics["n"] == 300 and sum(map(sum, metrics["confusion"])) == 300
    assert set(metrics["per_class"]) == {"negative", "neutral", "positive"}
    manifest = json.loads((bundle / "manifest.json").read_text())
    train = manifest["components"]["text"]["training"]
    assert train["n_train"] == 600 and train["arguments"]["max_steps"] == 12
    assert len(train["data"][0]["fingerprint"]) == 64


def test_predict_json_and_plain(trained):
    bundle, _ = trained
    out = json.loads(run_cli("predict", "--model", str(bundle), "--text", "what a day", "--json").stdout)
    assert out["sentiment"] in {"Negative", "Neutral", "Positive"} and out["model"]["name"] == "bundle"
    assert abs(sum(out["scores"].values()) - 1) < 1e-6
    assert run_cli("predict", "--model", str(bundle), "--text", "what a day").stdout.split()[0] in {"Negative", "Neutral", "Positive"}


def test_cli_errors_are_clear(trained, tmp_path):
    bundle, tweets = trained
    bad = run_cli("predict", "--model", str(bundle), "--text", " ", check=False)
    assert bad.returncode == 2 and "text is empty" in bad.stderr
    missing = run_cli("evaluate", "--model", str(tmp_path / "nope"), "--data", f"tweeteval:{tweets}:val", check=False)
    assert missing.returncode == 2 and "not found" in missing.stderr
    spec = run_cli("evaluate", "--model", str(bundle), "--data", "nosuchkind:/x", check=False)
    assert spec.returncode == 2 and "nosuchkind" in spec.stderr


def test_imdb_is_scored_as_binary(trained):
    bundle, _ = trained
    imdb = shared_data("imdb", "aclImdb_v1.tar.gz")
    metrics = json.loads(run_cli("evaluate", "--model", str(bundle), "--data", f"imdb:{imdb}:test", "--limit", "40",
                                 "--json").stdout.strip().splitlines()[-1])
    assert metrics["classes"] == ["negative", "positive"] and len(metrics["confusion"]) == 2
