"""Train a tiny LSTM for a few steps on a slice of real tweets, then score it through the CLI."""

import json
import subprocess
import sys

import pytest

from helpers.paths import shared_data

pytestmark = [pytest.mark.data, pytest.mark.slow]  # trains on real tweets


def run_cli(*args, check=True):
    result = subprocess.run(
        [sys.executable, "-m", "sentiment_fusion.cli", *args], capture_output=True, text=True, timeout=600, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tweets = shared_data("tweeteval", "sentiment")
    out = tmp_path_factory.mktemp("e2e")
    run_cli(
        "train",
        "text",
        "--kind",
        "bilstm",
        "--train",
        f"tweeteval:{tweets}:train@600",
        "--val",
        f"tweeteval:{tweets}:val",
        "--max-steps",
        "12",
        "--batch-size",
        "32",
        "--vocab-size",
        "2000",
        "--out",
        str(out / "bundle"),
        "--work",
        str(out / "work"),
        "--quiet",
    )
    return out / "bundle", tweets


def test_evaluate_prints_the_contract_json_last(trained):
    bundle, tweets = trained
    result = run_cli(
        "evaluate", "--model", str(bundle), "--data", f"tweeteval:{tweets}:val", "--limit", "300", "--json"
    )
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
    assert run_cli("predict", "--model", str(bundle), "--text", "what a day").stdout.split()[0] in {
        "Negative",
        "Neutral",
        "Positive",
    }


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
    metrics = json.loads(
        run_cli("evaluate", "--model", str(bundle), "--data", f"imdb:{imdb}:test", "--limit", "40", "--json")
        .stdout.strip()
        .splitlines()[-1]
    )
    assert metrics["classes"] == ["negative", "positive"] and len(metrics["confusion"]) == 2


def test_training_continues_from_an_earlier_runs_weights(trained, tmp_path):
    bundle, tweets = trained
    best = bundle.parent / "work" / "best.pt"
    texts = ["I love this phone", "worst service ever", "the meeting is at noon"]
    # One step at a negligible learning rate: the continued model is the earlier one.
    run_cli(
        "train",
        "text",
        "--kind",
        "bilstm",
        "--train",
        f"tweeteval:{tweets}:train@600",
        "--val",
        f"tweeteval:{tweets}:val",
        "--max-steps",
        "1",
        "--lr",
        "1e-12",
        "--vocab-size",
        "2000",
        "--init-from",
        str(best),
        "--out",
        str(tmp_path / "continued"),
        "--work",
        str(tmp_path / "work"),
        "--quiet",
    )
    from sentiment_fusion.hashing import sha256_file
    from sentiment_fusion.runtime import Analyzer

    before, after = Analyzer.load(bundle), Analyzer.load(tmp_path / "continued")
    for p, q in zip(before.predict_batch(texts), after.predict_batch(texts), strict=True):
        assert p.label == q.label
        assert all(abs(p.scores[k] - q.scores[k]) < 1e-3 for k in p.scores)
    training = json.loads((tmp_path / "continued" / "manifest.json").read_text())["components"]["text"]["training"]
    assert training["init_from"] == {"path": str(best), "sha256": sha256_file(best)}
    assert f"continued from earlier fine-tuned weights `{best}`" in (tmp_path / "continued" / "README.md").read_text()

    # The weights rebuild their own model: flags that do not match it (no --kind, another vocabulary size)
    # are not needed.
    run_cli(
        "train",
        "text",
        "--train",
        f"tweeteval:{tweets}:train@600",
        "--max-steps",
        "1",
        "--vocab-size",
        "500",
        "--init-from",
        str(best),
        "--out",
        str(tmp_path / "unmatched"),
        "--work",
        str(tmp_path / "work2"),
        "--quiet",
    )
    unmatched = json.loads((tmp_path / "unmatched" / "manifest.json").read_text())["components"]["text"]
    first = json.loads((bundle / "manifest.json").read_text())["components"]["text"]
    assert unmatched["kind"] == "bilstm" and unmatched["architecture"] == first["architecture"]
    missing = run_cli(
        "train",
        "text",
        "--kind",
        "bilstm",
        "--train",
        f"tweeteval:{tweets}:train@600",
        "--max-steps",
        "1",
        "--init-from",
        str(tmp_path / "nope.pt"),
        "--out",
        str(tmp_path / "m"),
        "--work",
        str(tmp_path / "w3"),
        "--quiet",
        check=False,
    )
    assert missing.returncode == 2 and "not found" in missing.stderr
