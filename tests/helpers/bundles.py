"""Tiny real bundles that only the tests build (the text-only one is ``sentiment_fusion.testing``)."""

from __future__ import annotations

from pathlib import Path


def make_tiny_multimodal_bundle(bundle_dir: Path) -> Path:
    """The tiny text bundle plus a real (random, tiny) image encoder + head and a fusion head:
    every ONNX graph the runtime runs for text+image, with the real ImagePreprocessor."""
    import json

    import torch

    from sentiment_fusion.bundle import MANIFEST, write_manifest
    from sentiment_fusion.component import Component
    from sentiment_fusion.image.preprocess import ImagePreprocessor
    from sentiment_fusion.runtime import Analyzer
    from sentiment_fusion.testing import make_tiny_text_bundle
    from sentiment_fusion.training.export import export_onnx
    from sentiment_fusion.training.heads import (
        FusionConfig,
        FusionHead,
        HeadConfig,
        ImageHead,
    )

    class TinyPool(torch.nn.Module):  # pixels [B, 224, 224, 3] -> features [B, 8]
        def __init__(self):
            super().__init__()
            self.proj = torch.nn.Linear(3, 8)

        def forward(self, pixels):
            return torch.tanh(self.proj(pixels.mean(dim=(1, 2))) * 4)

    make_tiny_text_bundle(bundle_dir, name="tiny-multimodal")
    torch.manual_seed(1)
    text_dim = Analyzer.load(bundle_dir).text.run(["hello"])[1].shape[1]
    export_onnx(TinyPool(), (torch.randn(2, 224, 224, 3),), bundle_dir / "image_encoder.onnx", ["pixels"], ["features"])
    ImageHead(HeadConfig(in_dim=8, hidden_dim=0)).export_onnx(bundle_dir / "image_head.onnx")
    FusionHead(FusionConfig(text_dim=text_dim, image_dim=8, hidden_dim=8)).export_onnx(bundle_dir / "fusion.onnx")
    manifest = json.loads((bundle_dir / MANIFEST).read_text())
    components = dict(manifest["components"])
    components["image"] = Component.from_files(
        bundle_dir,
        "tiny-pool",
        {"encoder": "image_encoder.onnx", "head": "image_head.onnx"},
        preprocessing={"image": ImagePreprocessor().to_config()},
    )
    components["fusion"] = Component.from_files(bundle_dir, "fusion", {"graph": "fusion.onnx"})
    write_manifest(
        bundle_dir,
        name="tiny-multimodal",
        version="0.0.1",
        components=components,
        description="tiny untrained text+image+fusion test bundle",
    )
    return bundle_dir
