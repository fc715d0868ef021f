"""Where ``train text --init-from`` starts: an earlier run's weights file or a finished bundle.

Both rebuild the model they hold without flags matched by hand: a weights file written by the
trainer carries the model's architecture and its tokenizer + preprocessing (``checkpoints.py``);
a bundle records its architecture, tokenizer and preprocessing, and the weights file its text
model was exported from (``training.checkpoint``; older bundles: ``best.pt`` of the run's
``output_dir``). When that file is gone (a shipped bundle: its runs/ stay behind), a MiniLM's
weights are read back from the bundle's ONNX graph (:mod:`.graph_weights`). A bare state dict
(runs before this format) gives weights only: the model is then built from the flags, as before.
:func:`averaged` is the mean of several such starting points' weights.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..bundle import read_manifest
from ..hashing import sha256_file
from ..text.encoding import TextEncoder
from .checkpoints import build_model, read_weights

log = logging.getLogger(__name__)

TEXT_ENCODER_KEY = (
    "text_encoder"  # in a weights file: {"tokenizer": JSON text, "preprocessing": TextEncoder.to_config()}
)


@dataclass
class StartingPoint:
    state_dict: dict
    architecture: dict | None  # None: bare weights, the model comes from the flags
    encoder: TextEncoder | None  # None: bare weights, the tokenizer comes from the flags (and data)
    provenance: dict  # recorded in the new bundle's manifest: path and sha256 of the weights read

    @property
    def kind(self) -> str | None:
        return self.architecture["kind"] if self.architecture else None

    def model(self, fallback: nn.Module | None = None) -> nn.Module:
        """The model with these weights: rebuilt from the architecture, or ``fallback`` (built from flags)."""
        model = build_model(self.architecture) if self.architecture else fallback
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as error:
            first = str(error).strip().splitlines()[0]
            raise ValueError(
                f"init_from: {self.provenance['path']} does not fit this model ({type(model).__name__}): {first}"
            ) from None
        return model


def text_encoder_record(encoder: TextEncoder) -> dict:
    """What a text run keeps beside its weights so that they rebuild their encoder too."""
    return {TEXT_ENCODER_KEY: {"tokenizer": encoder.tokenizer.to_str(), "preprocessing": encoder.to_config()}}


def starting_point(path: Path) -> StartingPoint:
    """Read ``path``: a weights file (``best.pt`` / ``last.pt``) or a bundle folder with a text component."""
    if path.is_dir():
        return _from_bundle(path)
    if not path.is_file():
        raise FileNotFoundError(f"init_from: {path} not found")
    return _from_weights(path)


def _from_weights(path: Path, provenance: dict | None = None) -> StartingPoint:
    # Hashed when read: the run may later overwrite the file (e.g. a best.pt in its own work dir).
    provenance = provenance or {"path": str(path), "sha256": sha256_file(path)}
    try:
        saved = read_weights(path)
    except Exception as error:  # noqa: BLE001 - pickle, zip and torch errors of a file that is not weights
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"init_from: {path} is not a weights file written by the trainer ({first})") from None
    record = saved.get(TEXT_ENCODER_KEY)
    encoder = TextEncoder.from_config(record["tokenizer"], record["preprocessing"]) if record else None
    if saved["architecture"] is not None:
        log.info("init_from %s: a %s model %s", path, saved["architecture"]["kind"], saved["architecture"]["config"])
    return StartingPoint(saved["state_dict"], saved["architecture"], encoder, provenance)


def _from_bundle(bundle_dir: Path) -> StartingPoint:
    manifest = read_manifest(bundle_dir)
    spec = manifest["components"].get("text")
    if spec is None:
        raise ValueError(f"init_from: the bundle {bundle_dir} has no text component")
    training = spec.get("training") or {}
    recorded = training.get("checkpoint")
    weights = (
        Path(recorded["path"]) if recorded else Path(training.get("arguments", {}).get("output_dir", "")) / "best.pt"
    )
    if not weights.is_file():
        if spec["kind"] == "minilm":  # the graph holds every weight (int8 ones dequantized): read them back
            log.warning(
                "init_from: the weights the bundle %s was exported from (%s) are gone; reading them from its graph %s "
                "(int8 weights dequantized: exact to the graph, not to the lost fp32 file)",
                bundle_dir,
                weights,
                bundle_dir / spec["files"]["graph"]["path"],
            )
            return graph_starting_point(bundle_dir)
        raise FileNotFoundError(
            f"init_from: the bundle {bundle_dir} holds ONNX graphs only, and the weights its text "
            f"model was exported from ({weights}) are gone; pass a weights file (best.pt / last.pt)"
        )
    sha256 = sha256_file(weights)
    if not recorded:
        log.warning(
            "init_from: the bundle %s records no weights hash (made before they were recorded); "
            "taking %s as the weights its text model was exported from",
            bundle_dir,
            weights,
        )
    elif recorded["sha256"] != sha256:
        raise ValueError(
            f"init_from: {weights} changed since the bundle {bundle_dir} was made from it (sha256 differs)"
        )
    start = _from_weights(weights, {"path": str(bundle_dir), "sha256": sha256, "weights": str(weights)})
    if start.architecture is None:  # bare weights of an older run: the bundle says what they fit
        start.architecture = {"kind": spec["kind"], "config": spec["architecture"]}
    if start.encoder is None:
        start.encoder = TextEncoder.from_config(
            (bundle_dir / spec["files"]["tokenizer"]["path"]).read_text(), spec["preprocessing"]
        )
    return start


def graph_starting_point(bundle_dir: Path, component: str = "text") -> StartingPoint:
    """The bundle's MiniLM ``component`` (``text`` or ``target``) rebuilt from its ONNX graph
    (:mod:`.graph_weights`; int8 weights dequantized)."""
    from .graph_weights import load_graph_weights

    spec = read_manifest(bundle_dir)["components"][component]
    graph = bundle_dir / spec["files"]["graph"]["path"]
    architecture = {"kind": spec["kind"], "config": spec["architecture"]}
    state_dict = load_graph_weights(build_model(architecture), graph)
    encoder = TextEncoder.from_config(
        (bundle_dir / spec["files"]["tokenizer"]["path"]).read_text(), spec["preprocessing"]
    )
    provenance = {"path": str(bundle_dir), "sha256": sha256_file(graph), "graph": str(graph)}
    return StartingPoint(state_dict, architecture, encoder, provenance)


def averaged(points: list[StartingPoint]) -> StartingPoint:
    """The mean of several models' weights: a uniform model soup (Wortsman et al., 2022), one model
    at the cost of one, from runs fine-tuned from one starting point with other seeds
    (``benchmarks/target_weight_average.py`` measures it against the runs and their ensemble). The
    models must share their architecture and encoder (tokenizer and preprocessing); integer
    buffers must agree."""
    if len(points) < 2:
        raise ValueError("averaging needs at least two sets of weights")
    first = points[0]
    for point in points[1:]:
        where = f"averaging: {point.provenance.get('path')}"
        if point.architecture is None or point.architecture != first.architecture:
            raise ValueError(f"{where} holds another model than {first.provenance.get('path')}")
        if _encoding(point) != _encoding(first):
            raise ValueError(f"{where} reads text another way (tokenizer or preprocessing) than the first")
        if point.state_dict.keys() != first.state_dict.keys():
            raise ValueError(f"{where} has other weights than the first")
    state_dict = {}
    for name, value in first.state_dict.items():
        values = [p.state_dict[name] for p in points]
        if value.is_floating_point():
            state_dict[name] = torch.stack([v.double() for v in values]).mean(0).to(value.dtype)
        elif all(v.equal(value) for v in values):
            state_dict[name] = value
        else:
            raise ValueError(f"averaging: the models differ in {name}, which cannot be averaged")
    return StartingPoint(state_dict, first.architecture, first.encoder, {"average": [p.provenance for p in points]})


def _encoding(point: StartingPoint) -> tuple | None:
    """How ``point``'s model reads text: its preprocessing and its tokenizer."""
    return None if point.encoder is None else (point.encoder.config, point.encoder.tokenizer.to_str())
