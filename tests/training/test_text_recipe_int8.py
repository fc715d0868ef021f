"""The text recipe quantizes to batch-invariant int8 and the runtime then runs the graph batched."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the [train] extra")

from sentiment_fusion.labels import LABELS  # noqa: E402
from sentiment_fusion.runtime import Analyzer  # noqa: E402
from sentiment_fusion.training.publish import publish_bundle  # noqa: E402
from sentiment_fusion.training.text_recipe import TextTrainConfig, train_text_model  # noqa: E402

WORDS = {"positive": "love great happy", "negative": "hate awful sad", "neutral": "meeting noon tuesday"}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("int8")
    rows = [{"text": f"{WORDS[label]} w{i}", "label": label} for i, label in enumerate(list(WORDS) * 20)]
    (tmp / "posts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    torch.manual_seed(0)
    config = TextTrainConfig(
        train=[f"jsonl:{tmp / 'posts.jsonl'}"],
        kind="bilstm",
        embed_dim=8,
        hidden_dim=8,
        min_frequency=1,
        max_length=24,
        quantize=True,
        training={"max_steps": 2, "batch_size": 8, "progress": False},
    )
    component = train_text_model(config, tmp / "bundle", tmp / "work")
    publish_bundle(tmp / "bundle", name="tiny-int8", version="0.0.1", components={"text": component})
    return tmp / "bundle", component


def test_the_recipe_records_a_batch_invariant_int8_graph(bundle):
    _, component = bundle
    quantization = component.quantization
    assert quantization["batch_invariant"] is True and quantization["split"] == "validation"
    assert quantization["int8_bytes"] < quantization["fp32_bytes"]  # the embedding table is int8
    assert isinstance(quantization["kept"], bool)


def test_the_runtime_runs_it_batched_with_the_same_scores(bundle):
    path, _ = bundle
    analyzer = Analyzer.load(path)
    assert analyzer.text.one_per_call is False
    texts = ["love it", "awful awful day " * 5, "meeting at noon", "hate", "great great great happy"] * 7
    together = np.array([[p.scores[k] for k in LABELS] for p in analyzer.predict_batch(texts)])
    alone = np.array([[analyzer.predict(text=t).scores[k] for k in LABELS] for t in texts])
    np.testing.assert_array_equal(together, alone)
