"""Build step that puts the default model bundle inside the wheel (everything else is in pyproject.toml).

The repository keeps one copy of the bundle, ``models/default``. Building a wheel (``python -m
build``, ``pip wheel .``, ``pip install git+URL``) copies that folder's manifest, model card and
the files the manifest names into the built package at ``sentiment_fusion/bundles/default``,
where ``bundle.default_bundle_path()`` looks first; the sdist carries ``models/default`` through
MANIFEST.in so that a wheel built from the sdist gets it too. Every file's sha256 is checked
against the manifest here, so a corrupted checkout cannot produce a wheel; the runtime checks
them again on every load. An editable install (``pip install -e .``) copies nothing: the
package then finds the checkout's ``models/default``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SOURCE = Path(__file__).resolve().parent / "models" / "default"
TARGET = ("sentiment_fusion", "bundles", "default")  # inside the built package


def bundle_files(bundle: Path) -> list[str]:
    """The manifest, the model card and every file the manifest names, each checked by sha256."""
    manifest_path = bundle / "manifest.json"
    if not manifest_path.is_file():
        raise SystemExit(f"cannot build: {manifest_path} is missing (the wheel must carry the default model)")
    manifest = json.loads(manifest_path.read_text())
    files = ["manifest.json"] + (["README.md"] if (bundle / "README.md").is_file() else [])
    for component, spec in manifest["components"].items():
        for role, entry in spec.get("files", {}).items():
            path = bundle / entry["path"]
            if not path.is_file():
                raise SystemExit(f"cannot build: {path} is missing (the {component} component's {role} file)")
            if hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
                raise SystemExit(f"cannot build: {path} differs from the sha256 in {manifest_path}")
            files.append(entry["path"])
    return sorted(set(files))


class BuildPyWithBundle(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib, *TARGET)
        shutil.rmtree(target, ignore_errors=True)  # no stale files from an earlier build of another bundle
        for relative in bundle_files(SOURCE):
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SOURCE / relative, destination)


setup(cmdclass={"build_py": BuildPyWithBundle})
