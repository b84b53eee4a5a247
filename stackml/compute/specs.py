"""Cluster job specs from a :class:`JobSpec`: a Kubernetes ``batch/v1`` Job and a SLURM script.

For clusters a team runs elsewhere: the same definition that ``stackml worker`` runs becomes a
manifest to ``kubectl apply -f`` or a script to ``sbatch``. A callable job runs through
``python -m stackml.compute.entry`` (the image or the cluster's environment needs stackml);
a job of several processes runs under ``torchrun --standalone`` on one node.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from typing import Any

from stackml.store.jobs_base import JobSpec, check_spec

__all__ = ["job_command", "kubernetes_job", "kubernetes_yaml", "slurm_script"]

_DNS_RE = re.compile(r"[^a-z0-9-]+")


def job_command(spec: JobSpec, python: str = "python") -> list[str]:
    """The argv a cluster runs for ``spec`` (with ``torchrun`` for several processes)."""
    spec = check_spec(spec)
    if spec.target is not None:
        argv = [python, "-m", "stackml.compute.entry", spec.target, json.dumps(spec.args)]
    else:
        argv = list(spec.command)
    if spec.nprocs > 1:
        argv = ["torchrun", "--standalone", f"--nproc-per-node={spec.nprocs}", "--no-python", *argv]
    return argv


def dns_name(name: str) -> str:
    """A DNS-1123 label (lowercase alphanumerics and '-', at most 63 characters)."""
    label = _DNS_RE.sub("-", name.lower()).strip("-")[:63].strip("-")
    return label or "job"


def kubernetes_job(
    spec: JobSpec,
    *,
    image: str,
    namespace: str = "default",
    job_id: str | None = None,
) -> dict[str, Any]:
    """A Kubernetes ``batch/v1`` Job manifest as a dict.

    Requests and limits are the job's CPUs, memory and ``nvidia.com/gpu``; ``backoffLimit`` is
    its retries and ``activeDeadlineSeconds`` its timeout.
    """
    spec = check_spec(spec)
    resources: dict[str, str] = {"cpu": f"{spec.cpus:g}"}
    if spec.memory_mb:
        resources["memory"] = f"{spec.memory_mb}Mi"
    if spec.gpus:
        resources["nvidia.com/gpu"] = str(spec.gpus)
    labels = {"app.kubernetes.io/managed-by": "stackml", "stackml/project": dns_name(spec.project)}
    if job_id:
        labels["stackml/job-id"] = dns_name(job_id)
    env = [{"name": k, "value": v} for k, v in sorted(spec.env.items())]
    if job_id:
        env.append({"name": "STACKML_JOB_ID", "value": job_id})
    container: dict[str, Any] = {
        "name": "job",
        "image": image,
        "command": job_command(spec),
        "env": env,
        "resources": {"requests": dict(resources), "limits": dict(resources)},
    }
    job_spec: dict[str, Any] = {
        "backoffLimit": spec.max_retries,
        "template": {
            "metadata": {"labels": labels},
            "spec": {"restartPolicy": "Never", "containers": [container]},
        },
    }
    if spec.timeout_s is not None:
        job_spec["activeDeadlineSeconds"] = max(1, math.ceil(spec.timeout_s))
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "generateName": f"{dns_name(spec.name)}-",
            "namespace": namespace,
            "labels": labels,
        },
        "spec": job_spec,
    }


def kubernetes_yaml(spec: JobSpec, **options: Any) -> str:
    """:func:`kubernetes_job` as YAML text."""
    import yaml

    return str(yaml.safe_dump(kubernetes_job(spec, **options), sort_keys=False))


def _slurm_time(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return f"{days}-{hours:02d}:{mins:02d}:00"


def slurm_script(
    spec: JobSpec,
    *,
    partition: str | None = None,
    account: str | None = None,
    job_id: str | None = None,
) -> str:
    """An ``sbatch`` script: ``#SBATCH`` directives for the resources, then ``srun`` the job.

    ``--requeue`` is set when the job has retries (SLURM requeues it after node failures).
    """
    spec = check_spec(spec)
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={spec.name}",
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks=1",
        f"#SBATCH --cpus-per-task={max(1, math.ceil(spec.cpus))}",
    ]
    if spec.memory_mb:
        lines.append(f"#SBATCH --mem={spec.memory_mb}M")
    if spec.gpus:
        lines.append(f"#SBATCH --gres=gpu:{spec.gpus}")
    if spec.timeout_s is not None:
        lines.append(f"#SBATCH --time={_slurm_time(spec.timeout_s)}")
    if partition:
        lines.append(f"#SBATCH --partition={shlex.quote(partition)}")
    if account:
        lines.append(f"#SBATCH --account={shlex.quote(account)}")
    if spec.max_retries:
        lines.append("#SBATCH --requeue")
    lines.append(f"#SBATCH --output={spec.name}-%j.log")
    lines += ["", "set -euo pipefail"]
    for name, value in sorted(spec.env.items()):
        lines.append(f"export {name}={shlex.quote(value)}")
    if job_id:
        lines.append(f"export STACKML_JOB_ID={shlex.quote(job_id)}")
    lines.append(f"srun {shlex.join(job_command(spec))}")
    return "\n".join(lines) + "\n"
