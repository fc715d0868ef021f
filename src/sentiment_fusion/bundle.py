"""A trained model as one folder: ``manifest.json`` + the files it names.

The manifest holds everything needed to rebuild the model for inference (labels,
per-component kind, files with sha256, input spec, preprocessing config,
calibration temperature) and everything needed to trust it (metrics with the
data and split they were measured on, training config, data fingerprints,
library versions, creation time). :func:`read_manifest` refuses a bundle whose
files are missing or altered, naming the file.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import platform
from importlib import metadata
from pathlib import Path

from .component import Component
from .errors import BundleError
from .hashing import sha256_file
from .labels import LABELS

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
COMPONENTS = ("text", "image", "fusion", "target")  # target: sentiment toward a named target (runtime.py)
MODEL_ENV = "SENTIMENT_FUSION_MODEL"


def library_versions(*names: str) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("sentiment-fusion", "numpy", "onnxruntime", "tokenizers", "pillow", *names):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def write_manifest(
    bundle_dir: str | Path,
    *,
    name: str,
    version: str,
    components: dict[str, Component | dict],
    description: str = "",
    extra: dict | None = None,
) -> Path:
    """Write ``manifest.json`` for the components already saved in ``bundle_dir`` (records, or their dicts)."""
    unknown = set(components) - set(COMPONENTS)
    if unknown:
        raise ValueError(f"unknown components {sorted(unknown)}; a bundle holds any of {COMPONENTS}")
    components = {
        name: (c if isinstance(c, Component) else Component.from_dict(c)).to_dict() for name, c in components.items()
    }
    manifest = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "version": version,
        "description": description,
        "labels": list(LABELS),
        "created_at": now_iso(),
        "library_versions": library_versions("torch", "onnx"),
        "components": components,
        **(extra or {}),
    }
    path = Path(bundle_dir) / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return path


def read_manifest(bundle_dir: str | Path, *, verify: bool = True) -> dict:
    """Read and check a bundle's manifest; with ``verify`` every named file's sha256 too."""
    bundle_dir = Path(bundle_dir)
    path = bundle_dir / MANIFEST
    if not bundle_dir.is_dir():
        raise BundleError(f"model bundle folder not found: {bundle_dir}")
    if not path.is_file():
        raise BundleError(f"{path} is missing: {bundle_dir} is not a model bundle")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path} is not valid JSON: {exc}") from exc
    _check_structure(path, manifest)
    for component, spec in manifest["components"].items():
        for role, entry in spec.get("files", {}).items():
            file = bundle_dir / entry["path"]
            if not file.is_file():
                raise BundleError(f"{file} is missing (the {component} component's {role} file)")
            if verify and sha256_file(file) != entry["sha256"]:
                raise BundleError(
                    f"{file} is corrupted: its sha256 differs from {path} (the {component} component's {role} file)"
                )
    return manifest


def _check_structure(path: Path, manifest) -> None:
    """The shape every reader relies on: a clear error instead of a KeyError or a NaN later."""
    if not isinstance(manifest, dict):
        raise BundleError(f"{path} must hold a JSON object, not {type(manifest).__name__}")
    for key in ("format_version", "name", "version", "labels", "components"):
        if key not in manifest:
            raise BundleError(f"{path} has no {key!r}")
    version = manifest["format_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BundleError(f"{path}: format_version must be a whole number >= 1, got {version!r}")
    if version > FORMAT_VERSION:
        raise BundleError(
            f"{path} is bundle format v{version}; this sentiment-fusion reads v{FORMAT_VERSION}: "
            "upgrade it to load this model"
        )
    for key in ("name", "version"):
        if not isinstance(manifest[key], str) or not manifest[key]:
            raise BundleError(f"{path}: {key!r} must be a non-empty string, got {manifest[key]!r}")
    if manifest["labels"] != list(LABELS):
        raise BundleError(f"{path} labels {manifest['labels']} differ from {list(LABELS)}")
    components = manifest["components"]
    if not isinstance(components, dict) or not components:
        raise BundleError(f"{path}: 'components' must name at least one of {COMPONENTS}")
    for component, spec in components.items():
        where = f"{path}: the {component} component"
        if component not in COMPONENTS:
            raise BundleError(f"{path}: unknown component {component!r}; expected any of {COMPONENTS}")
        if not isinstance(spec, dict) or not isinstance(spec.get("files", {}), dict):
            raise BundleError(f"{where} must be an object with a 'files' object")
        for role, entry in spec.get("files", {}).items():
            if not (
                isinstance(entry, dict) and isinstance(entry.get("path"), str) and isinstance(entry.get("sha256"), str)
            ):
                raise BundleError(f"{where}'s {role!r} file needs a 'path' and a 'sha256' string")
            relative = Path(entry["path"])
            if relative.is_absolute() or ".." in relative.parts:
                raise BundleError(f"{where}'s {role!r} file {entry['path']!r} must be a path inside the bundle")
        try:
            Component.from_dict(spec)
        except (TypeError, ValueError) as exc:
            raise BundleError(f"{where}: {exc}") from None


def packaged_models_dir() -> Path:
    """``bundles/`` inside the installed package: where a wheel carries the default bundle
    (copied there by ``setup.py``'s build step; absent in a source checkout)."""
    return Path(__file__).resolve().parent / "bundles"


def repository_models_dir() -> Path:
    """``models/`` of the source checkout this package was installed from (editable install)."""
    return Path(__file__).resolve().parents[2] / "models"


def default_bundle_path() -> Path:
    """``$SENTIMENT_FUSION_MODEL`` if set, else the default bundle the wheel carries, else the
    checkout's ``models/default`` (an editable install). The wheel's copy comes first: a wheel
    installed next to some unrelated ``models/`` folder must still answer with its own model."""
    env = os.environ.get(MODEL_ENV)
    if env:
        return Path(env)
    candidates = (packaged_models_dir() / "default", repository_models_dir() / "default")
    for path in candidates:
        if path.is_dir():
            return path
    raise BundleError(
        f"no default model bundle: looked in {' and '.join(map(str, candidates))}; pass a bundle folder "
        f"(--model DIR / load(path)) or set {MODEL_ENV}"
    )
