"""Convert the ImageNet MobileNetV2 TFLite model to the ONNX graphs the project uses (float and int8).

DEVELOPMENT-TIME ONLY. Runs in a separate virtual environment with TensorFlow and tf2onnx;
the package itself never imports either (inference = onnxruntime + numpy + Pillow)::

    python3 -m venv /work/tfenv
    /work/tfenv/bin/pip install -r scripts/convert_mobilenet.requirements.txt
    /work/tfenv/bin/python scripts/convert_mobilenet.py            # writes artifacts/ (~15 s)

Writes (default ``--out artifacts``), from the TF1 quantization-aware-trained release (chosen
by fidelity: its float conversion agrees with its TFLite on 95.5% of 200 images, the TF2 PTQ
release's on 88.5%):

- ``mobilenet_v2_imagenet.onnx``  (14.0 MB) float classifier: ``pixels`` -> ``logits``,
  ``probabilities`` [B, 1001] (index 0 = "background", as in ``imagenet_labels.txt``).
- ``mobilenet_v2_features.onnx``  (8.8 MB) the same graph cut at ``MobilenetV2/Logits/AvgPool``:
  ``pixels`` -> ``features`` [B, 1280].
- ``mobilenet_v2_imagenet_int8.onnx`` (3.6 MB) / ``mobilenet_v2_features_int8.onnx`` (2.3 MB):
  the same, converted WITHOUT ``--dequantize``: ONNX QDQ with the TFLite model's own
  quantization (uint8 weights and activations). 100% top-1 agreement with TFLite on 200
  images and 1.3x the float graph's speed: the recommended image encoder.
- ``mobilenet_v2.json``  what was converted, with which versions, sha256 of every file, and
  the ImagePreprocessor config the graphs expect (also stored in each graph's metadata).

Both graphs take ``pixels``: float32 [B, 224, 224, 3] (NHWC, dynamic batch), RGB, values
``(p - zero_point) * scale`` for 0..255 pixels p, i.e. ``ImagePreprocessor(mean=zero_point,
std=1/scale)`` (TF1 model: zero_point 128, scale 1/128). The uint8 input quantization of the
TFLite model is thus folded into preprocessing (the graph starts with a float tensor and holds
no Cast/Sub/Mul), so one preprocessing object describes everything a caller must do.

Conversion: ``tf2onnx.convert --tflite ... [--dequantize]``; ``--dequantize`` turns the
quantization-aware-trained uint8 model into a float graph (weights dequantized exactly,
activations left in float, hence the 4.5% of top-1 flips on close calls). Then this script
rewires the input (float ``pixels``; in the QDQ graph a QuantizeLinear recovers the exact
uint8 pixels), drops the uint8 softmax output, makes the batch dimension dynamic (Reshape
constants with a leading 1 become -1), prunes each graph to its outputs and names tensors by
position, so that two runs write byte-identical files (same sha256).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # the tf venv does not install the package

from sentiment_fusion.image.preprocess import ImagePreprocessor  # noqa: E402

MODELS = {
    # Chosen by fidelity (scripts/check_mobilenet_fidelity.py): see the module docstring there.
    "tf1": "mobilenet_v2_1.0_224_quant.tflite",
    "tf2": "tf2_mobilenet_v2_1.0_224_ptq.tflite",
}
INPUT, FEATURES, LOGITS, PROBS = "pixels", "features", "logits", "probabilities"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_tf2onnx(tflite: Path, opset: int, out: Path, dequantize: bool) -> None:
    # The Python API (tf2onnx.convert.from_tflite) has no dequantize option; the CLI does.
    cmd = [
        sys.executable,
        "-m",
        "tf2onnx.convert",
        "--tflite",
        str(tflite),
        "--output",
        str(out),
        "--opset",
        str(opset),
    ] + (["--dequantize"] if dequantize else [])
    print("$", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"tf2onnx failed:\n{proc.stdout}\n{proc.stderr}")


def _consumers(graph: onnx.GraphProto, tensor: str) -> list[onnx.NodeProto]:
    return [n for n in graph.node if tensor in n.input]


def _only(nodes: list, what: str):
    if len(nodes) != 1:
        sys.exit(f"expected exactly one {what}, found {len(nodes)}: the tf2onnx output changed shape")
    return nodes[0]


def rewire(model: onnx.ModelProto) -> tuple[onnx.ModelProto, dict]:
    """Float ``pixels`` input, float outputs (logits, probabilities, features), dynamic batch.

    Handles both tf2onnx flavours: ``--dequantize`` (uint8 input -> Cast -> Sub(zero point) ->
    Mul(scale), then a float graph) and QDQ (uint8 input -> Transpose -> DequantizeLinear,
    then Q/DQ pairs that mirror every TFLite quantization step). Returns the input quantization.
    """
    g = model.graph
    init = {t.name: t for t in g.initializer}
    src = _only(list(g.input), "graph input")
    first = _only(_consumers(g, src.name), "node after the uint8 input")
    _, height, width, channels = [d.dim_value for d in src.type.tensor_type.shape.dim]
    if first.op_type == "Cast":  # dequantized: drop Cast/Sub/Mul, the preprocessor does (p - zp) * scale
        sub = _only(_consumers(g, first.output[0]), "Sub (zero point)")
        mul = _only(_consumers(g, sub.output[0]), "Mul (scale)")
        assert (sub.op_type, mul.op_type) == ("Sub", "Mul"), (sub, mul)
        zero_point = float(numpy_helper.to_array(init[sub.input[1]]))
        scale = float(numpy_helper.to_array(init[mul.input[1]]))
        for node in _consumers(g, mul.output[0]):
            node.input[:] = [INPUT if i == mul.output[0] else i for i in node.input]
        for node in (first, sub, mul):
            g.node.remove(node)
    elif first.op_type == "Transpose":  # QDQ: QuantizeLinear(pixels) recovers the exact uint8 pixels
        dq = _only(_consumers(g, first.output[0]), "DequantizeLinear of the input")
        assert dq.op_type == "DequantizeLinear", dq
        zero_point = float(numpy_helper.to_array(init[dq.input[2]]))
        scale = float(numpy_helper.to_array(init[dq.input[1]]))
        g.node.insert(
            0,
            helper.make_node(
                "QuantizeLinear", [INPUT, dq.input[1], dq.input[2]], ["pixels_uint8"], name="quantize_pixels"
            ),
        )
        first.input[0] = "pixels_uint8"
    else:
        sys.exit(f"unexpected first node {first.op_type}: the tf2onnx output changed shape")
    g.input.remove(src)
    g.input.append(helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", height, width, channels]))

    softmax = _only([n for n in g.node if n.op_type == "Softmax"], "Softmax")
    g.node.append(helper.make_node("Identity", [softmax.input[0]], [LOGITS], name="logits"))
    g.node.append(helper.make_node("Identity", [softmax.output[0]], [PROBS], name="probabilities"))
    pool = _only([n for n in g.node if n.op_type in ("AveragePool", "GlobalAveragePool")], "average pool")
    pooled = pool.output[0]
    requant = [n for n in _consumers(g, pooled) if n.op_type == "QuantizeLinear"]
    if requant:  # QDQ: the feature is the pool's uint8 output, dequantized as TFLite's next op sees it
        q = _only(requant, "QuantizeLinear after the pool")
        g.node.append(helper.make_node("DequantizeLinear", [q.output[0], *q.input[1:]], ["pooled"], name="pooled"))
        pooled = "pooled"
    # [B, 1280, 1, 1] -> [B, 1280]
    g.node.append(helper.make_node("Flatten", [pooled], [FEATURES], name="features", axis=1))
    del g.output[:]  # the uint8 softmax output (and its QuantizeLinear) go with pruning

    for node in g.node:  # batch 1 baked into Reshape targets by the TFLite graph -> -1
        if node.op_type == "Reshape" and node.input[1] in init:
            shape = numpy_helper.to_array(init[node.input[1]]).copy()
            if shape.size and shape[0] == 1:
                shape[0] = -1
                init[node.input[1]].CopyFrom(numpy_helper.from_array(shape.astype(np.int64), node.input[1]))
    del g.value_info[:]  # tf2onnx's value_info carries batch 1
    return model, {"zero_point": zero_point, "scale": scale, "height": height, "width": width}


def with_outputs(model: onnx.ModelProto, outputs: dict[str, list]) -> onnx.ModelProto:
    """A copy with only ``outputs`` ({name: shape}) and the nodes/initializers they need."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    needed, keep = set(outputs), []
    for node in reversed(list(g.node)):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(i for i in node.input if i)
    del g.node[:]
    g.node.extend(reversed(keep))
    used = {i for n in g.node for i in n.input}
    kept_init = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(kept_init)
    del g.output[:]
    for name, shape in outputs.items():
        g.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
    canonical_names(m)
    m = onnx.shape_inference.infer_shapes(m, strict_mode=True)
    onnx.checker.check_model(m, full_check=True)
    return m


def canonical_names(model: onnx.ModelProto) -> None:
    """Rename nodes, constants and inner tensors by position (``7:Conv``, ``c12``, ``t40``).

    tf2onnx numbers the tensors it creates in an order that changes from run to run, so the
    same model would get a new sha256 each time; positional names make the file reproducible
    (and smaller: TFLite tensor names are fused-op paths of up to 300 characters).
    """
    g = model.graph
    keep = {i.name for i in g.input} | {o.name for o in g.output}
    init_names = {t.name for t in g.initializer}
    rename: dict[str, str] = {}
    for k, node in enumerate(g.node):
        for name in node.input:
            if name in init_names and name not in rename:
                rename[name] = f"c{len([v for v in rename.values() if v.startswith('c')])}"
        for name in node.output:
            if name not in keep:
                rename[name] = f"t{k}" if len(node.output) == 1 else f"t{k}_{list(node.output).index(name)}"
        node.name = f"{k}:{node.op_type}"
        if not node.domain:
            node.ClearField("domain")  # tf2onnx sets domain "" on some nodes, on some runs
    for node in g.node:
        node.input[:] = [rename.get(i, i) for i in node.input]
        node.output[:] = [rename.get(o, o) for o in node.output]
    for t in g.initializer:
        t.name = rename[t.name]
    ordered = sorted(g.initializer, key=lambda t: int(t.name[1:]))
    del g.initializer[:]
    g.initializer.extend(ordered)


def smoke_test(path: Path, output: str, dim: int) -> None:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch = np.random.default_rng(0).uniform(-1, 1, (3, 224, 224, 3)).astype(np.float32)
    (full,) = sess.run([output], {INPUT: batch})
    (one,) = sess.run([output], {INPUT: batch[1:2]})
    assert full.shape == (3, dim), full.shape
    np.testing.assert_allclose(full[1:2], one, rtol=1e-4, atol=1e-4)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--weights",
        type=Path,
        default=ROOT.parent / "shared/data/weights/mobilenet_v2",
        help="folder with the .tflite files (default: ../shared/data/weights/mobilenet_v2)",
    )
    ap.add_argument("--model", choices=sorted(MODELS), default="tf1", help="which TFLite release (default tf1)")
    ap.add_argument("--out", type=Path, default=ROOT / "artifacts")
    ap.add_argument("--prefix", default="mobilenet_v2", help="file name prefix (default mobilenet_v2)")
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import tf2onnx

    tflite = args.weights / MODELS[args.model]
    if not tflite.is_file():
        sys.exit(f"{tflite}: not found (pass --weights)")
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {
        "source": tflite.name,
        "source_sha256": sha256(tflite),
        "input": INPUT,
        "converter": {
            "tf2onnx": tf2onnx.__version__,
            "tensorflow": tf.__version__,
            "onnx": onnx.__version__,
            "opset": args.opset,
        },
        "files": {},
    }
    # float: --dequantize (weights exact, activations float); int8: the TFLite model's own
    # quantization-aware-trained Q/DQ steps kept as ONNX QDQ (ORT runs int8 kernels).
    for variant, dequantize, suffix in (("float", True, ""), ("int8", False, "_int8")):
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw.onnx"
            run_tf2onnx(tflite, args.opset, raw, dequantize)
            model, quant = rewire(onnx.load(str(raw)))
        pre = ImagePreprocessor(mean=(quant["zero_point"],) * 3, std=(1.0 / quant["scale"],) * 3)
        assert quant["height"] == quant["width"] == pre.size
        assert meta.setdefault("preprocessing", pre.to_config()) == pre.to_config(), "variants disagree"
        meta["input_quantization"] = {k: quant[k] for k in ("zero_point", "scale")}
        model.graph.doc_string = f"converted from {tflite.name}"  # not the absolute path
        model.doc_string = (
            f"MobileNetV2 1.0/224 ImageNet from {tflite.name} (Apache-2.0), tf2onnx "
            f"{'--dequantize (float)' if dequantize else '(QDQ int8, TFLite quantization)'}; "
            f"input float32 NHWC = (pixel - {quant['zero_point']}) * {quant['scale']}"
        )
        props = {
            "sentiment_fusion": json.dumps(
                {
                    "variant": variant,
                    "source": meta["source"],
                    "source_sha256": meta["source_sha256"],
                    "preprocessing": meta["preprocessing"],
                },
                sort_keys=True,
            )
        }
        onnx.helper.set_model_props(model, props)
        for kind, outputs, check in (
            ("imagenet", {LOGITS: ["batch", 1001], PROBS: ["batch", 1001]}, (LOGITS, 1001)),
            ("features", {FEATURES: ["batch", 1280]}, (FEATURES, 1280)),
        ):
            path = args.out / f"{args.prefix}_{kind}{suffix}.onnx"
            onnx.save(with_outputs(model, outputs), str(path))
            smoke_test(path, *check)
            meta["files"][kind + suffix] = {
                "file": path.name,
                "variant": variant,
                "sha256": sha256(path),
                "bytes": path.stat().st_size,
                "outputs": list(outputs),
            }
            print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    card = args.out / f"{args.prefix}.json"
    card.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    print(f"wrote {card}\npreprocessing: {ImagePreprocessor.from_config(meta['preprocessing']).describe()}")


if __name__ == "__main__":
    main()
