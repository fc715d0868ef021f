"""PyTorch -> ONNX export shared by every model, and the agreement check for it."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

OPSET = 17


def export_onnx(
    module: torch.nn.Module, example_inputs: tuple, path: str | Path, input_names: list[str], output_names: list[str]
) -> Path:
    """Export ``module`` in eval mode with every input/output axis 0 (batch) dynamic,
    and axis 1 dynamic for 2-D integer inputs (token sequences)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dynamic_axes: dict[str, dict[int, str]] = {}
    for name, tensor in zip(input_names, example_inputs, strict=True):
        axes = {0: "batch"}
        if tensor.dim() == 2 and not tensor.is_floating_point():
            axes[1] = "tokens"
        dynamic_axes[name] = axes
    for name in output_names:
        dynamic_axes[name] = {0: "batch"}
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The TorchScript exporter handles these graphs exactly (tests check agreement);
            # its deprecation and LSTM batch-size notes do not apply to them.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                example_inputs,
                str(path),
                input_names=input_names,
                output_names=output_names,
                dynamic_axes=dynamic_axes,
                opset_version=OPSET,
                dynamo=False,
            )
    finally:
        module.train(was_training)
    log.info("exported %s (%.1f MB)", path, path.stat().st_size / 2**20)
    return path


def onnx_agreement(module: torch.nn.Module, path: str | Path, inputs: dict[str, np.ndarray]) -> dict:
    """Run the same inputs through PyTorch and ONNX Runtime: max |logit diff| and argmax agreement."""
    from ..sessions import onnx_session

    session = onnx_session(path)
    module.eval()
    with torch.no_grad():
        torch_out = module(*[torch.from_numpy(v) for v in inputs.values()])
    torch_logits = (torch_out[0] if isinstance(torch_out, tuple) else torch_out).numpy()
    onnx_logits = session.run(None, inputs)[0]
    return {
        "max_abs_diff": float(np.abs(torch_logits - onnx_logits).max()),
        "argmax_agreement": float((torch_logits.argmax(1) == onnx_logits.argmax(1)).mean()),
        "n": len(onnx_logits),
    }


class _WithFeatures(torch.nn.Module):
    """Expose ``forward_with_features`` as ``forward`` so the graph returns (logits, features)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, *inputs):
        return self.model.forward_with_features(*inputs)


def export_text_model(model: torch.nn.Module, path: str | Path) -> Path:
    """A text model's graph ``(input_ids, attention_mask) -> (logits, features)``, dynamic batch and length."""
    ids = torch.randint(3, model.vocab_size, (2, 7))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    return export_onnx(_WithFeatures(model), (ids, mask), path, ["input_ids", "attention_mask"], ["logits", "features"])
