"""Weights files that rebuild their model: the constructor config is saved beside the weights.

A run's ``best.pt`` and ``last.pt`` hold ``{"architecture": {"kind", "config"}, "state_dict", ...}``
plus what the trainer was told to keep with them (a text model's tokenizer and preprocessing,
so the same token ids come back). :func:`load_model` rebuilds the model in one call. Files are
read with ``weights_only=True``: a weights file cannot run code. Files written before this
format (a bare state dict) still load with :func:`read_weights` (``architecture`` None).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def architecture(model: nn.Module) -> dict | None:
    """What rebuilds ``model``: its kind and its constructor config (a JSON-ready dict); None for
    a model outside this package's set (it has no ``kind``)."""
    if not hasattr(model, "kind"):
        return None
    return {"kind": model.kind, "config": model.to_config()}


def build_model(arch: dict) -> nn.Module:
    """A fresh model of ``arch`` (from :func:`architecture`), weights not loaded."""
    kind, config = arch.get("kind"), dict(arch.get("config") or {})
    if kind == "bilstm":
        from ..text.lstm import BiLSTMClassifier, BiLSTMConfig

        return BiLSTMClassifier(BiLSTMConfig(**config))
    if kind == "minilm":
        from ..text.transformer import MiniLMClassifier, MiniLMConfig

        return MiniLMClassifier(MiniLMConfig(**config))
    if kind == "image_head":
        from .heads import HeadConfig, ImageHead

        return ImageHead(HeadConfig(**config))
    if kind == "fusion_head":
        from .heads import FusionConfig, FusionHead

        return FusionHead(FusionConfig(**config))
    raise ValueError(f"unknown model kind {kind!r}; known: bilstm, minilm, image_head, fusion_head")


def save_weights(model: nn.Module, path: str | Path, extra: dict | None = None) -> Path:
    """Write ``model``'s weights with its architecture (and ``extra``) atomically."""
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    torch.save({"architecture": architecture(model), "state_dict": model.state_dict(), **(extra or {})}, tmp)
    tmp.replace(path)  # a kill mid-write never leaves a broken file
    return path


def read_weights(path: str | Path) -> dict:
    """``{"architecture": dict | None, "state_dict": ..., **extra}`` of a weights file."""
    saved = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(saved, dict):
        raise ValueError(f"{path} holds a {type(saved).__name__}, not model weights")
    if set(saved) >= {"architecture", "state_dict"}:
        return saved
    return {"architecture": None, "state_dict": saved}  # an older run's bare state dict


def load_model(path: str | Path) -> nn.Module:
    """The model saved in ``path``, rebuilt from its own architecture record, in eval mode.

    >>> model = load_model("runs/text-minilm/best.pt")   # doctest: +SKIP
    """
    saved = read_weights(path)
    if saved["architecture"] is None:
        raise ValueError(f"{path} holds bare weights (an older run): they cannot rebuild their model alone")
    model = build_model(saved["architecture"])
    model.load_state_dict(saved["state_dict"])
    return model.eval()
