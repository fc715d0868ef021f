"""One component of a bundle (text, image or fusion) as its manifest records it.

A typed record shared by the bundle reader and writer, the runtime, the training recipes and
the test helpers: which files (with sha256), how inputs are preprocessed, the calibration
temperature, the metrics and how they were measured, and how the runtime runs it (a kept int8
quantization that is not ``batch_invariant`` runs one text per call). Keys it does not know are
kept as they are (``extra``).

Image decode limits (``max_bytes``, ``max_pixels``) are the deployment's settings, not the
model's: a component never records them, and those an older bundle recorded are dropped on
reading (the runtime and the service apply their own).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path

from .hashing import sha256_file

DEPLOYMENT_IMAGE_KEYS = ("max_bytes", "max_pixels")


def file_entry(bundle_dir: str | Path, relative: str) -> dict:
    """The manifest's record of one file: path relative to the bundle, sha256, size."""
    path = Path(bundle_dir) / relative
    return {"path": relative, "sha256": sha256_file(path), "bytes": path.stat().st_size}


@dataclass
class Component:
    kind: str
    files: dict[str, dict]  # role ("graph", "tokenizer", "encoder", "head") -> {"path", "sha256", "bytes"}
    inputs: dict | None = None  # graph input name -> "dtype[shape]"
    outputs: dict | None = None
    preprocessing: dict | None = None  # text: {"normalizer", "encoding"}; image: {"image": ImagePreprocessor config}
    temperature: float = 1.0  # calibration: softmax(logits / temperature)
    architecture: dict | None = None  # the model's constructor config
    metrics: list[dict] = field(default_factory=list)  # each names its data, split and n
    quantization: dict | None = None  # text: {"kept": true, "batch_invariant": ...}: an int8 graph (see runtime)
    training: dict | None = None  # config, arguments, history, data fingerprints, checkpoint
    extra: dict = field(default_factory=dict)  # other keys (e.g. onnx_agreement), kept as they are

    def __post_init__(self) -> None:
        t = self.temperature
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < math.inf:
            raise ValueError(f"the calibration temperature must be a finite number > 0, got {t!r}")
        image = (self.preprocessing or {}).get("image")
        if self.preprocessing and isinstance(image, dict) and any(key in image for key in DEPLOYMENT_IMAGE_KEYS):
            self.preprocessing = {
                **self.preprocessing,
                "image": {k: v for k, v in image.items() if k not in DEPLOYMENT_IMAGE_KEYS},
            }

    @classmethod
    def from_files(cls, bundle_dir: str | Path, kind: str, files: dict[str, str], **record) -> Component:
        """A component whose ``files`` (role -> path relative to ``bundle_dir``) are already written there."""
        return cls(kind, {role: file_entry(bundle_dir, relative) for role, relative in files.items()}, **record)

    @classmethod
    def from_dict(cls, data: dict) -> Component:
        """The record a manifest holds (ValueError/TypeError when it cannot be one)."""
        missing = [key for key in ("kind", "files") if key not in data]
        if missing:
            raise ValueError(f"has no {' or '.join(map(repr, missing))}")
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(
            **{k: v for k, v in data.items() if k in known}, extra={k: v for k, v in data.items() if k not in known}
        )

    def to_dict(self) -> dict:
        """The manifest's JSON object (fields left None are left out)."""
        record = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {**{k: v for k, v in record.items() if v is not None}, **self.extra}
