"""``stackml models package``: a self-contained serving directory for one model version.

The directory holds the model files (verified against their hashes), a ``stackml-model.json``
descriptor, pinned ``requirements.txt``, a ``Dockerfile`` and an ``entrypoint.sh`` that runs
``stackml serve --model-dir``; with ``k8s=True`` also Kubernetes manifests (Deployment with v2
health probes, Service, HorizontalPodAutoscaler). :func:`load_packaged` loads it back with no
store at all.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from stackml._internal import names
from stackml._version import __version__
from stackml.errors import InvalidInput
from stackml.registry.runtime import Predictor
from stackml.registry.signature import Signature

__all__ = ["DESCRIPTOR", "Package", "load_packaged", "package_model"]

DESCRIPTOR = "stackml-model.json"
#: Seconds a pod keeps serving after it is told to stop, before the drain starts (preStop).
PRESTOP_SECONDS = 5
RUNTIME_PACKAGES = {"onnx": ["onnxruntime"], "ort": ["onnxruntime"]}
TORCH_PACKAGES = ["torch"]


@dataclass(frozen=True)
class Package:
    """What :func:`package_model` wrote."""

    path: Path
    name: str
    version: int
    files: tuple[str, ...]


def _pins(extra: list[str]) -> list[str]:
    """``name==version`` for stackml's own requirements and ``extra``, as installed here."""
    wanted = [
        "fastapi",
        "uvicorn",
        "numpy",
        "pyarrow",
        "pillow",
        "prometheus-client",
        "httpx",
        "sqlalchemy",
        "alembic",
        "typer",
        "rich",
        "pydantic",
        *extra,
    ]
    lines = []
    for package in dict.fromkeys(wanted):
        try:
            lines.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            lines.append(package)
    return lines


def _runtime_packages(fmt: str) -> list[str]:
    if fmt in RUNTIME_PACKAGES:
        return RUNTIME_PACKAGES[fmt]
    if fmt in ("sklearn", "skops"):
        return ["scikit-learn"]
    return TORCH_PACKAGES


def package_model(
    ref: str,
    out: str | Path,
    *,
    store: Any,
    k8s: bool = False,
    port: int = 8080,
    replicas: int = 2,
    drain_seconds: int = 20,
    cpu: str = "1",
    memory: str = "1Gi",
) -> Package:
    """Write the serving directory for ``ref`` into ``out`` (created; must be empty)."""
    from stackml.registry import download_version, get_version

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise InvalidInput(f"{out} is not empty: package into a new directory")
    version = get_version(ref, store=store)
    name = names.validate_name(version.model, what="model name")
    model_dir = out / "model"
    with tempfile.TemporaryDirectory(prefix="stackml-package-") as tmp:
        downloaded = download_version(store, version, Path(tmp) / "files")
        shutil.copytree(downloaded, model_dir)
    descriptor = {
        "name": name,
        "version": version.version,
        "ref": ref,
        "format": version.format,
        "meta": dict(version.meta),
        "signature": dict(version.signature),
    }
    (model_dir / DESCRIPTOR).write_text(json.dumps(descriptor, indent=2, sort_keys=True))
    pins = [f"stackml=={__version__}", *_pins(_runtime_packages(version.format))]
    (out / "requirements.txt").write_text("\n".join(pins) + "\n")
    (out / "entrypoint.sh").write_text(_entrypoint(name, port, drain_seconds))
    (out / "entrypoint.sh").chmod(0o755)
    (out / "Dockerfile").write_text(_dockerfile(port))
    (out / ".dockerignore").write_text("k8s/\n")
    if k8s:
        (out / "k8s").mkdir()
        for file, text in _manifests(name, port, replicas, drain_seconds, cpu, memory).items():
            (out / "k8s" / file).write_text(text)
    files = tuple(sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()))
    return Package(out, name, version.version, files)


def _entrypoint(name: str, port: int, drain: int) -> str:
    return f"""#!/bin/sh
# Serves the packaged model with stackml; every setting can be overridden from the environment.
set -e
HERE="$(cd "$(dirname "$0")" && pwd)"
exec stackml serve {name} --model-dir "${{MODEL_DIR:-$HERE/model}}" \\
    --host "${{HOST:-0.0.0.0}}" --port "${{PORT:-{port}}}" \\
    --drain-seconds "${{DRAIN_SECONDS:-{drain}}}" --no-log "$@"
"""


_HEALTHCHECK = (
    "import os, urllib.request; "
    "urllib.request.urlopen('http://127.0.0.1:%s/v2/health/ready' % os.environ['PORT'])"
)


def _dockerfile(port: int) -> str:
    return f"""FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY model/ model/
COPY entrypoint.sh .
RUN useradd --system --uid 10001 serve && chown -R serve /app
USER serve
ENV PORT={port} HOST=0.0.0.0
EXPOSE {port}
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "{_HEALTHCHECK}"
ENTRYPOINT ["/app/entrypoint.sh"]
"""


def _manifests(
    name: str, port: int, replicas: int, drain: int, cpu: str, memory: str
) -> dict[str, str]:
    import yaml

    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "stackml"}
    probe = {"httpGet": {"path": "/v2/health/ready", "port": port}, "periodSeconds": 5}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(port),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": {
                    # preStop + drain + margin: the pod is never killed mid-drain.
                    "terminationGracePeriodSeconds": PRESTOP_SECONDS + drain + 10,
                    "containers": [
                        {
                            "name": "serve",
                            "image": f"{name}-serving:latest",
                            "ports": [{"name": "http", "containerPort": port}],
                            "env": [
                                {"name": "PORT", "value": str(port)},
                                {"name": "DRAIN_SECONDS", "value": str(drain)},
                            ],
                            "readinessProbe": {**probe, "failureThreshold": 1},
                            "livenessProbe": {
                                "httpGet": {"path": "/v2/health/live", "port": port},
                                "periodSeconds": 10,
                                "failureThreshold": 3,
                            },
                            "startupProbe": {**probe, "failureThreshold": 60},
                            "lifecycle": {
                                "preStop": {"exec": {"command": ["sleep", str(PRESTOP_SECONDS)]}}
                            },
                            "resources": {
                                "requests": {"cpu": cpu, "memory": memory},
                                "limits": {"memory": memory},
                            },
                        }
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "selector": labels,
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": replicas,
            "maxReplicas": max(replicas * 5, replicas + 1),
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }
    return {
        "deployment.yaml": yaml.safe_dump(deployment, sort_keys=False),
        "service.yaml": yaml.safe_dump(service, sort_keys=False),
        "hpa.yaml": yaml.safe_dump(hpa, sort_keys=False),
    }


def load_packaged(
    model_dir: str | Path, *, trust: bool = False, threads: int | None = None
) -> Predictor:
    """Load the predictor of a packaged model directory (no store needed); ``threads`` caps
    the runtime's threads per model call."""
    from stackml.registry.formats import load_predictor

    folder = Path(model_dir)
    try:
        descriptor = json.loads((folder / DESCRIPTOR).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{folder} is not a packaged model ({DESCRIPTOR}: {exc})") from exc
    return load_predictor(
        descriptor["format"],
        folder,
        dict(descriptor["meta"]),
        Signature.from_dict(descriptor["signature"]),
        trust=trust,
        name=descriptor["name"],
        version=int(descriptor["version"]),
        threads=threads,
    )
