"""Publish a bundle as a new version after its files or the runtime changed: every recorded evaluation re-run.

DEVELOPMENT-TIME ONLY; how bundle 1.4.0 was published from 1.3.0 (after
``scripts/signed_image_weights.py`` and the runtime's session settings changed)::

    python scripts/republish_bundle.py models/default --version 1.4.0 --description "..."

The components stay as they are in the folder (their hashes are re-read). Each evaluation the
manifest records (the test splits, scored once per version, and MVSA-Single dev) is run again
through today's runtime, so the figures are the ones this version gives; the model card is
re-rendered. Nothing is selected or tuned here: the evaluations only report.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sentiment_fusion.bundle import read_manifest  # noqa: E402
from sentiment_fusion.component import file_entry  # noqa: E402
from sentiment_fusion.training.publish import publish_bundle  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--version", required=True)
    parser.add_argument("--description", default="", help="the new version's description (default: kept)")
    parser.add_argument(
        "--again", action="store_true", help="publish the bundle's own version again (its files changed before release)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    before = read_manifest(args.bundle)
    if args.version == before["version"] and not args.again:
        raise SystemExit(f"{args.bundle} is already version {args.version} (--again to publish it again)")
    components = before["components"]
    for component in components.values():  # files may have changed in place: hashes read again
        component["files"] = {key: file_entry(args.bundle, f["path"]) for key, f in component["files"].items()}
    reports = [(e["data"], e["modality"]) for e in before.get("evaluations", [])]
    after = publish_bundle(
        args.bundle,
        name=before["name"],
        version=args.version,
        components=components,
        description=args.description or before["description"],
        reports=reports,
        published=before.get("published", []),
    )
    old = {(e["data"], e["modality"]): e for e in before.get("evaluations", [])}
    for e in after["evaluations"]:
        was = old[(e["data"], e["modality"])]
        moves = [f"{k} {was[k]:.4f} -> {e[k]:.4f}" for k in ("accuracy", "macro_recall", "macro_f1", "weighted_f1")]
        print(f"{e['data']} ({e['modality']}, n={e['n']}): " + ", ".join(moves))


if __name__ == "__main__":
    main()
