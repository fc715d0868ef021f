"""Train the image sentiment head on MobileNetV2 features into a bundle's image component.

Training labels (``labels``): "image" = an example's own image label when the
data has one (MVSA's ``meta["image_label"]``), else its label (CIFAR-100 mapped
to sentiment); "post" = the example's label (for MVSA the pair label).
Validation uses the examples' labels (for MVSA the pair label the benchmark
scores), or a seeded 10% of train when no validation spec is given.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..component import Component
from ..data import read_dataset
from ..hashing import sha256_file
from ..labels import Sentiment
from .features import cached, image_features
from .finish import finish_component
from .heads import HeadConfig, ImageHead
from .trainer import TrainData, Trainer, TrainingArguments

log = logging.getLogger(__name__)

DEFAULT_ARGS = {
    "epochs": 40,
    "batch_size": 64,
    "learning_rate": 1e-3,
    "weight_decay": 0.05,
    "select_metric": "accuracy",
}


@dataclass
class ImageTrainConfig:
    train: str
    encoder: Path  # the MobileNetV2 features graph (scripts/convert_mobilenet.py)
    val: str | None = None
    labels: str = "image"
    hidden_dim: int = 256
    dropout: float = 0.5
    val_fraction: float = 0.1
    training: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.labels not in ("image", "post"):
            raise ValueError(f"labels must be 'image' or 'post', got {self.labels!r}")
        self.encoder = Path(self.encoder)
        if not self.encoder.is_file():
            raise FileNotFoundError(
                f"image encoder graph not found: {self.encoder} (make it with scripts/convert_mobilenet.py)"
            )


def training_label(example, labels: str) -> int:
    own = example.meta.get("image_label") if labels == "image" else None
    return int(Sentiment.parse(own)) if own is not None else int(example.label)


def labelled_image_features(encoder, dataset, cache_dir: Path, encoder_sha: str):
    """(features [N, D], examples) for the examples that have an image and a label."""
    with_image = [e for e in dataset.examples if e.image is not None]
    features = cached(
        cache_dir,
        [dataset.fingerprint, dataset.name, str(dataset.split), str(len(with_image)), encoder_sha],
        lambda: image_features(encoder, [e.image for e in with_image]),
    )["features"]
    keep = [i for i, e in enumerate(with_image) if e.label is not None]
    return features[keep], [with_image[i] for i in keep]


def train_image_head(config: ImageTrainConfig, bundle_dir: str | Path, work_dir: str | Path) -> Component:
    from ..image.encoder import ImageEncoder

    bundle_dir, work_dir = Path(bundle_dir), Path(work_dir)
    bundle_dir.mkdir(parents=True, exist_ok=True)
    encoder = ImageEncoder(config.encoder)
    encoder_sha = sha256_file(config.encoder)
    train_set = read_dataset(config.train)
    train_x, train_examples = labelled_image_features(encoder, train_set, work_dir, encoder_sha)
    train_y = np.array([training_label(e, config.labels) for e in train_examples])
    if config.val:
        val_set = read_dataset(config.val)
        val_x, val_examples = labelled_image_features(encoder, val_set, work_dir, encoder_sha)
        val_y = np.array([int(e.label) for e in val_examples])
        classes = sorted(int(c) for c in val_set.classes)
    else:
        order = np.random.default_rng(config.training.get("seed", 13)).permutation(len(train_y))
        cut = int(len(order) * config.val_fraction)
        val_x, val_y = train_x[order[:cut]], train_y[order[:cut]]
        train_x, train_y = train_x[order[cut:]], train_y[order[cut:]]
        classes = sorted(int(c) for c in train_set.classes)
    log.info("image head: %d train / %d validation images", len(train_y), len(val_y))

    model = ImageHead(HeadConfig(in_dim=train_x.shape[1], hidden_dim=config.hidden_dim, dropout=config.dropout))
    model.set_normalization(torch.from_numpy(train_x))
    args = TrainingArguments(
        output_dir=work_dir / "head", **{**DEFAULT_ARGS, **config.training, "eval_classes": tuple(classes)}
    )

    def collate(rows):
        return {"features": torch.from_numpy(np.stack(rows))}

    trainer = Trainer(model, args, TrainData(list(train_x), train_y), TrainData(list(val_x), val_y), collate)
    result = trainer.train()

    def export(temperature: float, metrics: dict) -> None:
        model.export_onnx(bundle_dir / "image_head.onnx")
        shutil.copyfile(config.encoder, bundle_dir / "image_encoder.onnx")

    return finish_component(
        trainer,
        TrainData(list(val_x), val_y),
        classes,
        bundle_dir=bundle_dir,
        kind="mobilenet_v2+mlp",
        export=export,
        files={"encoder": "image_encoder.onnx", "head": "image_head.onnx"},
        validation={
            "data": config.val or f"held-out {config.val_fraction:.0%} of train",
            "labels": "pair" if config.val else "image",
        },
        inputs={"image": "any RGB image; decoded and resized by the preprocessing below"},
        outputs={"logits": "float32[batch, 3]", "features": f"float32[batch, {train_x.shape[1]}]"},
        preprocessing={"image": encoder.preprocessor.to_config()},  # less the decode limits: deployment settings
        architecture=model.to_config(),
        training={
            "config": {**asdict(config), "encoder": str(config.encoder)},
            "encoder_sha256": encoder_sha,
            "labels": config.labels,
            "arguments": args.to_config(),
            "best_epoch": result.best_epoch,
            "history": result.history,
            "data": [{"spec": config.train, "n": len(train_set), "fingerprint": train_set.fingerprint}],
            "n_train": len(train_y),
            "n_validation": len(val_y),
        },
    )
