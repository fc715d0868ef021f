"""Train the fusion head on MVSA pairs, then assemble the full bundle (text + image + fusion).

The head sees what the runtime will give it: features and logits from the text
and image bundles' own ONNX graphs. Each training pair appears three times -
with both modalities, text only, image only (modality dropout, done as fixed
copies so that validation stays deterministic) - and text-only posts (e.g.
MVSA-Multiple) can be added. Selection and calibration use the validation
pairs with both modalities, the case the runtime sends to this head.
"""

from __future__ import annotations

import functools
import logging
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..bundle import read_manifest
from ..component import Component, file_entry
from ..data import read_dataset
from ..errors import BundleError
from ..fusion_inputs import INPUTS, fusion_inputs, without
from .features import cached, text_outputs
from .finish import finish_component
from .heads import FusionConfig, FusionHead
from .image_recipe import labelled_image_features
from .trainer import TrainData, Trainer, TrainingArguments

log = logging.getLogger(__name__)

DEFAULT_ARGS = {
    "epochs": 30,
    "batch_size": 64,
    "learning_rate": 1e-3,
    "weight_decay": 0.05,
    "select_metric": "accuracy",
}


@dataclass
class FusionTrainConfig:
    text_model: Path  # bundle with a text component
    image_model: Path  # bundle with an image component
    train: str  # paired data, e.g. mvsa:PATH:train
    val: str  # e.g. mvsa:PATH:dev
    text_only: list[str] = field(default_factory=list)  # e.g. jsonl:mvsa_multiple/train.jsonl
    hidden_dim: int = 128
    dropout: float = 0.3
    training: dict = field(default_factory=dict)


def _pair_outputs(text_model, image_model, dataset, cache_dir: Path, keys: list[str]):
    """Text and image outputs for the labelled pairs of ``dataset``."""
    encoder_sha = keys[1]
    image_x, examples = labelled_image_features(image_model.encoder, dataset, cache_dir, encoder_sha)
    texts = [e.text or "" for e in examples]
    text = cached(
        cache_dir, [dataset.fingerprint, "text", keys[0], str(len(texts))], lambda: text_outputs(text_model, texts)
    )
    (image_logits,) = image_model.head.run(["logits"], {"features": image_x})
    with_text = [i for i, t in enumerate(texts) if t.strip()]
    outputs = {
        "text": (with_text, text["logits"][with_text], text["features"][with_text]),
        "image": (range(len(texts)), image_logits, image_x),
    }
    return fusion_inputs(len(texts), outputs), np.array([int(e.label) for e in examples])


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _rows(inputs: dict[str, np.ndarray]) -> list[tuple]:
    return list(zip(*(inputs[name] for name in INPUTS), strict=True))


def train_fusion(config: FusionTrainConfig, bundle_dir: str | Path, work_dir: str | Path) -> dict[str, Component]:
    """Train the head and write a complete bundle into ``bundle_dir``; returns its components."""
    from ..runtime import ImageModel, TextModel

    bundle_dir, work_dir = Path(bundle_dir), Path(work_dir)
    bundle_dir.mkdir(parents=True, exist_ok=True)
    text_manifest, image_manifest = read_manifest(config.text_model), read_manifest(config.image_model)
    for path, manifest, needed in (
        (config.text_model, text_manifest, "text"),
        (config.image_model, image_manifest, "image"),
    ):
        if needed not in manifest["components"]:
            raise BundleError(f"{path} has no {needed} component (it has {sorted(manifest['components'])})")
    text_spec, image_spec = text_manifest["components"]["text"], image_manifest["components"]["image"]
    text_model = TextModel(Path(config.text_model), text_spec)
    image_model = ImageModel(Path(config.image_model), image_spec)
    keys = [text_spec["files"]["graph"]["sha256"], image_spec["files"]["encoder"]["sha256"]]

    train_set, val_set = read_dataset(config.train), read_dataset(config.val)
    train_in, train_y = _pair_outputs(text_model, image_model, train_set, work_dir, keys)
    val_in, val_y = _pair_outputs(text_model, image_model, val_set, work_dir, keys)
    parts, labels = [train_in, without(train_in, "image"), without(train_in, "text")], [train_y] * 3
    text_only_sets = []
    for spec in config.text_only:
        dataset = read_dataset(spec)
        text_only_sets.append(dataset)
        examples = [e for e in dataset.examples if e.text and e.label is not None]
        out = cached(
            work_dir,
            [dataset.fingerprint, "text", keys[0], str(len(examples))],
            functools.partial(text_outputs, text_model, [e.text for e in examples]),
        )
        parts.append(
            fusion_inputs(
                len(examples),
                {"text": (range(len(examples)), out["logits"], out["features"])},
                feature_dims={"image": train_in["image_features"].shape[1]},
            )
        )
        labels.append(np.array([int(e.label) for e in examples]))
    train_all, y_all = _concat(parts), np.concatenate(labels)
    log.info(
        "fusion: %d training rows (%d pairs x3 + text-only), %d validation pairs", len(y_all), len(train_y), len(val_y)
    )

    model = FusionHead(
        FusionConfig(
            text_dim=train_in["text_features"].shape[1],
            image_dim=train_in["image_features"].shape[1],
            hidden_dim=config.hidden_dim,
            dropout=config.dropout,
        )
    )
    classes = sorted(int(c) for c in val_set.classes)
    args = TrainingArguments(
        output_dir=work_dir / "fusion", **{**DEFAULT_ARGS, **config.training, "eval_classes": tuple(classes)}
    )

    def collate(rows):
        return {
            name: torch.from_numpy(np.stack([r[i] for r in rows]).astype(np.float32)) for i, name in enumerate(INPUTS)
        }

    val_data = TrainData(_rows(val_in), val_y)
    trainer = Trainer(model, args, TrainData(_rows(train_all), y_all), val_data, collate)
    result = trainer.train()
    components = {
        "text": _copy_component(config.text_model, text_spec, bundle_dir),
        "image": _copy_component(config.image_model, image_spec, bundle_dir),
    }

    def export(temperature: float, metrics: dict) -> None:
        model.export_onnx(bundle_dir / "fusion.onnx")

    components["fusion"] = finish_component(
        trainer,
        val_data,
        classes,
        bundle_dir=bundle_dir,
        kind="feature+logit fusion MLP with presence mask",
        export=export,
        files={"graph": "fusion.onnx"},
        validation={"data": config.val, "modality": "both"},
        inputs=dict.fromkeys(INPUTS, "float32[batch, ...]"),
        outputs={"logits": "float32[batch, 3]"},
        architecture=model.to_config(),
        training={
            "config": {**asdict(config), "text_model": str(config.text_model), "image_model": str(config.image_model)},
            "arguments": args.to_config(),
            "best_epoch": result.best_epoch,
            "history": result.history,
            "data": [{"spec": config.train, "n": len(train_set), "fingerprint": train_set.fingerprint}]
            + [
                {"spec": s, "n": len(d), "fingerprint": d.fingerprint}
                for s, d in zip(config.text_only, text_only_sets, strict=True)
            ],
            "n_train_rows": len(y_all),
            "n_validation": len(val_y),
        },
    )
    return components


def _copy_component(source_dir: Path, spec: dict, bundle_dir: Path) -> Component:
    """Copy a component's files into the new bundle (re-hashed), keeping its record."""
    component = Component.from_dict(spec)
    for role, entry in component.files.items():
        target = bundle_dir / entry["path"]
        if Path(source_dir).resolve() != bundle_dir.resolve():
            shutil.copyfile(Path(source_dir) / entry["path"], target)
        component.files[role] = file_entry(bundle_dir, entry["path"])
        if component.files[role]["sha256"] != entry["sha256"]:
            raise RuntimeError(f"{target} changed while copying")
    return component
