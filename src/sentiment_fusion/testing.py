"""Tiny real bundles for tests: real tokenizer, real ONNX graphs, random weights.

Training-side helper (imports torch). Nothing here is used at inference.
"""

from __future__ import annotations

from pathlib import Path

SENTENCES = ["I love this, great day!", "This is terrible and sad.", "The meeting is at noon."]


def make_tiny_text_bundle(bundle_dir: str | Path, *, seed: int = 0, name: str = "tiny") -> Path:
    """A text-only BiLSTM bundle (a few KB) with untrained weights."""
    import torch

    from .component import Component
    from .text.encoding import EncodingConfig, TextEncoder
    from .text.lstm import BiLSTMClassifier, BiLSTMConfig
    from .text.normalize import TextNormalizer
    from .text.vocab import build_word_tokenizer
    from .training.export import export_text_model
    from .training.publish import publish_bundle

    bundle_dir = Path(bundle_dir)
    bundle_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    normalizer = TextNormalizer()
    tokenizer = build_word_tokenizer(normalizer.normalize_batch(SENTENCES), min_frequency=1)
    encoder = TextEncoder(normalizer, tokenizer, EncodingConfig(max_length=32))
    model = BiLSTMClassifier(BiLSTMConfig(vocab_size=encoder.vocab_size, embed_dim=8, hidden_dim=8))
    export_text_model(model, bundle_dir / "text.onnx")
    tokenizer.save(str(bundle_dir / "tokenizer.json"))
    component = Component.from_files(
        bundle_dir,
        "bilstm",
        {"graph": "text.onnx", "tokenizer": "tokenizer.json"},
        preprocessing=encoder.to_config(),
        architecture=model.to_config(),
    )
    publish_bundle(
        bundle_dir, name=name, version="0.0.1", components={"text": component}, description="tiny untrained test bundle"
    )
    return bundle_dir


_DEFAULT = object()


def make_tiny_image_encoder(path: str | Path, dim: int = 16, seed: int = 0, preprocessor=_DEFAULT) -> Path:
    """pixels [B, 224, 224, 3] -> per-channel mean [B, 3] -> x W [3, dim] -> features [B, dim],
    with the preprocessing recorded in the graph's metadata like the real one
    (the default ImagePreprocessor; None records none)."""
    import json

    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from .image.preprocess import ImagePreprocessor

    weights = np.random.default_rng(seed).normal(size=(3, dim)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["pixels"], ["mean"], axes=[1, 2], keepdims=0),
            helper.make_node("MatMul", ["mean", "w"], ["features"]),
        ],
        "tiny_image_encoder",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 224, 224, 3])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", dim])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if preprocessor is _DEFAULT:
        preprocessor = ImagePreprocessor()
    if preprocessor is not None:
        helper.set_model_props(model, {"sentiment_fusion": json.dumps({"preprocessing": preprocessor.to_config()})})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def make_tiny_mvsa(folder: str | Path, n: int = 24, seed: int = 0) -> Path:
    """An MVSA-Single-format folder: data/<id>.txt + .jpg, labelResultAll.txt, splits/.

    Colour carries the image label (red negative, grey neutral, green positive) and a
    word carries the text label, so heads can learn something in a few steps."""
    import numpy as np
    from PIL import Image

    folder = Path(folder)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "splits").mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    names = ["negative", "neutral", "positive"]
    colours = {"negative": (200, 30, 30), "neutral": (128, 128, 128), "positive": (30, 200, 30)}
    words = {"negative": "terrible sad", "neutral": "meeting noon", "positive": "love great"}
    rows = ["ID\ttext,image"]
    for i in range(1, n + 1):
        text_label, image_label = names[i % 3], names[(i // 3) % 3]
        if {text_label, image_label} == {"negative", "positive"}:
            image_label = text_label
        (folder / "data" / f"{i}.txt").write_text(f"post {i} {words[text_label]} @user http://t.co/x\n")
        pixels = np.clip(np.array(colours[image_label]) + rng.integers(-20, 20, (24, 32, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / "data" / f"{i}.jpg", quality=90)
        rows.append(f"{i}\t{text_label},{image_label}")
    test_ids = list(range(n - 3, n + 1))
    labelled = [r for r in rows[1:] if int(r.split("\t")[0]) not in test_ids]
    (folder / "labelResultAll.txt").write_text("\n".join([rows[0], *labelled]) + "\n")
    cut = int((n - 4) * 0.7)
    (folder / "splits" / "train.txt").write_text("\n".join(str(i) for i in range(1, cut + 1)) + "\n")
    (folder / "splits" / "dev.txt").write_text("\n".join(str(i) for i in range(cut + 1, n - 3)) + "\n")
    (folder / "splits" / "test.txt").write_text("\n".join(str(i) for i in test_ids) + "\n")
    return folder
