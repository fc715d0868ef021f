"""An ensemble of fusion-recipe runs, exported as one fusion graph (issue 17, variant ``ensemble4``).

Member ``m`` is one run of the cross-validated recipe (:func:`.fusion_cv.train_member`, the very
code :mod:`.fusion_cv` scores): an image head, then a fusion head over its image logits, with
modality dropout and the text-only posts, both trained on every labelled pair outside inner fold
``m`` and selected and temperature-calibrated on inner fold ``m``.

The graph has the recipe's contract (:data:`~sentiment_fusion.fusion_inputs.INPUTS` in,
``logits`` [batch, 3] out) and computes::

    p = mean_m softmax(fusion_m(text_features, image_features, text_logits,
                                image_head_m(image_features), present) / T_m)
    logits = log(p)

The runtime answers ``softmax(logits / temperature)`` with the component's manifest
temperature, so the component records temperature 1: softmax(log p) = p, the averaged calibrated
probabilities. Each member's fusion head was trained on its own image head's logits, so the graph
computes those from ``image_features``; its ``image_logits`` input (the bundle's image head, which
saw the pairs the members select on) is declared, for the contract, and not read.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..component import Component
from ..fusion_inputs import INPUTS
from ..labels import NUM_CLASSES
from .export import export_onnx
from .fusion_cv import Member, Pool, Variant, stratified_folds, train_member
from .heads import FusionHead, ImageHead

log = logging.getLogger(__name__)

KIND = "ensemble of feature+logit fusion MLPs with presence mask (calibrated probabilities averaged)"
TINY = 1e-30  # log(p) of a probability that underflowed: finite, and exp() of it is still 0 in float32


class FusionEnsemble(nn.Module):
    """``members`` (image head, fusion head, temperature) triples; ``forward`` gives the log of
    their averaged calibrated probabilities (the exported graph)."""

    def __init__(
        self, image_heads: Sequence[ImageHead], fusion_heads: Sequence[FusionHead], temperatures: Sequence[float]
    ):
        super().__init__()
        if not len(image_heads) == len(fusion_heads) == len(temperatures) > 0:
            raise ValueError("need as many image heads, fusion heads and temperatures, at least one")
        self.image_heads = nn.ModuleList(image_heads)
        self.fusion_heads = nn.ModuleList(fusion_heads)
        self.register_buffer("inverse_temperatures", torch.tensor([1.0 / t for t in temperatures], dtype=torch.float32))
        self.temperatures = [float(t) for t in temperatures]

    @classmethod
    def from_members(cls, members: Sequence[Member]) -> FusionEnsemble:
        return cls([m.image_head for m in members], [m.fusion_head for m in members], [m.temperature for m in members])

    def member_probabilities(self, text_features, image_features, text_logits, image_logits, present) -> torch.Tensor:
        """Each member's calibrated probabilities (M, B, C); ``image_logits`` is not read."""
        out = []
        for m, (image_head, fusion_head) in enumerate(zip(self.image_heads, self.fusion_heads, strict=True)):
            logits = fusion_head(text_features, image_features, text_logits, image_head(image_features), present)
            out.append(torch.softmax(logits * self.inverse_temperatures[m], dim=-1))
        return torch.stack(out)

    def forward(self, text_features, image_features, text_logits, image_logits, present) -> torch.Tensor:
        probs = self.member_probabilities(text_features, image_features, text_logits, image_logits, present).mean(0)
        return torch.log(probs.clamp_min(TINY))

    def export_onnx(self, path: str | Path) -> Path:
        """The graph, with every input of :data:`INPUTS` declared in order (the exporter drops the
        unread ``image_logits``; it is put back so the graph keeps the recipe's contract). Its
        weight matrices are stored as int8 with a scale per row (:func:`.quantize.int8_stored_weights`;
        4 members: 9.3 MB -> 2.5 MB, MVSA dev probabilities within 0.001 of float32 weights, the
        same answers) and computed in float32."""
        import onnx

        from .quantize import int8_stored_weights

        config = self.fusion_heads[0].config
        example = (
            torch.randn(2, config.text_dim),
            torch.randn(2, config.image_dim),
            torch.randn(2, NUM_CLASSES),
            torch.randn(2, NUM_CLASSES),
            torch.ones(2, 2),
        )
        path = export_onnx(self, example, path, list(INPUTS), ["logits"])
        model = onnx.load(str(path))
        names = [i.name for i in model.graph.input]
        if names != list(INPUTS):
            declared = {i.name: i for i in model.graph.input}
            dims = {"text_features": config.text_dim, "image_features": config.image_dim, "present": 2}
            inputs = [
                declared.get(name)
                or onnx.helper.make_tensor_value_info(
                    name, onnx.TensorProto.FLOAT, ["batch", dims.get(name, NUM_CLASSES)]
                )
                for name in INPUTS
            ]
            del model.graph.input[:]
            model.graph.input.extend(inputs)
        model.doc_string = (
            f"ensemble of {len(self.fusion_heads)} fusion heads: logits = log(mean of the members' calibrated "
            "probabilities), to be read with temperature 1; image_logits is not read (each member computes its "
            "own image head's logits from image_features)"
        )
        int8_stored_weights(model)
        onnx.checker.check_model(model)
        onnx.save(model, str(path))
        return path

    def architecture(self) -> dict:
        return {
            "members": len(self.fusion_heads),
            "member_temperatures": self.temperatures,
            "image_head": self.image_heads[0].to_config(),
            "fusion_head": self.fusion_heads[0].to_config(),
            "output": "log of the mean of the members' calibrated probabilities (read with temperature 1)",
            "weights": "int8 storage (a scale per row), float32 compute",
        }


@dataclass
class EnsembleRun:
    ensemble: FusionEnsemble
    members: list[Member]
    inner: np.ndarray  # the inner fold of each pool pair (member m selects on fold m)
    probabilities: np.ndarray  # [pairs, 3] the members' mean calibrated probabilities on every pair


def train_ensemble(
    pool: Pool,
    members: int = 4,
    inner_folds: int = 8,
    seed: int = 13,
    work: str | Path = "runs/fusion-ensemble/work",
    training: dict | None = None,
) -> EnsembleRun:
    """``members`` runs of the recipe on all the pool's pairs, member ``m`` trained on every pair
    outside inner fold ``m`` (``stratified_folds(labels, inner_folds, seed)``) and selected and
    calibrated on fold ``m`` - what :mod:`.fusion_cv`'s ensemble variant does with the rest of a
    fold. ``probabilities`` are the members' averaged calibrated probabilities on every pair, as
    the training code computes them (the graph must give the same)."""
    if not 1 <= members <= inner_folds:
        raise ValueError(f"{members} members need 1 to {inner_folds} (the inner folds)")
    variant = Variant(f"ensemble{members}", members=members)
    every = np.arange(len(pool))
    inner = stratified_folds(pool.labels, inner_folds, seed)
    runs = []
    for m in range(members):
        member = train_member(
            pool, variant, every[inner != m], every[inner == m], every, Path(work) / f"member{m}", seed, training
        )
        log.info(
            "member %d/%d: T=%.3f, best epochs %s, on its selection fold %s",
            m + 1,
            members,
            member.temperature,
            member.best_epochs,
            member.select_scores,
        )
        runs.append(member)
    return EnsembleRun(FusionEnsemble.from_members(runs), runs, inner, np.mean([r.probabilities for r in runs], axis=0))


def pool_inputs(pool: Pool, image_logits: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The graph's inputs for the pool's pairs (both modalities present). ``image_logits`` (not read
    by the graph) default to zeros."""
    n = len(pool)
    return {
        "text_features": pool.text_features.astype(np.float32),
        "image_features": pool.image_features.astype(np.float32),
        "text_logits": pool.text_logits.astype(np.float32),
        "image_logits": (np.zeros((n, NUM_CLASSES)) if image_logits is None else image_logits).astype(np.float32),
        "present": np.ones((n, 2), np.float32),
    }


def graph_agreement(path: str | Path, inputs: dict[str, np.ndarray], probabilities: np.ndarray) -> dict:
    """The graph through ONNX Runtime, read as the runtime reads it (softmax at temperature 1),
    against ``probabilities``: max |difference| and argmax agreement."""
    from ..calibration import softmax
    from ..sessions import onnx_session

    (logits,) = onnx_session(path).run(["logits"], inputs)
    probs = softmax(logits, 1.0)
    return {
        "max_abs_diff": float(np.abs(probs - probabilities).max()),
        "argmax_agreement": float((probs.argmax(1) == probabilities.argmax(1)).mean()),
        "n": len(probs),
    }


def ensemble_component(
    bundle_dir: str | Path, ensemble: FusionEnsemble, graph: str = "fusion.onnx", **record
) -> Component:
    """The manifest record of the exported graph ``bundle_dir/graph``: the recipe's inputs and
    outputs, temperature 1 (the members' temperatures are inside the graph)."""
    return Component.from_files(
        bundle_dir,
        KIND,
        {"graph": graph},
        inputs=dict.fromkeys(INPUTS, "float32[batch, ...]"),
        outputs={"logits": "float32[batch, 3]"},
        temperature=1.0,
        architecture=ensemble.architecture(),
        **record,
    )
