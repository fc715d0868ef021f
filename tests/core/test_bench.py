import json
import subprocess
import sys

import pytest

from helpers.paths import DEFAULT_BUNDLE, shared_data
from sentiment_fusion.bench import profile, timings


def test_timings_count_every_item_and_percentiles_are_ordered():
    calls = []
    result = timings(lambda batch: calls.append(len(batch)), list(range(100)), 32, seconds=0.0, min_items=150)
    assert result["n"] >= 150 and result["batch_size"] == 32
    assert result["p50_ms"] <= result["p99_ms"] and result["per_s"] > 0
    assert calls[0] == 32  # warm-up batch


def test_profile_has_the_contract_keys():
    out = profile(lambda batch: None, ["x"] * 64, seconds=0.0)
    assert {"batch1_per_s", "batch32_per_s", "p50_ms", "p99_ms"} <= set(out)


def test_bench_cli_json_last_line(tiny_bundle, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sentiment_fusion.cli",
            "bench",
            "--model",
            str(tiny_bundle),
            "--no-peers",
            "--seconds",
            "0.05",
            "--texts",
            "64",
            "--data",
            str(tmp_path),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["model"]["name"] == "tiny" and "image" not in data
    assert {"batch1_per_s", "batch32_per_s", "p50_ms", "p99_ms"} <= set(data["text"])
    assert data["text"]["data"].startswith("built-in")


def test_bench_refuses_settings_that_would_never_finish(tiny_bundle, tmp_path):
    from sentiment_fusion.bench import run_bench
    from sentiment_fusion.cli import main

    for kwargs in ({"seconds": float("nan")}, {"seconds": 0}, {"n_texts": 0}, {"n_images": 0}):
        with pytest.raises(ValueError, match=r"--seconds|--texts"):
            run_bench(tiny_bundle, tmp_path, **kwargs)
    assert main(["bench", "--model", str(tiny_bundle), "--data", str(tmp_path / "typo")]) == 2


@pytest.mark.slow
def test_bench_states_the_issue_13_ratios_against_its_peers_measured_in_the_same_run(capsys):
    """The ratios the speed targets are written in (text against the transformers pipeline, images
    against the TFLite reference) come from the rows of the same run, in the JSON and in the table."""
    from sentiment_fusion.cli import main

    data = shared_data("weights", "mobilenet_v2", "mobilenet_v2_1.0_224_quant.tflite").parents[2]
    argv = ["bench", "--model", str(DEFAULT_BUNDLE), "--seconds", "0.05", "--texts", "64"]
    assert main([*argv, "--images", "16", "--data", str(data), "--json"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out.splitlines()[-1])
    text, pipeline = result["text"], result["transformers_pipeline"]
    image, tflite = result["image"], result["tflite_reference"]
    assert text["speedup_vs_transformers_pipeline_batch32"] == text["batch32_per_s"] / pipeline["batch32_per_s"]
    for batch in ("batch1", "batch32"):
        assert image[f"speedup_vs_tflite_reference_{batch}"] == image[f"{batch}_per_s"] / tflite[f"{batch}_per_s"]
    assert f"{text['speedup_vs_transformers_pipeline_batch32']:.2f}x the transformers pipeline at batch 32" in out
    assert (
        f"{image['speedup_vs_tflite_reference_batch1']:.2f}x the TFLite reference at batch 1, "
        f"{image['speedup_vs_tflite_reference_batch32']:.2f}x at batch 32"
    ) in out
