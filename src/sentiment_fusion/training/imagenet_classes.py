"""ImageNet class log-probabilities from the bundle's pooled MobileNetV2 features (issue 17).

The bundle's image encoder (``image_encoder.onnx``, converted from the TF1 quantization-aware
``mobilenet_v2_1.0_224_quant.tflite``) is cut at the pooled 1280-d feature. The TFLite file also
holds the classifier on top of it: a 1x1 convolution 1280 -> 1001 classes (uint8 weights with a
scale and zero point, int32 bias), then a softmax. :class:`ImageNetClassifier` reads those
constants from the TFLite file and computes the classifier in numpy (float64) from the pooled
features the bundle's encoder already gives, so no image graph changes and the cached features
are reused. The encoder's output is TFLite's dequantized uint8 AvgPool tensor (to float rounding,
with the interpreter's default XNNPACK kernels), so the logits differ from TFLite's only by TFLite
requantizing them to uint8 (steps of ~0.099): :func:`compare_with_tflite` measures it.

Used by the cross-validation variant ``classes`` (:mod:`.fusion_cv`): the image head's input is
the pooled feature with the 1001 log-probabilities appended.

Check on real images (DEVELOPMENT-TIME ONLY; needs the ``bench`` extra's ``ai-edge-litert``)::

    python -m sentiment_fusion.training.imagenet_classes [--model models/default] [--n 50]

Measured (bundle 1.3.0's encoder, and its signed-weight rewrite: the same features to the bit; the
first 50 MVSA-Single train images; ai-edge-litert's default interpreter; 2026-12-02): the encoder's
feature is within 2e-7 of TFLite's AvgPool; our logits within 0.049 of TFLite's (half its uint8
logit step, 0.099: its requantization), probabilities within 0.016 of its uint8 softmax (step
1/256), top-1 the same on 50/50. Against the builtin kernels without XNNPACK, whose uint8 rounding
differs through the network (AvgPool up to 0.56 away), the classifier alone on that AvgPool is
still within 0.049; end to end within 0.90, top-1 49/50 (48/50 strictly; the uint8 logits tie).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TFLITE = Path("weights/mobilenet_v2/mobilenet_v2_1.0_224_quant.tflite")  # under the data directory
LABELS = Path("weights/mobilenet_v2/imagenet_labels.txt")  # 1001 lines, "background" first

log = logging.getLogger(__name__)


def _interpreter(path: str | Path, delegate: bool = False, preserve_all_tensors: bool = False):
    """The TFLite interpreter; ``delegate``: its default configuration (the XNNPACK delegate, as
    ``sentiment-fusion bench`` runs it, whose pooled feature the bundle's encoder matches to the
    bit), else the builtin kernels alone (every op stays visible in the op list)."""
    import warnings

    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.AUTO if delegate else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the notice that preserving all tensors is for debugging
        interpreter = Interpreter(
            model_path=str(path),
            experimental_op_resolver_type=resolver,
            experimental_preserve_all_tensors=preserve_all_tensors,
            num_threads=1,
        )
    interpreter.allocate_tensors()
    return interpreter


def _classifier_ops(interpreter) -> tuple[dict, dict]:
    """(the classifier's CONV_2D / FULLY_CONNECTED op, the last SOFTMAX op): the softmax's input is
    produced by the classifier, through a RESHAPE (the TF1 graph's Squeeze) or directly."""
    ops = interpreter._get_ops_details()
    producer = {int(out): op for op in ops for out in op["outputs"]}
    softmax = [op for op in ops if op["op_name"] == "SOFTMAX"][-1]
    op = producer[int(softmax["inputs"][0])]
    if op["op_name"] == "RESHAPE":
        op = producer[int(op["inputs"][0])]
    if op["op_name"] not in ("CONV_2D", "FULLY_CONNECTED"):
        raise ValueError(f"the softmax's input comes from {op['op_name']}, not a classifier")
    return op, softmax


def _dequantize(values: np.ndarray, details: dict) -> np.ndarray:
    """A constant tensor's real values (per-tensor or per-channel scale and zero point)."""
    q = details["quantization_parameters"]
    scales, zeros = np.asarray(q["scales"], np.float64), np.asarray(q["zero_points"], np.float64)
    if scales.size == 0:  # not quantized
        return values.astype(np.float64)
    shape = [1] * values.ndim
    if scales.size > 1:
        shape[q["quantized_dimension"]] = scales.size
    return (values.astype(np.float64) - zeros.reshape(shape)) * scales.reshape(shape)


@dataclass(frozen=True)
class ImageNetClassifier:
    """The TFLite model's classifier over the pooled feature: ``logits = features @ weight.T + bias``."""

    weight: np.ndarray  # [C, D] float64, dequantized
    bias: np.ndarray  # [C] float64, dequantized
    labels: tuple[str, ...] = ()  # class names, when the labels file is beside the model

    @classmethod
    def from_tflite(cls, path: str | Path) -> ImageNetClassifier:
        path = Path(path)
        interpreter = _interpreter(path)
        details = {d["index"]: d for d in interpreter.get_tensor_details()}
        op, _ = _classifier_ops(interpreter)
        x, w, b = (int(i) for i in op["inputs"][:3])
        weight = _dequantize(interpreter.get_tensor(w), details[w])
        weight = weight.reshape(weight.shape[0], -1)  # CONV_2D 1x1: [C, 1, 1, D]
        bias = _dequantize(interpreter.get_tensor(b), details[b])
        if details[b]["quantization_parameters"]["scales"].size and not np.allclose(
            details[b]["quantization_parameters"]["scales"],
            details[x]["quantization_parameters"]["scales"] * details[w]["quantization_parameters"]["scales"],
        ):
            raise ValueError(f"{path}: bias scale != input scale x weight scale")
        labels_path = path.parent / LABELS.name
        labels = tuple(labels_path.read_text().splitlines()) if labels_path.is_file() else ()
        if labels and len(labels) != len(bias):
            labels = ()
        return cls(weight=weight, bias=bias, labels=labels)

    @property
    def num_classes(self) -> int:
        return len(self.bias)

    def logits(self, features: np.ndarray) -> np.ndarray:
        """[N, D] pooled features -> [N, C] float64 logits."""
        features = np.asarray(features, np.float64)
        if features.ndim != 2 or features.shape[1] != self.weight.shape[1]:
            raise ValueError(f"expected features [N, {self.weight.shape[1]}], got {features.shape}")
        return features @ self.weight.T + self.bias

    def log_probs(self, features: np.ndarray) -> np.ndarray:
        """[N, D] pooled features -> [N, C] float32 log-softmax of the logits."""
        logits = self.logits(features)
        logits -= logits.max(1, keepdims=True)
        return (logits - np.log(np.exp(logits).sum(1, keepdims=True))).astype(np.float32)

    def top(self, features: np.ndarray, k: int = 5) -> list[list[tuple[str, float]]]:
        """The ``k`` most probable classes of each image, (name or index, probability)."""
        probs = np.exp(self.log_probs(features))
        order = np.argsort(-probs, axis=1)[:, :k]
        return [
            [(self.labels[c] if self.labels else str(c), float(row[c])) for c in top]
            for row, top in zip(probs, order, strict=True)
        ]


def compare_with_tflite(
    classifier: ImageNetClassifier, encoder, tflite_path: str | Path, images: Sequence, delegate: bool = True
) -> dict[str, float]:
    """The numpy classifier on ``encoder``'s pooled features of ``images`` against the TFLite
    interpreter's own logits (its uint8 tensor before the softmax, dequantized) and softmax output,
    on the same uint8 pixels (``delegate``: see :func:`_interpreter`). Top-1: the argmax of our
    logits against TFLite's; TFLite's uint8 logits can tie at the top, and ``top1_agreement`` counts
    our class as agreeing when it is one of the tied ones (``top1_agreement_strict``: the first of
    them). ``max_abs_pool_diff``: the encoder's feature against TFLite's AvgPool tensor;
    ``max_abs_logit_diff_same_pool``: the numpy classifier on TFLite's own AvgPool tensor (the
    classifier alone)."""
    graph = _interpreter(tflite_path)  # tensor indices are the flatbuffer's, delegated or not
    details = {d["index"]: d for d in graph.get_tensor_details()}
    conv, softmax = _classifier_ops(graph)
    pool_index, logits_index, out_index = int(conv["inputs"][0]), int(softmax["inputs"][0]), int(softmax["outputs"][0])
    interpreter = _interpreter(tflite_path, delegate=delegate, preserve_all_tensors=True)
    inp = interpreter.get_input_details()[0]
    if inp["dtype"] != np.uint8:
        raise ValueError(f"{tflite_path}: expected a uint8 pixel input, got {inp['dtype']}")
    pixels = np.stack([encoder.preprocessor.pixels(image) for image in images])
    features = encoder.encode_pixels(pixels if encoder.takes_pixels else encoder.preprocessor.normalize(pixels))
    ours = classifier.logits(features)
    pooled, quantized, probs = [], [], []
    for p in pixels:
        interpreter.set_tensor(inp["index"], p[None])
        interpreter.invoke()
        pooled.append(interpreter.get_tensor(pool_index).reshape(-1))
        quantized.append(interpreter.get_tensor(logits_index).reshape(-1))
        probs.append(interpreter.get_tensor(out_index).reshape(-1))
    their_pool = _dequantize(np.array(pooled), details[pool_index])
    theirs = _dequantize(np.array(quantized), details[logits_index])
    their_probs = _dequantize(np.array(probs), details[out_index])
    our_probs = np.exp(classifier.log_probs(features).astype(np.float64))
    top = ours.argmax(1)
    rows = np.arange(len(top))
    step = float(details[logits_index]["quantization_parameters"]["scales"][0])
    return {
        "n": len(images),
        "tflite_delegate": delegate,
        "max_abs_pool_diff": float(np.abs(features - their_pool).max()),
        "max_abs_logit_diff_same_pool": float(np.abs(classifier.logits(their_pool) - theirs).max()),
        "max_abs_logit_diff": float(np.abs(ours - theirs).max()),
        "mean_abs_logit_diff": float(np.abs(ours - theirs).mean()),
        "tflite_logit_step": step,
        "max_abs_prob_diff": float(np.abs(our_probs - their_probs).max()),
        "tflite_prob_step": float(details[out_index]["quantization_parameters"]["scales"][0]),
        "top1_agreement": float((theirs[rows, top] == theirs.max(1)).mean()),
        "top1_agreement_strict": float((top == theirs.argmax(1)).mean()),
        "top1_in_tflite_top5": float(np.mean([t in np.argsort(-r)[:5] for t, r in zip(top, theirs, strict=True)])),
    }


def main(argv: Sequence[str] | None = None) -> None:
    from ..bundle import read_manifest
    from ..data import read_dataset
    from ..runtime import ImageModel

    parser = argparse.ArgumentParser(description="the numpy ImageNet classifier against the TFLite interpreter")
    parser.add_argument("--model", default="models/default", help="bundle whose image encoder gives the features")
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--n", type=int, default=50, help="the first N MVSA-Single train images")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    bundle = Path(args.model)
    image_model = ImageModel(bundle, read_manifest(bundle)["components"]["image"], threads=1)
    tflite = Path(args.data) / TFLITE
    dataset = read_dataset(f"mvsa:{Path(args.data) / 'mvsa_single'}:train")
    images = [e.image for e in dataset.examples if e.image is not None][: args.n]
    classifier = ImageNetClassifier.from_tflite(tflite)
    for delegate in (True, False):
        log.info("%s", json.dumps(compare_with_tflite(classifier, image_model.encoder, tflite, images, delegate)))
    features = image_model.encoder.encode(images[:3])
    for image, top in zip(images[:3], classifier.top(features, 3), strict=True):
        log.info("%s: %s", Path(str(image)).name, ", ".join(f"{name.split(',')[0]} {p:.2f}" for name, p in top))


if __name__ == "__main__":
    main()
