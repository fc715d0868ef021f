"""The bundle's ``README.md`` (model card), written from its manifest alone."""

from __future__ import annotations

from pathlib import Path

CITATIONS = {
    "imdb": "Maas et al., 2011. Learning Word Vectors for Sentiment Analysis. ACL. (IMDB Large Movie Review Dataset)",
    "tweeteval": "Barbieri et al., 2020. TweetEval: Unified Benchmark and Comparative Evaluation for Tweet "
    "Classification. Findings of EMNLP. (SemEval-2017 Task 4A tweets: Rosenthal et al., 2017)",
    "mvsa": "Niu et al., 2016. Sentiment Analysis on Multi-view Social Data. MMM. (MVSA-Single / MVSA-Multiple)",
    "jsonl": "MVSA-Multiple texts: Niu et al., 2016 (see above), when the jsonl is mvsa_multiple",
    "targets": "Dong et al., 2014. Adaptive Recursive Neural Network for Target-dependent Twitter Sentiment "
    "Classification. ACL. (Twitter targets); Pontiki et al., 2014. SemEval-2014 Task 4: Aspect Based Sentiment "
    "Analysis. SemEval. (restaurants and laptops aspect terms)",
    "cifar100": "Krizhevsky, 2009. Learning Multiple Layers of Features from Tiny Images. (CIFAR-100)",
    "mobilenet_v2": "Sandler et al., 2018. MobileNetV2: Inverted Residuals and Linear Bottlenecks. CVPR. "
    "(ImageNet weights from Google's TF-slim release, Apache-2.0)",
    "minilm": "Wang et al., 2020. MiniLM. NeurIPS; all-MiniLM-L6-v2 from sentence-transformers "
    "(Reimers & Gurevych, 2019), Apache-2.0",
}

_COLUMNS = ("n", "accuracy", "macro_recall", "macro_f1", "weighted_f1", "ece")


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def metrics_table(rows: list[dict]) -> list[str]:
    lines = [
        "| component | data | split | modality | " + " | ".join(_COLUMNS) + " |",
        "|" + "---|" * (4 + len(_COLUMNS)),
    ]
    for row in rows:
        where = [str(row.get(key, "")) for key in ("component", "data", "split", "modality")]
        lines.append("| " + " | ".join(where + [_fmt(row.get(c, "")) for c in _COLUMNS]) + " |")
    return lines


def render(manifest: dict) -> str:
    lines = [
        f"# {manifest['name']} {manifest['version']}",
        "",
        manifest.get("description", ""),
        "",
        f"Labels: {', '.join(manifest['labels'])}. Created {manifest['created_at']}. "
        f"Format v{manifest['format_version']}.",
        "",
        "## Components",
        "",
    ]
    rows = []
    for name, spec in manifest["components"].items():
        files = ", ".join(f"`{f['path']}` ({f['bytes'] / 2**20:.1f} MB)" for f in spec.get("files", {}).values())
        lines.append(
            f"- **{name}**: {spec.get('kind', '')}; files {files}; calibration temperature "
            f"{spec.get('temperature', 1.0):.3f}"
        )
        shown = (spec.get("preprocessing") or {}).get("encoding", {}).get("target")
        if shown:
            lines.append(f"  - reads a (post, target) pair; the target is shown as `{shown}` (text/encoding.py)")
        if spec.get("selection"):
            lines.append(f"  - chosen: {spec['selection']}")
        if spec.get("quantization"):
            q = spec["quantization"]
            lines.append(
                f"  - quantization: {q['method']}: validation macro-recall fp32 {q['fp32_macro_recall']:.4f}, "
                f"int8 {q['int8_macro_recall']:.4f}; {'kept' if q['kept'] else 'rejected'}"
            )
        if spec.get("onnx_agreement"):
            a = spec["onnx_agreement"]
            lines.append(
                f"  - PyTorch vs ONNX on {a['n']} validation inputs: argmax agreement {a['argmax_agreement']:.4f}, "
                f"max |logit diff| {a['max_abs_diff']:.2e}"
            )
        training = spec.get("training", {})
        if training:
            data = "; ".join(
                f"`{d['spec']}` (n={d['n']}" + (f", {d['used']} used" if d.get("used", d["n"]) != d["n"] else "") + ")"
                for d in training.get("data", [])
            )
            best = f"; best epoch {training['best_epoch']}" if "best_epoch" in training else ""
            lines.append(f"  - trained on: {data}{best}")
            if training.get("init_from"):
                start = training["init_from"]
                lines.append(
                    f"  - continued from earlier fine-tuned weights `{start['path']}` (sha256 {start['sha256'][:12]})"
                )
        rows += [{"component": name, **m} for m in spec.get("metrics", [])]
    rows += [{"component": "bundle", **m} for m in manifest.get("evaluations", [])]
    lines += [
        "",
        "## Metrics",
        "",
        "Every number below was produced by the command in the README on the named split; "
        "`validation` rows were used for model selection and calibration, "
        "test rows were computed once on the final model.",
        "",
    ]
    lines += metrics_table(rows)
    reliability = [r for r in manifest.get("evaluations", []) if r.get("reliability")]
    for row in reliability[:2]:
        lines += [
            "",
            f"### Reliability: {row['data']} {row['split']} ({row['modality']}), ECE {row['ece']:.4f}",
            "",
            "| confidence bin | n | mean confidence | accuracy |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {b['bin']} | {b['n']} | {b['confidence']:.3f} | {b['accuracy']:.3f} |" for b in row["reliability"]
        ]
    for related in manifest.get("related", []):
        lines += ["", f"## Related: {related['bundle']} {related['version']}", "", related["note"], ""]
        lines += metrics_table([{"component": related["bundle"], **e} for e in related["evaluations"]])
    if manifest.get("published"):
        lines += ["", "## Published results for comparison", ""] + [f"- {p}" for p in manifest["published"]]
    kinds = {spec.get("kind", "") for spec in manifest["components"].values()}
    data_kinds = {
        d["spec"].split(":")[0]
        for spec in manifest["components"].values()
        for d in spec.get("training", {}).get("data", [])
    }
    if any(
        spec.get("training", {}).get("config", {}).get("init_embeddings") == "minilm"
        for spec in manifest["components"].values()
    ):
        kinds.add("minilm")  # the BiLSTM's word vectors start from MiniLM's
    if any("tweeteval" in e["data"] for r in manifest.get("related", []) for e in r["evaluations"]):
        data_kinds.add("tweeteval")
    cites = [
        CITATIONS[k]
        for k in ("imdb", "tweeteval", "mvsa", "targets", "cifar100")
        if k in data_kinds or (k == "mvsa" and "jsonl" in data_kinds)
    ]
    cites += [CITATIONS[k] for k in ("minilm", "mobilenet_v2") if any(k in kind for kind in kinds)]
    lines += ["", "## Data and citations", ""] + [f"- {c}" for c in cites]
    lines += ["", "Terms: the data sets are for research use; tweets are Twitter content under Twitter's terms.", ""]
    return "\n".join(lines)


def write_model_card(bundle_dir: str | Path, manifest: dict) -> Path:
    path = Path(bundle_dir) / "README.md"
    path.write_text(render(manifest))
    return path
