"""One generic trainer for every model here (BiLSTM, MiniLM, image head, fusion head).

What differs between models lives on the model (``forward(**batch) -> logits``)
and in the ``collate`` function that turns a list of encoded examples into the
model's input tensors. The trainer owns the loop: seeded length-bucketed
batches, AdamW with warm-up and linear decay, gradient clipping, validation
each epoch (and every ``eval_steps``), best-checkpoint selection on the
validation split, and resumable checkpoints. ``best.pt`` / ``last.pt`` carry the
model's architecture beside its weights (:mod:`.checkpoints`), so they rebuild it alone.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..metrics import classification_report
from .checkpoints import read_weights, save_weights

log = logging.getLogger(__name__)

SELECT_METRICS = ("accuracy", "macro_recall", "macro_f1", "weighted_f1")
# Arguments a resumed run may change without making the checkpoint a different run's.
_RESUMABLE_CHANGES = ("output_dir", "progress", "resume", "checkpoint_steps", "eval_steps")


@dataclass
class TrainingArguments:
    output_dir: Path
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.0
    max_grad_norm: float = 1.0
    label_smoothing: float = 0.0
    balance_classes: bool = False  # weight the loss by inverse class frequency
    select_metric: str = "macro_recall"
    eval_steps: int | None = None  # also validate every N optimizer steps
    checkpoint_steps: int = 200
    max_steps: int | None = None  # stop early (tests, smoke runs)
    seed: int = 13
    resume: bool = True
    progress: bool = True
    eval_classes: tuple[int, ...] | None = None  # label set of the validation data (binary IMDB: (0, 2))

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        checks = {
            "epochs": self.epochs >= 1,
            "batch_size": self.batch_size >= 1,
            "learning_rate": self.learning_rate > 0,
            "weight_decay": self.weight_decay >= 0,
            "warmup_ratio": 0 <= self.warmup_ratio < 1,
            "label_smoothing": 0 <= self.label_smoothing < 1,
            "checkpoint_steps": self.checkpoint_steps >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"TrainingArguments.{name} has an invalid value: {getattr(self, name)!r}")
        if self.select_metric not in SELECT_METRICS:
            raise ValueError(f"select_metric must be one of {SELECT_METRICS}, got {self.select_metric!r}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {self.max_steps}")

    def to_config(self) -> dict:
        config = asdict(self)
        config["output_dir"] = str(self.output_dir)
        return config


@dataclass
class TrainData:
    """Encoded examples: ``items[i]`` is whatever ``collate`` takes (token ids, a feature row)."""

    items: Sequence[Any]
    labels: np.ndarray
    lengths: np.ndarray | None = None  # for length bucketing (token counts)

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if len(self.items) != len(self.labels):
            raise ValueError(f"{len(self.items)} items but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class TrainResult:
    best_metrics: dict
    best_epoch: float
    history: list[dict] = field(default_factory=list)
    checkpoint: Path | None = None


def batch_order(
    n: int, batch_size: int, seed: int, lengths: np.ndarray | None, shuffle: bool = True
) -> list[np.ndarray]:
    """Indices of each batch. With ``lengths``, examples of similar length share a
    batch (little padding) while batches still come in random order."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n) if shuffle else np.arange(n)
    if lengths is not None:
        pool = batch_size * 50
        order = np.concatenate(
            [
                chunk[np.argsort(lengths[chunk], kind="stable")]
                for chunk in np.array_split(order, max(1, math.ceil(n / pool)))
            ]
        )
    batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    if shuffle and lengths is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


class Trainer:
    def __init__(
        self,
        model: nn.Module,
        args: TrainingArguments,
        train: TrainData,
        val: TrainData | None,
        collate: Callable[[list], dict[str, torch.Tensor]],
        keep_with_weights: dict | None = None,
    ):
        if len(train) == 0:
            raise ValueError("no training examples: check the --train specs, their splits and any @N sample size")
        self.model, self.args, self.train_data, self.val_data, self.collate = model, args, train, val, collate
        self.keep_with_weights = (
            keep_with_weights  # saved in best.pt / last.pt beside the architecture (e.g. the tokenizer)
        )
        self._identity = self._run_identity()  # saved with every checkpoint; compared when resuming
        self.args.output_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoint_path = self.args.output_dir / "checkpoint.pt"
        self.best_path = self.args.output_dir / "best.pt"
        self.last_path = self.args.output_dir / "last.pt"

    # -- the loop -------------------------------------------------------------------------
    def train(self) -> TrainResult:
        args = self.args
        _seed_everything(args.seed)
        steps_per_epoch = math.ceil(len(self.train_data) / args.batch_size)
        total_steps = steps_per_epoch * args.epochs
        if args.max_steps is not None:
            total_steps = min(total_steps, args.max_steps)
        optimizer = self._optimizer()
        warmup = int(args.warmup_ratio * total_steps)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda s: (
                (s + 1) / max(1, warmup) if s < warmup else max(0.0, (total_steps - s) / max(1, total_steps - warmup))
            ),
        )
        loss_fn = nn.CrossEntropyLoss(weight=self._class_weights(), label_smoothing=args.label_smoothing)
        state = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "best": None, "history": []}
        if args.resume and self.checkpoint_path.exists():
            state = self._load_checkpoint(optimizer, scheduler)
            log.info(
                "resumed from %s at epoch %d step %d", self.checkpoint_path, state["epoch"], state["step_in_epoch"]
            )

        progress = _progress(total_steps, state["global_step"], args.progress)
        while state["epoch"] < args.epochs and state["global_step"] < total_steps:
            batches = batch_order(
                len(self.train_data), args.batch_size, args.seed + state["epoch"], self.train_data.lengths
            )
            self.model.train()
            for index in batches[state["step_in_epoch"] :]:
                batch = self.collate([self.train_data.items[i] for i in index])
                labels = torch.from_numpy(self.train_data.labels[index])
                loss = loss_fn(self.model(**batch), labels)
                auxiliary = getattr(self.model, "auxiliary_loss", None)  # a model's extra targets, if it has any
                if auxiliary is not None and (extra := auxiliary()) is not None:
                    loss = loss + extra
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if args.max_grad_norm:
                    nn.utils.clip_grad_norm_(self.model.parameters(), args.max_grad_norm)
                optimizer.step()
                scheduler.step()
                state["step_in_epoch"] += 1
                state["global_step"] += 1
                progress.update(1)
                progress.set_postfix(loss=f"{loss.item():.4f}", epoch=state["epoch"] + 1)
                done = state["global_step"] >= total_steps
                if args.eval_steps and state["global_step"] % args.eval_steps == 0 and not done:
                    self._validate(state, epoch=state["epoch"] + state["step_in_epoch"] / len(batches))
                    self.model.train()
                if state["global_step"] % args.checkpoint_steps == 0 or done:
                    self._save_checkpoint(state, optimizer, scheduler)
                if done:
                    break
            if state["step_in_epoch"] >= len(batches):
                state["epoch"] += 1
                state["step_in_epoch"] = 0
                self._validate(state, epoch=float(state["epoch"]))
                self._save_checkpoint(state, optimizer, scheduler)
        if state["step_in_epoch"]:  # stopped by max_steps inside an epoch
            self._validate(state, epoch=state["epoch"] + state["step_in_epoch"] / steps_per_epoch)
            self._save_checkpoint(state, optimizer, scheduler)
        progress.close()
        self._save_weights(self.last_path)  # the final weights, e.g. to continue from in a later stage
        if self.best_path.exists():
            self.model.load_state_dict(read_weights(self.best_path)["state_dict"])
        best = state["best"] or {"metrics": {}, "epoch": float(state["epoch"])}
        return TrainResult(
            best["metrics"], best["epoch"], state["history"], self.best_path if self.best_path.exists() else None
        )

    # -- evaluation -----------------------------------------------------------------------
    @torch.no_grad()
    def predict_logits(self, data: TrainData, batch_size: int | None = None) -> np.ndarray:
        """Logits [N, C] in ``data``'s order (batched by length for speed)."""
        self.model.eval()
        size = batch_size or max(64, self.args.batch_size)
        out: np.ndarray | None = None
        for index in batch_order(len(data), size, 0, data.lengths, shuffle=False):
            logits = self.model(**self.collate([data.items[i] for i in index])).float().numpy()
            if out is None:
                out = np.zeros((len(data), logits.shape[1]), dtype=np.float32)
            out[index] = logits
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)

    def _validate(self, state: dict, epoch: float) -> None:
        if self.val_data is None or len(self.val_data) == 0:
            self._save_weights(self.best_path)  # nothing to select on: keep the latest
            state["best"] = {"metrics": {}, "epoch": epoch}
            return
        logits = self.predict_logits(self.val_data)
        classes = self.args.eval_classes
        if classes is not None:
            keep = np.asarray(sorted(classes))
            preds = keep[logits[:, keep].argmax(1)]
        else:
            preds = logits.argmax(1)
        metrics = classification_report(self.val_data.labels, preds, classes)
        summary = {k: metrics[k] for k in ("n", "accuracy", "macro_recall", "macro_f1", "weighted_f1")}
        state["history"].append({"epoch": round(epoch, 3), "step": state["global_step"], **summary})
        log.info("validation at epoch %.2f: %s", epoch, summary)
        score = metrics[self.args.select_metric]
        if state["best"] is None or score > state["best"]["metrics"].get(self.args.select_metric, -1):
            state["best"] = {"metrics": summary, "epoch": epoch}
            self._save_weights(self.best_path)

    # -- plumbing -------------------------------------------------------------------------
    def _optimizer(self) -> torch.optim.Optimizer:
        decay, no_decay = [], []
        for name, param in self.model.named_parameters():
            if not param.requires_grad:
                continue
            (no_decay if param.dim() < 2 or "norm" in name.lower() or "embedding" in name.lower() else decay).append(
                param
            )
        groups = [{"params": decay, "weight_decay": self.args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=self.args.learning_rate)

    def _class_weights(self) -> torch.Tensor | None:
        if not self.args.balance_classes:
            return None
        counts = np.bincount(self.train_data.labels, minlength=int(self.train_data.labels.max()) + 1).astype(np.float64)
        weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / (counts > 0).sum(), 0.0)
        return torch.tensor(weights, dtype=torch.float32)

    def _save_weights(self, path: Path) -> None:
        save_weights(self.model, path, self.keep_with_weights)

    def _save_checkpoint(self, state: dict, optimizer, scheduler) -> None:
        tmp = self.checkpoint_path.with_suffix(".tmp")
        torch.save(
            {
                "model": self.model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "state": state,
                "args": self.args.to_config(),
                "run": self._identity,
                "rng": {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()},
            },
            tmp,
        )
        tmp.replace(self.checkpoint_path)  # atomic: a kill mid-write never leaves a broken checkpoint

    def _run_identity(self) -> dict:
        """What a checkpoint must share with a run that resumes from it: the settings that shape
        training and the training data (its size and labels)."""
        args = {k: v for k, v in self.args.to_config().items() if k not in _RESUMABLE_CHANGES}
        labels = hashlib.sha256(np.ascontiguousarray(self.train_data.labels).tobytes()).hexdigest()
        return {"args": args, "n_train": len(self.train_data), "labels_sha256": labels}

    def _load_checkpoint(self, optimizer, scheduler) -> dict:
        ckpt = torch.load(self.checkpoint_path, weights_only=False)
        saved, current = ckpt.get("run"), self._identity
        if saved is not None and saved != current:
            differ = sorted(
                {k for k in {*saved["args"], *current["args"]} if saved["args"].get(k) != current["args"].get(k)}
                | {k for k in ("n_train", "labels_sha256") if saved[k] != current[k]}
            )
            raise ValueError(
                f"{self.checkpoint_path} is from a run with other settings or data (they differ in "
                f"{', '.join(differ)}); use another work folder (--work), or --restart to start over"
            )
        try:
            self.model.load_state_dict(ckpt["model"])
        except RuntimeError as exc:
            raise ValueError(
                f"{self.checkpoint_path} holds another model's weights; use another work folder "
                f"(--work), or --restart to start over ({str(exc).splitlines()[0]})"
            ) from None
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        random.setstate(ckpt["rng"]["python"])
        np.random.set_state(ckpt["rng"]["numpy"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        return ckpt["state"]


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _progress(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, desc="train", unit="step", dynamic_ncols=True)
