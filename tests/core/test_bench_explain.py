"""``sentiment-fusion bench`` times explanations: one post at a time, with the passes they take."""

from __future__ import annotations

import json

import numpy as np

from sentiment_fusion.bench import FALLBACK_TEXTS
from sentiment_fusion.cli import main
from sentiment_fusion.explain import word_spans


def test_bench_times_explaining_a_tweet_and_an_image(multimodal_bundle, tmp_path, capsys):
    argv = ["bench", "--model", str(multimodal_bundle), "--no-peers", "--seconds", "0.05", "--texts", "8"]
    assert main([*argv, "--images", "4", "--data", str(tmp_path), "--json"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out.splitlines()[-1])
    text, image = result["explain_text"], result["explain_image"]
    assert 0 < text["p50_ms"] <= text["p99_ms"] and text["n"] >= 10
    assert text["text_passes_p50"] == np.median([1 + len(word_spans(t)) for t in FALLBACK_TEXTS])
    assert 0 < image["p50_ms"] <= image["p99_ms"] and image["image_passes_max"] == 50
    assert "explain_text: one post p50" in out and "explain_image: one post p50" in out
