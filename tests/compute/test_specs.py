"""Kubernetes and SLURM specs generated from one job definition, checked for structure."""

from __future__ import annotations

import json
import shlex

import pytest
import yaml

from stackml.compute import make_spec
from stackml.compute.specs import kubernetes_job, kubernetes_yaml, slurm_script
from stackml.errors import InvalidInput


def test_kubernetes_job_manifest() -> None:
    spec = make_spec(
        ["python", "train.py", "--lr", "0.1"],
        name="Train_Big",
        project="vision",
        cpus=2.5,
        gpus=2,
        memory="16G",
        env={"MODE": "fast"},
        timeout=90.5,
        max_retries=3,
    )
    manifest = yaml.safe_load(kubernetes_yaml(spec, image="registry/img:1", job_id="abc123"))
    assert manifest["apiVersion"] == "batch/v1" and manifest["kind"] == "Job"
    assert manifest["metadata"]["generateName"] == "train-big-"
    assert manifest["metadata"]["namespace"] == "default"
    job = manifest["spec"]
    assert job["backoffLimit"] == 3 and job["activeDeadlineSeconds"] == 91
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["image"] == "registry/img:1"
    assert container["command"] == ["python", "train.py", "--lr", "0.1"]
    expected = {"cpu": "2.5", "memory": "16384Mi", "nvidia.com/gpu": "2"}
    assert container["resources"]["requests"] == expected
    assert container["resources"]["limits"] == expected
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {"MODE": "fast", "STACKML_JOB_ID": "abc123"}
    assert job["template"]["metadata"]["labels"]["stackml/project"] == "vision"


def test_callable_and_distributed_jobs_in_specs() -> None:
    spec = make_spec(target="pkg.train:main", args={"lr": 0.1}, nprocs=4)
    container = kubernetes_job(spec, image="img")["spec"]["template"]["spec"]["containers"][0]
    command = container["command"]
    assert command[:4] == ["torchrun", "--standalone", "--nproc-per-node=4", "--no-python"]
    assert command[4:8] == ["python", "-m", "stackml.compute.entry", "pkg.train:main"]
    assert json.loads(command[8]) == {"lr": 0.1}
    assert "nvidia.com/gpu" not in container["resources"]["requests"]
    assert "activeDeadlineSeconds" not in kubernetes_job(spec, image="img")["spec"]


def test_slurm_script_directives() -> None:
    spec = make_spec(
        ["python", "train.py", "--note", "it's $HOME; rm -rf /"],
        name="train",
        cpus=3.5,
        gpus=1,
        memory="2G",
        env={"TOKEN": "a b"},
        timeout=3601,
        max_retries=1,
    )
    script = slurm_script(spec, partition="gpu", account="team")
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    directives = [line.removeprefix("#SBATCH ") for line in lines if line.startswith("#SBATCH")]
    assert directives == [
        "--job-name=train",
        "--nodes=1",
        "--ntasks=1",
        "--cpus-per-task=4",
        "--mem=2048M",
        "--gres=gpu:1",
        "--time=0-01:01:00",
        "--partition=gpu",
        "--account=team",
        "--requeue",
        "--output=train-%j.log",
    ]
    assert "export TOKEN='a b'" in lines
    srun = next(line for line in lines if line.startswith("srun "))
    # The argv survives quoting exactly: nothing in it is interpreted by the shell.
    assert shlex.split(srun)[1:] == ["python", "train.py", "--note", "it's $HOME; rm -rf /"]


def test_specs_validate_the_job() -> None:
    with pytest.raises(InvalidInput):
        slurm_script(make_spec(["x"], env={"BAD NAME": "1"}))
    with pytest.raises(InvalidInput):
        make_spec("python train.py")  # type: ignore[arg-type]
