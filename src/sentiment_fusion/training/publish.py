"""Finish a bundle: manifest, one-time evaluations on named splits, model card."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..bundle import MANIFEST, read_manifest, write_manifest
from ..model_card import write_model_card

log = logging.getLogger(__name__)


def publish_bundle(
    bundle_dir: str | Path,
    *,
    name: str,
    version: str,
    components: dict,
    description: str = "",
    reports: list[tuple[str, str]] = (),
    published: list[str] = (),
    evaluations: list[dict] = (),
) -> dict:
    """Write the manifest, evaluate the finished bundle on ``reports`` ((spec, modality)
    pairs, e.g. the test split, once) through the ONNX runtime, record those metrics and
    write the model card. ``evaluations`` are kept from an earlier version whose measured
    components did not change. Returns the manifest."""
    from ..data import read_dataset
    from ..evaluation import evaluate
    from ..runtime import Analyzer

    bundle_dir = Path(bundle_dir)
    write_manifest(
        bundle_dir,
        name=name,
        version=version,
        components=components,
        description=description,
        extra={"published": list(published), "evaluations": list(evaluations)},
    )
    manifest = read_manifest(bundle_dir)
    if reports:
        analyzer = Analyzer.load(bundle_dir)
        for spec, modality in reports:
            metrics = evaluate(analyzer, read_dataset(spec), modality, progress=True)
            metrics.pop("model", None)
            metrics["data"] = spec
            log.info("%s (%s): %s", spec, modality, {k: metrics[k] for k in ("n", "accuracy", "macro_recall", "ece")})
            manifest["evaluations"].append(metrics)
        (bundle_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    write_model_card(bundle_dir, manifest)
    return manifest


def add_related(bundle_dir: str | Path, other_dir: str | Path, note: str) -> dict:
    """Record another bundle's test evaluations in this bundle's manifest (e.g. the same
    recipe trained on another data set) and re-render the model card. Only the manifest
    and card change; the component files and their hashes stay as they are."""
    bundle_dir = Path(bundle_dir)
    manifest, other = read_manifest(bundle_dir), read_manifest(other_dir)
    related = [r for r in manifest.get("related", []) if r["bundle"] != other["name"]]
    related.append(
        {
            "bundle": other["name"],
            "version": other["version"],
            "note": note,
            "evaluations": [{k: v for k, v in e.items() if k != "reliability"} for e in other.get("evaluations", [])],
        }
    )
    manifest["related"] = related
    (bundle_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    write_model_card(bundle_dir, manifest)
    return manifest
