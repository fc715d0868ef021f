"""Rewrite a bundle's int8 text graphs with fused kernels that must give the same logits to the bit.

DEVELOPMENT-TIME ONLY (needs the [train] extra's ``onnx``). Two fusions, each applied to
``text.onnx`` and ``target.onnx``::

    python scripts/fuse_text_graphs.py models/default --fusion rows --version 1.5.0
    python scripts/fuse_text_graphs.py models/default --fusion attention --version 1.6.0

- ``rows`` (:func:`~sentiment_fusion.training.quantize.fuse_row_quantization`, bundle 1.5.0):
  each per-row quantization chain (``Div``, ``Round``, ``Add``, ``Cast``: four passes over the
  activations of every down-projection) becomes one blocked ``QuantizeLinear`` (opset 21).
- ``attention`` (:func:`~sentiment_fusion.training.attention_fusion.fuse_attention`, bundle
  1.6.0): each self-attention block's ~30 float ops become one ``MultiHeadAttention``.

Every logit must be the same to the bit, through the runtime, on TweetEval val (2,000 tweets)
for ``text.onnx`` and Dong 2014 dev (625 pairs) for ``target.onnx``, or nothing is written. The
bundle's evaluations are therefore kept, not re-run; the two graphs share ``word_embeddings.bin``
again afterwards.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sentiment_fusion.bundle import read_manifest  # noqa: E402
from sentiment_fusion.component import file_entry  # noqa: E402
from sentiment_fusion.data import read_dataset  # noqa: E402
from sentiment_fusion.runtime import Analyzer  # noqa: E402
from sentiment_fusion.training.attention_fusion import fuse_attention  # noqa: E402
from sentiment_fusion.training.publish import publish_bundle  # noqa: E402
from sentiment_fusion.training.quantize import fuse_row_quantization  # noqa: E402
from sentiment_fusion.training.shared_weights import WORD_EMBEDDINGS, share_initializer  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
GRAPHS = {"text": "text.onnx", "target": "target.onnx"}
SHARED = "word_embeddings.bin"
FUSIONS = {  # name: (rewrite, what the manifest's quantization record says)
    "rows": (fuse_row_quantization, ("row_quantization", "one blocked QuantizeLinear per row (opset 21)")),
    "attention": (fuse_attention, ("attention", "one com.microsoft MultiHeadAttention per block")),
}


def logits(bundle: Path) -> dict[str, np.ndarray]:
    """Each text graph's logits through the runtime: TweetEval val tweets, Dong 2014 dev pairs."""
    analyzer = Analyzer.load(bundle)
    tweets = [e.text for e in read_dataset(f"tweeteval:{DATA / 'tweeteval/sentiment'}:val").examples]
    out = {"text": analyzer.text.run(tweets)[0]}
    if analyzer.target is not None:
        pairs = read_dataset(f"targets:{DATA / 'targeted/twitter_dong2014/train.raw'}:dev").examples
        out["target"] = analyzer.target.run([e.text for e in pairs], [e.target for e in pairs])[0]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--fusion", required=True, choices=sorted(FUSIONS))
    parser.add_argument("--version", required=True, help="the version to publish (the bundle's own: before release)")
    args = parser.parse_args()

    import onnx

    rewrite, (record_key, record) = FUSIONS[args.fusion]
    manifest = read_manifest(args.bundle)
    components = manifest["components"]
    before = logits(args.bundle)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "bundle"
        shutil.copytree(args.bundle, work)
        shared = {}
        for name, graph in GRAPHS.items():
            if name not in components:
                continue
            model, fused = rewrite(onnx.load(str(work / graph)))
            if not fused:
                raise SystemExit(f"{graph}: nothing to fuse ({args.fusion})")
            onnx.save(model, str(work / graph))
            shared[graph] = WORD_EMBEDDINGS
            components[name]["quantization"][record_key] = record
            print(f"{graph}: {fused} fused ({args.fusion})")
        if SHARED in {f["path"] for c in components.values() for f in c["files"].values()}:
            share_initializer(work, shared, SHARED)
        for component in components.values():
            component["files"] = {key: file_entry(work, f["path"]) for key, f in component["files"].items()}
        publish_bundle(
            work,
            name=manifest["name"],
            version=args.version,
            components=components,
            description=manifest["description"],
            published=manifest.get("published", []),
            evaluations=manifest.get("evaluations", []),
        )
        after = logits(work)
        for name, values in before.items():
            if not np.array_equal(values, after[name]):
                raise SystemExit(f"{name}: logits changed (max {np.abs(values - after[name]).max():.3g}): not written")
            print(f"{name}: logits bit-identical on {len(values)} validation texts")
        for path in work.iterdir():
            shutil.copyfile(path, args.bundle / path.name)


if __name__ == "__main__":
    main()
