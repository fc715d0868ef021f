"""Train a text model (BiLSTM or MiniLM) from data specs into a bundle's text component.

Data with targets (``targets:FILE``, a jsonl/csv ``target`` column) trains a MiniLM on the
sentiment toward each target, shown as ``config.target`` says (:data:`~..text.encoding.TARGET_MODES`).

Steps: read data -> tokenizer (built from train texts for the LSTM, pretrained
for MiniLM) -> encode -> :class:`Trainer` (select on validation) -> temperature
on validation -> ONNX export (+ dynamic int8 for MiniLM when it keeps
macro-recall within 0.01) -> PyTorch/ONNX agreement -> bundle files + manifest
component. Test splits are never touched here: :mod:`sentiment_fusion.evaluation`
scores them once, on the finished bundle.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..calibration import calibrated_metrics
from ..component import Component
from ..data import read_dataset
from ..hashing import sha256_file
from ..labels import LABELS
from ..text.encoding import TARGET_MODES, EncodingConfig, TextEncoder
from ..text.normalize import TextNormalizer
from .export import export_text_model, onnx_agreement
from .finish import finish_component
from .starting_point import StartingPoint, starting_point, text_encoder_record
from .trainer import TrainData, Trainer, TrainingArguments

log = logging.getLogger(__name__)

TEXT_KINDS = ("bilstm", "minilm")


@dataclass
class TextTrainConfig:
    kind: str | None  # None: the kind of the model init_from holds
    train: list[str]  # data specs, concatenated
    val: list[str] = field(default_factory=list)  # empty: hold out val_fraction of train
    val_fraction: float = 0.1
    sample: dict[str, int] = field(default_factory=dict)  # train spec -> seeded random N of it
    max_length: int | None = None  # default: init_from's, else by kind
    vocab_size: int = 30000  # bilstm
    min_frequency: int = 2  # bilstm
    embed_dim: int = 128  # bilstm
    hidden_dim: int = 128  # bilstm
    dropout: float | None = None
    init_embeddings: str | None = None  # bilstm: "minilm" starts the word vectors from MiniLM's (text/word_vectors.py)
    # An earlier run's best.pt / last.pt, or a bundle: continue from its weights. Its model (architecture, tokenizer,
    # preprocessing) is rebuilt from it; the flags that shape a model (kind, sizes, vocabulary) are not needed.
    init_from: str | None = None
    quantize: bool = True  # batch-invariant int8 if it keeps validation macro-recall within 0.005
    # Data with targets (targets:FILE, a jsonl/csv target column): how the model sees them (EncodingConfig.target).
    # Examples without one are read as the post's own sentiment (the text alone), so both kinds can be mixed.
    target: str | None = None
    # minilm: keep the word-embedding table as init_from has it, so that a bundle's graphs can share it on disk
    # (a targeted graph beside the post-level one costs its layers only: see training/shared_weights.py)
    freeze_word_embeddings: bool = False
    contrast_pairs: int = 0  # targeted runs: N joined texts with two verdicts added to train (contrast_pairs.py)
    # minilm, targeted: the classifier also reads the mean of the target's own tokens (MiniLMConfig.target_token_ids)
    target_pooling: bool = False
    threads: int | None = None
    training: dict = field(default_factory=dict)  # TrainingArguments overrides

    def __post_init__(self) -> None:
        if self.kind is None and self.init_from is None:
            raise ValueError(f"give a text model kind (one of {TEXT_KINDS}) or init_from to continue from")
        if self.kind is not None and self.kind not in TEXT_KINDS:
            raise ValueError(f"text model kind must be one of {TEXT_KINDS}, got {self.kind!r}")
        if not self.train:
            raise ValueError("at least one --train data spec is needed")
        if not 0 < self.val_fraction < 0.5:
            raise ValueError(f"val_fraction must be in (0, 0.5), got {self.val_fraction}")
        if self.max_length is None and self.init_from is None:
            self.max_length = default_max_length(self.kind)
        if self.init_embeddings not in (None, "minilm"):
            raise ValueError(f"init_embeddings must be None or 'minilm', got {self.init_embeddings!r}")
        if self.init_from is not None and self.init_embeddings is not None:
            raise ValueError("init_from and init_embeddings both set the starting weights: give one")
        if self.target is not None and self.target not in TARGET_MODES:
            raise ValueError(f"target must be one of {TARGET_MODES} or None, got {self.target!r}")
        if self.freeze_word_embeddings and self.kind == "bilstm":
            raise ValueError("freeze_word_embeddings is for minilm (a bilstm learns its own vocabulary's vectors)")
        if self.target is not None and self.kind == "bilstm":
            raise ValueError("targets need a minilm model (its tokenizer has the [SEP] and « » that show them)")
        if self.target_pooling and self.kind == "bilstm":
            raise ValueError("target_pooling is for a targeted minilm model")


def default_max_length(kind: str) -> int:
    return 400 if kind == "bilstm" else 128


def _resolve(config: TextTrainConfig) -> tuple[TextTrainConfig, StartingPoint | None]:
    """The config with kind and max_length settled by ``init_from`` (when given) and where it starts."""
    if config.init_from is None:
        return config, None
    start = starting_point(Path(config.init_from))
    if config.kind is not None and start.kind is not None and start.kind != config.kind:
        raise ValueError(
            f"init_from: {config.init_from} holds a {start.kind} model, not {config.kind} "
            "(leave the kind out to continue with the model it holds)"
        )
    kind = start.kind or config.kind
    if kind is None:
        raise ValueError(f"init_from: {config.init_from} holds bare weights (an older run): give the model kind too")
    max_length = config.max_length or (start.encoder.config.max_length if start.encoder else default_max_length(kind))
    target = config.target or (start.encoder.config.target if start.encoder else None)  # a targeted run goes on as one
    if start.encoder is not None:  # the tokenizer and normalizer it was trained with; length and target from here
        encoding = replace(start.encoder.config, max_length=max_length, target=target)
        if encoding != start.encoder.config:
            start.encoder = replace(start.encoder, config=encoding)
    return replace(config, kind=kind, max_length=max_length, target=target), start


def _read_all(specs: list[str], sample: dict[str, int], seed: int = 13):
    """Labelled texts of every spec; ``sample[spec]`` keeps a seeded random N of
    that spec (random rather than the first N, which follow the files' order)."""
    datasets, examples = [], []
    for spec in specs:
        dataset = read_dataset(spec)
        labelled = [e for e in dataset.examples if e.text is not None and e.label is not None]
        if spec in sample and sample[spec] < len(labelled):
            keep = np.sort(np.random.default_rng(seed).choice(len(labelled), sample[spec], replace=False))
            labelled = [labelled[i] for i in keep]
        datasets.append(dataset)
        examples += labelled
    return datasets, examples


def _encoder(config: TextTrainConfig, train_texts: list[str]) -> TextEncoder:
    if config.kind == "bilstm":
        from ..text.vocab import build_word_tokenizer

        normalizer = TextNormalizer()
        tokenizer = build_word_tokenizer(
            normalizer.normalize_batch(train_texts), vocab_size=config.vocab_size, min_frequency=config.min_frequency
        )
        return TextEncoder(normalizer, tokenizer, EncodingConfig(max_length=config.max_length, truncation="head_tail"))
    from ..text.transformer import pretrained_minilm_dir

    return TextEncoder.from_files(
        pretrained_minilm_dir() / "tokenizer.json",
        TextNormalizer(),
        EncodingConfig(
            max_length=config.max_length,
            truncation="head_tail",
            cls_token="[CLS]",
            sep_token="[SEP]",
            target=config.target,
        ),
    )


def _model(config: TextTrainConfig, vocab_size: int) -> torch.nn.Module:
    if config.kind == "bilstm":
        from ..text.lstm import BiLSTMClassifier, BiLSTMConfig

        extra = {} if config.dropout is None else {"dropout": config.dropout}
        return BiLSTMClassifier(
            BiLSTMConfig(vocab_size=vocab_size, embed_dim=config.embed_dim, hidden_dim=config.hidden_dim, **extra)
        )
    from ..text.transformer import MiniLMClassifier, MiniLMConfig

    return MiniLMClassifier(MiniLMConfig(**({} if config.dropout is None else {"dropout": config.dropout})))


def _with_target_pooling(model: torch.nn.Module, encoder: TextEncoder) -> torch.nn.Module:
    """``model`` (a MiniLM) also pooling its target's tokens, answering exactly as before until trained:
    the classifier's weights for the target's mean start at zero."""
    from ..text.targets import CLOSE, OPEN
    from ..text.transformer import MiniLMClassifier

    ids = [encoder.tokenizer.token_to_id(token) for token in (OPEN, CLOSE, encoder.config.sep_token)]
    if None in ids:
        raise ValueError(f"target_pooling: the tokenizer lacks one of {OPEN} {CLOSE} {encoder.config.sep_token}")
    pooled = MiniLMClassifier(replace(model.config, target_token_ids=tuple(ids)), encoder=model.encoder)
    with torch.no_grad():
        hidden = model.classifier.in_features
        pooled.classifier.weight.zero_()
        pooled.classifier.weight[:, :hidden] = model.classifier.weight
        pooled.classifier.bias.copy_(model.classifier.bias)
    return pooled


DEFAULT_ARGS = {
    "bilstm": {"epochs": 4, "batch_size": 64, "learning_rate": 2e-3, "weight_decay": 0.0, "select_metric": "accuracy"},
    "minilm": {
        "epochs": 2,
        "batch_size": 32,
        "learning_rate": 5e-5,
        "weight_decay": 0.01,
        "warmup_ratio": 0.06,
        "select_metric": "macro_recall",
        "eval_steps": 500,
    },
}
TARGETED_ARGS = {"select_metric": "macro_f1"}  # what targeted sentiment is scored on (with accuracy)


def train_text_model(config: TextTrainConfig, bundle_dir: str | Path, work_dir: str | Path) -> Component:
    """Train, calibrate and export; writes the text files into ``bundle_dir`` and
    returns the bundle's ``text`` component (metrics on validation only)."""
    bundle_dir, work_dir = Path(bundle_dir), Path(work_dir)
    config, start = _resolve(config)
    if config.target_pooling and (config.target is None or config.kind != "minilm"):
        raise ValueError("target_pooling is for a targeted minilm run (--target-as, or init_from a targeted one)")
    bundle_dir.mkdir(parents=True, exist_ok=True)
    if config.threads:
        torch.set_num_threads(config.threads)
    train_sets, train_examples = _read_all(config.train, config.sample, config.training.get("seed", 13))
    if config.val:
        val_sets, val_examples = _read_all(config.val, {})
    else:  # e.g. IMDB has no validation split: hold out a seeded slice of train
        val_sets = []
        rng = np.random.default_rng(config.training.get("seed", 13))
        order = rng.permutation(len(train_examples))
        cut = int(len(order) * config.val_fraction)
        val_examples = [train_examples[i] for i in order[:cut]]
        train_examples = [train_examples[i] for i in order[cut:]]
    if config.contrast_pairs:
        from .contrast_pairs import contrast_pairs

        train_examples = train_examples + contrast_pairs(
            train_examples, config.contrast_pairs, config.training.get("seed", 13)
        )
    log.info("text %s: %d train / %d validation examples", config.kind, len(train_examples), len(val_examples))
    targeted = sum(e.target is not None for e in train_examples + val_examples)
    if targeted and config.target is None:
        raise ValueError(
            f"{targeted} examples have a target: say how the model sees it (--target-as {'|'.join(TARGET_MODES)})"
        )

    encoder = (
        start.encoder
        if start is not None and start.encoder is not None
        else _encoder(config, [e.text for e in train_examples])
    )
    model = _model(config, encoder.vocab_size) if start is None or start.architecture is None else None
    if config.kind == "bilstm" and config.init_embeddings == "minilm":
        from ..text.word_vectors import minilm_word_vectors

        vocab = encoder.tokenizer.get_vocab()
        words = sorted(vocab, key=vocab.get)
        with torch.no_grad():
            model.embedding.weight.copy_(torch.from_numpy(minilm_word_vectors(words, config.embed_dim)))
            model.embedding.weight[model.config.pad_id].zero_()
    if start is not None:
        model = start.model(fallback=model)
        log.info("starting from the weights in %s", config.init_from)
    if config.target_pooling and model.config.target_token_ids is None:
        model = _with_target_pooling(model, encoder)
    if config.freeze_word_embeddings:
        model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)

    def encode(examples) -> TrainData:
        targets = [e.target for e in examples] if config.target is not None else None
        ids = encoder.token_ids([e.text for e in examples], targets)
        return TrainData(ids, np.array([int(e.label) for e in examples]), np.array([len(s) for s in ids]))

    train_data, val_data = encode(train_examples), encode(val_examples)

    def collate(items: list[list[int]]) -> dict[str, torch.Tensor]:
        ids, mask = encoder.pad(items)
        return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}

    val_classes = sorted({int(c) for d in (val_sets or train_sets) for c in d.classes})
    args = TrainingArguments(
        output_dir=work_dir,
        **{
            **DEFAULT_ARGS[config.kind],
            **(TARGETED_ARGS if config.target else {}),
            **config.training,
            "eval_classes": tuple(val_classes),
        },
    )
    trainer = Trainer(model, args, train_data, val_data, collate, keep_with_weights=text_encoder_record(encoder))
    result = trainer.train()

    def export(temperature: float, val_metrics: dict) -> dict:
        fp32 = work_dir / "text_fp32.onnx"
        export_text_model(model, fp32)
        sample = {k: v.numpy() for k, v in collate([val_data.items[i] for i in range(min(256, len(val_data)))]).items()}
        agreement = onnx_agreement(model, fp32, sample)
        log.info("PyTorch vs ONNX on %d validation texts: %s", agreement["n"], agreement)
        quantization = None
        if config.quantize:
            quantization = _quantize_if_faithful(
                fp32, work_dir / "text_int8.onnx", encoder, train_data, val_data, temperature, val_classes, val_metrics
            )
        shutil.copyfile(
            work_dir / "text_int8.onnx" if quantization and quantization["kept"] else fp32, bundle_dir / "text.onnx"
        )
        encoder.tokenizer.save(str(bundle_dir / "tokenizer.json"))
        return {"quantization": quantization, "extra": {"onnx_agreement": agreement}}

    return finish_component(
        trainer,
        val_data,
        val_classes,
        bundle_dir=bundle_dir,
        kind=config.kind,
        export=export,
        files={"graph": "text.onnx", "tokenizer": "tokenizer.json"},
        validation={"data": " + ".join(config.val) or f"held-out {config.val_fraction:.0%} of train"},
        inputs={"input_ids": "int64[batch, tokens]", "attention_mask": "int64[batch, tokens]"},
        outputs={"logits": f"float32[batch, {len(LABELS)}]", "features": f"float32[batch, {model.feature_dim}]"},
        preprocessing=encoder.to_config(),
        architecture=model.to_config(),
        training={
            "config": _jsonable(asdict(config)),
            "arguments": args.to_config(),
            "best_epoch": result.best_epoch,
            "history": result.history,
            "data": [
                {
                    "spec": spec,
                    "n": len(d),
                    "used": min(len(d), config.sample.get(spec, len(d))),
                    "fingerprint": d.fingerprint,
                }
                for spec, d in zip(config.train, train_sets, strict=True)
            ]
            + [
                {"spec": spec, "n": len(d), "fingerprint": d.fingerprint, "role": "validation"}
                for spec, d in zip(config.val, val_sets, strict=True)
            ],
            "init_from": start.provenance if start is not None else None,
            "checkpoint": _weights_record(result.checkpoint or trainer.last_path),
            "n_train": len(train_data),
            "n_validation": len(val_data),
        },
    )


def _weights_record(path: Path) -> dict:
    """The weights the bundle's graph was exported from, so that ``--init-from BUNDLE`` finds them."""
    return {"path": str(path), "sha256": sha256_file(path)}


def _quantize_if_faithful(
    fp32: Path,
    int8: Path,
    encoder: TextEncoder,
    train_data: TrainData,
    val_data: TrainData,
    temperature: float,
    classes: list[int],
    fp32_metrics: dict,
    calibration_texts: int = 512,
) -> dict:
    """Batch-invariant int8 (:mod:`.quantize`: static and per-row activation scales), calibrated on
    a seeded sample of ``calibration_texts`` training texts; kept only if validation macro-recall stays
    within 0.005 of fp32. Scored in batches, as the runtime runs it."""
    from ..sessions import onnx_session
    from .quantize import quantize_text_graph

    def batches(items: list, size: int):
        order = sorted(range(len(items)), key=lambda i: len(items[i]))  # similar lengths together
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            ids, mask = encoder.pad([items[i] for i in rows])
            yield rows, {"input_ids": ids, "attention_mask": mask}

    pick = np.random.default_rng(0).permutation(len(train_data))[:calibration_texts]  # seeded, all sources
    record = quantize_text_graph(fp32, int8, (feeds for _, feeds in batches([train_data.items[i] for i in pick], 16)))
    session = onnx_session(int8)
    logits = np.zeros((len(val_data), len(LABELS)), np.float32)
    for rows, feeds in batches(val_data.items, 64):
        logits[rows] = session.run(["logits"], feeds)[0]
    int8_metrics = calibrated_metrics(logits, val_data.labels, temperature, classes)
    drop = fp32_metrics["macro_recall"] - int8_metrics["macro_recall"]
    summary = {
        **record,
        "split": "validation",
        "calibration_texts": min(calibration_texts, len(train_data)),
        "fp32_macro_recall": fp32_metrics["macro_recall"],
        "int8_macro_recall": int8_metrics["macro_recall"],
        "fp32_bytes": fp32.stat().st_size,
        "int8_bytes": int8.stat().st_size,
        "kept": bool(drop <= 0.005),
    }
    log.info("int8 quantization: %s", summary)
    return summary


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))
